"""Worst-case speech-to-text: how long can one upload hold the whisper engine?

Builds a set of hard inputs and sends each through the local backend's HTTP API (the real SDK,
``whisper-1``), transcription and translation, one request at a time:

- TTS speech from every local TTS engine (one voice each), ~15 s;
- long synthetic speech: ~60 s of Harvard sentences from each engine;
- silence, white noise, and music-like tones (a chord sequence with vibrato), 20 s each;
- real speech: the moonshine-voice recordings (two_cities.wav, beckett.wav, endgame_nagg_nell.wav).

Prints one row per (input, task): audio seconds, wall seconds, real-time factor (wall / audio),
whether the server marked the result partial (``x-audiolab-partial``), words out; then the worst
real-time factor and the load average. Goal: worst RTF <= 1.0 on an idle box. Latency on a shared
box is indicative only.

Usage:
    .venv/bin/python bench/pathological_stt.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

import numpy as np

import audiolab
from audiolab.audio import Audio
from audiolab.eval.datasets import HARVARD_SENTENCES, moonshine_asset
from audiolab.server.registry import VOICES

SR = 24_000


def _tts(lab, text: str, voice: str) -> Audio:
    body = lab.client.audio.speech.create(
        model="gpt-4o-mini-tts", voice=voice, input=text, response_format="wav"
    )
    return Audio.from_bytes(body.read())


def _engine_voices() -> dict[str, str]:
    """One voice per TTS engine family (the first listed in the registry)."""
    out: dict[str, str] = {}
    for vid, spec in VOICES.items():
        out.setdefault(spec.engine, vid)
    return out


def _tones(seconds: float, sr: int = SR) -> Audio:
    """A chord sequence with vibrato and note onsets: music-like, no speech."""
    t = np.arange(int(seconds * sr)) / sr
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    out = np.zeros_like(t)
    beat = 0.5
    for i in range(int(seconds / beat)):
        sl = slice(int(i * beat * sr), int((i + 1) * beat * sr))
        tt = t[sl] - i * beat
        env = np.exp(-3.0 * tt)
        for f in chords[(i // 4) % len(chords)]:
            out[sl] += env * np.sin(2 * np.pi * f * tt + 0.3 * np.sin(2 * np.pi * 5 * tt))
    return Audio(0.25 * out / np.abs(out).max(), sr)


def inputs(lab, *, quick: bool = False) -> list[tuple[str, Audio]]:
    rng = np.random.default_rng(0)
    n = 20.0 if not quick else 8.0
    items = [
        ("silence", Audio(np.zeros(int(n * SR), np.float32), SR)),
        ("white noise", Audio((0.1 * rng.standard_normal(int(n * SR))).astype(np.float32), SR)),
        ("tones", _tones(n)),
    ]
    for engine, voice in _engine_voices().items():
        items.append((f"tts {engine} ({voice}) ~15 s", _tts(lab, " ".join(HARVARD_SENTENCES[:5]), voice)))
        if not quick:
            long = []
            while sum(a.duration for a in long) < 60.0:
                long.append(
                    _tts(
                        lab,
                        " ".join(
                            HARVARD_SENTENCES[len(long) * 6 : (len(long) + 1) * 6] or HARVARD_SENTENCES[:6]
                        ),
                        voice,
                    )
                )
            items.append((f"tts {engine} ({voice}) long", Audio.concat(long, gap_s=0.3)))
    for name in ("two_cities.wav", "beckett.wav", "endgame_nagg_nell.wav")[: 1 if quick else 3]:
        items.append((f"real {name}", Audio.from_file(moonshine_asset(name))))
    return items


def run(lab, items) -> list[dict]:
    rows = []
    for name, audio in items:
        wav = audio.to_wav_bytes()
        for task in ("transcribe", "translate"):
            api = lab.client.audio.transcriptions if task == "transcribe" else lab.client.audio.translations
            t0 = time.perf_counter()
            try:
                raw = api.with_raw_response.create(
                    model="whisper-1", file=("clip.wav", io.BytesIO(wav), "audio/wav"), response_format="json"
                )
                text = raw.parse().text
                partial = raw.headers.get("x-audiolab-partial", "")
                status = raw.status_code
            except Exception as exc:  # noqa: BLE001 - a bench reports every outcome
                text, partial, status = "", "", getattr(exc, "status_code", type(exc).__name__)
            wall = time.perf_counter() - t0
            rows.append(
                {
                    "input": name,
                    "task": task,
                    "audio_s": audio.duration,
                    "wall_s": wall,
                    "rtf": wall / audio.duration,
                    "status": status,
                    "partial": partial,
                    "words": len(text.split()),
                }
            )
            print(
                f"{name:32s} {task:10s} {audio.duration:6.1f} s  {wall:6.2f} s  "
                f"RTF {wall / audio.duration:5.2f}  "
                f"{status} {partial or '-':8s} {len(text.split()):4d} words  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter inputs, fewer clips")
    args = ap.parse_args(argv)
    os.environ.setdefault("AUDIOLAB_RESPONSE_CACHE", "0")  # measure decoding, not a cache hit
    lab = audiolab.connect("local", environ={})
    print(f"load average before: {os.getloadavg()}", flush=True)
    items = inputs(lab, quick=args.quick)
    lab.client.audio.transcriptions.create(
        model="whisper-1", file=("w.wav", io.BytesIO(items[-1][1].to_wav_bytes()), "audio/wav")
    )  # warm-up: load the model
    rows = run(lab, items)
    worst = max(rows, key=lambda r: r["rtf"])
    print(
        f"\nworst real-time factor: {worst['rtf']:.2f} ({worst['input']}, {worst['task']}, "
        f"{worst['audio_s']:.1f} s audio in {worst['wall_s']:.1f} s); goal <= 1.0 on an idle box"
    )
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
