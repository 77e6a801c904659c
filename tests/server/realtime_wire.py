"""Reading a realtime WebSocket in the wire tests: each event validated against the spec and the SDK.

Example:
    >>> from pydantic import TypeAdapter
    >>> from openai.types.realtime import RealtimeServerEvent
    >>> wire = WireEvents(TypeAdapter(RealtimeServerEvent), "RealtimeServerEvent")
    >>> wire.parse('{"type": "input_audio_buffer.cleared", "event_id": "e1"}').type
    'input_audio_buffer.cleared'
"""

from __future__ import annotations

import asyncio
import json
import time

from tests.spec import validate


class WireEvents:
    """``parse``, ``next`` and ``until`` for one kind of server event (an SDK union and its spec schema)."""

    def __init__(self, adapter, schema: str, *, next_timeout: float = 60.0, until_timeout: float = 60.0):
        self.adapter, self.schema = adapter, schema
        self.next_timeout, self.until_timeout = next_timeout, until_timeout

    def parse(self, raw: bytes | str):
        """A server event, validated into the SDK union and against the published spec."""
        data = json.loads(raw)
        validate(data, self.schema)
        ev = self.adapter.validate_python(data)
        assert ev.type == data["type"]
        return ev

    async def next(self, conn, timeout: float | None = None):
        return self.parse(await asyncio.wait_for(conn.recv_bytes(), timeout or self.next_timeout))

    async def until(self, conn, done, *, timeout: float | None = None) -> list:
        """Events up to and including the first one for which ``done(event)`` is true."""
        out, deadline = [], time.monotonic() + (timeout or self.until_timeout)
        while not out or not done(out[-1]):
            out.append(await self.next(conn, max(deadline - time.monotonic(), 0.1)))
        return out


def ended_normally(response) -> bool:
    """A response that finished: completed, or cut at its ``max_output_tokens`` (a sampled answer may
    run past a small cap; OpenAI then reports it ``incomplete`` with that reason, and so does the
    local server)."""
    details = response.status_details
    return response.status == "completed" or (
        response.status == "incomplete" and details is not None and details.reason == "max_output_tokens")
