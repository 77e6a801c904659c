"""Benchmark Realtime translation: Spanish speech in, English transcript and speech out (issue #17).

    .venv/bin/python bench/realtime_translation.py [--repeats 3]

Each run opens a fresh ``client.realtime.translations.connect()`` session and streams Spanish
speech (Kokoro reading Spanish, voice ``kokoro-es``, synthesized by the local TTS) in 200 ms chunks, each sent
when its 200 ms have passed, as a microphone does. Printed, as medians over the runs (after one
warm-up run, not counted):

- first audio chunk sent -> first ``session.output_transcript.delta`` (goal <= 2.5 s);
- first audio chunk sent -> first ``session.output_audio.delta``;
- the English transcripts, so that a quick answer cannot hide a wrong one.

The machine is whatever runs this: share it and the figures get noisy, so the load average is
printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIRST_TEXT_GOAL_S = 2.5
SENTENCES = (
    "Buenos días a todos. Hoy vamos a hablar del tiempo en Madrid.",
    "La biblioteca abre a las nueve de la mañana y cierra por la noche.",
    "Mi hermana vive en Barcelona y trabaja en un hospital.",
)


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import audiolab
    from audiolab.audio import Audio
    from audiolab.realtime.translation import translate_live

    lab = audiolab.connect("local")
    print(f"backend {lab.backend} ({lab.base_url}); load average before {_load()}")

    def spanish(text: str) -> Audio:
        r = lab.client.audio.speech.create(model="gpt-4o-mini-tts", voice="kokoro-es", input=text,
                                           response_format="wav")
        return Audio.from_bytes(r.read(), text=text)

    clips = [spanish(s) for s in SENTENCES]
    translate_live(lab, clips[0], pace=0)  # warm-up: engines loaded, not counted
    text_s, audio_s = [], []
    for i in range(args.repeats):
        clip = clips[i % len(clips)]
        run = translate_live(lab, clip, pace=1.0)
        if run.errors:
            print(f"  run {i}: errors {run.errors}")
        text_s.append(run.first_output_s if run.first_output_s is not None else float("inf"))
        audio_s.append(run.first_audio_s if run.first_audio_s is not None else float("inf"))
        print(f"  run {i}: {clip.duration:.1f} s of speech; first text {text_s[-1]:.2f} s, first audio "
              f"{audio_s[-1]:.2f} s; {clip.text!r} -> {run.output_transcript!r}")
    med = statistics.median(text_s)
    print(f"first audio sent -> first output_transcript.delta: median {med:.2f} s over {len(text_s)} runs "
          f"(goal <= {FIRST_TEXT_GOAL_S} s: {'met' if med <= FIRST_TEXT_GOAL_S else 'NOT met'}; "
          f"ratio to goal {med / FIRST_TEXT_GOAL_S:.2f})")
    print(f"first audio sent -> first output_audio.delta: median {statistics.median(audio_s):.2f} s")
    print(f"load average after {_load()}")


if __name__ == "__main__":
    main()
