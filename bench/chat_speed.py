"""Chat tokens per second of the backend, measured through the SDK with streaming.

``bench/realtime.py`` imports :func:`measure_tokens_per_s`; run this file alone for the details:

    .venv/bin/python bench/chat_speed.py            # local backend
    AUDIOLAB_BACKEND=openai .venv/bin/python bench/chat_speed.py

Decode speed is completion tokens after the first, divided by the time from the first content
chunk to the last one (so prompt processing and HTTP setup are not counted in it); time to
first token is reported apart.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

__all__ = ["ChatSpeed", "measure", "measure_tokens_per_s"]

PROMPT = "Write a long story about a lighthouse keeper and a storm."


@dataclass(frozen=True)
class ChatSpeed:
    """Median figures over ``runs`` streamed completions."""

    tokens_per_s: float  # decode speed
    ttft_s: float  # request sent -> first content chunk
    completion_tokens: int  # median tokens per run
    runs: int


def _one(client, model: str, max_tokens: int, seed: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = last = None
    tokens = 0
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], max_tokens=max_tokens, temperature=0.7,
        seed=seed, stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        now = time.perf_counter()
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or now
            last = now
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    if first is None or tokens < 2 or last <= first:
        return 0.0, (first or time.perf_counter()) - start, tokens
    return (tokens - 1) / (last - first), first - start, tokens


def measure(lab, *, model: str = "gpt-4o-mini", max_tokens: int = 200, runs: int = 3) -> ChatSpeed:
    """Stream ``runs`` answers (after one warm-up) and return the median speed."""
    _one(lab.client, model, 16, seed=0)  # loads the model; not counted
    results = [_one(lab.client, model, max_tokens, seed=i + 1) for i in range(runs)]
    return ChatSpeed(
        tokens_per_s=statistics.median(r[0] for r in results),
        ttft_s=statistics.median(r[1] for r in results),
        completion_tokens=int(statistics.median(r[2] for r in results)),
        runs=runs,
    )


def measure_tokens_per_s(lab, *, model: str = "gpt-4o-mini", max_tokens: int = 200, runs: int = 3) -> float:
    """Median chat decode speed in tokens per second (see :func:`measure`)."""
    return measure(lab, model=model, max_tokens=max_tokens, runs=runs).tokens_per_s


if __name__ == "__main__":
    import audiolab

    lab = audiolab.connect()
    speed = measure(lab)
    print(f"backend {lab.backend}: chat decode {speed.tokens_per_s:.1f} tokens/s, "
          f"time to first token {speed.ttft_s * 1000:.0f} ms, {speed.completion_tokens} tokens/run "
          f"(median of {speed.runs})")
