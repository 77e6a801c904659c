"""Fuzz the upload paths with hypothesis-generated multipart bodies: random bytes, truncated and
bit-flipped real recordings in every format, wrong extensions, zero-length, huge and
decompression-bomb files, wav headers with absurd sample rates and channel counts, and text
fields at and over their limits with unicode edge cases. The same bytes also go in as chat
``input_audio``. No response may be >= 500, every error must be OpenAI-shaped, and the server
must still transcribe afterwards.
"""

from __future__ import annotations

import base64
import collections
import io
import json
import struct
import time

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from audiolab.audio import Audio
from tests.conftest import speech_clip_path
from tests.reliability.conftest import check_http, health, rss_mb, tally

EXAMPLES = 300
MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "whisper-base", "pocketsphinx",
          "gpt-4o-transcribe-diarize", "tts-1", "../../etc/passwd", "", "whisper-1\x00")
NAMES = (
    "clip.wav",
    "clip.mp3",
    "clip.exe",
    "clip",
    "clip.WAV",
    "../../../etc/passwd",
    "clip.mp3.exe",
    "noext.",
    "ünïcödé.flac",
    "a" * 300 + ".wav",
    "\u202egnp.wav",
    ".wav",
    "clip.ogg",
    "clip.webm",
    "clip.m4a",
    "C:\\temp\\x.wav",
    "",
)
UNICODE = (
    "",
    " ",
    "\u200b\u200d",
    "\u202eevil",
    "e\u0301" * 200,
    "👩‍👩‍👧‍👦",
    "\ufeff",
    "\uffff\ufffe",
    "\U0010ffff",
    "漢字かな",
    "\x00",
    "\x1b[31m",
    "\r\n\r\n--boundary",
    "%s%n%x",
    "null",
    "' OR 1=1 --",
)
STT_FIELDS = {
    "language": st.sampled_from(("en", "fr", "zz", "EN", "english", "", "x" * 1000, *UNICODE)),
    "prompt": st.one_of(st.text(max_size=40), st.sampled_from(("x" * 5000, "word " * 300, *UNICODE))),
    "temperature": st.sampled_from(("0", "0.5", "1", "-1", "2", "nan", "inf", "-0", "1e309", "abc", "")),
    "response_format": st.sampled_from(
        ("json", "text", "srt", "vtt", "verbose_json", "diarized_json", "xml", "")
    ),
    "timestamp_granularities[]": st.sampled_from(("word", "segment", "char", "")),
    "include[]": st.sampled_from(("logprobs", "everything")),
    "stream": st.sampled_from(("true", "false", "maybe", "1")),
    "chunking_strategy": st.sampled_from(
        ("auto", "server_vad", "{", '{"type": "server_vad", "threshold": 7}', "null")
    ),
    "known_speaker_names[]": st.sampled_from(("alice", "")),
    "known_speaker_references[]": st.sampled_from(("data:audio/wav;base64,AAAA", "file:///etc/passwd", "%%")),
}


@pytest.fixture(scope="module")
def real_files() -> dict[str, bytes]:
    """Two seconds of real speech in every format the server decodes."""
    clip = Audio.from_file(speech_clip_path("two_cities.wav")).slice(0.5, 2.5).resample(16_000)
    files = {fmt: clip.encode(fmt) for fmt in ("mp3", "opus", "aac", "flac")}
    files["wav"] = clip.to_wav_bytes()
    files["wav48"] = Audio.from_file(speech_clip_path("beckett.wav")).slice(0, 1.5).to_wav_bytes()
    return files


def wav_header(
    *, rate: int, channels: int, bits: int, tag: int, data_size: int | None, payload: bytes
) -> bytes:
    """A RIFF/WAVE file whose fmt chunk says whatever it is told to."""
    block = (channels * bits // 8) & 0xFFFF
    byte_rate = (rate * block) & 0xFFFFFFFF
    fmt = struct.pack(
        "<HHIIHH", tag & 0xFFFF, channels & 0xFFFF, rate & 0xFFFFFFFF, byte_rate, block, bits & 0xFFFF
    )
    size = len(payload) if data_size is None else data_size
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + payload)
    return b"RIFF" + struct.pack("<I", len(body) & 0xFFFFFFFF) + body


absurd_wavs = st.builds(
    wav_header,
    rate=st.sampled_from((0, 1, 2, 7, 100, 8000, 16000, 384_001, 10**6, 10**9, 2**32 - 1)),
    channels=st.sampled_from((0, 1, 2, 3, 64, 65, 255, 1000, 65535)),
    bits=st.sampled_from((0, 1, 8, 12, 16, 24, 32, 64, 65535)),
    tag=st.sampled_from((1, 3, 0, 2, 6, 7, 85, 0xFFFE, 0xFFFF)),
    data_size=st.sampled_from((None, 0, 1, 0x7FFFFFFF, 0xFFFFFFFF)),
    payload=st.one_of(
        st.binary(max_size=64),
        st.just(b"\x00\x01" * 2000),
        st.just(np.random.default_rng(0).integers(-3000, 3000, 8000, dtype="<i2").tobytes()),
    ),
)


