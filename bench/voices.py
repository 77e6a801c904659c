"""Is every OpenAI voice name intelligible? TTS -> whisper round trip per voice, over real HTTP.

    .venv/bin/python bench/voices.py [--sentences 20] [--voices alloy,coral] [--json out.json]

For each voice, each Harvard sentence is spoken by ``/v1/audio/speech`` (``gpt-4o-mini-tts``) and
transcribed by ``/v1/audio/transcriptions`` (``whisper-1``, i.e. whisper-base). Prints one row per
voice: engine, median F0 of all its clips (Praat autocorrelation through
:func:`audiolab.eval.prosody.f0_contour`, the kit's prosody feature), corpus WER (whisper
normalizer), and whether it is kept: WER within :data:`KEEP_MARGIN` of Piper joe's (``alloy``).
Also prints seconds of synthesis per second of audio and the load average, since the figures
depend on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiolab.audio import Audio  # noqa: E402
from audiolab.eval.datasets import HARVARD_SENTENCES  # noqa: E402
from audiolab.eval.metrics import wer  # noqa: E402
from audiolab.eval.prosody import f0_contour  # noqa: E402
from audiolab.server.registry import OPENAI_VOICES, VOICES  # noqa: E402

#: IEEE Harvard sentences, list 2 (after list 1 in :data:`HARVARD_SENTENCES`): 20 in all.
HARVARD_LIST_2 = (
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
)
SENTENCES = (*HARVARD_SENTENCES, *HARVARD_LIST_2)
REFERENCE_VOICE = "alloy"  # Piper joe, as trained
KEEP_MARGIN = 0.05
WORST_GOAL = 0.15
F0_HIGH_HZ = 165.0


def round_trip(lab, voice: str, texts) -> dict:
    """Speak each text with ``voice``, transcribe it; WER, median F0, synthesis cost."""
    hyps, f0s, audio_s, synth_s = [], [], 0.0, 0.0
    for text in texts:
        start = time.perf_counter()
        body = lab.client.audio.speech.create(model="gpt-4o-mini-tts", voice=voice, input=text,
                                              response_format="wav").content
        synth_s += time.perf_counter() - start
        clip = Audio.from_bytes(body)
        audio_s += clip.duration
        _, f0 = f0_contour(clip)
        f0s.append(f0[np.isfinite(f0)])
        buf = io.BytesIO(body)
        buf.name = "speech.wav"
        hyps.append(lab.client.audio.transcriptions.create(model="whisper-1", file=buf, language="en").text)
    voiced = np.concatenate(f0s) if f0s else np.zeros(0)
    return {"voice": voice, "engine": VOICES[voice].engine, "wer": wer(list(texts), hyps),
            "f0_hz": float(np.median(voiced)) if voiced.size else float("nan"),
            "compute_per_audio_s": synth_s / max(audio_s, 1e-9), "sentences": len(texts),
            "errors": [(t, h) for t, h in zip(texts, hyps) if wer(t, h) > 0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=20, help="Harvard sentences per voice (at most 20)")
    ap.add_argument("--voices", default=",".join(OPENAI_VOICES), help="comma-separated voice names")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--no-reference", action="store_true",
                    help=f"do not add {REFERENCE_VOICE} (Piper joe) to compare with: another run has it")
    args = ap.parse_args(argv)

    import audiolab

    lab = audiolab.connect("local")
    texts = SENTENCES[: max(1, min(args.sentences, len(SENTENCES)))]
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    if REFERENCE_VOICE not in voices and not args.no_reference:
        voices.insert(0, REFERENCE_VOICE)
    lab.client.audio.speech.create(model="gpt-4o-mini-tts", voice=REFERENCE_VOICE, input="Warm up.")
    print(f"{len(texts)} Harvard sentences per voice; load average at start {os.getloadavg()}", flush=True)
    print(f"{'voice':9} {'engine':7} {'F0 Hz':>6} {'WER':>6} {'s/s':>5}", flush=True)
    rows = []
    for voice in voices:
        row = round_trip(lab, voice, texts)
        rows.append(row)
        print(f"{voice:9} {row['engine']:7} {row['f0_hz']:6.0f} {row['wer']:6.3f} "
              f"{row['compute_per_audio_s']:5.2f}   load {tuple(round(x, 1) for x in os.getloadavg())}",
              flush=True)
    ref = next((r["wer"] for r in rows if r["voice"] == REFERENCE_VOICE), None)
    if ref is None:  # the reference ran elsewhere: print the rows only
        _table(rows)
        return 0
    for r in rows:
        r["kept"] = r["wer"] <= ref + KEEP_MARGIN
    worst = max(rows, key=lambda r: r["wer"])
    high = [r["voice"] for r in rows if r["f0_hz"] >= F0_HIGH_HZ]
    dropped = [r["voice"] for r in rows if not r["kept"]]
    print(f"\nreference {REFERENCE_VOICE} (Piper joe) WER {ref:.3f}; kept (<= +{KEEP_MARGIN}): "
          f"{len(rows) - len(dropped)}/{len(rows)}; dropped: {dropped}")
    print(f"worst voice {worst['voice']} WER {worst['wer']:.3f} (goal <= {WORST_GOAL}); "
          f"median F0 >= {F0_HIGH_HZ:.0f} Hz: {len(high)} ({', '.join(high)}); "
          f"load average {os.getloadavg()}")
    _table(rows)
    if args.json:
        args.json.write_text(json.dumps({"load": os.getloadavg(), "rows": rows}, indent=1))
    return 0


def _table(rows) -> None:
    print("\n| voice | engine | base voice / blend | median F0 (Hz) | WER |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['voice']}` | {r['engine']} | {VOICES[r['voice']].description} | {r['f0_hz']:.0f} | "
              f"{r['wer']:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
