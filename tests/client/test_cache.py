"""The response cache: hits, classroom replay with the network disabled, corruption, concurrent writers."""

from __future__ import annotations

import multiprocessing as mp
import socket
import threading
import warnings

import openai
import pytest

import audiolab
from audiolab.audio import Audio
from audiolab.client.cache import CacheCorruptWarning, ResponseCache
from audiolab.client.lab import REPLAY_BASE_URL
from audiolab.errors import CacheMiss, InvalidRequest
from tests.conftest import speech_clip_path

CLOSED_PORT_URL = "http://127.0.0.1:9/v1"  # discard port: nothing listens there


@pytest.fixture(scope="module")
def clip_wav() -> bytes:
    return Audio.from_file(speech_clip_path("beckett.wav")).slice(0, 2.5).to_wav_bytes()


@pytest.fixture()
def no_network(monkeypatch):
    """Fail any outgoing TCP connection from this process (the test's guard, not a mock)."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network disabled by the test: connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def _lesson(lab, clip_wav):
    """A short recorded session: model list, speech, streamed speech (SSE), transcription, streamed STT."""
    out = {"models": lab.models()}
    out["speech"] = lab.client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="coral", input="Welcome to the lesson.", response_format="wav"
    ).content
    with lab.client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="coral", input="First part. Second part.", stream_format="sse"
    ) as r:
        out["sse_chunks"] = list(r.iter_bytes())
    out["text"] = lab.client.audio.transcriptions.create(model="whisper-1",
                                                         file=("clip.wav", clip_wav, "audio/wav")).text
    events = list(lab.client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", stream=True,
                                                         file=("clip.wav", clip_wav, "audio/wav")))
    out["stream_text"] = events[-1].text
    return out


@pytest.mark.engines
def test_readwrite_serves_the_second_identical_call_from_the_cache(tmp_path):
    lab = audiolab.connect("local", cache="readwrite", cache_dir=tmp_path)
    first = lab.client.audio.speech.create(
        model="tts-1", voice="alloy", input="Cache me.", response_format="wav"
    ).content
    second = lab.client.audio.speech.create(
        model="tts-1", voice="alloy", input="Cache me.", response_format="wav"
    ).content
    other = lab.client.audio.speech.create(
        model="tts-1", voice="echo", input="Cache me.", response_format="wav"
    ).content
    assert first == second != other
    assert lab.history.frame["cache_hit"].tolist() == [False, True, False]
    assert len(lab.cache) == 2


@pytest.fixture(scope="module")
def recorded_lesson(tmp_path_factory, clip_wav):
    folder = tmp_path_factory.mktemp("lesson")
    teacher = audiolab.connect(audiolab.connect("local").base_url, cache="readwrite", cache_dir=folder)
    return folder, _lesson(teacher, clip_wav), teacher


@pytest.mark.engines
def test_the_network_guard_really_blocks_live_requests(no_network):
    live = audiolab.connect(audiolab.connect("local").base_url, max_retries=0, timeout=5)
    with pytest.raises(openai.APIConnectionError):
        live.models()
    assert no_network, "the guard saw the connection attempt"


@pytest.mark.engines
def test_students_replay_the_lesson_offline(recorded_lesson, clip_wav, no_network):
    folder, recorded, _ = recorded_lesson
    student = audiolab.connect(CLOSED_PORT_URL, cache="replay", cache_dir=folder, environ={})
    replayed = _lesson(student, clip_wav)
    assert no_network == [], "replay must not open a single connection"
    assert replayed["models"] == recorded["models"]
    assert replayed["speech"] == recorded["speech"]
    assert replayed["sse_chunks"] == recorded["sse_chunks"] and len(replayed["sse_chunks"]) > 1
    assert replayed["text"] == recorded["text"] and replayed["stream_text"] == recorded["stream_text"]
    df = student.history.frame
    assert df["cache_hit"].all() and (df["status"] == 200).all()
    assert df["cost_usd"].sum() == 0


@pytest.mark.engines
def test_replay_miss_names_the_missing_request(recorded_lesson, no_network):
    folder, _, _ = recorded_lesson
    student = audiolab.connect(CLOSED_PORT_URL, cache="replay", cache_dir=folder, environ={})
    with pytest.raises(CacheMiss) as exc:
        student.client.audio.speech.create(model="tts-1-hd", voice="nova", input="Never recorded.")
    message = str(exc.value)
    assert "audio/speech" in message and "tts-1-hd" in message and "nova" in message
    assert exc.value.code == "cache_miss"
    assert no_network == []
    row = student.history.frame.iloc[-1]
    assert row["model"] == "tts-1-hd" and "CacheMiss" in row["error"]


def test_replay_of_local_needs_no_server_and_no_key(tmp_path, no_network):
    student = audiolab.connect("local", cache="replay", cache_dir=tmp_path, environ={})
    assert student.base_url == REPLAY_BASE_URL
    with pytest.raises(CacheMiss):
        student.models()
    teacher_lesson = audiolab.connect("openai", cache="replay", cache_dir=tmp_path, environ={})
    assert teacher_lesson.backend == "openai"
    with pytest.raises(CacheMiss):
        teacher_lesson.client.audio.speech.create(model="tts-1", voice="alloy", input="Offline.")
    assert no_network == []


@pytest.mark.engines
def test_async_client_replays_too(recorded_lesson, no_network):
    import asyncio

    folder, recorded, _ = recorded_lesson
    student = audiolab.connect(CLOSED_PORT_URL, cache="replay", cache_dir=folder, environ={})

    async def go():
        r = await student.aclient.audio.speech.create(model="gpt-4o-mini-tts", voice="coral",
                                                      input="Welcome to the lesson.", response_format="wav")
        return r.content

    assert asyncio.run(go()) == recorded["speech"]
    assert no_network == []


@pytest.mark.engines
def test_corrupt_entry_is_reported_refetched_and_never_returned(tmp_path):
    lab = audiolab.connect("local", cache="readwrite", cache_dir=tmp_path)
    good = lab.client.audio.speech.create(
        model="tts-1", voice="alloy", input="Corrupt me.", response_format="pcm"
    ).content
    (key,) = lab.cache.keys()
    path = lab.cache.path_for(key)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF  # one flipped byte in the body
    path.write_bytes(bytes(raw))
    corrupted = bytearray(good)
    corrupted[-10] ^= 0xFF
    with pytest.warns(CacheCorruptWarning):
        again = lab.client.audio.speech.create(model="tts-1", voice="alloy", input="Corrupt me.",
                                               response_format="pcm").content
    assert again != bytes(corrupted), "the corrupt body was returned"
    assert lab.history.frame["cache_hit"].tolist() == [False, False]
    assert lab.cache.load(key).body == again, "the refetch rewrote a valid entry"


def test_truncated_entry_fails_its_check(tmp_path):
    cache = ResponseCache(tmp_path, mode="readwrite")
    key = "cd" * 32
    cache.store(key, status=200, headers={"content-type": "audio/wav"}, chunks=[b"RIFF" + b"x" * 100])
    path = cache.path_for(key)
    path.write_bytes(path.read_bytes()[:-5])  # truncated
    with pytest.warns(CacheCorruptWarning):
        assert cache.load(key) is None
    assert cache.is_corrupt(key)


@pytest.mark.engines
def test_truncated_entry_in_a_replayed_lesson_raises_cache_miss(recorded_lesson, tmp_path, no_network):
    import shutil

    folder, _, _ = recorded_lesson
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    student = audiolab.connect(CLOSED_PORT_URL, cache="replay", cache_dir=copy, environ={})
    for path in copy.rglob("*.entry"):
        path.write_bytes(path.read_bytes()[:-3])
    with pytest.warns(CacheCorruptWarning), pytest.raises(CacheMiss) as exc:
        student.models()
    assert "corrupt" in str(exc.value)


def _write_many(folder: str, key: str, writer: int, n: int) -> int:
    cache = ResponseCache(folder, mode="readwrite")
    for i in range(n):
        body = bytes([writer]) * (5000 + 37 * i)
        cache.store(key, status=200, headers={"content-type": "audio/pcm"}, chunks=[body[:1000], body[1000:]])
    return writer


def test_concurrent_writers_threads_and_processes_never_leave_a_broken_entry(tmp_path):
    key = "ef" * 32
    folder = str(tmp_path)
    ctx = mp.get_context("spawn")
    reads, bad = [0], []
    stop = threading.Event()
    reader_cache = ResponseCache(folder, mode="readwrite")

    def reader():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            while not stop.is_set():
                hit = reader_cache.load(key)
                if hit is not None:
                    reads[0] += 1
                    body = hit.body
                    if len(set(body)) != 1 or hit.chunks[0] != body[:1000]:
                        bad.append("mixed body")
            bad.extend(str(w.message) for w in caught if issubclass(w.category, CacheCorruptWarning))

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    with ctx.Pool(3) as pool:
        pending = pool.starmap_async(_write_many, [(folder, key, w, 40) for w in (1, 2, 3)])
        threads = [threading.Thread(target=_write_many, args=(folder, key, w, 40)) for w in (4, 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(pending.get(timeout=50)) == [1, 2, 3]
    stop.set()
    for t in readers:
        t.join()
    assert bad == []
    assert reads[0] > 0
    final = ResponseCache(folder).load(key)
    assert final is not None and len(set(final.body)) == 1 and final.body[0] in (1, 2, 3, 4, 5)
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []


@pytest.mark.engines
def test_concurrent_sdk_calls_share_one_valid_entry(tmp_path):
    lab = audiolab.connect("local", cache="readwrite", cache_dir=tmp_path)
    bodies = []

    def call():
        bodies.append(lab.client.audio.speech.create(model="tts-1", voice="fable", input="Together.",
                                                     response_format="wav").content)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (key,) = lab.cache.keys()
    assert lab.cache.load(key).body in bodies
    assert len(bodies) == 4


@pytest.mark.engines
def test_cache_key_ignores_headers_and_multipart_boundaries(tmp_path, clip_wav):
    lab = audiolab.connect("local", cache="readwrite", cache_dir=tmp_path)
    a = lab.client.audio.transcriptions.create(model="whisper-1", file=("a.wav", clip_wav, "audio/wav"))
    b = lab.client.audio.transcriptions.create(model="whisper-1", file=("a.wav", clip_wav, "audio/wav"),
                                               extra_headers={"x-trace": "different"})
    c = lab.client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", clip_wav[:-4000], "audio/wav")
    )
    assert a.text == b.text
    assert lab.history.frame["cache_hit"].tolist() == [False, True, False]
    assert c.text is not None and len(lab.cache) == 2


def test_unknown_cache_mode_is_rejected(tmp_path):
    with pytest.raises(InvalidRequest) as exc:
        audiolab.connect("local", cache="sometimes", cache_dir=tmp_path)
    assert exc.value.param == "cache"
