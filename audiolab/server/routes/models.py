"""``GET /v1/models`` and ``GET /v1/models/{id}``: local models and the OpenAI ids aliased to them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from audiolab.errors import NotFound
from audiolab.server.coalesce import sharing_of
from audiolab.server.registry import ALIASES, MODELS
from audiolab.server.response_cache import request_key
from audiolab.server.routes import ENGINE_HEADER, deprecation_headers, state

router = APIRouter(prefix="/v1")

_CREATED = 1767225600  # 2026-01-01: a fixed, honest "created" for local models


def _model_object(model_id: str, registry) -> dict | None:
    alias = ALIASES.get(model_id)
    spec = MODELS.get(alias.target if alias else model_id)
    if spec is None or not registry.available(spec):
        return None
    obj = {
        "id": model_id,
        "object": "model",
        "created": _CREATED,
        "owned_by": f"audiolab:{spec.engine}",
        # Extra fields beyond OpenAI's Model schema; the SDK keeps them as extras.
        "kind": alias.kind if alias else spec.kind,
        "engine": spec.engine,
    }
    if alias:
        obj["alias_of"] = spec.id
        if alias.shutdown:
            obj["shutdown_date"] = alias.shutdown
        if alias.replacement:
            obj["replacement"] = alias.replacement
        if alias.retired:
            obj["retired"] = True
            obj["note"] = (f"OpenAI no longer serves {model_id}; the local backend still answers it (with "
                           f"{spec.id}) so that old tutorials run, and marks each response with a Deprecation "
                           f"header. Use {alias.replacement}.")
    else:
        obj["description"] = spec.description
    return obj


@router.get("/models")
async def list_models(request: Request):
    registry = state(request).registry

    async def make(_listeners):
        data = [o for mid in [*MODELS, *ALIASES] if (o := _model_object(mid, registry))]
        return JSONResponse({"object": "list", "data": data}, headers={ENGINE_HEADER: "registry"})

    # Concurrent listings share one; none is stored, since installing an engine changes the list.
    return await sharing_of(state(request)).respond("models", request_key("models", {}), make, request=request,
                                                    store=False)


@router.get("/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request):
    obj = _model_object(model_id, state(request).registry)
    if obj is None:
        raise NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")
    headers = {ENGINE_HEADER: obj["owned_by"].split(":", 1)[1] + "/" + obj.get("alias_of", obj["id"]),
               **deprecation_headers(ALIASES.get(model_id))}
    return JSONResponse(obj, headers=headers)
