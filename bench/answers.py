"""Spoken general-knowledge questions: how often each local chat model answers right, and how fast.

Each question of ``bench/data/answers.json`` is spoken once by the local TTS
(``/v1/audio/speech`` through the openai SDK), then sent as ``input_audio`` to every local chat
model through Chat Completions with no system prompt, as a new user would. An answer is right
when one of the question's accepted answers appears in it as whole words, after lower-casing and
dropping punctuation (``"The capital of France is Paris."`` matches ``Paris``). Latency runs from
the request to the whole text answer (transcription of the question included).

    .venv/bin/python bench/answers.py                       # every installed local chat model
    .venv/bin/python bench/answers.py --models qwen2.5-0.5b-instruct --limit 20 -v

The goal for the default model: >= 85% right, median <= 2.5 s on an idle box. The load average is
printed beside every figure: on a busy box the latency says little.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = Path(__file__).with_name("data") / "answers.json"

__all__ = ["Question", "ModelScore", "load_questions", "normalize", "is_right", "speak_all", "score"]


@dataclass(frozen=True)
class Question:
    text: str
    accepted: tuple[str, ...]


@dataclass(frozen=True)
class ModelScore:
    model: str
    right: int
    asked: int
    median_s: float
    median_cpu_s: float  # CPU seconds of this process (server and client) per answer
    load: tuple[float, float, float]  # os.getloadavg() at the end of the run
    wrong: tuple[tuple[str, str], ...]  # (question, answer)

    @property
    def accuracy(self) -> float:
        return self.right / self.asked if self.asked else 0.0


def load_questions(path: Path = DATA) -> list[Question]:
    return [Question(q["q"], tuple(q["a"])) for q in json.loads(Path(path).read_text())]


def normalize(text: str) -> str:
    """Lower case, accents and punctuation dropped (hyphens and commas in numbers kept apart), spaces single."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def is_right(answer: str, accepted) -> bool:
    """Whether one of the ``accepted`` answers appears in ``answer`` as whole words."""
    said = f" {normalize(answer)} "
    return any(f" {normalize(a)} " in said for a in accepted)


def speak_all(client, questions: list[Question], *, voice: str = "alloy") -> list[bytes]:
    """Each question as WAV bytes, spoken by the backend's TTS."""
    return [client.audio.speech.create(model="gpt-4o-mini-tts", voice=voice, input=q.text,
                                       response_format="wav").read() for q in questions]


def ask(client, model: str, wav: bytes) -> tuple[str, float, float]:
    """The model's text answer to a spoken question, the seconds from request to answer, and the
    CPU seconds this process spent on it (the in-process server's engines included)."""
    t0, c0 = time.perf_counter(), time.process_time()
    done = client.chat.completions.create(
        model=model, modalities=["text"], temperature=0,
        messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {
            "data": base64.b64encode(wav).decode("ascii"), "format": "wav"}}]}])
    return done.choices[0].message.content or "", time.perf_counter() - t0, time.process_time() - c0


def score(client, model: str, questions: list[Question], clips: list[bytes], *, verbose: bool = False) -> ModelScore:
    ask(client, model, clips[0])  # loads the model; not counted
    right, times, cpu, wrong = 0, [], [], []
    for q, wav in zip(questions, clips):
        answer, dt, cpu_s = ask(client, model, wav)
        times.append(dt)
        cpu.append(cpu_s)
        ok = is_right(answer, q.accepted)
        right += ok
        if not ok:
            wrong.append((q.text, answer))
        if verbose:
            print(f"  {'ok ' if ok else 'BAD'} {dt:5.2f} s (cpu {cpu_s:5.2f} s)  {q.text}  ->  {answer!r}", flush=True)
    return ModelScore(model, right, len(questions), statistics.median(times), statistics.median(cpu),
                      os.getloadavg(), tuple(wrong))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="local chat model ids (default: every installed one)")
    parser.add_argument("--limit", type=int, default=0, help="ask only the first N questions")
    parser.add_argument("--voice", default="alloy")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every answer")
    args = parser.parse_args(argv)

    os.environ.setdefault("AUDIOLAB_RESPONSE_CACHE", "0")  # every answer computed, none replayed
    import audiolab
    from audiolab.server.registry import CHAT_MODEL, Registry
    from audiolab.server.settings import Settings

    models = args.models or [m.id for m in Registry(Settings()).local_models() if m.kind == "chat"]
    questions = load_questions()[: args.limit or None]
    lab = audiolab.connect("local")
    print(f"{len(questions)} spoken questions, voice {args.voice}, cores {os.cpu_count()}, "
          f"load average before {os.getloadavg()[0]:.2f}", flush=True)
    clips = speak_all(lab.client, questions, voice=args.voice)
    rows = []
    for model in models:
        print(f"{model}:", flush=True)
        s = score(lab.client, model, questions, clips, verbose=args.verbose)
        rows.append(s)
        print(f"  {s.right}/{s.asked} right ({s.accuracy:.0%}), median {s.median_s:.2f} s, "
              f"median CPU {s.median_cpu_s:.2f} s, load average {s.load[0]:.2f} {s.load[1]:.2f} {s.load[2]:.2f}",
              flush=True)
    # On a busy box wall time mostly measures the others; CPU seconds per answer do not, and
    # divided by the threads the engines compute with they bound the idle latency from below.
    print("\n| model | right | median s | median CPU s | load 1 min |\n|---|---|---|---|---|")
    for s in rows:
        mark = " (default)" if s.model == CHAT_MODEL else ""
        print(f"| {s.model}{mark} | {s.accuracy:.0%} | {s.median_s:.2f} | {s.median_cpu_s:.2f} | {s.load[0]:.2f} |")
    for s in rows:
        if s.model == CHAT_MODEL:
            print(f"goal for the default: >= 85% right and median <= 2.5 s: right {s.accuracy / 0.85:.2f}x the "
                  f"goal, latency {s.median_s / 2.5:.2f}x the budget (load average {s.load[0]:.2f} on "
                  f"{os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
