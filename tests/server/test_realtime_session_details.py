"""Realtime session details clients rely on: server VAD's ``idle_timeout_ms``, ``conversation.item.retrieve``
and text-only output (session-wide and per response), over the SDK's ``realtime.connect()`` and a real
WebSocket, with real engines. Every server event is validated against OpenAI's published schema and
parsed into the SDK's ``RealtimeServerEvent`` union.
"""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
from openai.types.realtime import InputAudioBufferTimeoutTriggered, RealtimeServerEvent
from pydantic import TypeAdapter

from tests.server.realtime_wire import WireEvents, ended_normally

pytestmark = [pytest.mark.anyio, pytest.mark.engines]

_EVENTS = TypeAdapter(RealtimeServerEvent)
_RATE = 24_000
_CHUNK = _RATE // 10  # 100 ms
_SILENCE = base64.b64encode(np.zeros(_CHUNK, "<i2").tobytes()).decode()


@pytest.fixture
def anyio_backend():
    return "asyncio"


_WIRE = WireEvents(_EVENTS, "RealtimeServerEvent", next_timeout=90.0, until_timeout=90.0)
_parse, _next = _WIRE.parse, _WIRE.next
_until = _WIRE.until


def _pcm(audio) -> np.ndarray:
    return np.frombuffer(audio.resample(_RATE).to_pcm16(), dtype="<i2")


# --- idle_timeout_ms ------------------------------------------------------------------------------------
async def test_idle_timeout_commits_the_silence_and_prompts_again_after_the_answer_has_played(lab):
    """Silence for idle_timeout_ms -> timeout_triggered, the silent audio committed under its item_id, and a
    response; the next timeout counts from when that answer has finished playing, not from response.done."""
    sent_ms = 0
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.session.update(session={"type": "realtime", "instructions": "Ask the user to go on.",
                                           "max_output_tokens": 24, "audio": {"input": {"turn_detection": {
                                               "type": "server_vad", "idle_timeout_ms": 5000}}}})
        updated = await _next(conn)
        assert updated.session.audio.input.turn_detection.idle_timeout_ms == 5000

        async def microphone():  # a live line: silence, twice as fast as real time
            nonlocal sent_ms
            while True:
                await conn.input_audio_buffer.append(audio=_SILENCE)
                sent_ms += 100
                await asyncio.sleep(0.05)

        mic = asyncio.create_task(microphone())
        try:
            first = await _until(conn, lambda e: e.type == "response.done")
            second = await _until(conn, lambda e: e.type == "input_audio_buffer.timeout_triggered", timeout=120)
        finally:
            mic.cancel()
    types = [e.type for e in first]
    assert types[:4] == ["input_audio_buffer.timeout_triggered", "input_audio_buffer.committed",
                         "conversation.item.added", "conversation.item.done"]
    assert "input_audio_buffer.speech_started" not in types
    trig, committed, added = first[0], first[1], first[2]
    assert isinstance(trig, InputAudioBufferTimeoutTriggered)
    assert trig.audio_start_ms == 0 and 5000 <= trig.audio_end_ms <= 5200
    assert committed.item_id == trig.item_id == added.item.id
    assert added.item.role == "user" and added.item.content[0].type == "input_audio"
    done = first[-1].response
    assert ended_normally(done) and done.conversation_id and done.output[0].content[0].transcript
    answer_ms = 1000 * sum(len(base64.b64decode(e.delta)) // 2 for e in first
                           if e.type == "response.output_audio.delta") / _RATE
    assert answer_ms > 300
    # The second silence starts when the answer has been heard: after its first audio plus its length.
    again = second[-1]
    assert again.audio_start_ms >= trig.audio_end_ms + answer_ms
    assert 5000 <= again.audio_end_ms - again.audio_start_ms <= 5200
    assert again.audio_end_ms <= sent_ms and again.item_id != trig.item_id


