"""Who is speaking? Accuracy of the voiceprints behind known-speaker diarization, on 9 speakers.

    .venv/bin/python bench/speaker_id.py [--voices piper-joe,kokoro-alpha,...] [--conversations 8] [--json out.json]

Speakers: two people reading (the bundled two_cities.wav and beckett.wav readers) and the local
TTS voices (Piper joe, the five Kokoro speakers, eSpeak NG). Each is enrolled with one 2-10 s
reference (as ``known_speaker_references[]``): two Harvard sentences for a TTS voice, a 5 s stretch
for a reader. The test utterances are other sentences (other 5 s stretches). Prints:

- identification: each test utterance's voiceprint
  (:class:`audiolab.server.engines.voiceprint.VoiceEncoder`) against all 9 references, the most
  similar being the right speaker (closed set), and the similarity ranges of same- and
  different-speaker pairs;
- conversations, through :func:`audiolab.server.engines.diarize.diarize` itself: 3 speakers
  (drawn with a fixed seed) take turns A B C A B C with 0.4 s pauses, the turn times given as the
  transcript's segments (so Whisper's segmentation is not what is measured). With all three
  enrolled, every segment must carry its speaker's name; with only the first two enrolled, their
  segments must carry their names and the third speaker's must carry a letter.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audiolab.audio import Audio  # noqa: E402
from audiolab.eval.datasets import HARVARD_SENTENCES  # noqa: E402
from audiolab.server.engines import Segment, Transcript  # noqa: E402
from audiolab.server.engines.diarize import diarize  # noqa: E402
from audiolab.server.engines.voiceprint import VoiceEncoder  # noqa: E402
from tests.conftest import speech_clip_path  # noqa: E402

TTS_VOICES = ("piper-joe", "kokoro-alpha", "kokoro-gongitsune", "kokoro-nezumi", "kokoro-tebukuro",
              "kokoro-kumo", "espeak-en-us")
READERS = {"two_cities reader": "two_cities.wav", "beckett reader": "beckett.wav"}


def tts_utterances(lab, voice: str, n_test: int) -> tuple[Audio, list[Audio]]:
    """(reference of two sentences, ``n_test`` single other sentences) in ``voice``."""

    def say(text: str) -> Audio:
        body = lab.client.audio.speech.create(model="gpt-4o-mini-tts", voice=voice, input=text, response_format="wav")
        return Audio.from_bytes(body.content, text=text)

    ref = say(" ".join(HARVARD_SENTENCES[:2]))
    return ref, [say(t) for t in HARVARD_SENTENCES[2:2 + n_test]]


def reader_utterances(name: str, n_test: int) -> tuple[Audio, list[Audio]]:
    """(the first 5 s, up to ``n_test`` following 5 s stretches) of a bundled recording."""
    clip = Audio.from_file(speech_clip_path(name))
    stretches = [clip.slice(t, t + 5.0) for t in np.arange(0.0, clip.duration - 4.0, 5.0)]
    return stretches[0], stretches[1:1 + n_test]


def identification(refs: dict[str, np.ndarray], tests: list[tuple[str, np.ndarray]]) -> dict:
    names = list(refs)
    R = np.stack([refs[n] for n in names])
    closed = [names[int(np.argmax(R @ e))] == who for who, e in tests]
    same = [float(refs[who] @ e) for who, e in tests]
    diff = [float(refs[n] @ e) for who, e in tests for n in names if n != who]
    return {"speakers": len(names), "utterances": len(tests), "closed_set_accuracy": float(np.mean(closed)),
            "same_min": min(same), "same_median": float(np.median(same)),
            "diff_median": float(np.median(diff)), "diff_max": max(diff)}


def conversation(trio: list[str], clips: dict, turns: int) -> tuple[Audio, Transcript, list[str]]:
    """``turns`` rounds of the three speakers in turn, and the turn times as a transcript."""
    parts, segs, who, t = [], [], [], 0.0
    for r in range(turns):
        for name in trio:
            tests = clips[name][1]
            clip = tests[r % len(tests)].to_mono().resample(16_000)
            parts.append(clip)
            segs.append(Segment(id=len(segs), start=t, end=t + clip.duration, text=name))
            who.append(name)
            t += clip.duration + 0.4
    audio = Audio.concat(parts, gap_s=0.4)
    return audio, Transcript(text="", language="en", duration=audio.duration, segments=tuple(segs)), who


def conversations(clips: dict, n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    names = list(clips)
    all_ok, known_ok, unknown_ok = [], [], []
    for _ in range(n):
        trio = [names[i] for i in rng.choice(len(names), size=3, replace=False)]
        audio, transcript, who = conversation(trio, clips, turns=2)
        refs = [clips[x][0] for x in trio]
        out = diarize(audio, transcript, names=trio, references=refs)
        all_ok += [s.speaker == w for s, w in zip(out.segments, who)]
        out = diarize(audio, transcript, names=trio[:2], references=refs[:2])
        for s, w in zip(out.segments, who):
            if w == trio[2]:
                unknown_ok.append(s.speaker not in trio)
            else:
                known_ok.append(s.speaker == w)
        print(f"  {' / '.join(trio)}: done", flush=True)
    return {"conversations": n, "segments_all_enrolled": len(all_ok),
            "accuracy_all_enrolled": float(np.mean(all_ok)),
            "accuracy_two_enrolled_named": float(np.mean(known_ok)),
            "accuracy_third_unnamed": float(np.mean(unknown_ok))}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voices", default=",".join(TTS_VOICES))
    ap.add_argument("--tests", type=int, default=3, help="test utterances per speaker")
    ap.add_argument("--conversations", type=int, default=8)
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    import audiolab

    lab = audiolab.connect("local")
    enc = VoiceEncoder.load()
    refs: dict[str, np.ndarray] = {}
    tests: list[tuple[str, np.ndarray]] = []
    clips: dict[str, tuple[Audio, list[Audio]]] = {}
    t_embed, n_embed = 0.0, 0
    sources = [(v, lambda v=v: tts_utterances(lab, v, args.tests)) for v in args.voices.split(",") if v]
    sources += [(who, lambda f=f: reader_utterances(f, args.tests)) for who, f in READERS.items()]
    for who, make in sources:
        ref, others = clips[who] = make()
        start = time.perf_counter()
        refs[who] = enc.embed(ref)
        tests += [(who, enc.embed(u)) for u in others]
        t_embed += time.perf_counter() - start
        n_embed += 1 + len(others)
        print(f"  {who:20s} reference {ref.duration:4.1f} s, {len(others)} test utterances", flush=True)
    result = identification(refs, tests)
    result["seconds_per_embedding"] = t_embed / n_embed
    result.update(conversations(clips, args.conversations))
    result["load_average_1min"] = os.getloadavg()[0]
    print(f"\n{result['speakers']} speakers, {result['utterances']} test utterances (references are other sentences)")
    print(f"identification, most similar of 9 references:   {result['closed_set_accuracy']:.1%}")
    print(f"cosine same speaker: min {result['same_min']:.2f}, median {result['same_median']:.2f}; "
          f"different: median {result['diff_median']:.2f}, max {result['diff_max']:.2f}")
    print(f"diarize(), {result['conversations']} three-speaker conversations "
          f"({result['segments_all_enrolled']} turns):")
    print(f"  all three enrolled, turn named right:           {result['accuracy_all_enrolled']:.1%}")
    print(f"  two enrolled, their turns named right:          {result['accuracy_two_enrolled_named']:.1%}")
    print(f"  two enrolled, the third's turns left unnamed:   {result['accuracy_third_unnamed']:.1%}")
    print(f"{result['seconds_per_embedding']:.2f} s per embedding (load average {result['load_average_1min']:.1f})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
