"""A classroom on one laptop: many clients at once against the local backend, on loopback only.

    .venv/bin/python bench/classroom_load.py                 # 30 clients for 60 s (the benchmark)
    .venv/bin/python bench/classroom_load.py --short         # 8 clients for 12 s (the test's form)
    .venv/bin/python bench/classroom_load.py --clients 10 --duration 20 --json

The server runs as its own process (``audiolab serve`` on 127.0.0.1, default limits), so its
peak RSS is measured alone (sampled every 0.2 s, children included). Each client loops until
the deadline, picking one request at a time: a short TTS (``tts-1``, one of a few sentences,
mp3), an STT of a 5 s clip of real speech (``whisper-1``, json), or a model listing, in the
ratio 2:2:1. No retries: every non-200, timeout, or unusable body is an error.

Bounded: no request starts after ``--duration`` seconds or beyond ``--max-requests``; requests
still in flight then get at most ``--timeout`` seconds. Prints throughput, p50/p95/p99 latency
(overall and per kind), error count and peak server RSS, and checks the goals: 0 errors and a
peak RSS under 3 GB (exit status 1 otherwise). The machine is whatever runs this: share it and
the figures get noisy.
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
            out["kinds"][kind] = {"requests": sum(r.kind == kind for r in self.results),
                                  "errors": sum(r.kind == kind and not r.ok for r in self.results),
                                  "p50_s": round(self._pct(lat, 50), 3), "p95_s": round(self._pct(lat, 95), 3)}
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

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = subprocess.Popen([sys.executable, "-m", "audiolab.cli", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL)
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


async def _request(client, kind: str, rng: random.Random, clips: list[bytes]) -> Result:
    import httpx

    t0 = time.perf_counter()
    try:
        if kind == "tts":
            r = await client.post("/audio/speech", json={"model": "tts-1", "voice": rng.choice(("alloy", "coral")),
                                                         "input": rng.choice(SENTENCES), "response_format": "mp3"})
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
    """``clients`` concurrent loops of requests against ``url`` until the deadline; (results, wall seconds)."""
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
        c.post("/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "Warm up."}).raise_for_status()
        c.post("/audio/speech", json={"model": "tts-1", "voice": "coral", "input": "Warm up."}).raise_for_status()
        c.post("/audio/transcriptions", data={"model": "whisper-1"}, files={"file": ("w.wav", clip)}).raise_for_status()
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
    print(f"  goals (0 errors, RSS < 3 GB): {'met' if s['goals_met'] else 'NOT met'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds during which requests start")
    ap.add_argument("--max-requests", type=int, default=20_000)
    ap.add_argument("--timeout", type=float, default=180.0, help="per-request timeout in seconds")
    ap.add_argument("--short", action="store_true", help="8 clients for 12 s (the test suite's form)")
    ap.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    args = ap.parse_args(argv)
    if args.short:
        args.clients, args.duration = 8, 12.0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    summary = run(clients=args.clients, duration=args.duration, max_requests=args.max_requests, timeout=args.timeout)
    _print(summary)
    if args.json:
        print(json.dumps(summary))
    return 0 if summary["goals_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