@st.composite
def damaged(draw, real: dict[str, bytes]) -> bytes:
    """A real file cut short, or with some bytes overwritten, or its head glued to another's tail."""
    data = bytearray(real[draw(st.sampled_from(sorted(real)))])
    how = draw(st.sampled_from(("truncate", "flip", "splice", "head")))
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if how == "head":
        return bytes(data[: draw(st.integers(0, 64))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 40))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    other = real[draw(st.sampled_from(sorted(real)))]
    return bytes(data[: draw(st.integers(0, len(data)))]) + other[draw(st.integers(0, len(other))):]


def file_bytes(real):
    return st.one_of(
        st.binary(max_size=2048),
        st.just(b""),
        damaged(real),
        damaged(real),
        absurd_wavs,
        st.sampled_from(
            (
                b"RIFF",
                b"RIFF\x00\x00\x00\x00WAVE",
                b"fLaC",
                b"OggS",
                b"ID3",
                b"\xff\xfb",
                b"\x1aE\xdf\xa3",
                b"\x00\x00\x00\x18ftypM4A ",
                b"%PDF-1.4",
                b"\x89PNG\r\n\x1a\n",
                b'{"text": 1}',
                b"<html>",
                "🎵".encode() * 100,
            )
        ),
    )


def _sse_server_error(resp: httpx.Response) -> bool:
    if not resp.headers.get("content-type", "").startswith("text/event-stream"):
        return False
    for line in resp.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            try:
                ev = json.loads(line[6:])
            except ValueError:
                return True  # a broken event is a server fault
            err = ev.get("error") if isinstance(ev, dict) else None
            if isinstance(err, dict) and err.get("type") == "server_error":
                return True
    return False


def test_fuzzed_uploads_never_5xx(server, real_files):
    client = httpx.Client(base_url=server.url, timeout=120)
    statuses: collections.Counter = collections.Counter()
    problems: list[str] = []
    t0 = time.monotonic()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=file_bytes(real_files), name=st.sampled_from(NAMES), model=st.sampled_from(MODELS),
           endpoint=st.sampled_from(("transcriptions", "transcriptions", "translations", "chat")),
           fields=st.fixed_dictionaries({}, optional=STT_FIELDS), mime=st.sampled_from(
               ("audio/wav", "application/octet-stream", "text/plain", "", "audio/x-\u00e9")))
    def fire(data, name, model, endpoint, fields, mime):
        if endpoint == "chat":
            part = {
                "type": "input_audio",
                "input_audio": {
                    "data": base64.b64encode(data).decode(),
                    "format": "mp3" if name.endswith("mp3") else "wav",
                },
            }
            body = {
                "model": "gpt-4o-mini" if model.startswith("whisper") else model,
                "max_completion_tokens": 1,
                "messages": [{"role": "user", "content": [part]}],
            }
            resp = client.post("/chat/completions", json=body)
        else:
            form = {"model": model, **fields}
            resp = client.post(f"/audio/{endpoint}", data=form,
                               files={"file": (name, data, mime or "application/octet-stream")})
        status = check_http(
            resp, problems, f"{endpoint} {model!r} {name[:30]!r} {len(data)} B {sorted(fields)}"
        )
        statuses[(endpoint, status)] += 1
        if _sse_server_error(resp):
            problems.append(f"{endpoint}: server_error event in the stream: {resp.text[:300]}")

    fire()
    sent = sum(statuses.values())
    bad = sum(n for (_, s), n in statuses.items() if 400 <= s < 500)
    fives = sum(n for (_, s), n in statuses.items() if s >= 500)
    tally("upload fuzz (hypothesis)", bad=bad, server_errors=fives)
    print(
        f"\nupload fuzz: {sent} requests in {time.monotonic() - t0:.0f} s: {dict(sorted(statuses.items()))}"
    )
    assert not problems, "\n".join(problems[:20])
    assert fives == 0 and bad >= 250


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """Small files that decode to hours of audio or gigabytes of samples."""
    import soundfile as sf

    out = {}
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=8000, channels=1, format="FLAC", subtype="PCM_16") as fh:
        silence = np.zeros(8000 * 600, np.int16)
        for _ in range(6 * 12):  # 12 hours of silence at 8 kHz: ~3.5e8 samples in well under 2 MB
            fh.write(silence)
    out["flac_12h_silence"] = buf.getvalue()
    out["wav_1hz"] = wav_header(rate=1, channels=1, bits=16, tag=1, data_size=None,
                                payload=np.zeros(40_000, "<i2").tobytes())  # 11 hours at 1 Hz
    out["wav_1000ch"] = wav_header(rate=16000, channels=1000, bits=16, tag=1, data_size=None,
                                   payload=np.zeros(16000 * 100, "<i2").tobytes())
    return out


