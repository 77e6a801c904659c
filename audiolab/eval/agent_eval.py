"""Voice-agent evaluation: scripted spoken scenarios through a realtime and a chained agent.

Every :class:`~audiolab.eval.scenarios.Scenario` is spoken by the TTS (the user's voice) and run
through both architectures, each keeping the conversation across the scenario's turns:

* **realtime**: one Realtime session per scenario (``lab.client.realtime.connect``), the user's
  audio streamed at real time, server VAD, function tools in the session; a ``function_call``
  output is answered with ``conversation.item.create`` (``function_call_output``) and
  ``response.create``, as in OpenAI's guide.
* **chained**: ``audio.transcriptions`` → streamed ``chat.completions`` with ``tools`` (tool
  calls run and their results sent back as ``tool`` messages) → streamed ``audio.speech``
  (``pcm``), the first sentence spoken while the model writes the rest. The client gates turns
  with an energy VAD (a silent turn sends no request) and uses it to detect a barge-in.

Measures per turn, all from this run: the explicit check (:func:`~audiolab.eval.scenarios.judge`),
latency to first audio (realtime: from the end of the user's speech as sent to the first audio
delta; chained: from the end of the user's clip to the first speech byte), whether the agent
answered, and for a barge-in the stop time: from the moment the user's interrupting speech starts
to the moment the client stops playing the assistant's audio.

Example:
    >>> from audiolab.eval.agent_report import agent_report
    >>> rep = agent_report(backend="local", output="agent/agent-report.html")   # doctest: +SKIP
    >>> rep.summary[["architecture", "task_completion"]]                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from audiolab.audio import PCM_RATE, Audio
from audiolab.eval.scenarios import TOOLS, Scenario, call_tool, judge

__all__ = [
    "AgentModels",
    "TurnResult",
    "speech_span",
    "room_noise",
    "new_turn",
    "user_clips",
    "run_chained",
    "RESULT_COLUMNS",
]

FRAME_S = 0.03
VAD_DB = -45.0  # frame RMS above this (dBFS) is speech for the client-side VAD
VAD_FRAMES = 3  # consecutive speech frames before the client believes the user talks
INSTRUCTIONS = (
    "You are a helpful voice assistant. Answer in one short spoken sentence. Use the tools for "
    "weather and order questions. No lists, no markdown."
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
RESULT_COLUMNS = [
    "scenario",
    "kind",
    "architecture",
    "turn",
    "user_text",
    "heard",
    "reply",
    "responded",
    "tool_calls",
    "ttfa_s",
    "barge_in_stop_s",
    "passed",
    "why",
    "check",
    "scenario_passed",
]


@dataclass(frozen=True)
class AgentModels:
    """The models each architecture uses (OpenAI ids; the local backend serves them as aliases)."""

    realtime: str = "gpt-realtime-mini"
    stt: str = "gpt-4o-mini-transcribe"
    chat: str = "gpt-4o-mini"
    tts: str = "gpt-4o-mini-tts"
    voice: str = "marin"
    user_voice: str = "alloy"
    max_tokens: int = 60


@dataclass
class TurnResult:
    """One judged turn of one scenario in one architecture."""

    scenario: str
    kind: str
    architecture: str
    turn: int
    user_text: str
    heard: str = ""
    reply: str = ""
    responded: bool = False
    tool_calls: list = field(default_factory=list)
    ttfa_s: float = math.nan
    barge_in_stop_s: float = math.nan
    passed: bool = False
    why: str = ""
    check: str = ""
    user_audio: Audio | None = None
    reply_audio: Audio | None = None

    def row(self) -> dict:
        return {
            "scenario": self.scenario,
            "kind": self.kind,
            "architecture": self.architecture,
            "turn": self.turn,
            "user_text": self.user_text,
            "heard": self.heard,
            "reply": self.reply,
            "responded": self.responded,
            "tool_calls": "; ".join(f"{n}({a})" for n, a in self.tool_calls),
            "ttfa_s": self.ttfa_s,
            "barge_in_stop_s": self.barge_in_stop_s,
            "passed": self.passed,
            "why": self.why,
            "check": self.check,
        }


def _frame_db(x: np.ndarray, sr: int) -> np.ndarray:
    n = int(sr * FRAME_S)
    k = len(x) // n
    if k == 0:
        return np.zeros(0)
    rms = np.sqrt(np.mean(np.square(x[: k * n].reshape(k, n), dtype=np.float64), axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


def speech_span(audio: Audio) -> tuple[float, float] | None:
    """(start, end) seconds of speech in a clip by the client VAD's rule, or ``None`` if it hears none."""
    db = _frame_db(np.asarray(audio.to_mono().samples, np.float32), audio.sr)
    voiced = np.convolve(db > VAD_DB, np.ones(VAD_FRAMES, int), "valid") >= VAD_FRAMES
    if not voiced.any():
        return None
    hits = np.flatnonzero(db > VAD_DB)
    return float(hits[0] * FRAME_S), float((hits[-1] + 1) * FRAME_S)


