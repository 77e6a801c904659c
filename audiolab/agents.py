"""Voice agents two ways: a chained STT → LLM → TTS pipeline, and realtime speech-to-speech.

Both answer a spoken question with speech, and both report where the time went, stage by stage,
so that a notebook can put them side by side on the same questions:

* :class:`ChainedAgent` makes three SDK calls per turn: ``audio.transcriptions.create``, a
  streamed ``chat.completions.create``, and a streamed ``audio.speech.create`` (raw ``pcm``).
  Every intermediate result is text you can read, log, filter or edit, and each stage can use
  a different vendor. With ``pipelined=True`` it starts speaking the first sentence while the
  LLM is still writing the next ones, the usual trick to cut time to first audio.
* :class:`RealtimeAgent` streams the question into one Realtime session
  (:func:`audiolab.realtime.conversation.converse`): the server detects the end of the turn (VAD) and
  answers with streamed audio. One connection, no text hops, but less to inspect.

Clocks. A chained turn's clock starts when the question is complete (the file is uploaded); a
real product would first need an endpointer to know the user stopped, which costs about what the
realtime session's ``vad`` stage shows. A realtime turn's clock starts at the end of speech in
the clip, so its ``vad`` stage is that endpointing wait.

Example:
    >>> import audiolab
    >>> from audiolab.agents import ChainedAgent, RealtimeAgent, compare_agents
    >>> lab = audiolab.connect("local")                                        # doctest: +SKIP
    >>> chained = ChainedAgent(lab, stt_model="gpt-transcribe", chat_model="gpt-4o-mini",
    ...                        tts_model="gpt-4o-mini-tts", voice="marin")    # doctest: +SKIP
    >>> turn = chained.ask(audiolab.Audio.from_file("question.wav"))          # doctest: +SKIP
    >>> turn.heard, turn.reply, dict(turn.stages)                             # doctest: +SKIP
    >>> agents = [chained, RealtimeAgent(lab, model="gpt-realtime-mini")]     # doctest: +SKIP
    >>> df = compare_agents(agents, [q1, q2])                                 # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from audiolab.audio import PCM_RATE, Audio
from audiolab.errors import InvalidRequest

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "AgentTurn",
    "ChainedAgent",
    "RealtimeAgent",
    "compare_agents",
    "breakdown",
    "tradeoffs",
    "plot_breakdown",
]

DEFAULT_INSTRUCTIONS = ("You are a friendly voice assistant. Answer in one or two short spoken sentences. "
                        "No lists, no markdown.")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s")


@dataclass(frozen=True)
class AgentTurn:
    """One question answered by one agent.

    Attributes:
        agent: the agent's name.
        pipeline: ``"chained"`` or ``"realtime"``.
        heard: what the agent understood (the transcript of the question; empty if unknown).
        reply: the text of the spoken answer.
        audio: the spoken answer.
        stages: seconds per stage, in order, up to the first audio byte (chained: ``stt``,
            ``llm``, ``tts``; realtime: ``vad``, ``respond``).
        time_to_first_audio: the sum of ``stages``: how long the user waits for sound.
        total: until the last audio byte arrived.
        extra: more timings (``llm_first_token``, ``llm_total``, ``tts_total``...).
        models: the model used at each stage.
        cost_usd: the cost of the turn's calls from ``lab.history`` (NaN if unknown or untracked).
        question: the question clip.
    """

    agent: str
    pipeline: str
    heard: str
    reply: str
    audio: Audio | None
    stages: Mapping[str, float]
    time_to_first_audio: float
    total: float
    extra: Mapping[str, float] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)
    cost_usd: float = math.nan
    question: Audio | None = field(default=None, repr=False)

    def to_row(self) -> dict:
        """A flat dict: names, texts, ``stage_*`` columns and the totals."""
        row = {"agent": self.agent, "pipeline": self.pipeline, "heard": self.heard, "reply": self.reply,
               "time_to_first_audio_s": self.time_to_first_audio, "total_s": self.total,
               "reply_audio_s": self.audio.duration if self.audio is not None else 0.0,
               "cost_usd": self.cost_usd, "requests": int(self.extra.get("requests", 0))}
        row.update({f"stage_{k}_s": v for k, v in self.stages.items()})
        row.update({f"{k}_s": v for k, v in self.extra.items() if k != "requests"})
        row["models"] = ", ".join(f"{k}={v}" for k, v in self.models.items())
        return row

    def _repr_html_(self) -> str:
        import html

        stages = " + ".join(f"{k} {v * 1000:.0f} ms" for k, v in self.stages.items())
        player = self.audio._repr_html_() if self.audio is not None else ""
        return (
            f"<div><b>{html.escape(self.agent)}</b> heard <i>{html.escape(self.heard)}</i> and said "
            f"<i>{html.escape(self.reply)}</i><br>first audio after {self.time_to_first_audio * 1000:.0f} ms "
            f"({html.escape(stages)}); done after {self.total * 1000:.0f} ms{player}</div>"
        )


def _history_len(lab) -> int | None:
    history = getattr(lab, "history", None)
    try:
        return len(history) if history is not None else None
    except Exception:  # history is optional; an agent works without it
        return None


def _cost_since(lab, start: int | None) -> float:
    if start is None:
        return math.nan
    try:
        frame = lab.history.frame
    except Exception:
        return math.nan
    costs = frame["cost_usd"].iloc[start:]
    if len(costs) == 0:
        return 0.0
    return float(costs.sum()) if not costs.isna().any() else math.nan


class ChainedAgent:
    """STT → LLM → TTS over three SDK calls, with the time of each stage.

    Args:
        lab: a :class:`~audiolab.client.lab.Lab`.
        stt_model: transcription model (``audio.transcriptions``).
        chat_model: text chat model (``chat.completions``).
        tts_model: speech model (``audio.speech``).
        voice: TTS voice.
        instructions: the system prompt.
        tts_instructions: ``instructions`` for the TTS model (tone), where the model accepts them.
        pipelined: speak sentence by sentence as the LLM writes (lower time to first audio).
        max_tokens: cap on the LLM's answer.
        remember: keep the conversation across :meth:`ask` calls (see :meth:`reset`).
        name: a label for tables; defaults to ``"chained"`` / ``"chained (pipelined)"``.
    """

    pipeline = "chained"

    def __init__(
        self,
        lab,
        *,
        stt_model: str,
        chat_model: str,
        tts_model: str,
        voice: str = "marin",
        instructions: str = DEFAULT_INSTRUCTIONS,
        tts_instructions: str | None = None,
        pipelined: bool = False,
        max_tokens: int = 60,
        remember: bool = True,
        name: str | None = None,
    ):
        self.lab = lab
        self.stt_model, self.chat_model, self.tts_model = stt_model, chat_model, tts_model
        self.voice = voice
        self.instructions = instructions
        self.tts_instructions = tts_instructions
        self.pipelined = pipelined
        self.max_tokens = max_tokens
        self.remember = remember
        self.name = name or ("chained (pipelined)" if pipelined else "chained")
        self.messages: list[dict] = []

    def reset(self) -> None:
        """Forget the conversation."""
        self.messages = []

    def _speak(self, text: str) -> tuple[bytes, float, float]:
        """(pcm bytes, seconds to first byte, seconds in total) for one TTS request."""
        kwargs: dict[str, Any] = {"model": self.tts_model, "voice": self.voice, "input": text,
                                  "response_format": "pcm"}
        if self.tts_instructions:
            kwargs["instructions"] = self.tts_instructions
        t0 = time.perf_counter()
        first = None
        chunks = []
        with self.lab.client.audio.speech.with_streaming_response.create(**kwargs) as response:
            for chunk in response.iter_bytes(4800):
                if first is None and chunk:
                    first = time.perf_counter() - t0
                chunks.append(chunk)
        total = time.perf_counter() - t0
        return b"".join(chunks), (first if first is not None else total), total

    def ask(self, question: Audio) -> AgentTurn:
        """Answer a spoken question; returns the :class:`AgentTurn` with its stage timings."""
        if not isinstance(question, Audio):
            raise InvalidRequest("question must be an audiolab.Audio clip.", param="question")
        before = _history_len(self.lab)
        requests = 0
        t0 = time.perf_counter()
        heard = self.lab.client.audio.transcriptions.create(
            model=self.stt_model, file=("question.wav", question.to_wav_bytes(), "audio/wav")).text.strip()
        requests += 1
        t_stt = time.perf_counter()
        messages = ([{"role": "system", "content": self.instructions}] + self.messages
                    + [{"role": "user", "content": heard or "(silence)"}])
        stream = self.lab.client.chat.completions.create(
            model=self.chat_model, messages=messages, stream=True, max_completion_tokens=self.max_tokens
        )
        requests += 1
        reply, pending, pcm = "", "", []
        first_token = first_audio = first_sentence = None
        tts_first = tts_total = 0.0
        for chunk in stream:
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if not delta:
                continue
            if first_token is None:
                first_token = time.perf_counter() - t_stt
            reply += delta
            pending += delta
            if self.pipelined:
                parts = _SENTENCE_END.split(pending)
                for sentence in parts[:-1]:
                    if sentence.strip():
                        if first_sentence is None:
                            first_sentence = time.perf_counter() - t_stt
                        data, ttfb, total = self._speak(sentence.strip())
                        requests += 1
                        if first_audio is None:
                            first_audio, tts_first = time.perf_counter() - t0 - (total - ttfb), ttfb
                        tts_total += total
                        pcm.append(data)
                pending = parts[-1]
        t_llm = time.perf_counter()
        if pending.strip() or not pcm:
            if first_sentence is None:
                first_sentence = t_llm - t_stt
            data, ttfb, total = self._speak(pending.strip() or reply.strip() or "Sorry, I have no answer.")
            requests += 1
            if first_audio is None:
                first_audio, tts_first = time.perf_counter() - t0 - (total - ttfb), ttfb
            tts_total += total
            pcm.append(data)
        t_end = time.perf_counter()
        if self.remember:
            self.messages += [{"role": "user", "content": heard}, {"role": "assistant", "content": reply}]
        llm_stage = (first_sentence if self.pipelined else t_llm - t_stt) or 0.0
        stages = {"stt": t_stt - t0, "llm": llm_stage, "tts": tts_first}
        audio = Audio.from_bytes(
            b"".join(pcm), "pcm", sr=PCM_RATE, text=reply.strip(), source=f"{self.name} reply"
        )
        return AgentTurn(
            agent=self.name, pipeline=self.pipeline, heard=heard, reply=reply.strip(), audio=audio,
            stages=MappingProxyType(stages), time_to_first_audio=sum(stages.values()), total=t_end - t0,
            extra=MappingProxyType({"llm_first_token": first_token or 0.0, "llm_total": t_llm - t_stt,
                                    "tts_total": tts_total, "measured_first_audio": first_audio or 0.0,
                                    "requests": requests}),
            models=MappingProxyType({"stt": self.stt_model, "llm": self.chat_model, "tts": self.tts_model}),
            cost_usd=_cost_since(self.lab, before), question=question)

    def __repr__(self) -> str:
        return (f"<ChainedAgent {self.name!r}: {self.stt_model} → {self.chat_model} → {self.tts_model} "
                f"({self.voice})>")


class RealtimeAgent:
    """Speech-to-speech over one Realtime session per question, with ``vad`` / ``respond`` stages.

    Args:
        lab: a :class:`~audiolab.client.lab.Lab`.
        model: a realtime model id.
        voice: the answer's voice.
        instructions: the session instructions.
        transcription_model: also transcribe the question (fills :attr:`AgentTurn.heard`).
        max_output_tokens: cap on the answer.
        pace: 1.0 streams the question in real time, like a microphone (needed for honest VAD
            timings); larger is faster.
        name: a label for tables.
    """

    pipeline = "realtime"

    def __init__(self, lab, *, model: str, voice: str = "marin", instructions: str = DEFAULT_INSTRUCTIONS,
                 transcription_model: str | None = None, max_output_tokens: int | None = None,
                 pace: float = 1.0, name: str | None = None):
        self.lab = lab
        self.model = model
        self.voice = voice
        self.instructions = instructions
        self.transcription_model = transcription_model
        self.max_output_tokens = max_output_tokens
        self.pace = pace
        self.name = name or "realtime"
        self.last_run = None

    def reset(self) -> None:
        """Nothing to forget: each question opens a new session."""

    def ask(self, question: Audio) -> AgentTurn:
        """Answer a spoken question; returns the :class:`AgentTurn` with its stage timings."""
        from audiolab.realtime.conversation import converse

        if not isinstance(question, Audio):
            raise InvalidRequest("question must be an audiolab.Audio clip.", param="question")
        before = _history_len(self.lab)
        run = converse(self.lab, question, model=self.model, voice=self.voice, instructions=self.instructions,
                       transcription_model=self.transcription_model, max_output_tokens=self.max_output_tokens,
                       pace=self.pace)
        self.last_run = run
        lat = run.latency
        stages = {"vad": max(0.0, lat.get("vad_endpointing", 0.0)),
                  "respond": lat.get("speech_stopped_to_first_audio", math.nan)}
        done = run.responses[0]["t_done"] if run.responses else None
        stops = run.timeline.of("input_audio_buffer.speech_stopped")
        end_of_speech = stops[0].t - stages["vad"] if stops else 0.0
        total = (done - end_of_speech) if done is not None else math.nan
        models = {"realtime": self.model}
        if self.transcription_model:
            models["transcription"] = self.transcription_model
        return AgentTurn(
            agent=self.name,
            pipeline=self.pipeline,
            heard=" ".join(run.input_transcripts),
            reply=run.transcript,
            audio=run.output,
            stages=MappingProxyType(stages),
            time_to_first_audio=sum(stages.values()),
            total=total,
            extra=MappingProxyType({"requests": 1, "events": len(run.timeline)}),
            models=MappingProxyType(models),
            cost_usd=_cost_since(self.lab, before),
            question=question,
        )

    def __repr__(self) -> str:
        return f"<RealtimeAgent {self.name!r}: {self.model} ({self.voice})>"


def compare_agents(agents: Sequence, questions: Sequence[Audio], *, progress: bool = False):
    """Ask every agent every question (each question fresh); one row per agent × question.

    Returns:
        A pandas DataFrame of :meth:`AgentTurn.to_row` rows plus ``question`` (index) and the
        ``turn`` objects themselves (for playback).
    """
    import pandas as pd

    rows = []
    for agent in agents:
        for i, q in enumerate(questions):
            agent.reset()
            turn = agent.ask(q)
            row = turn.to_row()
            row.update(question=i, question_text=q.text or "", turn=turn)
            rows.append(row)
            if progress:
                print(f"{agent.name} q{i}: first audio {turn.time_to_first_audio * 1000:.0f} ms")
    return pd.DataFrame(rows)


def breakdown(df):
    """Median seconds per stage and agent (``stage_*`` columns), plus median time to first audio."""
    stage_cols = [c for c in df.columns if c.startswith("stage_")]
    out = df.groupby("agent", sort=False)[stage_cols + ["time_to_first_audio_s", "total_s"]].median()
    return out.rename(columns={c: c[len("stage_"):-2] for c in stage_cols})


def tradeoffs(df):
    """The chained-vs-realtime trade-off table, with the measurable rows measured.

    Returns:
        A DataFrame, one column per agent, rows: median/p90 time to first audio, median total,
        requests per turn, cost per turn, whether the intermediate text can be inspected, and
        what can be swapped.
    """
    import pandas as pd

    table = {}
    for agent, g in df.groupby("agent", sort=False):
        chained = (g["pipeline"] == "chained").all()
        cost = g["cost_usd"].mean()
        table[agent] = {
            "time to first audio, median (ms)": round(g["time_to_first_audio_s"].median() * 1000),
            "time to first audio, p90 (ms)": round(g["time_to_first_audio_s"].quantile(0.9) * 1000),
            "answer complete, median (ms)": round(g["total_s"].median() * 1000),
            "requests per turn": float(g["requests"].mean()),
            "cost per turn (USD)": "unknown" if math.isnan(cost) else f"{cost:.5f}",
            "reply length (s of audio)": round(float(g["reply_audio_s"].median()), 1),
            "text between stages": "yes: transcript and reply are plain text"
            if chained
            else "transcripts as events only",
            "swap one stage": "yes (any STT, LLM, TTS)" if chained else "no: one model",
            "barge-in": "you build it (VAD + cancel)" if chained else "built in (server VAD, truncate)",
            "endpointing in the clock": "no (file given)" if chained else "yes (server VAD)",
        }
    return pd.DataFrame(table)


def plot_breakdown(df, *, ax=None):
    """Stacked horizontal bars: median seconds per stage, per agent, up to the first audio.

    Returns:
        The matplotlib Figure.
    """
    med = breakdown(df)
    stage_names = [c for c in med.columns if c not in ("time_to_first_audio_s", "total_s")]
    if ax is None:
        from audiolab.plots.figure import new_figure  # not pyplot: nothing global, nothing shown twice

        fig = new_figure(figsize=(8, 1.2 + 0.6 * len(med)), layout="constrained")
        ax = fig.subplots()
    fig = ax.figure
    left = [0.0] * len(med)
    for j, stage in enumerate(stage_names):
        widths = med[stage].fillna(0.0).to_numpy() * 1000
        ax.barh(list(med.index), widths, left=left, label=stage, color=f"C{j}")
        left = [a + b for a, b in zip(left, widths)]
    for y, total in enumerate(med["total_s"].to_numpy() * 1000):
        ax.plot([total], [y], marker="|", markersize=18, color="k")
    ax.set_xlabel("milliseconds after the question (median); | = answer complete")
    ax.invert_yaxis()
    # Outside the bars, on the right: inside, it would hide a bar's "answer complete" tick.
    ax.legend(title="stage", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title("Where the time goes before the first sound")
    return fig
