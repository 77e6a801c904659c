"""A classroom on one laptop: many students at once against the local backend, on loopback only.

    .venv/bin/python bench/classroom_load.py                 # the lessons benchmark (30 students)
    .venv/bin/python bench/classroom_load.py --students 10   # a smaller class
    .venv/bin/python bench/classroom_load.py --mix           # 30 clients of random requests for 60 s
    .venv/bin/python bench/classroom_load.py --short         # 8 clients for 12 s (the test's form)

**Lessons** (the default). Every student runs a lesson at the same moment: speech of two
sentences (``tts-1``, voice ``alloy``, mp3), a transcription of a 6 s clip of real speech
(``whisper-1``), and the model list, then the same three again: 6 requests each, in order.

- *same lesson*: every student sends the same text and the same clip. Goals: p95 <= 2 s, 0 errors.
- *own lessons*: each student's speech text is their own (the clip and the model list are the
  class's). Goals: p95 <= 8 s, 0 errors. It runs twice, with response sharing on and off
  (``AUDIOLAB_RESPONSE_CACHE=0``, which is the server as it was before sharing): the printed
  throughput ratio is on/off, measured in this one run.

Each phase starts its own ``audiolab serve`` (default limits, an empty response cache in a
temporary directory), warms it up on other inputs, and samples its RSS (children included) every
0.2 s. Each student sends its own bearer token, as students with their own keys would. The
``x-audiolab-cache`` header of every answer is counted (miss, joined, hit, off).

**Mix** (``--mix``, ``--short``): each client loops until the deadline, picking a short TTS, an
STT of a 5 s clip or a model listing (2:2:1). No retries anywhere: every non-200, timeout or
unusable body is an error. Both modes print the load average beside their figures: on a shared
machine they are noisy. Exit status 1 when a goal is missed (peak RSS goal: under 3 GB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RSS_GOAL_MB = 3 * 1024
SENTENCES = ("Good morning, class.", "Please open your notebooks.", "Listen to the recording twice.",
             "What did you hear?", "Let us try that again, a little slower.", "Well done, everyone.")
MIX = (("tts", 2), ("stt", 2), ("models", 1))


@dataclass
class Result:
    kind: str
    latency_s: float
    ok: bool
    detail: str = ""


@dataclass
class Report:
    clients: int
    duration_s: float
    wall_s: float
    results: list[Result] = field(default_factory=list)
    peak_rss_mb: float = 0.0

    @staticmethod
    def _pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        values = sorted(values)  # nearest rank
        return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]

    def summary(self) -> dict:
        ok = [r.latency_s for r in self.results if r.ok]
        out = {"clients": self.clients, "duration_s": self.duration_s, "wall_s": round(self.wall_s, 1),
               "requests": len(self.results), "errors": sum(not r.ok for r in self.results),
               "throughput_rps": round(len(self.results) / self.wall_s, 2) if self.wall_s else 0.0,
               "p50_s": round(self._pct(ok, 50), 3), "p95_s": round(self._pct(ok, 95), 3),
               "p99_s": round(self._pct(ok, 99), 3), "peak_rss_mb": round(self.peak_rss_mb), "kinds": {}}
        for kind, _ in MIX:
            lat = [r.latency_s for r in self.results if r.kind == kind and r.ok]
            out["kinds"][kind] = {
                "requests": sum(r.kind == kind for r in self.results),
                "errors": sum(r.kind == kind and not r.ok for r in self.results),
                "p50_s": round(self._pct(lat, 50), 3),
                "p95_s": round(self._pct(lat, 95), 3),
            }
        out["error_samples"] = sorted({r.detail for r in self.results if not r.ok})[:5]
        out["goals_met"] = out["errors"] == 0 and out["peak_rss_mb"] < RSS_GOAL_MB and out["requests"] > 0
        return out


def five_second_clips() -> list[bytes]:
    """5 s windows of real read speech (A Tale of Two Cities), as 16 kHz wav uploads."""
    from audiolab.audio import Audio
    from audiolab.eval.datasets import moonshine_asset

    rec = Audio.from_file(moonshine_asset("two_cities.wav")).to_mono().resample(16_000)
    return [rec.slice(s, s + 5.0).to_wav_bytes() for s in range(0, int(rec.duration) - 5, 7)]


class Server:
    """``audiolab serve`` in a child process on 127.0.0.1, with its RSS sampled."""

    def __init__(self, *, sharing: bool = True):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._cache = tempfile.TemporaryDirectory(prefix="audiolab-bench-cache-")
        env = {**os.environ, "AUDIOLAB_RESPONSE_CACHE": "1" if sharing else "0",
               "AUDIOLAB_RESPONSE_CACHE_DIR": self._cache.name}
        self.proc = subprocess.Popen([sys.executable, "-m", "audiolab.cli", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL, env=env)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _rss_mb(self) -> float:
        import psutil

        try:
            p = psutil.Process(self.proc.pid)
            return sum(x.memory_info().rss for x in [p, *p.children(recursive=True)]) / 2**20
        except psutil.Error:
            return 0.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._rss_mb())
            time.sleep(0.2)

    def wait_ready(self, timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {self.proc.returncode}")
            try:
                if httpx.get(self.url.removesuffix("/v1") + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start in time")
            time.sleep(0.2)
        self._sampler.start()

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._cache.cleanup()


async def _request(client, kind: str, rng: random.Random, clips: list[bytes]) -> Result:
    import httpx

    t0 = time.perf_counter()
    try:
        if kind == "tts":
            r = await client.post(
                "/audio/speech",
                json={
                    "model": "tts-1",
                    "voice": rng.choice(("alloy", "coral")),
                    "input": rng.choice(SENTENCES),
                    "response_format": "mp3",
                },
            )
            ok, detail = r.status_code == 200 and len(r.content) > 500, f"tts {r.status_code}"
        elif kind == "stt":
            r = await client.post("/audio/transcriptions", data={"model": "whisper-1", "language": "en"},
                                  files={"file": ("clip.wav", rng.choice(clips), "audio/wav")})
            ok = r.status_code == 200 and bool(r.json().get("text", "").strip())
            detail = f"stt {r.status_code}"
        else:
            r = await client.get("/models")
            ok, detail = r.status_code == 200 and len(r.json()["data"]) > 0, f"models {r.status_code}"
        if not ok:
            detail += f": {r.text[:160]}"
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        ok, detail = False, f"{kind}: {type(exc).__name__}: {exc}"[:200]
    return Result(kind, time.perf_counter() - t0, ok, detail)


async def drive(url: str, *, clients: int, duration: float, max_requests: int, timeout: float,
                seed: int = 0) -> tuple[list[Result], float]:
    """``clients`` concurrent loops of requests against ``url`` until the deadline.

    Returns (results, wall seconds).
    """
    import httpx

    clips = five_second_clips()
    kinds = [k for k, w in MIX for _ in range(w)]
    results: list[Result] = []
    started = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        t0 = time.monotonic()
        deadline = t0 + duration

        async def one_client(i: int) -> None:
            nonlocal started
            rng = random.Random(seed * 1000 + i)
            while time.monotonic() < deadline and started < max_requests:
                started += 1
                results.append(await _request(client, rng.choice(kinds), rng, clips))

        await asyncio.gather(*(one_client(i) for i in range(clients)))
        return results, time.monotonic() - t0


def _warm_up(url: str) -> float:
    """One request of each kind, so that engine loading is not counted as load."""
    import httpx

    t0 = time.monotonic()
    clip = five_second_clips()[0]
    with httpx.Client(base_url=url, timeout=300) as c:
        c.get("/models").raise_for_status()
        c.post(
            "/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "Warm up."}
        ).raise_for_status()
        c.post(
            "/audio/speech", json={"model": "tts-1", "voice": "coral", "input": "Warm up."}
        ).raise_for_status()
        c.post(
            "/audio/transcriptions", data={"model": "whisper-1"}, files={"file": ("w.wav", clip)}
        ).raise_for_status()
    return time.monotonic() - t0


def run(*, clients: int, duration: float, max_requests: int = 20_000, timeout: float = 180.0) -> dict:
    """Start a server, warm it up, load it, stop it; the summary dict."""
    server = Server()
    try:
        server.wait_ready()
        warm = _warm_up(server.url)
        results, wall = asyncio.run(drive(server.url, clients=clients, duration=duration,
                                          max_requests=max_requests, timeout=timeout))
        report = Report(clients=clients, duration_s=duration, wall_s=wall, results=results,
                        peak_rss_mb=server.peak_mb)
    finally:
        server.stop()
    out = report.summary()
    out["warm_up_s"] = round(warm, 1)
    out["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    return out


def _print(s: dict) -> None:
    print(f"classroom load: {s['clients']} clients for {s['duration_s']:g} s on 127.0.0.1 "
          f"(wall {s['wall_s']} s, warm-up {s['warm_up_s']} s)")
    print(f"  requests {s['requests']}, throughput {s['throughput_rps']} req/s, errors {s['errors']}")
    print(f"  latency p50 {s['p50_s']} s, p95 {s['p95_s']} s, p99 {s['p99_s']} s")
    for kind, k in s["kinds"].items():
        print(f"    {kind:<7} {k['requests']:>5} requests, {k['errors']} errors, "
              f"p50 {k['p50_s']} s, p95 {k['p95_s']} s")
    print(f"  peak server RSS {s['peak_rss_mb']} MB (goal < {RSS_GOAL_MB} MB)")
    for e in s["error_samples"]:
        print(f"  error: {e}")
    print(f"  load average {s['loadavg']} (1, 5, 15 min; the machine may be shared)")
    print(f"  goals (0 errors, RSS < 3 GB): {'met' if s['goals_met'] else 'NOT met'}")


# ---- lessons: 30 students at the same moment ---------------------------------------------------

LESSON = "Good morning, class. Today we listen to a short recording and write down what we hear."
P95_GOALS = {"same": 2.0, "own": 8.0}


def lesson_clip() -> bytes:
    """The class's 6 s clip: the opening words of A Tale of Two Cities, read aloud (16 kHz wav)."""
    from audiolab.audio import Audio
    from audiolab.eval.datasets import moonshine_asset

    rec = Audio.from_file(moonshine_asset("two_cities.wav")).to_mono().resample(16_000)
    return rec.slice(0.0, 6.0).to_wav_bytes()


