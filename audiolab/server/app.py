"""The local OpenAI-compatible backend: ``create_app(settings) -> FastAPI``.

Every error leaves through one place, :func:`_error_response`, as OpenAI's error object
``{"error": {"message", "type", "param", "code"}}`` with the status of its class. Routes live in
``routes/`` (one module per OpenAI resource) and engines in ``engines/`` (no HTTP in them).

Example:
    >>> from audiolab.server.app import create_app
    >>> from audiolab.server.settings import Settings
    >>> app = create_app(Settings())
"""

from __future__ import annotations

import hmac
import logging
import uuid
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from audiolab._redact import SERVER_LOGGERS, scrub_logs
from audiolab.errors import AudiolabError, PayloadTooLarge, RateLimited, Unauthorized
from audiolab.server.jobs import ClientMiddleware, JobRunner
from audiolab.server.metrics import Metrics, MetricsMiddleware
from audiolab.server.registry import Registry
from audiolab.server.routes import (
    chat,
    health,
    models,
    realtime,
    realtime_translations,
    speech,
    transcriptions,
    translations,
    voices,
)
from audiolab.server.settings import Settings

__all__ = ["create_app", "server_version"]

log = logging.getLogger("audiolab.server")


def server_version() -> str:
    try:
        return version("audiolab-kit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _error_response(exc: AudiolabError, *, headers: dict | None = None) -> JSONResponse:
    h = dict(headers or {})
    if isinstance(exc, RateLimited):
        h["retry-after"] = str(int(round(exc.retry_after)) or 1)
    return JSONResponse(exc.to_openai(), status_code=exc.status_code, headers=h)


def _openai_error(status: int, message: str, *, type_: str = "invalid_request_error", param=None, code=None):
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


class _Guard:
    """ASGI middleware: bearer-token auth (HTTP and WebSocket) and a streaming upload limit."""

    def __init__(self, app, settings: Settings):
        self.app = app
        self.settings = settings
        # Multipart framing and text fields ride on top of the file itself.
        self.body_limit = settings.max_upload_bytes + 1024 * 1024

    def _authorized(self, scope) -> bool:
        if not self.settings.api_key:
            return True
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"authorization", b"").decode("latin-1")
        token = raw[7:] if raw[:7].lower() == "bearer " else ""
        if scope["type"] == "websocket" and not token:
            # Browsers cannot set headers on WebSockets: OpenAI's subprotocol form carries the key.
            for proto in headers.get(b"sec-websocket-protocol", b"").decode("latin-1").split(","):
                proto = proto.strip()
                if proto.startswith("openai-insecure-api-key."):
                    token = proto.split(".", 1)[1]
        return hmac.compare_digest(token.encode(), self.settings.api_key.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path.startswith("/v1") and not self._authorized(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": "invalid_api_key"})
                return
            return await _error_response(Unauthorized())(scope, receive, send)
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            declared = headers.get(b"content-length")
            limit = self.body_limit
            if declared is not None and declared.isdigit() and int(declared) > limit:
                err = PayloadTooLarge(
                    f"Request body of {int(declared)} bytes is over the {self.settings.max_upload_bytes} byte limit.",
                    param="file", code="file_too_large")
                return await _error_response(err)(scope, receive, send)
            seen = 0

            async def counted_receive():
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        raise PayloadTooLarge(
                            f"Request body is over the {self.settings.max_upload_bytes} byte limit.",
                            param="file", code="file_too_large")
                return message

            return await self.app(scope, counted_receive, send)
        return await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI app of the local backend.

    Args:
        settings: explicit settings; ``Settings()`` when omitted.

    Returns:
        A FastAPI app with ``app.state.settings``, ``app.state.registry``, ``app.state.jobs`` and
        ``app.state.metrics``.
    """
    settings = settings or Settings()
    scrub_logs(SERVER_LOGGERS)  # uvicorn logs WebSocket handshake headers (the client's key) at DEBUG
    app = FastAPI(title="audiolab local backend", version=server_version(), docs_url="/docs", redoc_url=None)
    app.state.settings = settings
    app.state.registry = Registry(settings)
    app.state.metrics = Metrics()  # others add their instruments to app.state.metrics.registry
    app.state.jobs = JobRunner.from_settings(settings, metrics=app.state.metrics)

    @app.exception_handler(AudiolabError)
    async def _audiolab_error(request: Request, exc: AudiolabError):
        if exc.status_code >= 500:
            error_id = uuid.uuid4().hex[:12]
            log.error("request %s failed (error id %s): %s", request.url.path, error_id, exc)
            exc.message = f"{exc.message} (error id {error_id})"
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        first = errs[0] if errs else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        param = ".".join(loc) or None
        msg = first.get("msg", "Invalid request")
        if first.get("type") == "missing":
            message = f"Missing required parameter: '{param}'."
            code = "missing_required_parameter"
        else:
            message = f"Invalid value for '{param}': {msg}."
            code = "invalid_value"
        return _openai_error(400, message, param=param, code=code)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            message = f"Invalid URL ({request.method} {request.url.path})"
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed for {request.url.path}"
        else:
            message = str(exc.detail)
        return _openai_error(exc.status_code, message, type_="invalid_request_error")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        error_id = uuid.uuid4().hex[:12]
        log.exception("unexpected error on %s (error id %s)", request.url.path, error_id)
        return _openai_error(
            500,
            f"The server had an error while processing your request (error id {error_id}).",
            type_="server_error",
        )

    for resource in (health, models, speech, voices, transcriptions, translations, chat, realtime,
                     realtime_translations):
        app.include_router(resource.router)

    @app.get("/metrics", include_in_schema=False)
    async def _metrics():
        from fastapi.responses import Response

        body, content_type = app.state.metrics.render()
        return Response(body, media_type=content_type)

    app.add_middleware(ClientMiddleware)  # jobs count against the client of the request they serve
    app.add_middleware(_Guard, settings=settings)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        # Outermost (added last): preflights carry no token and are answered here, and the
        # guard's 401/413 answers get CORS headers so that a browser page can read them.
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"],
                           allow_headers=["*"])
    return app
