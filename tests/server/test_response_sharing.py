"""Identical requests cost once: single-flight sharing and the on-disk response cache.

Each test starts its own real server (``start_in_thread``) with a response cache in a temporary
directory and drives it with the real ``openai`` SDK over HTTP. Engine runs are read from the
server's counters (``computed``: how often the engine actually ran for a shareable request).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import openai
import pytest

from audiolab.audio import Audio
from audiolab.server.serve import start_in_thread
from audiolab.server.settings import Settings
from tests.conftest import speech_clip_path

LESSON = "Good morning, class. Please open your notebooks."
LONG = ("It was the best of times, it was the worst of times. It was the age of wisdom. It was the age "
        "of foolishness. It was the epoch of belief. It was the epoch of incredulity. It was the season of "
        "Light.")
SECRET = "sk-audiolab-test-0123456789-secret"

pytestmark = pytest.mark.engines


@contextlib.contextmanager
def server(tmp_path, **settings):
    handle = start_in_thread(Settings(response_cache_dir=tmp_path / "responses", **settings))
    try:
        yield handle
    finally:
        handle.stop()


def counts(handle, route: str) -> dict:
    sharing = getattr(handle.app.state, "sharing", None)
    stats = sharing.stats() if sharing is not None else {}
    return stats.get(route, {"computed": 0, "joined": 0, "hits": 0, "unshared": 0})


def client(handle, key: str = "unused") -> openai.AsyncOpenAI:
    # A plain httpx client: the SDK's default one, left unclosed when asyncio.run() ends, schedules
    # its close on whatever loop runs when it is collected, and fails a later test with "Event
    # loop is closed".
    return openai.AsyncOpenAI(base_url=handle.url, api_key=key, max_retries=0,
                              http_client=openai.DefaultAsyncHttpxClient())


async def speech(c: openai.AsyncOpenAI, text: str = LESSON, **kw) -> tuple[str, bytes]:
    r = await c.audio.speech.with_raw_response.create(model="gpt-4o-mini-tts", voice="alloy", input=text,
                                                      **kw)
    return r.headers["x-audiolab-cache"], r.content


@pytest.fixture(scope="module")
def clip() -> bytes:
    rec = Audio.from_file(speech_clip_path("two_cities.wav")).to_mono().resample(16_000)
    return rec.slice(0.0, 6.0).to_wav_bytes()


def test_identical_concurrent_speech_runs_the_engine_once_and_a_repeat_is_a_hit(tmp_path):
    with server(tmp_path) as h:
        async def go():
            c = client(h)
            first = await asyncio.gather(*(speech(c) for _ in range(4)))
            again = await speech(c)
            return first, again

        first, again = asyncio.run(go())
        outcomes = sorted(o for o, _ in first)
        # One computes; the others join it (or, on a very busy machine, arrive just after: a hit).
        assert outcomes[-1] == "miss" and set(outcomes[:-1]) <= {"joined", "hit"}
        assert counts(h, "speech")["computed"] == 1
        bodies = {b for _, b in first}
        assert len(bodies) == 1 and Audio.from_bytes(next(iter(bodies))).duration > 1.0
        assert again == ("hit", first[0][1])
        assert counts(h, "speech")["computed"] == 1 and counts(h, "speech")["unshared"] == 0
    # A new server on the same directory serves the stored response: the cache is on disk.
    with server(tmp_path) as h2:
        assert asyncio.run(speech(client(h2))) == ("hit", first[0][1])
        assert counts(h2, "speech")["computed"] == 0


def test_a_repeat_while_the_cache_entry_is_being_written_is_a_hit(tmp_path):
    # On a slow disk the first client has its body before the entry is on disk; a repeat in that
    # window is served from the finished computation, whole, and counts as a hit.
    with server(tmp_path) as h:
        asyncio.run(speech(client(h), "Warm up."))  # the app's sharing and cache exist from here
        cache = h.app.state.sharing.cache
        put, writing = cache.put, threading.Event()

        def slow_put(key, value):
            writing.set()
            time.sleep(1.0)
            put(key, value)

        cache.put = slow_put

        async def go():
            c = client(h)
            first = await speech(c)
            assert await asyncio.to_thread(writing.wait, 10)
            return first, await speech(c)

        first, again = asyncio.run(go())
        assert first[0] == "miss" and again == ("hit", first[1])
        assert counts(h, "speech")["computed"] == 2 and counts(h, "speech")["hits"] == 1


def test_different_inputs_are_not_shared(tmp_path):
    with server(tmp_path) as h:
        async def go():
            c = client(h)
            return await asyncio.gather(speech(c, "Good morning, class."), speech(c, "Good evening, class."))

        (o1, b1), (o2, b2) = asyncio.run(go())
        assert (o1, o2) == ("miss", "miss") and b1 != b2
        assert counts(h, "speech")["computed"] == 2


def test_identical_transcriptions_decode_once(tmp_path, clip):
    with server(tmp_path) as h:
        async def go():
            c = client(h)

            async def one():
                r = await c.audio.transcriptions.with_raw_response.create(model="whisper-1",
                                                                          file=("lesson.wav", clip))
                return r.headers["x-audiolab-cache"], r.parse().text

            first = await asyncio.gather(*(one() for _ in range(3)))
            return first, await one()

        first, again = asyncio.run(go())
        texts = {t for _, t in first}
        assert len(texts) == 1 and "best of times" in next(iter(texts)).lower()
        assert counts(h, "transcriptions")["computed"] == 1
        assert sorted(o for o, _ in first)[-1] == "miss" and {o for o, _ in first} <= {"miss", "joined", "hit"}
        assert again == ("hit", first[0][1])


def test_off_switch_computes_every_request(tmp_path):
    assert Settings.from_env({"AUDIOLAB_RESPONSE_CACHE": "0"}).response_cache is False
    with server(tmp_path, response_cache=False) as h:
        async def go():
            c = client(h)
            return await asyncio.gather(*(speech(c) for _ in range(3)))

        out = asyncio.run(go())
        assert [o for o, _ in out] == ["off"] * 3
        assert counts(h, "speech") == {"computed": 0, "joined": 0, "hits": 0, "unshared": 3}
    assert not list((tmp_path / "responses").glob("*.resp"))


def test_sampled_chat_is_never_shared_and_greedy_chat_is(tmp_path):
    ask = [{"role": "user", "content": "Name one colour."}]
    with server(tmp_path) as h:
        async def go(temperature: float):
            c = client(h)

            async def one():
                r = await c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=ask,
                                                                      max_tokens=8, temperature=temperature)
                return r.headers["x-audiolab-cache"]

            return await asyncio.gather(one(), one())

        assert asyncio.run(go(1.0)) == ["off", "off"]
        assert counts(h, "chat") == {"computed": 0, "joined": 0, "hits": 0, "unshared": 2}
        assert asyncio.run(go(1.0)) == ["off", "off"]  # nor served from the cache later
        greedy = sorted(asyncio.run(go(0.0)))
        assert greedy[1] == "miss" and greedy[0] in ("joined", "hit")
        assert counts(h, "chat")["computed"] == 1 and counts(h, "chat")["unshared"] == 4


def test_cache_stays_within_its_bound_evicting_the_least_recently_used(tmp_path):
    bound_mb = 0.06
    sentences = [f"Sentence number {n} of the lesson." for n in ("one", "two", "three", "four", "five",
                                                                 "six")]
    with server(tmp_path, response_cache_mb=bound_mb) as h:
        async def go():
            c = client(h)
            outs = []
            for s in sentences:
                outs.append(await speech(c, s))
            outs.append(await speech(c, sentences[-1]))  # the most recent: still there
            outs.append(await speech(c, sentences[0]))  # the least recently used: evicted
            return outs

        outs = asyncio.run(go())
        files = list((tmp_path / "responses").glob("*.resp"))
        total = sum(f.stat().st_size for f in files)
        assert total <= bound_mb * 2**20 and 0 < len(files) < len(sentences)
        assert [o for o, _ in outs[:6]] == ["miss"] * 6
        assert outs[6][0] == "hit" and outs[7][0] == "miss"
        assert h.app.state.sharing.cache.total == total


async def _join_late(h, read: str, **kw) -> tuple[str, list, str, list]:
    """Two identical streamed speech requests, the second sent once the first has sent its first
    piece (``read``: ``"iter_bytes"`` or ``"iter_lines"``): each one's cache outcome and pieces."""
    c = client(h)
    async with c.audio.speech.with_streaming_response.create(**kw) as first:
        stream = getattr(first, read)()
        head = [await anext(stream)]  # the first sentence is out; the rest is being made
        async with c.audio.speech.with_streaming_response.create(**kw) as late:
            late_pieces = [x async for x in getattr(late, read)()]
            late_outcome = late.headers["x-audiolab-cache"]
        rest = [x async for x in stream]
    return first.headers["x-audiolab-cache"], head + rest, late_outcome, late_pieces