def own_text(student: int) -> str:
    """Two sentences of a student's own lesson: different for every student."""
    return f"Good morning, student number {student + 1}. {SENTENCES[student % len(SENTENCES)]}"


async def _lesson_step(client, kind: str, student: int, text: str, clip: bytes) -> Result:
    import httpx

    headers = {"authorization": f"Bearer student-{student:02d}"}
    t0 = time.perf_counter()
    try:
        if kind == "tts":
            body = {"model": "tts-1", "voice": "alloy", "input": text, "response_format": "mp3"}
            r = await client.post("/audio/speech", headers=headers, json=body)
            ok = r.status_code == 200 and len(r.content) > 500
        elif kind == "stt":
            r = await client.post("/audio/transcriptions", headers=headers, data={"model": "whisper-1"},
                                  files={"file": ("lesson.wav", clip, "audio/wav")})
            ok = r.status_code == 200 and "times" in r.json().get("text", "").lower()
        else:
            r = await client.get("/models", headers=headers)
            ok = r.status_code == 200 and len(r.json()["data"]) > 0
        detail = r.headers.get("x-audiolab-cache", "?") if ok else f"{kind} {r.status_code}: {r.text[:160]}"
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        ok, detail = False, f"{kind}: {type(exc).__name__}: {exc}"[:200]
    return Result(kind, time.perf_counter() - t0, ok, detail)


