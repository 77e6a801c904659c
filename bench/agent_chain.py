"""Benchmark a chained voice agent as the OpenAI Agents SDK runs one: time to first audio on a 5 s question.

    .venv/bin/python bench/agent_chain.py [--repeats 5]
    AUDIOLAB_BACKEND=openai .venv/bin/python bench/agent_chain.py     # the same, against OpenAI

The chain is the Agents SDK ``VoicePipeline`` with an ``AudioInput``: once the question is
complete, ``audio.transcriptions.create`` (the whole clip), then a streamed
``chat.completions.create``, cut into sentences as the SDK's sentence splitter does (at least 20
characters, ending with ``.``, ``!`` or ``?``), each spoken by a streamed ``audio.speech.create``
with ``response_format="pcm"``. The clock starts when the question is complete and stops at the
first byte of speech. The question is spoken by the local TTS (its duration is printed; about
5 s), with a few milliseconds of silence more at each run so that the server's response cache
cannot answer the transcription from an earlier run (each question of a real user is new); the
speech of the first sentence is shared when the answer repeats itself, and the run says so
(``x-audiolab-cache``). The figure printed is the median of ``--repeats`` runs after one
warm-up (goal ≤ 2.0 s), with the time each stage took. The machine is whatever runs this, so the load average is
printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_S = 2.0
QUESTION = "Could you tell me, in a few words, which planet of our solar system is the closest to the sun?"
INSTRUCTIONS = "You are a friendly voice assistant. Answer in one short sentence."
_SENTENCE_END = re.compile(r"[.!?]")


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def first_sentence(text: str, *, min_chars: int = 20) -> str | None:
    """The first sentence of ``text`` of at least ``min_chars`` characters, as the Agents SDK cuts it."""
    for m in _SENTENCE_END.finditer(text):
        if m.end() >= min_chars and (m.end() == len(text) or text[m.end()].isspace()):
            return text[: m.end()].strip()
    return None


def ask(client, wav: bytes) -> dict:
    """One turn of the chain: seconds from the complete question to the end of each stage."""
    t0 = time.perf_counter()
    heard = client.audio.transcriptions.create(model="gpt-4o-mini-transcribe",
                                               file=("q.wav", wav, "audio/wav")).text
    t_stt = time.perf_counter()
    text, sentence, t_sentence = "", None, None
    stream = client.chat.completions.create(model="gpt-4o-mini", stream=True, max_tokens=60, messages=[
        {"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": heard}])
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
            sentence = first_sentence(text)
            if sentence is not None:
                t_sentence = time.perf_counter()
                break
    stream.close()
    if sentence is None:  # a short answer: the whole of it is the first sentence
        sentence, t_sentence = text.strip(), time.perf_counter()
    speak = client.audio.speech.with_streaming_response.create
    with speak(model="gpt-4o-mini-tts", voice="alloy", input=sentence, response_format="pcm") as speech:
        cache = speech.headers.get("x-audiolab-cache", "-")
        for data in speech.iter_bytes():
            if data:
                t_audio = time.perf_counter()
                break
    return {"heard": heard, "sentence": sentence, "speech_cache": cache, "stt": t_stt - t0,
            "chat": t_sentence - t_stt, "tts": t_audio - t_sentence, "first_audio": t_audio - t0}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import audiolab

    lab = audiolab.connect()
    client = lab.client
    wav = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=QUESTION,
                                     response_format="wav").read()
    question = audiolab.Audio.from_bytes(wav)

    rng = np.random.default_rng()  # fresh per invocation: a later run of this script is not a cache hit either

    def unique(i: int) -> bytes:  # i x 10 ms of silence more and a -90 dB dither: other bytes, the same question
        pad = np.zeros(int(question.sr * 0.01 * i), dtype=np.float32)
        samples = np.concatenate([question.to_mono().samples, pad])
        samples = samples + rng.normal(0, 3e-5, samples.shape).astype(np.float32)
        return audiolab.Audio.from_array(samples, question.sr).to_wav_bytes()

    print(f"backend {lab.backend} ({lab.base_url}); question {question.duration:.1f} s: {QUESTION!r}")
    print(f"load average before {_load()}")
    ask(client, unique(0))  # warm-up: engines load
    runs = []
    for i in range(1, args.repeats + 1):
        r = ask(client, unique(i))
        runs.append(r)
        print(f"  first audio {r['first_audio'] * 1000:5.0f} ms = transcription {r['stt'] * 1000:4.0f} "
              f"+ first sentence {r['chat'] * 1000:4.0f} + speech {r['tts'] * 1000:4.0f}; "
              f"heard {r['heard']!r}, said {r['sentence']!r} (speech cache: {r['speech_cache']})")
    print(f"load average after {_load()}")
    med = statistics.median(r["first_audio"] for r in runs)
    parts = {k: statistics.median(r[k] for r in runs) for k in ("stt", "chat", "tts")}
    verdict = "met" if med <= GOAL_S else "NOT met"
    stt, chat, tts = (parts[k] * 1000 for k in ("stt", "chat", "tts"))
    print(f"chained agent, complete question -> first audio byte: median {med * 1000:.0f} ms (transcription "
          f"{stt:.0f}, first sentence {chat:.0f}, speech {tts:.0f}; n={len(runs)}); "
          f"goal <= {GOAL_S * 1000:.0f} ms, ratio to goal {med / GOAL_S:.2f} [{verdict}]")


if __name__ == "__main__":
    main()
