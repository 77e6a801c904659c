"""The classroom load test in its short form: ``bench/classroom_load.py --short`` (8 clients for
12 s of mixed TTS, STT of 5 s clips and model listing against ``audiolab serve`` on loopback).
The full form (30 clients for 60 s) is the benchmark, run by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_classroom_load_has_no_errors_and_stays_under_3_gb():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "classroom_load.py"), "--short", "--json"],
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    print("\n" + out.stdout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no summary (exit {out.returncode}): {out.stderr[-2000:]}"
    s = json.loads(lines[-1])
    assert s["errors"] == 0, s["error_samples"]
    assert s["peak_rss_mb"] < 3 * 1024
    assert all(s["kinds"][k]["requests"] > 0 for k in ("tts", "stt", "models")), s["kinds"]
    assert s["p50_s"] <= s["p95_s"] <= s["p99_s"]
    assert out.returncode == 0
