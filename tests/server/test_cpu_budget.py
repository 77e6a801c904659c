"""The server's CPU scheduler on the real server: thread budget, per-client bounds, /metrics.

Each test starts its own in-process server with explicit settings and drives it with the real
``openai`` SDK over HTTP.
"""

from __future__ import annotations

import concurrent.futures

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from audiolab.server.registry import MODELS
from audiolab.server.serve import start_in_thread
from audiolab.server.settings import Settings

pytestmark = pytest.mark.engines


@pytest.fixture(scope="module")
def budget_server():
    handle = start_in_thread(Settings(cpu_threads=2, max_concurrency=2, response_cache=False))
    yield handle
    handle.stop()


def _client(handle, key: str = "student", retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=handle.url, api_key=key, max_retries=retries, timeout=300)


def _wav(audio) -> tuple:
    return ("clip.wav", audio.to_wav_bytes(), "audio/wav")


def _work_all_engines(handle, clip):
    """A transcription, a streamed speech and a chat answer, at the same time."""
    client = _client(handle)

    def stt():
        return client.audio.transcriptions.create(model="whisper-1", file=_wav(clip)).text

    def tts():
        with client.audio.speech.with_streaming_response.create(model="gpt-4o-mini-tts", voice="alloy",
                                                                input="One. Two. Three.",
                                                                response_format="pcm") as r:
            return sum(len(b) for b in r.iter_bytes())

    def chat():
        return client.chat.completions.create(model="gpt-4o-mini", max_tokens=8,
                                              messages=[{"role": "user", "content": "Say hi."}])

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        return [f.result() for f in [pool.submit(stt), pool.submit(tts), pool.submit(chat)]]


def test_engines_together_never_use_more_threads_than_the_budget(budget_server, speech_clip):
    text, pcm_bytes, _ = _work_all_engines(budget_server, speech_clip("beckett.wav").slice(0, 4.0))
    assert text.strip() and pcm_bytes > 0
    state = budget_server.app.state
    registry, jobs = state.registry, state.jobs
    whisper = registry.engine_for(MODELS["whisper-base"])
    piper = registry.engine("piper")
    llm = registry.engine_for(next(m for m in MODELS.values() if m.kind == "chat" and m.engine == "llm"))
    configured = {
        "whisper": whisper.threads,
        "piper": piper._voice.session.get_session_options().intra_op_num_threads,
        "llm": max(llm._llm.n_threads, llm._llm.n_threads_batch),
    }
    assert jobs.max_concurrency * max(configured.values()) <= 2, configured
    assert whisper.workers * whisper.threads <= 2  # one CTranslate2 worker per job slot, no more
    assert 0 < jobs.peak_threads <= 2
    assert (jobs.running, jobs.waiting) == (0, 0)


def test_one_client_over_its_queue_bound_gets_429_with_retry_after_while_others_are_served(speech_clip):
    handle = start_in_thread(Settings(cpu_threads=1, max_concurrency=1, max_queue=32, max_queue_per_client=1,
                                      response_cache=False))
    try:
        clip = speech_clip("two_cities.wav").slice(0, 12.0)
        looping, other = _client(handle, "looping-student"), _client(handle, "other-student")

        def transcribe(client, i):
            # Different prompts: requests that could be shared would not queue.
            try:
                return client.audio.transcriptions.create(model="whisper-1", file=_wav(clip),
                                                          prompt=f"Take {i}.")
            except openai.RateLimitError as exc:
                return exc

        with concurrent.futures.ThreadPoolExecutor(7) as pool:
            flood = [pool.submit(transcribe, looping, i) for i in range(6)]
            fair = pool.submit(transcribe, other, 99)
            results = [f.result() for f in flood]
            answered = fair.result()
        refused = [r for r in results if isinstance(r, openai.RateLimitError)]
        assert refused, "six concurrent requests with a queue bound of one: some must be refused"
        for exc in refused:
            assert exc.status_code == 429 and float(exc.response.headers["retry-after"]) >= 1
            assert exc.body["type"] == "rate_limit_error"
        assert not isinstance(answered, Exception) and answered.text.strip()
        # With its retries (the SDK's default behaviour), the looping client gets its answer too.
        assert _client(handle, "looping-student", retries=5).audio.transcriptions.create(
            model="whisper-1", file=_wav(clip)).text.strip()
    finally:
        handle.stop()


def test_metrics_are_prometheus_text_with_queues_engines_and_latencies(budget_server, speech_clip):
    _work_all_engines(budget_server, speech_clip("beckett.wav").slice(0, 3.0))
    base = budget_server.url.removesuffix("/v1")
    response = httpx.get(f"{base}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in ("audiolab_jobs_queued", "audiolab_jobs_in_flight", "audiolab_job_seconds",
                 "audiolab_job_wait_seconds", "audiolab_request_duration_seconds"):
        assert name in families, sorted(families)
    assert families["audiolab_job_seconds"].type == "histogram"
    engines = {s.labels["engine"] for s in families["audiolab_job_seconds"].samples
               if s.name == "audiolab_job_seconds_count" and s.value > 0}
    assert {"whisper", "llm"} <= engines, engines
    routes = {s.labels["route"] for s in families["audiolab_request_duration_seconds"].samples}
    assert "/v1/audio/transcriptions" in routes
    in_flight = [s.value for s in families["audiolab_jobs_in_flight"].samples]
    assert in_flight and all(v == 0 for v in in_flight)  # nothing is running once the answers are in


def test_concurrent_chat_generations_take_turns_and_all_finish(budget_server):
    # More generations than job slots: each waits for the model without holding a slot, so the one
    # generating always gets its slot back between tokens (waiting on the engine's own lock inside
    # a slot deadlocked once every slot held a waiter).
    client = openai.OpenAI(base_url=budget_server.url, api_key="student", max_retries=0, timeout=180)
    messages = [{"role": "user", "content": "Name a colour."}]

    def plain():
        return client.chat.completions.create(model="gpt-4o-mini", max_tokens=12, messages=messages).choices[0]

    def streamed():
        chunks = client.chat.completions.create(model="gpt-4o-mini", max_tokens=12, messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(f) for f in (plain, streamed, plain, streamed)]
        results = [f.result(timeout=300) for f in futures]
    assert all(r.message.content for r in results[0::2]) and all(results[1::2])
    assert (budget_server.app.state.jobs.running, budget_server.app.state.jobs.waiting) == (0, 0)