def test_late_joiner_of_a_stream_gets_the_full_identical_body(tmp_path):
    with server(tmp_path) as h:
        o1, chunks1, o2, chunks2 = asyncio.run(
            _join_late(h, "iter_bytes", model="gpt-4o-mini-tts", voice="alloy", input=LONG, response_format="pcm")
        )
        body1, body2 = b"".join(chunks1), b"".join(chunks2)
        assert (o1, o2) == ("miss", "joined")
        assert len(body1) > 24_000 * 2 * 3 and body2 == body1
        assert counts(h, "speech")["computed"] == 1


def test_late_joiner_of_an_sse_stream_gets_every_event(tmp_path):
    import json

    with server(tmp_path) as h:
        _, lines1, outcome, lines2 = asyncio.run(
            _join_late(h, "iter_lines", model="gpt-4o-mini-tts", voice="alloy", input=LONG, stream_format="sse")
        )
        events = [json.loads(x[6:]) for x in lines2 if x.startswith("data: ")]
        assert outcome == "joined" and lines1 == lines2
        assert events[-1]["type"] == "speech.audio.done"
        assert sum(e["type"] == "speech.audio.delta" for e in events) > 2


def test_api_keys_never_reach_the_cache(tmp_path):
    with server(tmp_path, api_key=SECRET) as h:
        outcome, body = asyncio.run(speech(client(h, SECRET)))
        assert outcome == "miss" and body
    files = list((tmp_path / "responses").glob("*.resp"))
    assert len(files) == 1
    assert all(SECRET.encode() not in f.read_bytes() for f in files)
    assert all(SECRET not in f.name for f in files)


