"""Whisper's decode work is bounded per request: silence, noise and music-like tones come back
promptly with (almost) no text and never a 5xx, and a request that would run past the server's
decode budget ends with the text decoded so far, marked partial (``x-audiolab-partial``)."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest

from audiolab.audio import Audio
from audiolab.server.engines.whisper import _spans, _temperatures
from audiolab.server.settings import Settings
from tests.spec import validate

SR = 16_000


@pytest.fixture(scope="module")
def lab():
    import audiolab

    return audiolab.connect("local", environ={})


def _tones(seconds: float) -> Audio:
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros_like(t)
    for i, f in enumerate((261.6, 329.6, 392.0, 220.0, 174.6, 196.0)):
        sl = slice(int(i * seconds / 6 * SR), int((i + 1) * seconds / 6 * SR))
        out[sl] = np.sin(2 * np.pi * f * t[sl]) + 0.5 * np.sin(2 * np.pi * 2 * f * t[sl])
    return Audio((0.2 * out / np.abs(out).max()).astype(np.float32), SR)


def _hard_inputs() -> dict[str, Audio]:
    rng = np.random.default_rng(7)
    return {
        "silence": Audio(np.zeros(12 * SR, np.float32), SR),
        "white noise": Audio((0.2 * rng.standard_normal(12 * SR)).astype(np.float32), SR),
        "tones": _tones(12.0),
    }


def _wav(audio: Audio):
    return ("clip.wav", io.BytesIO(audio.to_wav_bytes()), "audio/wav")


@pytest.mark.parametrize("name", ["silence", "white noise", "tones"])
def test_non_speech_is_transcribed_and_translated_to_almost_nothing(lab, name):
    audio = _hard_inputs()[name]
    raw = lab.client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=_wav(audio), response_format="verbose_json"
    )
    assert raw.status_code == 200 and "x-audiolab-partial" not in raw.headers
    body = raw.http_response.json()
    validate(body, "CreateTranscriptionResponseVerboseJson")
    assert len(body["text"].split()) <= 3, body["text"]
    assert body["duration"] == pytest.approx(12.0, abs=0.05)
    translated = lab.client.audio.translations.create(model="whisper-1", file=_wav(audio))
    assert len(translated.text.split()) <= 3, translated.text


def _streamed_events(base_url, audio, model) -> list[dict]:
    """The SSE events of a streamed transcription of ``audio`` (the answer must be 200)."""
    with httpx.stream(
        "POST",
        f"{base_url}/audio/transcriptions",
        timeout=120,
        files={"file": _wav(audio)},
        data={"model": model, "stream": "true"},
    ) as r:
        assert r.status_code == 200
        return [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]


def test_non_speech_streams_to_a_done_event(lab):
    events = _streamed_events(lab.base_url, _hard_inputs()["white noise"], "gpt-4o-mini-transcribe")
    assert events[-1]["type"] == "transcript.text.done"
    assert len(events[-1]["text"].split()) <= 3


def test_speech_after_a_long_silence_keeps_its_timestamps(lab, speech_clip):
    speech = speech_clip("beckett.wav").to_mono().resample(SR)
    padded = Audio(np.concatenate([np.zeros(8 * SR, np.float32), speech.samples]), SR)
    out = lab.client.audio.transcriptions.create(
        model="whisper-1",
        file=_wav(padded),
        response_format="verbose_json",
        timestamp_granularities=["segment", "word"],
    )
    assert out.text.strip() and out.segments[0].start >= 7.0
    assert out.words[0].start >= 7.0 and out.words[-1].end <= padded.duration + 0.01


@pytest.fixture(scope="module")
def tight():
    """A second server whose decode budget is spent by the first segment."""
    from audiolab.server.serve import start_in_thread

    handle = start_in_thread(Settings(stt_budget_s=0.0, stt_budget_rtf=0.0))
    yield handle
    handle.stop()


def test_a_request_past_the_decode_budget_returns_partial_text_marked_as_such(tight, two_cities):
    import openai

    client = openai.OpenAI(base_url=tight.url, api_key="local", max_retries=0)
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=_wav(two_cities), response_format="verbose_json"
    )
    assert raw.status_code == 200
    note = raw.headers["x-audiolab-partial"]
    assert note.startswith("decode budget reached") and "of 44.4 s" in note
    body = raw.http_response.json()
    validate(body, "CreateTranscriptionResponseVerboseJson")
    assert body["text"].lower().startswith("it was the best of times")
    assert body["segments"][-1]["end"] < 30.0 < two_cities.duration


def test_a_streamed_request_past_the_budget_still_ends_with_done(tight, two_cities):
    events = _streamed_events(tight.url, two_cities, "gpt-4o-transcribe")
    assert events[-1]["type"] == "transcript.text.done" and events[-1]["text"].lower().startswith("it was")
    assert not any(e.get("type") == "error" or "error" in e for e in events)


def test_budget_and_decode_limits_are_settings_from_the_environment():
    s = Settings.from_env(
        {
            "AUDIOLAB_STT_BUDGET_S": "12.5",
            "AUDIOLAB_STT_BUDGET_RTF": "0.5",
            "AUDIOLAB_STT_MAX_FALLBACKS": "1",
            "AUDIOLAB_STT_VAD": "0",
        }
    )
    assert (s.stt_budget_s, s.stt_budget_rtf, s.stt_max_fallbacks, s.stt_vad) == (12.5, 0.5, 1, False)
    assert _temperatures(0.0, 1) == (0.0, 1.0) and _temperatures(0.6, 2) == (0.6, 0.8, 1.0)


def test_speech_spans_merge_within_one_window():
    chunks = [
        {"start": 0, "end": 2 * SR},
        {"start": 5 * SR, "end": 9 * SR},
        {"start": 40 * SR, "end": 41 * SR},
    ]
    assert _spans(chunks, SR) == [0.0, 9.0, 40.0, 41.0]
