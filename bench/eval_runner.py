"""Benchmark the evaluation runner against a transcription backend with a fixed latency.

Prints two ratios:
  * speed-up of ``concurrency=8`` over ``concurrency=1`` (ideal: 8, bounded by the cell count);
  * re-run-from-cache time ÷ first-run time (goal ≤ 1/50), against the concurrency-8 first run.

The backend is a tiny FastAPI app on 127.0.0.1 (``tests/eval/fixed_latency.py``) that sleeps a
fixed time per request, so the numbers measure the runner, not a model.

Usage:
    python bench/eval_runner.py [--latency 0.5] [--models 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import audiolab  # noqa: E402
from audiolab.eval import runner  # noqa: E402
from audiolab.eval.datasets import real_speech  # noqa: E402
from tests.eval import fixed_latency  # noqa: E402


def _timed(lab, ds, models, concurrency, cache_dir) -> tuple[float, object]:
    t0 = time.perf_counter()
    df = runner.evaluate(lab, ds, models=models, concurrency=concurrency, cache_dir=cache_dir, progress=False)
    return time.perf_counter() - t0, df


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.5, help="seconds the backend waits per request")
    ap.add_argument("--models", type=int, default=2, help="model ids per clip (cells = clips × models)")
    args = ap.parse_args()

    ds = real_speech()
    models = [f"model-{i}" for i in range(args.models)]
    backend = fixed_latency.start(args.latency, transcripts={round(u.audio.duration, 2): u.text for u in ds})
    lab = audiolab.connect(backend.url, environ={})
    cells = len(ds) * len(models)
    try:
        with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d8:
            runner.clear_memory_cache()
            t1, _ = _timed(lab, ds, models, 1, d1)
            runner.clear_memory_cache()
            t8, df8 = _timed(lab, ds, models, 8, d8)
            sent = backend.requests
            runner.clear_memory_cache()  # a fresh kernel: cells come from the file on disk
            tc, dfc = _timed(lab, ds, models, 8, d8)
            assert backend.requests == sent and dfc["cached"].all(), "the re-run sent requests"
            assert dfc["wer"].tolist() == df8["wer"].tolist()
    finally:
        backend.stop()

    print(f"cells: {cells} ({len(ds)} clips × {len(models)} models), backend latency {args.latency:.2f} s")
    print(f"first run, concurrency 1: {t1:7.3f} s")
    print(f"first run, concurrency 8: {t8:7.3f} s")
    print(f"re-run from cache:        {tc:7.3f} s")
    print(f"speed-up concurrency 8 / 1: {t1 / t8:.2f}x (ideal {min(8, cells)}x)")
    print(f"cache re-run / first run (concurrency 8): 1/{t8 / tc:.0f} = {tc / t8:.4f} (goal <= 1/50 = 0.02)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
