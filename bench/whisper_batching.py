"""Does batching concurrent transcriptions pay on this machine? faster-whisper, three ways, one run.

    .venv/bin/python bench/whisper_batching.py              # 4 distinct 6 s clips, 3 rounds
    .venv/bin/python bench/whisper_batching.py --clips 8 --rounds 2

The same N distinct 6 s clips of real speech (A Tale of Two Cities), decoded as the server's
``whisper-1`` does (``base``, int8, beam 5, English):

- **one by one**: one request at a time with every core (``cpu_threads`` = cores);
- **two at once**: what the job runner does today with two slots: two requests in parallel,
  each with half the cores;
- **batched**: the N requests as one batch through faster-whisper's ``BatchedInferencePipeline``
  (the clips laid end to end with silence between them, one ``clip_timestamps`` span each, so
  each clip is one element of the batch, as N concurrent requests would be).

Each way runs ``--rounds`` times, interleaved, and its best wall time is kept (the machine may
be shared: the load average is printed beside the figures). Prints clips per second of each
way, the ratios against one by one, and how far the batched text is from one by one (WER).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SR = 16_000
GAP_S = 1.5
OPTIONS = dict(language="en", beam_size=5, temperature=0.0, condition_on_previous_text=False)


def clips(n: int) -> list[np.ndarray]:
    from audiolab.audio import Audio
    from audiolab.eval.datasets import moonshine_asset

    rec = Audio.from_file(moonshine_asset("two_cities.wav")).to_mono().resample(SR)
    starts = [6.0 * i for i in range(int(rec.duration // 6))][:n]
    return [rec.slice(s, s + 6.0).samples.astype(np.float32) for s in starts]


def model(threads: int, workers: int = 1):
    from faster_whisper import WhisperModel

    from audiolab.server.engines.whisper import assemble_weights
    from audiolab.server.settings import Settings

    path = assemble_weights(Path(Settings().cache_dir), "base")
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads,
                        num_workers=workers)


def _text(segments) -> str:
    return " ".join(s.text.strip() for s in segments).strip()


def one_by_one(m, audio: list[np.ndarray]) -> list[str]:
    return [_text(m.transcribe(a, **OPTIONS)[0]) for a in audio]


def two_at_once(m, audio: list[np.ndarray]) -> list[str]:
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda a: _text(m.transcribe(a, **OPTIONS)[0]), audio))


def batched(pipeline, audio: list[np.ndarray]) -> list[str]:
    gap = np.zeros(int(GAP_S * SR), np.float32)
    joined, spans, t = [], [], 0.0
    for a in audio:
        spans.append({"start": t, "end": t + len(a) / SR})
        joined += [a, gap]
        t += (len(a) + len(gap)) / SR
    segments, _ = pipeline.transcribe(np.concatenate(joined), clip_timestamps=spans, batch_size=len(audio),
                                      without_timestamps=True, **OPTIONS)
    out = [""] * len(audio)
    for seg in segments:
        i = min(range(len(spans)), key=lambda k: abs(spans[k]["start"] - seg.start))
        out[i] = (out[i] + " " + seg.text.strip()).strip()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    from faster_whisper import BatchedInferencePipeline

    cores = os.cpu_count() or 1
    audio = clips(args.clips)
    full, half = model(cores), model(max(1, cores // 2), workers=2)
    pipeline = BatchedInferencePipeline(full)
    ways = {"one by one": lambda: one_by_one(full, audio), "two at once": lambda: two_at_once(half, audio),
            "batched": lambda: batched(pipeline, audio)}
    for fn in ways.values():  # warm up: first calls allocate
        fn()
    best = dict.fromkeys(ways, float("inf"))
    texts = {}
    load = [os.getloadavg()]
    for _ in range(args.rounds):
        for name, fn in ways.items():
            t0 = time.perf_counter()
            texts[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    load.append(os.getloadavg())

    import jiwer

    ref = texts["one by one"]
    print(f"whisper base int8, beam 5: {len(audio)} distinct 6 s clips, {cores} cores, best of {args.rounds}")
    for name, wall in best.items():
        wer = jiwer.wer([r.lower() for r in ref], [h.lower() or "-" for h in texts[name]])
        print(f"  {name:<12} {wall:6.2f} s  {len(audio) / wall:5.2f} clips/s  "
              f"x{best['one by one'] / wall:4.2f} vs one by one  (WER vs one by one {wer:.3f})")
    print(f"  load average {[round(x, 2) for x in load[0]]} before, {[round(x, 2) for x in load[1]]} after "
          "(1, 5, 15 min; the machine may be shared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
