"""Server-sent events as the OpenAI endpoints stream them: the one framer of every route.

An event is one ``data:`` line of compact JSON (UTF-8, not ASCII-escaped) and a blank line.
Chat Completions end their stream with ``data: [DONE]`` (:data:`DONE`); the audio endpoints end
with a typed ``*.done`` event instead. :func:`response` wraps an iterator of frames into the
streaming response every SSE route sends (``text/event-stream``, no caching, no proxy buffering).

Example:
    >>> frame({"type": "speech.audio.done", "usage": {"input_tokens": 3}})
    'data: {"type":"speech.audio.done","usage":{"input_tokens":3}}\\n\\n'
    >>> frame({"delta": "café"})
    'data: {"delta":"café"}\\n\\n'
    >>> DONE
    'data: [DONE]\\n\\n'
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping

from fastapi.responses import StreamingResponse

__all__ = ["frame", "DONE", "MEDIA_TYPE", "HEADERS", "response", "ClosingStream"]

MEDIA_TYPE = "text/event-stream"
#: Headers of every event stream: no caching, and no buffering by a reverse proxy (nginx).
HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
#: The last line of a Chat Completions stream.
DONE = "data: [DONE]\n\n"


def frame(data: Mapping) -> str:
    """One event: ``data`` as compact JSON on a ``data:`` line, then a blank line.

    Example:
        >>> frame({"error": {"message": "bad", "code": None}})
        'data: {"error":{"message":"bad","code":null}}\\n\\n'
    """
    return f"data: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n"


class ClosingStream(StreamingResponse):
    """A StreamingResponse that runs ``on_close`` however the response ends (event streams, and
    a client's copy of a shared stream in :mod:`audiolab.server.coalesce`).

    When a client disconnects while a chunk is being sent, Starlette cancels the send and leaves
    the body generator suspended; its ``finally`` would only run whenever the generator is
    garbage-collected. ``on_close`` lets the route stop its producer at once instead.
    """

    def __init__(self, content, *, on_close: Callable[[], object] | None, **kwargs):
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self._on_close is not None:
                self._on_close()


def response(
    frames: AsyncIterator[str],
    *,
    headers: Mapping[str, str] | None = None,
    on_close: Callable[[], object] | None = None,
) -> StreamingResponse:
    """The streaming response of an event stream: ``frames`` (from :func:`frame`) as they come.

    Args:
        frames: the events, already framed.
        headers: extra headers (the engine header); :data:`HEADERS` are always set.
        on_close: called when the response ends, however it ends (client gone included).
    """
    return ClosingStream(
        frames, on_close=on_close, media_type=MEDIA_TYPE, headers={**(headers or {}), **HEADERS}
    )
