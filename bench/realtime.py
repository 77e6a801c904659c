"""Benchmark the Realtime API end to end and print the latency issue #4 asks for, plus chat speed.

    .venv/bin/python bench/realtime.py [--repeats 2] [--skip-chat]
    AUDIOLAB_BACKEND=openai .venv/bin/python bench/realtime.py     # the same, against OpenAI

Prints:
- ``input_audio_buffer.speech_stopped`` → first ``response.output_audio.delta`` (goal ≤ 1.0 s on
  2 cores), measured by the client on event arrival, median over spoken questions from the
  bundled clips, each streamed in real time (100 ms chunks every 100 ms) into server VAD with
  the default 500 ms silence; with its two parts: waiting for the input transcript
  (``speech_stopped`` → ``response.content_part.added``) and then the first spoken sentence
  (chat model + TTS);
- chat decode speed in tokens/s, from ``bench/chat_speed.py``.

Every question runs in a fresh session after one warm-up turn (not counted). The machine is
whatever runs this: share it and the figures get noisy, so the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from audiolab.eval.datasets import real_speech  # noqa: E402

LATENCY_GOAL_S = 1.0
RATE = 24_000
CHUNK = RATE // 10
INSTRUCTIONS = "You are a friendly voice assistant. Answer in one short sentence."


def questions() -> list:
    """Spoken questions among the bundled clips (lines of ``endgame_nagg_nell.wav``)."""
    return [u for u in real_speech(include_synthetic=True, sr=RATE) if u.text.rstrip().endswith("?")]


async def one_turn(lab, audio, *, model: str = "gpt-realtime") -> dict:
    """Stream one spoken question in real time; return event arrival times relative to speech_stopped."""
    pcm = np.frombuffer(audio.to_pcm16(), dtype="<i2")
    pcm = np.concatenate([np.zeros(CHUNK * 3, "<i2"), pcm, np.zeros(RATE * 2, "<i2")])
    seen: dict[str, float] = {}
    async with lab.aclient.realtime.connect(model=model) as conn:
        await conn.session.update(session={"type": "realtime", "instructions": INSTRUCTIONS})

        async def read():
            async for ev in conn:
                seen.setdefault(ev.type, time.perf_counter())
                if ev.type == "error":
                    raise RuntimeError(ev.error.message)
                if ev.type == "response.done":
                    return ev.response

        reader = asyncio.create_task(read())
        start = time.perf_counter()
        for i in range(0, len(pcm), CHUNK):
            if reader.done():
                break
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + CHUNK].tobytes()).decode())
            await asyncio.sleep(max(0.0, start + (i + CHUNK) / RATE - time.perf_counter()))
        response = await asyncio.wait_for(reader, 120)
    stop = seen["input_audio_buffer.speech_stopped"]
    return {
        "first_audio": seen["response.output_audio.delta"] - stop,
        "transcript_wait": seen["response.content_part.added"] - stop,
        "status": response.status,
    }


async def measure_latency(lab, *, repeats: int = 2) -> list[dict]:
    qs = questions()
    await one_turn(lab, qs[0].audio)  # warm-up: engines load, caches fill
    out = []
    for _ in range(repeats):
        for q in qs[:3]:
            r = await one_turn(lab, q.audio)
            r["question"] = q.text
            out.append(r)
            print(f"  {q.text!r:50} first audio {r['first_audio'] * 1000:6.0f} ms "
                  f"(transcript ready {r['transcript_wait'] * 1000:5.0f} ms) {r['status']}")
    return out


def _load() -> str:
    """The machine's 1/5/15-minute load averages: the figures mean little on a busy machine."""
    import os

    return "/".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-chat", action="store_true")
    args = parser.parse_args(argv)

    import audiolab

    lab = audiolab.connect()
    print(f"backend {lab.backend} ({lab.base_url}); load average before {_load()}")
    runs = asyncio.run(measure_latency(lab, repeats=args.repeats))
    print(f"load average after {_load()}")
    first = [r["first_audio"] for r in runs]
    wait = [r["transcript_wait"] for r in runs]
    med = statistics.median(first)
    print(f"speech_stopped -> first response.output_audio.delta: median {med * 1000:.0f} ms "
          f"(min {min(first) * 1000:.0f}, max {max(first) * 1000:.0f}, n={len(first)}); "
          f"goal <= {LATENCY_GOAL_S * 1000:.0f} ms, ratio to goal {med / LATENCY_GOAL_S:.2f} "
          f"[{'met' if med <= LATENCY_GOAL_S else 'NOT met'}]")
    print(f"  of which waiting for the input transcript: median {statistics.median(wait) * 1000:.0f} ms; "
          f"first sentence (chat model + TTS): median {(med - statistics.median(wait)) * 1000:.0f} ms")
    if not args.skip_chat:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from chat_speed import measure_tokens_per_s

        print(f"chat decode speed: {measure_tokens_per_s(lab):.1f} tokens/s")


if __name__ == "__main__":
    main()
