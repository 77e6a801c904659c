"""POST /v1/audio/speech through the real openai SDK over real HTTP, measured on the audio itself."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time

import httpx
import numpy as np
import openai
import pytest

from audiolab.audio import Audio
from audiolab.server.registry import OPENAI_VOICES
from tests.spec import validate

THREE = ("The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst "
         "of times. Then the old clock in the hall struck twelve, and everyone went to bed.")
SHORT = "The quick brown fox jumps over the lazy dog. Then it runs away."


def speak(lab, *, fmt="pcm", model="gpt-4o-mini-tts", voice="alloy", text=SHORT, **kw) -> Audio:
    body = lab.client.audio.speech.create(model=model, voice=voice, input=text, response_format=fmt, **kw).content
    return Audio.from_bytes(body, "pcm" if fmt == "pcm" else None)


# ---- acoustic measures (parselmouth, pyloudnorm, librosa directly) -------------------------

def f0_hz(clip: Audio) -> np.ndarray:
    import parselmouth

    snd = parselmouth.Sound(clip.samples.astype(np.float64), sampling_frequency=clip.sr)
    f0 = snd.to_pitch_ac(pitch_floor=50, pitch_ceiling=500).selected_array["frequency"]
    return f0[f0 > 0]


def lufs(clip: Audio) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(clip.sr).integrated_loudness(clip.samples.astype(np.float64)))


def timbre(clip: Audio) -> np.ndarray:
    """Mean MFCCs 1-19 at 16 kHz: a compact description of who is speaking."""
    import librosa

    c = clip.resample(16000)
    return librosa.feature.mfcc(y=c.samples, sr=16000, n_mfcc=20)[1:].mean(axis=1)


# ---- formats ------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, content_type", [("mp3", "audio/mpeg"), ("opus", "audio/opus"), ("aac", "audio/aac"),
                                               ("flac", "audio/flac"), ("wav", "audio/wav"), ("pcm", "audio/pcm")])
def test_speech_every_format_decodes_to_the_same_speech(lab, fmt, content_type):
    raw = lab.client.audio.speech.with_raw_response.create(model="tts-1", voice="espeak-en-us",
                                                           input=SHORT, response_format=fmt)
    assert raw.headers["content-type"].startswith(content_type)
    assert raw.headers["x-audiolab-engine"] == "espeak/espeak"
    body = raw.parse().content
    clip = Audio.from_bytes(body, "pcm" if fmt == "pcm" else None)
    reference = speak(lab, model="tts-1", voice="espeak-en-us")  # eSpeak is deterministic: same length
    assert clip.duration == pytest.approx(reference.duration, abs=0.12)
    assert clip.sr == (48000 if fmt == "opus" else 24000)
    assert -35 < clip.rms_db < -3
    if fmt == "wav":  # a streaming header, like OpenAI's: sizes unknown
        assert body[:4] == b"RIFF" and body[4:8] == b"\xff\xff\xff\xff" and body[40:44] == b"\xff\xff\xff\xff"


# ---- voices -------------------------------------------------------------------------------

def test_speech_all_13_voices_sound_distinct(lab):
    clips = {v: speak(lab, voice=v) for v in OPENAI_VOICES}
    feats = {v: timbre(c) for v, c in clips.items()}
    again = timbre(speak(lab, voice="alloy"))
    same_voice = float(np.linalg.norm(again - feats["alloy"]))
    # Mean-MFCC distance. Measured here: the same Piper voice twice 2-7 (Piper samples noise),
    # the two closest different voices 13-15.
    margin = 10.0
    assert same_voice < margin
    too_close = [(a, b, round(float(np.linalg.norm(feats[a] - feats[b])), 1))
                 for a, b in itertools.combinations(OPENAI_VOICES, 2)
                 if np.linalg.norm(feats[a] - feats[b]) < margin]
    assert not too_close


def test_speech_accepts_a_voice_object_and_local_voice_ids(lab):
    by_object = lab.client.audio.speech.with_raw_response.create(model="gpt-4o-mini-tts", voice={"id": "shimmer"},
                                                                 input="Hello.", response_format="pcm")
    assert by_object.headers["x-audiolab-voice"] == "shimmer"
    french = lab.client.audio.speech.with_raw_response.create(model="espeak", voice="espeak-fr",
                                                              input="Bonjour à tous.", response_format="wav")
    assert french.headers["x-audiolab-engine"] == "espeak/espeak"
    assert Audio.from_bytes(french.parse().content).duration > 0.5


# ---- speed and instructions ---------------------------------------------------------------

@pytest.mark.parametrize("voice", ["alloy", "coral"])
def test_speech_speed_scales_duration_inversely(lab, voice):
    base = speak(lab, voice=voice).duration
    for speed in (0.5, 2.0, 4.0):
        assert speak(lab, voice=voice, speed=speed).duration * speed == pytest.approx(base, rel=0.1)


@pytest.mark.parametrize("voice", ["alloy", "nova"])
def test_speech_instructions_measurably_change_the_audio(lab, voice):
    plain = speak(lab, voice=voice, text=THREE)
    whisper = speak(lab, voice=voice, text=THREE, instructions="Whisper softly")
    slow = speak(lab, voice=voice, text=THREE, instructions="Speak slowly and calmly")
    excited = speak(lab, voice=voice, text=THREE, instructions="excited!")
    assert lufs(whisper) < lufs(plain) - 6
    assert len(f0_hz(whisper)) < 0.6 * len(f0_hz(plain)) * whisper.duration / plain.duration  # less voicing
    assert slow.duration > 1.25 * plain.duration
    f_plain, f_exc = f0_hz(plain), f0_hz(excited)
    assert 12 * np.log2(np.median(f_exc) / np.median(f_plain)) > 1.5  # semitones higher
    def spread(f):
        return np.percentile(f, 90) - np.percentile(f, 10)

    assert spread(f_exc) > 1.2 * spread(f_plain)


# ---- streaming ----------------------------------------------------------------------------

def test_speech_first_streamed_chunk_arrives_before_the_full_synthesis(lab):
    speak(lab, text="Warm up.")  # the engine is loaded, as in a running server
    start = time.perf_counter()
    arrivals, parts = [], []
    with lab.client.audio.speech.with_streaming_response.create(model="gpt-4o-mini-tts", voice="alloy", input=THREE,
                                                                response_format="mp3") as resp:
        for chunk in resp.iter_bytes(None):
            arrivals.append(time.perf_counter() - start)
            parts.append(chunk)
    first, total = arrivals[0], arrivals[-1]
    assert len(arrivals) >= 3  # a chunk per sentence, then the encoder's tail
    assert first < total / 2  # absolute figures: bench/local_audio.py
    assert Audio.from_bytes(b"".join(parts)).duration > 5.0


def test_speech_async_client_streams_decodable_opus(lab):
    async def run() -> tuple[bytes, int]:
        parts = []
        async with lab.aclient.audio.speech.with_streaming_response.create(
                model="gpt-4o-mini-tts", voice="verse", input=THREE, response_format="opus") as resp:
            async for chunk in resp.iter_bytes(None):
                parts.append(chunk)
        return b"".join(parts), len(parts)

    body, n = asyncio.run(run())
    clip = Audio.from_bytes(body)
    assert n >= 2 and body[:4] == b"OggS" and clip.duration > 4.0


def test_speech_serves_concurrent_requests_on_both_engines(lab):
    async def one(client, voice: str, instructions: str) -> float:
        resp = await client.audio.speech.create(model="gpt-4o-mini-tts", voice=voice, input=SHORT,
                                                instructions=instructions, response_format="flac")
        return Audio.from_bytes(resp.content).duration

    async def run():
        client = lab.aclient.with_options(max_retries=0)  # a 500 must surface, not be retried away
        return await asyncio.gather(*[one(client, v, i) for v in ("ash", "onyx", "shimmer", "espeak-en-gb")
                                      for i in ("excited!", "Whisper softly")])

    assert all(d > 2.0 for d in asyncio.run(run()))


def test_speech_sse_events_follow_the_spec(lab):
    with lab.client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="marin", input=THREE, response_format="wav", stream_format="sse") as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in resp.iter_lines() if line.startswith("data:")]
    for ev in events:
        validate(ev, "CreateSpeechResponseStreamEvent")
    deltas, done = events[:-1], events[-1]
    validate(done, "SpeechAudioDoneEvent")
    assert {e["type"] for e in deltas} == {"speech.audio.delta"} and len(deltas) >= 3
    clip = Audio.from_bytes(b"".join(base64.b64decode(e["audio"]) for e in deltas))
    usage = done["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens"] > 10 and usage["output_tokens"] >= int(clip.duration * 10)


def test_speech_client_disconnect_stops_synthesis(lab):
    long_text = " ".join(f"This is sentence number {i} of a long story." for i in range(60))
    health = lab.base_url.removesuffix("/v1") + "/health"
    with httpx.stream("POST", f"{lab.base_url}/audio/speech", timeout=30,
                      json={"model": "gpt-4o-mini-tts", "voice": "alloy", "input": long_text,
                            "response_format": "pcm"}) as resp:
        next(resp.iter_raw())
    start = time.perf_counter()
    while httpx.get(health).json()["jobs"]["running"] and time.perf_counter() - start < 3:
        time.sleep(0.05)
    stopped_after = time.perf_counter() - start
    assert httpx.get(health).json()["jobs"]["running"] == 0
    assert stopped_after < 2.0  # the whole text takes several seconds to synthesize


# ---- round trip ---------------------------------------------------------------------------

def test_speech_piper_sentence_round_trips_through_stt(lab):
    from audiolab.eval.metrics import wer

    text = "The old lighthouse keeper climbed the stairs every evening to light the lamp."
    mp3 = lab.client.audio.speech.create(model="tts-1", voice="alloy", input=text).content
    heard = lab.client.audio.transcriptions.create(model="whisper-1", file=("speech.mp3", mp3), language="en")
    assert wer(text, heard.text) <= 0.10


# ---- bad input ----------------------------------------------------------------------------

OK = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": "Hello."}
BAD = [
    ("empty input", {**OK, "input": ""}, 400, "input"),
    ("blank input", {**OK, "input": "   \n "}, 400, "input"),
    ("4097 chars", {**OK, "input": "a" * 4097}, 400, "input"),
    ("speed 0.1", {**OK, "speed": 0.1}, 400, "speed"),
    ("speed 5", {**OK, "speed": 5}, 400, "speed"),
    ("speed as text", {**OK, "speed": "fast"}, 400, "speed"),
    ("unknown voice", {**OK, "voice": "zork"}, 400, "voice"),
    ("bad format", {**OK, "response_format": "ogg"}, 400, "response_format"),
    ("bad stream format", {**OK, "stream_format": "ws"}, 400, "stream_format"),
    ("instructions on tts-1", {**OK, "model": "tts-1", "instructions": "Whisper"}, 400, "instructions"),
    ("sse on tts-1", {**OK, "model": "tts-1", "stream_format": "sse"}, 400, "stream_format"),
    ("sse on tts-1-hd", {**OK, "model": "tts-1-hd", "stream_format": "sse"}, 400, "stream_format"),
    ("unknown model", {**OK, "model": "tts-9"}, 404, "model"),
    ("stt model", {**OK, "model": "whisper-1"}, 404, "model"),
    ("missing voice", {"model": "tts-1", "input": "Hi"}, 400, "voice"),
    ("unknown field", {**OK, "pitch": 3}, 400, "pitch"),
    ("instructions too long", {**OK, "instructions": "x" * 4097}, 400, "instructions"),
]


@pytest.mark.parametrize("case, body, status, param", BAD, ids=[b[0] for b in BAD])
def test_speech_rejects_bad_input_with_an_openai_error(lab, case, body, status, param):
    resp = httpx.post(f"{lab.base_url}/audio/speech", json=body, timeout=30)
    assert resp.status_code == status
    validate(resp.json(), "ErrorResponse")
    assert resp.json()["error"]["param"] == param
    if case == "unknown voice":
        assert all(v in resp.json()["error"]["message"] for v in OPENAI_VOICES)


def test_speech_rejections_reach_the_sdk_as_typed_errors_and_the_server_keeps_serving(lab):
    with pytest.raises(openai.BadRequestError) as exc:
        lab.client.audio.speech.create(model="tts-1", voice="alloy", input="Hi", speed=4.5)
    assert exc.value.body["param"] == "speed"
    with pytest.raises(openai.NotFoundError):
        lab.client.audio.speech.create(model="no-such-tts", voice="alloy", input="Hi")
    resp = httpx.post(f"{lab.base_url}/audio/speech", content=b"{not json",
                      headers={"content-type": "application/json"})
    assert resp.status_code == 400
    validate(resp.json(), "ErrorResponse")
    assert speak(lab, text="Still here.").duration > 0.3