def test_bombs_and_oversized_files_are_refused_cheaply(server, bombs):
    """Compression bombs and 1 Hz headers get a 400 in seconds; a 26 MB file a 413 unread."""
    problems: list[str] = []
    statuses = []
    before = rss_mb()
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for name, data in bombs.items():
            for endpoint in ("transcriptions", "translations"):
                t = time.monotonic()
                resp = client.post(f"/audio/{endpoint}", data={"model": "whisper-1"},
                                   files={"file": (f"{name}.wav", data)})
                took = time.monotonic() - t
                statuses.append(check_http(resp, problems, f"{name} ({len(data)} B) to {endpoint}"))
                code = resp.json()["error"]["code"] if resp.status_code == 400 else None
                if code != ("invalid_audio" if name == "wav_1000ch" else "audio_too_long") or took > 30:
                    problems.append(
                        f"{name} to {endpoint}: {resp.status_code} after {took:.1f} s: {resp.text[:200]}"
                    )
        part = {
            "type": "input_audio",
            "input_audio": {"data": base64.b64encode(bombs["flac_12h_silence"]).decode(), "format": "wav"},
        }
        resp = client.post("/chat/completions", json={"model": "gpt-4o-mini", "max_completion_tokens": 1,
                                                      "messages": [{"role": "user", "content": [part]}]})
        statuses.append(check_http(resp, problems, "flac bomb as chat input_audio"))
        if resp.status_code != 400 or resp.json()["error"]["code"] != "audio_too_long":
            problems.append(f"flac bomb as chat input_audio: {resp.status_code}")
        huge = b"RIFF" + b"\x00" * (26 * 2**20)
        for endpoint in ("transcriptions", "translations"):
            resp = client.post(
                f"/audio/{endpoint}", data={"model": "whisper-1"}, files={"file": ("big.wav", huge)}
            )
            statuses.append(check_http(resp, problems, f"26 MB to {endpoint}"))
            if resp.status_code != 413:
                problems.append(f"26 MB to {endpoint}: {resp.status_code}")
        for text, status in (
            ("x" * 4096, 200),
            ("x" * 4097, 400),
            ("é" * 4097, 400),
            ("\U0001f600" * 4097, 400),
        ):
            with client.stream(
                "POST", "/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": text}
            ) as r:
                statuses.append(r.status_code)
                if r.status_code != status:
                    problems.append(f"speech input of {len(text)} chars: {r.status_code}, expected {status}")
                if status == 200:
                    next(r.iter_bytes(), None)  # the first sentence arrives; closing stops the rest
                else:
                    r.read()
                    check_http(r, problems, f"speech input of {len(text)} chars")
    grown = rss_mb() - before
    bad = sum(1 for s in statuses if 400 <= s < 500)
    tally("bombs and limits", bad=bad, server_errors=sum(1 for s in statuses if s >= 500))
    print(f"\nbombs and limits: statuses {statuses}, RSS grew {grown:.0f} MB")
    assert not problems, "\n".join(problems)
    assert grown < 1500, f"refusing the bombs grew the process by {grown:.0f} MB"


@settings(max_examples=40, deadline=None, database=None, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(
    text=st.one_of(
        st.text(st.characters(codec="utf-8"), min_size=0, max_size=30),
        st.sampled_from(UNICODE),
        st.sampled_from(("...", "?!", "123456789", "-" * 30, "\n" * 20, "\\ud800", "a\\udfffb")),
    ),
    voice=st.sampled_from(("alloy", "coral", "piper-joe", "espeak-fr", "ash", "../alloy", "ALLOY")),
    fmt=st.sampled_from(("mp3", "wav", "pcm", "opus", "aac", "flac", "sse")),
)
def test_speech_input_unicode_edges_never_5xx(server, text, voice, fmt):
    sse = fmt == "sse"
    raw = json.dumps({"model": "gpt-4o-mini-tts", "voice": voice, "input": text,
                      "response_format": "pcm" if sse else fmt, "stream_format": "sse" if sse else "audio"})
    raw = raw.replace("\\\\ud800", "\\ud800").replace(
        "\\\\udfff", "\\udfff"
    )  # lone surrogates, escaped in JSON
    problems: list[str] = []
    resp = httpx.post(server.url + "/audio/speech", content=raw, headers={"content-type": "application/json"},
                      timeout=120)
    status = check_http(resp, problems, f"speech {voice} {fmt} {text!r}")
    tally("speech unicode (hypothesis)", bad=int(400 <= status < 500), server_errors=int(status >= 500))
    assert not problems, problems
    assert not _sse_server_error(resp), resp.text[:300]


def test_server_still_transcribes_after_upload_fuzz(server, real_files):
    import openai

    client = openai.OpenAI(base_url=server.url, api_key="audiolab-local", max_retries=0)
    text = client.audio.transcriptions.create(model="whisper-1", file=("clip.flac", real_files["flac"]))
    assert "best" in text.text.lower() and health(server)["status"] == "ok"
