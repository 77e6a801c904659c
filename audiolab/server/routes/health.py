"""``GET /health``: liveness, version, and which engines are loaded."""

from __future__ import annotations

from fastapi import APIRouter, Request

from audiolab.server.routes import state

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> dict:
    st = state(request)
    return {
        "status": "ok",
        "version": request.app.version,
        "engines_loaded": st.registry.loaded(),
        "jobs": {"running": st.jobs.running, "waiting": st.jobs.waiting},
    }
