"""Realtime translation: ``wss /v1/realtime/translations?model=gpt-realtime-translate`` (what the SDK's
``client.realtime.translations.connect()`` opens) and ``POST /v1/realtime/translations/client_secrets``.

The WebSocket route only moves frames, as ``/v1/realtime`` does: one task writes server events in
order, the loop reads client events and hands them to
:class:`~audiolab.server.realtime.translation.TranslationSession`, and the session is closed
whatever happens. After ``session.close`` the server sends ``session.closed`` and ends the
socket. An unknown model gets an ``error`` event and the socket closes (1008).

Kept apart from :mod:`audiolab.server.routes.realtime`: another session type with its own events.
Client secrets are issued locally (``ek_...``) with the effective session; the local server does
not check them against later connections (it accepts any bearer token unless it has an API key).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect

from audiolab.errors import AudiolabError, InvalidRequest
from audiolab.server.realtime.events import error_event
from audiolab.server.realtime.translation import TranslationSession
from audiolab.server.realtime.translation_config import DEFAULT_MODEL, TranslationConfig
from audiolab.server.routes import state
from audiolab.server.validation import expect, loads_strict, missing, number, one_of, unknown

__all__ = ["router"]

router = APIRouter()


@router.websocket("/v1/realtime/translations")
async def realtime_translations(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
    app = websocket.app.state
    outbox: asyncio.Queue = asyncio.Queue()
    try:
        session = TranslationSession(model=websocket.query_params.get("model"), registry=app.registry,
                                     jobs=app.jobs, emit=outbox.put_nowait)
    except AudiolabError as exc:
        await websocket.send_text(json.dumps(error_event(exc)))
        await websocket.close(code=1008, reason=(exc.code or "invalid_request")[:120])
        return

    async def write() -> None:
        while True:
            await websocket.send_text(json.dumps(await outbox.get()))

    writer = asyncio.create_task(write())
    finished = asyncio.create_task(session.finished.wait())
    failed = None
    try:
        await session.start()
        while not session.finished.is_set():
            receive = asyncio.create_task(websocket.receive())
            await asyncio.wait({receive, finished, writer}, return_when=asyncio.FIRST_COMPLETED)
            if not receive.done():  # the session ended (session.closed) or the client stopped reading
                receive.cancel()
                break
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") is not None:
                await session.handle_text(message["text"])
            elif message.get("bytes") is not None:
                session.handle_binary()
    except AudiolabError as exc:  # the session could not start (an engine is missing)
        failed = exc
        outbox.put_nowait(error_event(exc))
    finally:
        finished.cancel()
        await session.close()
        for _ in range(200):  # let queued events reach a client that is still there (2 s at most)
            if outbox.empty() or writer.done():
                break
            await asyncio.sleep(0.01)
        writer.cancel()
        await asyncio.gather(writer, finished, return_exceptions=True)
    if failed is not None:
        await websocket.close(code=1011, reason=(failed.code or "server_error")[:120])
    elif session.finished.is_set():
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the client closed first
            await websocket.close(code=1000)


@router.post("/v1/realtime/translations/client_secrets")
async def create_translation_client_secret(request: Request):
    """A client secret and the effective translation session (``RealtimeTranslationClientSecretCreateResponse``)."""
    try:
        body = loads_strict(await request.body())
    except ValueError:
        raise InvalidRequest("We could not parse the JSON body of your request. The body must be a JSON "
                             "object (Content-Type: application/json).", code="invalid_json") from None
    expect(body, dict, "body", "an object")
    for key in body:
        if key not in ("session", "expires_after"):
            raise unknown(key)
    if "session" not in body:
        raise missing("session")
    seconds = 600
    after = body.get("expires_after")
    if after is not None:
        expect(after, dict, "expires_after", "an object")
        for key in after:
            if key not in ("anchor", "seconds"):
                raise unknown(f"expires_after.{key}")
        one_of(after.get("anchor", "created_at"), ("created_at",), "expires_after.anchor")
        seconds = number(after.get("seconds", 600), "expires_after.seconds", lo=10, hi=7200, integer=True)
    session = expect(body["session"], dict, "session", "an object")
    if "model" not in session:
        raise missing("session.model")
    config = TranslationConfig(session.get("model") or DEFAULT_MODEL)
    registry = state(request).registry
    registry.resolve(config.model, "translation", param="session.model")
    config.update(session, registry)
    expires_at = int(time.time()) + seconds
    config.expires_at = expires_at
    return {"value": "ek_" + secrets.token_hex(16), "expires_at": expires_at, "session": config.wire()}
