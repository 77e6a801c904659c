"""``wss /v1/realtime``: the Realtime API over WebSocket, as ``client.realtime.connect()`` speaks it.

The URL chooses the kind of session: ``?model=gpt-realtime`` (speech-to-speech, session type
``realtime``) or ``?intent=transcription`` (session type ``transcription``). Authentication is the
app's bearer check (``Authorization`` header, or the browser subprotocol
``openai-insecure-api-key.<key>``). This route only moves frames: one task writes server events
in order, the loop below reads client events and hands them to
:class:`~audiolab.server.realtime.session.RealtimeSession`, and whatever happens the session is
closed, which cancels its work.
"""

from __future__ import annotations

import asyncio
import json
import logging

from fastapi import APIRouter, WebSocket

from audiolab.errors import AudiolabError, InvalidRequest
from audiolab.server.realtime import beta
from audiolab.server.realtime.events import error_event
from audiolab.server.realtime.session import RealtimeSession
from audiolab.server.registry import ALIASES
from audiolab.server.routes import deprecation_headers

__all__ = ["router"]

log = logging.getLogger("audiolab.server.realtime")
router = APIRouter()


def _session_kind(websocket: WebSocket) -> tuple[str, str | None]:
    q = websocket.query_params
    intent, model = q.get("intent"), q.get("model")
    if q.get("call_id"):
        raise InvalidRequest("Joining a call (call_id) needs WebRTC or SIP, which the local server does not offer. "
                             "Connect with ?model=... instead.", param="call_id", code="invalid_value")
    if intent == "transcription":
        return "transcription", model
    if intent not in (None, "", "conversation", "realtime"):
        raise InvalidRequest(f"Invalid value for 'intent': {intent!r}. Use 'transcription', or pass ?model=... for a "
                             "speech-to-speech session.", param="intent", code="invalid_value")
    websocket.app.state.registry.resolve(model or "", ("realtime", "chat"))
    return "realtime", model


def _from_beta(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text  # the session reports the bad JSON
    return json.dumps(beta.from_beta(data))


@router.websocket("/v1/realtime")
async def realtime(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    # A retired model id (gpt-4o-realtime-preview...) still connects; the handshake says it is retired.
    retired = deprecation_headers(ALIASES.get(websocket.query_params.get("model") or ""))
    await websocket.accept(subprotocol="realtime" if "realtime" in offered else None,
                           headers=[(k.encode(), v.encode("latin-1")) for k, v in retired.items()])
    dialect = beta.is_beta(websocket.headers)  # OpenAI-Beta: realtime=v1 -> beta event names and shapes
    state = websocket.app.state
    try:
        kind, model = _session_kind(websocket)
    except AudiolabError as exc:
        await websocket.send_text(json.dumps(error_event(exc)))
        await websocket.close(code=1008, reason=(exc.code or "invalid_request")[:120])
        return

    outbox: asyncio.Queue = asyncio.Queue()

    async def write() -> None:
        while True:
            ev = await outbox.get()
            for out in beta.to_beta(ev) if dialect else (ev,):
                await websocket.send_text(json.dumps(out))

    writer = asyncio.create_task(write())
    session = RealtimeSession(kind=kind, model=model, registry=state.registry, jobs=state.jobs,
                              emit=outbox.put_nowait)
    live = getattr(state, "realtime_sessions", None)
    if live is None:  # sessions open on this app, for /health-style introspection and tests
        live = state.realtime_sessions = set()
    live.add(session)
    try:
        await session.start()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") is not None:
                await session.handle_text(_from_beta(message["text"]) if dialect else message["text"])
            elif message.get("bytes") is not None:
                session.handle_binary()
            if writer.done():  # the client stopped reading
                break
    except AudiolabError as exc:  # the session could not start (an engine is missing)
        failed = exc
        outbox.put_nowait(error_event(exc))
    else:
        failed = None
    finally:
        await session.close()
        live.discard(session)
        for _ in range(200):  # let queued events reach a client that is still there (2 s at most)
            if outbox.empty() or writer.done():
                break
            await asyncio.sleep(0.01)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    if failed is not None:
        await websocket.close(code=1011, reason=(failed.code or "server_error")[:120])
