"""A realtime turn is transcribed while it is spoken: what was said before a pause is not decoded again.

Driven by the SDK's ``client.realtime.connect()`` over a real WebSocket, with real engines on
real clips; the server's own ``/metrics`` says how many pieces were kept.
"""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from audiolab.eval.datasets import real_speech
from audiolab.eval.metrics import wer

pytestmark = [pytest.mark.anyio, pytest.mark.engines]

_RATE = 24_000
_CHUNK = _RATE // 10


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _metric(base: str, name: str, **labels) -> float:
    text = httpx.get(f"{base}/metrics").text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def _stream(conn, pcm: np.ndarray) -> None:
    for i in range(0, len(pcm), _CHUNK):
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + _CHUNK].tobytes()).decode())


def _pcm(audio, *, lead_s=0.0, tail_s=0.0) -> np.ndarray:
    speech = np.frombuffer(audio.resample(_RATE).to_pcm16(), dtype="<i2")
    return np.concatenate([np.zeros(int(lead_s * _RATE), "<i2"), speech, np.zeros(int(tail_s * _RATE), "<i2")])


async def test_a_turn_with_a_pause_is_transcribed_in_pieces_and_heard_whole(lab):
    clips = {u.id: u for u in real_speech(include_synthetic=False, sr=_RATE)}
    first, second = clips["two_cities-01"], clips["two_cities-02"]
    base = lab.base_url.removesuffix("/v1")
    kept_before = _metric(base, "audiolab_realtime_turn_pieces_total")
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        await conn.session.update(session={"type": "realtime", "instructions": "Answer in one short sentence.",
                                           "audio": {"input": {
                                               "transcription": {"model": "whisper-1", "language": "en"},
                                               "turn_detection": {"type": "server_vad",
                                                                  "silence_duration_ms": 1500}}}})
        decoded_before = _metric(base, "audiolab_job_seconds_count", engine="whisper", priority="interactive")
        # The first clause, then a 0.8 s pause: shorter than the 1.5 s that ends the turn.
        await _stream(conn, _pcm(first.audio, lead_s=0.3, tail_s=0.8))
        deadline = time.monotonic() + 120
        while (_metric(base, "audiolab_job_seconds_count", engine="whisper", priority="interactive")
               <= decoded_before and time.monotonic() < deadline):
            await asyncio.sleep(0.1)  # the server transcribes the turn so far during the pause
        await _stream(conn, _pcm(second.audio, tail_s=2.5))
        events = []
        async for ev in conn:
            events.append(ev)
            assert ev.type != "error", ev
            if ev.type == "response.done":
                break
    types = [e.type for e in events]
    assert types.count("input_audio_buffer.speech_started") == 1  # one turn...
    assert types.count("input_audio_buffer.speech_stopped") == 1
    heard = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed").transcript
    assert wer(f"{first.text} {second.text}", heard) <= 0.25, heard  # ...heard whole
    assert _metric(base, "audiolab_realtime_turn_pieces_total") >= kept_before + 1