async def class_lesson(url: str, *, students: int, own: bool, timeout: float) -> tuple[list[Result], float]:
    """Every student's lesson (speech, transcription, model list, twice), all starting together."""
    import httpx

    clip = lesson_clip()
    limits = httpx.Limits(max_connections=students, max_keepalive_connections=students)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        async def student(i: int) -> list[Result]:
            text = own_text(i) if own else LESSON
            return [await _lesson_step(client, kind, i, text, clip) for kind in ("tts", "stt", "models") * 2]

        t0 = time.monotonic()
        per_student = await asyncio.gather(*(student(i) for i in range(students)))
        return [r for rs in per_student for r in rs], time.monotonic() - t0


def _warm_up_lessons(url: str) -> None:
    """Load every engine on inputs that are not the lesson's, so that no answer is cached ahead."""
    import httpx

    other = five_second_clips()[1]
    with httpx.Client(base_url=url, timeout=300) as c:
        c.get("/models").raise_for_status()
        body = {"model": "tts-1", "voice": "alloy", "input": "Warm up."}
        c.post("/audio/speech", json=body).raise_for_status()
        files = {"file": ("w.wav", other)}
        c.post("/audio/transcriptions", data={"model": "whisper-1"}, files=files).raise_for_status()


def lesson_phase(*, name: str, students: int, own: bool, sharing: bool, timeout: float) -> dict:
    """One server, one class lesson; the summary with p95, errors, outcomes, RSS and load average."""
    server = Server(sharing=sharing)
    try:
        server.wait_ready()
        _warm_up_lessons(server.url)
        server.peak_mb = 0.0
        load_before = os.getloadavg()
        results, wall = asyncio.run(class_lesson(server.url, students=students, own=own, timeout=timeout))
        load_after = os.getloadavg()
    finally:
        server.stop()
    ok = [r.latency_s for r in results if r.ok]
    errors = [r.detail for r in results if not r.ok]
    outcomes: dict[str, int] = {}
    for r in results:
        if r.ok:
            outcomes[f"{r.kind}:{r.detail}"] = outcomes.get(f"{r.kind}:{r.detail}", 0) + 1
    kinds = {k: _pct_or_none([r.latency_s for r in results if r.ok and r.kind == k], 95)
             for k in ("tts", "stt", "models")}
    return {"phase": name, "students": students, "sharing": sharing, "requests": len(results),
            "errors": len(errors), "error_samples": sorted(set(errors))[:3], "wall_s": round(wall, 2),
            "throughput_rps": round(len(results) / wall, 2), "answered_rps": round(len(ok) / wall, 3),
            "p50_s": _pct_or_none(ok, 50), "p95_s": _pct_or_none(ok, 95), "p95_by_kind_s": kinds,
            "outcomes": outcomes,
            "peak_rss_mb": round(server.peak_mb), "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after]}


def _pct_or_none(values: list[float], q: float) -> float | None:
    """A percentile (nearest rank), or ``None`` when nothing was answered (JSON has no NaN)."""
    return round(Report._pct(values, q), 3) if values else None


def run_lessons(*, students: int, timeout: float) -> dict:
    """Same lesson (sharing on), own lessons with sharing on and off; goals and the on/off ratio."""
    phases = [lesson_phase(name="same lesson", students=students, own=False, sharing=True, timeout=timeout),
              lesson_phase(name="own lessons", students=students, own=True, sharing=True, timeout=timeout),
              lesson_phase(name="own lessons, sharing off (before)", students=students, own=True,
                           sharing=False, timeout=timeout)]
    same, own, before = phases
    # Answered requests per second: a 429 or a timeout is not throughput.
    ratio = own["answered_rps"] / before["answered_rps"] if before["answered_rps"] else float("inf")
    def met(p: dict, goal: float) -> bool:
        return p["errors"] == 0 and p["p95_s"] is not None and p["p95_s"] <= goal

    goals = {"same lesson p95 <= 2 s, 0 errors": met(same, P95_GOALS["same"]),
             "own lessons p95 <= 8 s, 0 errors": met(own, P95_GOALS["own"]),
             "peak RSS < 3 GB": max(p["peak_rss_mb"] for p in phases) < RSS_GOAL_MB}
    return {"phases": phases, "own_lessons_throughput_ratio": round(ratio, 2), "goals": goals,
            "goals_met": all(goals.values())}


def _print_lessons(s: dict) -> None:
    for p in s["phases"]:
        print(f"{p['phase']}: {p['students']} students x 6 requests on 127.0.0.1 (wall {p['wall_s']} s)")
        print(f"  requests {p['requests']}, errors {p['errors']}, answered {p['answered_rps']} req/s")
        print(f"  latency p50 {p['p50_s']} s, p95 {p['p95_s']} s; p95 by kind {p['p95_by_kind_s']}")
        print(f"  answers by outcome {dict(sorted(p['outcomes'].items()))}")
        print(f"  peak server RSS {p['peak_rss_mb']} MB; load average {p['loadavg_before']} before, "
              f"{p['loadavg_after']} after (1, 5, 15 min; the machine may be shared)")
        for e in p["error_samples"]:
            print(f"  error: {e}")
    print(f"own lessons throughput (answered req/s), sharing on / off (this run): "
          f"{s['own_lessons_throughput_ratio']}x")
    for goal, met in s["goals"].items():
        print(f"  goal {goal}: {'met' if met else 'NOT met'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=30, help="class size of the lessons benchmark")
    ap.add_argument("--mix", action="store_true", help="random requests for --duration instead of lessons")
    ap.add_argument("--clients", type=int, default=30, help="(--mix) concurrent clients")
    ap.add_argument("--duration", type=float, default=60.0, help="(--mix) seconds in which requests start")
    ap.add_argument("--max-requests", type=int, default=20_000, help="(--mix) bound on requests")
    ap.add_argument("--timeout", type=float, default=180.0, help="per-request timeout in seconds")
    ap.add_argument("--short", action="store_true", help="--mix, 8 clients for 12 s (the test suite's form)")
    ap.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    args = ap.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.short or args.mix:
        if args.short:
            args.clients, args.duration = 8, 12.0
        summary = run(clients=args.clients, duration=args.duration, max_requests=args.max_requests,
                      timeout=args.timeout)
        _print(summary)
    else:
        summary = run_lessons(students=args.students, timeout=args.timeout)
        _print_lessons(summary)
    if args.json:
        print(json.dumps(summary))
    return 0 if summary["goals_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