async def test_without_idle_timeout_silence_commits_nothing(lab):
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        for _ in range(70):  # 7 s of silence
            await conn.input_audio_buffer.append(audio=_SILENCE)
        await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                  "content": [{"type": "input_text", "text": "marker"}]})
        events = await _until(conn, lambda e: e.type == "conversation.item.done")
    assert [e.type for e in events] == ["conversation.item.added", "conversation.item.done"]


@pytest.mark.parametrize("value", [4999, 30_001, "5s"])
async def test_idle_timeout_out_of_range_is_refused(lab, value):
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.send_raw(json.dumps({"type": "session.update", "event_id": "evt_idle", "session": {
            "type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad",
                                                                        "idle_timeout_ms": value}}}}}))
        err = await _next(conn)
    assert err.type == "error" and err.error.event_id == "evt_idle"
    assert err.error.param == "session.audio.input.turn_detection.idle_timeout_ms"


# --- conversation.item.retrieve -----------------------------------------------------------------------
async def test_retrieve_returns_a_committed_turn_with_its_audio_and_an_error_for_an_unknown_id(lab, spoken):
    pcm = _pcm(spoken("Good morning."))
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await _next(conn)
        for i in range(0, len(pcm), _CHUNK):
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + _CHUNK].tobytes()).decode())
        await conn.input_audio_buffer.commit()
        committed = await _next(conn)
        await _until(conn, lambda e: e.type == "conversation.item.done")
        await conn.conversation.item.retrieve(item_id=committed.item_id, event_id="evt_get")
        got = await _next(conn)
        await conn.conversation.item.retrieve(item_id="item_nobody", event_id="evt_missing")
        missing = await _next(conn)
    assert got.type == "conversation.item.retrieved" and got.item.id == committed.item_id
    assert got.item.role == "user" and got.item.content[0].type == "input_audio"
    heard = np.frombuffer(base64.b64decode(got.item.content[0].audio), "<i2")
    assert np.array_equal(heard, pcm)
    assert missing.type == "error" and missing.error.code == "item_not_found"
    assert missing.error.param == "item_id" and missing.error.event_id == "evt_missing"


# --- output_modalities ["text"] ------------------------------------------------------------------------
_AUDIO_EVENTS = ("response.output_audio.delta", "response.output_audio.done",
                 "response.output_audio_transcript.delta", "response.output_audio_transcript.done")


async def test_a_text_response_in_an_audio_session_has_no_audio_events(lab):
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Name a colour."}]})
        await _until(conn, lambda e: e.type == "conversation.item.done")
        await conn.response.create(response={"output_modalities": ["text"], "max_output_tokens": 16})
        events = await _until(conn, lambda e: e.type == "response.done")
    types = [e.type for e in events]
    assert not set(types) & set(_AUDIO_EVENTS)
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.strip() and next(e for e in events if e.type == "response.output_text.done").text == text
    done = events[-1].response
    assert done.output_modalities == ["text"] and done.output[0].content[0].type == "output_text"
    assert done.usage.output_token_details.audio_tokens == 0


async def test_a_text_session_answers_a_spoken_turn_in_text(lab, spoken):
    pcm = np.concatenate([np.zeros(_RATE // 2, "<i2"), _pcm(spoken("What is the capital of France?")),
                          np.zeros(_RATE * 3 // 2, "<i2")])
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await _next(conn)
        await conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                           "max_output_tokens": 24})
        assert (await _next(conn)).session.output_modalities == ["text"]
        for i in range(0, len(pcm), _CHUNK):
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + _CHUNK].tobytes()).decode())
        events = await _until(conn, lambda e: e.type == "response.done")
    types = [e.type for e in events]
    assert "input_audio_buffer.committed" in types and not set(types) & set(_AUDIO_EVENTS)
    assert "response.output_text.delta" in types
    assert ended_normally(events[-1].response) and events[-1].response.output_modalities == ["text"]