def _detect_live(clip: Audio) -> float:
    """Feed ``clip`` frame by frame at real time to the client VAD; seconds from speech onset to detection."""
    x = np.asarray(clip.to_mono().samples, np.float32)
    n = int(clip.sr * FRAME_S)
    start = time.perf_counter()
    run, onset = 0, None
    for k in range(len(x) // n):
        wait = start + (k + 1) * FRAME_S - time.perf_counter()  # a frame is known once it has been heard
        if wait > 0:
            time.sleep(wait)
        loud = _frame_db(x[k * n : (k + 1) * n], clip.sr)[0] > VAD_DB
        if loud and onset is None:
            onset = start + k * FRAME_S
        run = run + 1 if loud else 0
        if run >= VAD_FRAMES:
            return time.perf_counter() - onset
        if not loud:
            onset = None
    return math.nan


def room_noise(seconds: float, *, seed: int = 0) -> Audio:
    """Quiet room noise (-65 dBFS white noise): what a microphone sends while nobody talks."""
    rng = np.random.default_rng(seed)
    return Audio.from_array(
        (10 ** (-65 / 20) * rng.standard_normal(int(PCM_RATE * seconds))).astype(np.float32),
        PCM_RATE,
        source="room noise",
    )


def new_turn(scenario: Scenario, k: int, turn, clips: dict, architecture: str) -> TurnResult:
    """The unjudged result of turn ``k`` of ``scenario``, with the clip the user sends: the turn's
    line from ``clips``, or room noise for a silent turn."""
    clip = clips[turn.say] if turn.say else room_noise(turn.silence_s, seed=k)
    return TurnResult(
        scenario.name,
        scenario.kind,
        architecture,
        k + 1,
        turn.say or "(silence)",
        check=turn.check.describe(),
        user_audio=clip,
    )


def user_clips(lab, scenarios: Sequence[Scenario], m: AgentModels, *, progress=None) -> dict[str, Audio]:
    """Every line the user says in ``scenarios``, spoken once by the TTS in ``m.user_voice`` (24 kHz mono)."""
    lines = list(
        dict.fromkeys(t for sc in scenarios for turn in sc.turns for t in (turn.say, turn.barge_in) if t)
    )
    out = {}
    for text in lines:
        resp = lab.client.audio.speech.create(
            model=m.tts, voice=m.user_voice, input=text, response_format="wav"
        )
        body = resp.read() if hasattr(resp, "read") else resp.content
        out[text] = (
            Audio.from_bytes(body, text=text, source=f"user ({m.user_voice})").to_mono().resample(PCM_RATE)
        )
        if progress is not None:
            progress.update(1)
    return out


# ---- chained -----------------------------------------------------------------------------------


def _chat_round(lab, m: AgentModels, messages: list, on_sentence, *, tool_choice: str = "auto"):
    """One streamed completion: (content, tool calls, spoken); the first sentence goes to ``on_sentence``."""
    stream = lab.client.chat.completions.create(
        model=m.chat,
        messages=messages,
        tools=TOOLS,
        stream=True,
        tool_choice=tool_choice,
        max_completion_tokens=m.max_tokens,
    )
    content, calls, spoken = "", {}, False
    for chunk in stream:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or ():
            c = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            c["id"] = tc.id or c["id"]
            if tc.function is not None:
                c["name"] = tc.function.name or c["name"]
                c["arguments"] += tc.function.arguments or ""
        if delta.content:
            content += delta.content
            if not spoken and not calls:
                parts = _SENTENCE_END.split(content, maxsplit=1)
                if len(parts) == 2 and parts[0].strip():
                    on_sentence(parts[0].strip())
                    spoken = True
    out = [
        {
            "id": c["id"] or f"call_{i}",
            "type": "function",
            "function": {"name": c["name"], "arguments": c["arguments"] or "{}"},
        }
        for i, c in sorted(calls.items())
    ]
    return content, out, spoken


def _chained_answer(lab, m: AgentModels, clip: Audio, messages: list) -> dict:
    t0 = time.perf_counter()
    heard = lab.client.audio.transcriptions.create(
        model=m.stt, file=("turn.wav", clip.to_wav_bytes(), "audio/wav")
    ).text.strip()
    messages.append({"role": "user", "content": heard})
    pcm, first, calls = [], [], []

    def speak(text: str) -> None:
        with lab.client.audio.speech.with_streaming_response.create(
            model=m.tts, voice=m.voice, input=text, response_format="pcm"
        ) as resp:
            for chunk in resp.iter_bytes(4800):
                if chunk and not first:
                    first.append(time.perf_counter())
                pcm.append(chunk)

    content, said_first = "", False
    for rounds in range(3):  # tool calls and their results, then the answer (no more tools on the last round)
        content, tool_calls, said_first = _chat_round(
            lab, m, messages, speak, tool_choice="auto" if rounds < 2 else "none"
        )
        if not tool_calls:
            break
        messages.append({"role": "assistant", "content": content or None, "tool_calls": tool_calls})
        for c in tool_calls:
            calls.append((c["function"]["name"], c["function"]["arguments"]))
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": c["id"],
                    "content": json.dumps(call_tool(c["function"]["name"], c["function"]["arguments"])),
                }
            )
    messages.append({"role": "assistant", "content": content})
    rest = (
        _SENTENCE_END.split(content.strip(), maxsplit=1)[1]
        if said_first and _SENTENCE_END.search(content.strip())
        else ("" if said_first else content.strip())
    )
    if rest.strip():
        speak(rest.strip())
    audio = Audio.from_bytes(b"".join(pcm), "pcm", sr=PCM_RATE, text=content.strip()) if pcm else None
    return {
        "heard": heard,
        "reply": content.strip(),
        "calls": calls,
        "audio": audio,
        "ttfa": (first[0] - t0) if first else math.nan,
    }