def test_hit_ratio_shows_in_metrics_and_in_the_log(tmp_path, caplog):
    import httpx

    caplog.set_level("INFO", logger="audiolab.server.coalesce")
    with server(tmp_path) as h:
        async def go():
            c = client(h)
            both = await asyncio.gather(speech(c), speech(c))
            return [o for o, _ in both] + [(await speech(c))[0]]

        seen = asyncio.run(go())
        text = httpx.get(h.url.removesuffix("/v1") + "/metrics").text
    assert seen[-1] == "hit" and "miss" in seen
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line.startswith("audiolab_response_cache")}
    metric = 'audiolab_response_cache_requests_total{{outcome="{}",route="speech"}}'
    # The counters say what the clients saw: misses computed, joins joined, hits from the cache.
    assert samples[metric.format("computed")] == seen.count("miss") == 1
    assert samples.get(metric.format("joined"), 0) == seen.count("joined")
    assert samples[metric.format("hits")] == seen.count("hit")
    assert samples["audiolab_response_cache_bytes"] > 1000
    ratios = [r.getMessage() for r in caplog.records if "hit ratio" in r.getMessage()]
    assert ratios[-1] == "response sharing: speech hits (hit ratio 67%)"


def _kokoro_voice() -> str:
    from audiolab.server.registry import VOICES, Registry

    voice = next((v for v in VOICES.values() if v.engine == "kokoro"), None)
    if voice is None:
        pytest.skip("this tree has no Kokoro voice")
    try:
        Registry(Settings()).engine("kokoro")
    except Exception as exc:  # EngineUnavailable, or its packages missing
        pytest.skip(f"Kokoro is not installed here: {exc}")
    return voice.id


def test_speech_off_switch_keeps_bit_exact_kokoro_shared_and_piper_unshared(tmp_path):
    kokoro = _kokoro_voice()
    with server(tmp_path, share_speech=False) as h:
        async def go(voice):
            c = client(h)

            async def one():
                r = await c.audio.speech.with_raw_response.create(model="gpt-4o-mini-tts", voice=voice,
                                                                  input=LESSON, response_format="wav")
                return r.headers["x-audiolab-cache"], r.content

            return await asyncio.gather(one(), one())

        piper = asyncio.run(go("alloy"))
        assert [o for o, _ in piper] == ["off", "off"]
        shared = asyncio.run(go(kokoro))
        outcomes = sorted(o for o, _ in shared)
        assert outcomes[1] == "miss" and outcomes[0] in ("joined", "hit") and shared[0][1] == shared[1][1]
    assert counts(h, "speech")["computed"] == 1 and counts(h, "speech")["unshared"] == 2


def test_kokoro_is_bit_exact_from_run_to_run():
    """The measurement behind ``BIT_EXACT_ENGINES``: the same request, the same samples."""
    import hashlib

    from audiolab.server.engines import ProsodyRequest
    from audiolab.server.registry import Registry
    from audiolab.server.routes.speech import BIT_EXACT_ENGINES

    registry = Registry(Settings())
    voice = registry.voice(_kokoro_voice())
    engine = registry.engine(voice.engine)
    digests = {hashlib.sha256(b"".join(c.samples.tobytes() for c in engine.synthesize(
        LESSON, voice=voice, speed=1.0, prosody=ProsodyRequest()))).hexdigest() for _ in range(3)}
    assert len(digests) == 1 and voice.engine in BIT_EXACT_ENGINES


def test_transcript_cut_short_by_the_decode_budget_is_not_stored(tmp_path):
    # 44 s of speech: several segments, and the budget is checked after each one.
    whole = Audio.from_file(speech_clip_path("two_cities.wav")).to_mono().resample(16_000).to_wav_bytes()
    with server(tmp_path, stt_budget_s=0.01, stt_budget_rtf=0.0) as h:
        async def one():
            r = await client(h).audio.transcriptions.with_raw_response.create(model="whisper-1",
                                                                             file=("story.wav", whole))
            return r.headers["x-audiolab-cache"], r.headers.get("x-audiolab-partial")

        first, again = asyncio.run(one()), asyncio.run(one())
    assert first[1] is not None, "a 10 ms budget must cut the transcript short"
    assert (first[0], again[0]) == ("miss", "miss")
    assert not list((tmp_path / "responses").glob("*.resp"))
