"""Benchmark the Realtime API end to end and print the latencies issues #4 and #13 ask for, plus chat speed.

    .venv/bin/python bench/realtime.py [--repeats 2] [--skip-chat] [--skip-load]
    AUDIOLAB_BACKEND=openai .venv/bin/python bench/realtime.py     # the same, against OpenAI

Prints, as medians over spoken questions from the bundled clips, each streamed like a microphone
does (a 100 ms chunk sent when its 100 ms have passed) into server VAD with the default 500 ms
silence:

- from the end of the user's audio (the last sample above -35 dB of the clip's peak, so the
  500 ms of VAD silence are included) to the first ``response.output_audio.delta``:
  **idle** (goal ≤ 900 ms), and **loaded**, while 3 other clients loop transcriptions of the
  44 s ``two_cities.wav`` (goal ≤ 1.5 s). Each looping client has its own API key (its own
  fairness queue) and a different prompt on every request, so that no response is shared or
  cached: every loop iteration is real decoding work;
- ``input_audio_buffer.speech_stopped`` → first audio delta (issue #4's figure, goal ≤ 1.0 s),
  with its two parts: waiting for the input transcript (``speech_stopped`` →
  ``response.content_part.added``) and then the first spoken sentence (chat model + TTS);
- chat decode speed in tokens/s, from ``bench/chat_speed.py``.

Every question runs in a fresh session after one warm-up turn on another clip (not counted). The machine is
whatever runs this: share it and the figures get noisy, so the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from audiolab.eval.datasets import real_speech  # noqa: E402

LATENCY_GOAL_S = 1.0  # speech_stopped -> first audio (issue #4)
IDLE_GOAL_S = 0.9  # end of the user's audio -> first audio, idle server (issue #13)
LOADED_GOAL_S = 1.5  # the same while 3 clients loop transcriptions of a 44 s clip
LOOPING_CLIENTS = 3
RATE = 24_000
CHUNK = RATE // 10
INSTRUCTIONS = "You are a friendly voice assistant. Answer in one short sentence."


def questions() -> list:
    """Spoken questions among the bundled clips (lines of ``endgame_nagg_nell.wav``)."""
    return [u for u in real_speech(include_synthetic=True, sr=RATE) if u.text.rstrip().endswith("?")]


def speech_end_s(pcm: np.ndarray) -> float:
    """Where the speech in ``pcm`` ends: the end of the last 10 ms frame above -35 dB of the loudest one."""
    frame = RATE // 100
    n = len(pcm) // frame
    rms = np.sqrt(np.mean(pcm[: n * frame].astype(np.float64).reshape(n, frame) ** 2, axis=1))
    loud = np.nonzero(rms >= rms.max() * 10 ** (-35 / 20))[0]
    return (loud[-1] + 1) * frame / RATE


async def one_turn(lab, audio, *, model: str = "gpt-realtime") -> dict:
    """Stream one spoken question like a microphone; return event arrival times relative to the end of
    the speech (``from_end``) and to ``speech_stopped``."""
    pcm = np.frombuffer(audio.to_pcm16(), dtype="<i2")
    pcm = np.concatenate([np.zeros(CHUNK * 3, "<i2"), pcm, np.zeros(RATE * 2, "<i2")])
    end_s = speech_end_s(pcm)
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
            # A microphone delivers a chunk once its 100 ms have been spoken.
            await asyncio.sleep(max(0.0, start + (i + CHUNK) / RATE - time.perf_counter()))
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[i:i + CHUNK].tobytes()).decode())
        response = await asyncio.wait_for(reader, 180)
    stop = seen["input_audio_buffer.speech_stopped"]
    return {
        "from_end": seen["response.output_audio.delta"] - (start + end_s),
        "first_audio": seen["response.output_audio.delta"] - stop,
        "transcript_wait": seen["response.content_part.added"] - stop,
        "status": response.status,
    }


async def measure_latency(lab, *, repeats: int = 2, warm: bool = True) -> list[dict]:
    qs = questions()
    if warm:  # warm-up: engines load. Not on a measured clip: whisper would reuse its encoding of it
        other = next(u for u in real_speech(include_synthetic=True, sr=RATE) if not u.text.rstrip().endswith("?"))
        await one_turn(lab, other.audio)
    out = []
    for _ in range(repeats):
        for q in qs[:3]:
            r = await one_turn(lab, q.audio)
            r["question"] = q.text
            out.append(r)
            print(f"  {q.text!r:58} from end of audio {r['from_end'] * 1000:6.0f} ms, from speech_stopped "
                  f"{r['first_audio'] * 1000:6.0f} ms (transcript {r['transcript_wait'] * 1000:5.0f} ms) "
                  f"{r['status']}")
    return out


class TranscriptionLoops:
    """``n`` clients, each looping transcriptions of the 44 s two_cities.wav in a thread of its own."""

    def __init__(self, lab, n: int = LOOPING_CLIENTS):
        from audiolab.eval.datasets import moonshine_asset

        self.wav = moonshine_asset("two_cities.wav").read_bytes()
        self.lab, self.n = lab, n
        self.stop = threading.Event()
        self.seconds: list[float] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(n)]

    def _loop(self, i: int) -> None:
        import openai

        # Its own key: its own client for the server's fairness; SDK retries on 429 as usual.
        client = openai.OpenAI(base_url=self.lab.base_url, api_key=f"looping-student-{i}", timeout=600)
        k = 0
        while not self.stop.is_set():
            k += 1
            t = time.perf_counter()
            try:
                client.audio.transcriptions.create(model="whisper-1", prompt=f"Reading {i}.{k} of Dickens.",
                                                   file=("two_cities.wav", self.wav, "audio/wav"))
                self.seconds.append(time.perf_counter() - t)
            except Exception as exc:  # noqa: BLE001 - counted and printed
                self.errors.append(f"{type(exc).__name__}: {exc}"[:120])

    def __enter__(self):
        for t in self.threads:
            t.start()
        time.sleep(2.0)  # every loop has a request in flight before the first turn
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(600)


def _job_times(lab) -> dict:
    """Sums and counts of the local server's job wait and run histograms (empty for other backends)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(lab.base_url.removesuffix("/v1") + "/metrics", timeout=10).text
        families = list(text_string_to_metric_families(text))
    except Exception:  # noqa: BLE001 - not the local backend
        return {}
    out: dict = {}
    for f in families:
        if f.name in ("audiolab_job_wait_seconds", "audiolab_job_seconds"):
            for smp in f.samples:
                if smp.name.endswith(("_sum", "_count")):
                    kind = "sum" if smp.name.endswith("_sum") else "count"
                    key = (f.name, smp.labels.get("priority"), smp.labels.get("engine", ""), kind)
                    out[key] = out.get(key, 0.0) + smp.value
    return out