def run_chained(lab, scenario: Scenario, clips: dict, m: AgentModels) -> list[TurnResult]:
    """Run one scenario through the chained agent; one :class:`TurnResult` per turn."""
    messages = [{"role": "system", "content": INSTRUCTIONS}]
    out = []
    for k, turn in enumerate(scenario.turns):
        res = new_turn(scenario, k, turn, clips, "chained")
        clip = res.user_audio
        if speech_span(clip) is None:  # the client VAD hears nobody: nothing is sent
            res.passed, res.why = judge(turn.check, reply="", responded=False, tool_calls=[])
            out.append(res)
            continue
        a = _chained_answer(lab, m, clip, messages)
        if turn.barge_in:
            cut = clips[turn.barge_in]
            playing = a["audio"] is not None and a["audio"].duration > turn.barge_in_after_s
            res.barge_in_stop_s = _detect_live(cut) if playing else math.nan
            b = _chained_answer(lab, m, cut, messages)
            res.user_text += f" / then: {turn.barge_in}"
            res.ttfa_s = a["ttfa"]
            a = {**b, "ttfa": a["ttfa"], "audio": _join(a["audio"], b["audio"])}
        res.heard, res.reply, res.tool_calls, res.reply_audio = a["heard"], a["reply"], a["calls"], a["audio"]
        res.ttfa_s = a["ttfa"] if math.isnan(res.ttfa_s) else res.ttfa_s
        res.responded = a["audio"] is not None and a["audio"].duration > 0
        res.passed, res.why = judge(
            turn.check, reply=res.reply, responded=res.responded, tool_calls=res.tool_calls
        )
        if turn.barge_in and math.isnan(res.barge_in_stop_s):
            res.passed, res.why = False, "reply ended before the interruption"
        out.append(res)
    return out


def _join(a: Audio | None, b: Audio | None) -> Audio | None:
    clips = [c for c in (a, b) if c is not None]
    return Audio.concat(clips, gap_s=0.3) if clips else None