def _print_job_times(before: dict, after: dict) -> None:
    rows = {}
    for (name, prio, engine, kind), v in after.items():
        rows.setdefault((name, prio, engine), {})[kind] = v - before.get((name, prio, engine, kind), 0.0)
    for (name, prio, engine), d in sorted(rows.items()):
        if d.get("count", 0) > 0:
            what = "waited for a slot" if name == "audiolab_job_wait_seconds" else f"ran ({engine})"
            print(f"    {prio} jobs {what}: mean {d['sum'] / d['count'] * 1000:.0f} ms over {d['count']:.0f}")


def _summary(label: str, runs: list[dict], goal: float) -> None:
    ends = [r["from_end"] for r in runs]
    med = statistics.median(ends)
    verdict = "met" if med <= goal else "NOT met"
    lo, hi = min(ends) * 1000, max(ends) * 1000
    print(f"{label}: end of the user's audio (500 ms VAD silence included) -> first output_audio.delta: "
          f"median {med * 1000:.0f} ms (min {lo:.0f}, max {hi:.0f}, n={len(ends)}); "
          f"goal <= {goal * 1000:.0f} ms, ratio to goal {med / goal:.2f} [{verdict}]")


def _load() -> str:
    """The machine's 1/5/15-minute load averages: the figures mean little on a busy machine."""
    import os

    return "/".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-chat", action="store_true")
    parser.add_argument("--skip-load", action="store_true", help="only the idle figures")
    args = parser.parse_args(argv)

    import audiolab

    lab = audiolab.connect()
    print(f"backend {lab.backend} ({lab.base_url}); load average before {_load()}")
    print("idle:")
    runs = asyncio.run(measure_latency(lab, repeats=args.repeats))
    print(f"load average after the idle turns {_load()}")
    loaded = []
    if not args.skip_load:
        print(f"loaded: {LOOPING_CLIENTS} other clients loop transcriptions of two_cities.wav (44 s)")
        with TranscriptionLoops(lab) as loops:
            before = _job_times(lab)
            loaded = asyncio.run(measure_latency(lab, repeats=args.repeats, warm=False))
            print(f"load average during the loaded turns {_load()}")
            print("  the server's job runner meanwhile (/metrics):")
            _print_job_times(before, _job_times(lab))
        done = sorted(loops.seconds)
        print(f"  the looping clients finished {len(done)} transcriptions meanwhile"
              + (f", median {statistics.median(done):.1f} s each" if done else "")
              + (f"; {len(loops.errors)} errors, first: {loops.errors[0]}" if loops.errors else "; 0 errors"))
    _summary("idle", runs, IDLE_GOAL_S)
    if loaded:
        _summary("loaded", loaded, LOADED_GOAL_S)
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
