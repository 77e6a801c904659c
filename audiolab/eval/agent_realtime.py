"""The realtime side of the voice-agent evaluation: one Realtime session per scenario.

The user's lines are streamed at real time into a speech-to-speech session with server VAD and
the scenario tools. A ``function_call`` in ``response.done`` is run locally and answered with
``conversation.item.create`` (``function_call_output``) then ``response.create``, as OpenAI's
Realtime guide describes. Latency to first audio runs from the end of the user's speech (as the
client VAD places it in the clip, at the moment that audio was sent) to the first
``response.output_audio.delta``. For a barge-in, the client stops playing the assistant's audio
when the server reports ``speech_started``: the stop time runs from the start of the interrupting
speech (as sent) to that event.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import time

from audiolab.audio import PCM_RATE, Audio
from audiolab.errors import BackendError
from audiolab.eval.agent_eval import INSTRUCTIONS, AgentModels, TurnResult, new_turn, speech_span
from audiolab.eval.scenarios import TOOLS, Scenario, Turn, call_tool, judge
from audiolab.realtime.events import SPEECH_STARTED

__all__ = ["run_realtime"]


def _session(m: AgentModels) -> dict:
    fmt = {"type": "audio/pcm", "rate": PCM_RATE}
    return {
        "type": "realtime",
        "output_modalities": ["audio"],
        "instructions": INSTRUCTIONS,
        "max_output_tokens": m.max_tokens,
        "tool_choice": "auto",
        "tools": [{"type": "function", **t["function"]} for t in TOOLS],
        "audio": {
            "input": {
                "format": fmt,
                "transcription": {"model": m.stt},
                "turn_detection": {"type": "server_vad", "create_response": True, "interrupt_response": True},
            },
            "output": {"format": fmt, "voice": m.voice},
        },
    }


def _events(s, start: int, type_: str | None = None) -> list:
    evs = s.timeline().events[start:]
    return [e for e in evs if e.direction == "server" and (type_ is None or e.type == type_)]


def _settle(s, start: int, timeout: float) -> list:
    """Wait until every response of this turn is done, answering function calls; returns the calls."""
    handled, calls = set(), []
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        s.wait_for(
            lambda: s.count("response.done") >= s.count("response.created"),
            "response.done",
            timeout=max(0.1, deadline - time.perf_counter()),
        )
        pending = False
        for e in _events(s, start, "response.done"):
            rid = e.response_id
            for item in (e.data.get("response") or {}).get("output") or ():
                if item.get("type") == "function_call" and (rid, item.get("call_id")) not in handled:
                    handled.add((rid, item.get("call_id")))
                    calls.append((item.get("name", ""), item.get("arguments", "")))
                    result = call_tool(item.get("name", ""), item.get("arguments", "") or "{}")
                    s.send(
                        {
                            "type": "conversation.item.create",
                            "item": {
                                "type": "function_call_output",
                                "call_id": item.get("call_id"),
                                "output": json.dumps(result),
                            },
                        }
                    )
                    pending = True
        if not pending:
            return calls
        s.send({"type": "response.create"})
        s.wait_for(
            lambda: s.count("response.created") > s.count("response.done"), "response.created", timeout=30
        )
    return calls


def _reply_of(s, start: int, *, last_only: bool = False) -> tuple[str, Audio | None, float | None]:
    """(transcript, audio, first audio delta time) of the responses since ``start`` (or the last one)."""
    evs = _events(s, start)
    done = [e.response_id for e in evs if e.type == "response.done"]
    keep = {done[-1]} if last_only and done else None
    text = "".join(
        e.text or ""
        for e in evs
        if e.type == "response.output_audio_transcript.delta" and (keep is None or e.response_id in keep)
    )
    first = next((e.t for e in evs if e.type == "response.output_audio.delta"), None)
    raw_start = sum(1 for e in s.timeline().events[:start] if e.direction == "server")
    pcm = b"".join(
        base64.b64decode(e.get("delta", ""))
        for e in s.raw[raw_start:]
        if e["type"] == "response.output_audio.delta"
    )
    return text.strip(), (Audio.from_bytes(pcm, "pcm", sr=PCM_RATE) if pcm else None), first


def run_realtime(
    lab, scenario: Scenario, clips: dict, m: AgentModels, *, timeout: float = 90.0
) -> list[TurnResult]:
    """Run one scenario through one Realtime session; one :class:`TurnResult` per turn."""
    from audiolab.realtime.connection import RealtimeConnection

    s = RealtimeConnection(lab, kind="realtime", model=m.realtime, session=_session(m), timeout=timeout)
    out = []
    try:
        for k, turn in enumerate(scenario.turns):
            out.append(_realtime_turn(s, scenario, k, turn, clips, timeout))
    finally:
        s.close()
    return out


def _realtime_turn(s, scenario: Scenario, k: int, turn: Turn, clips: dict, timeout: float) -> TurnResult:
    start = len(s.timeline().events)
    res = new_turn(scenario, k, turn, clips, "realtime")
    clip = res.user_audio
    pos0 = s.sent_s
    if turn.say is None:
        s.stream(clip, chunk_ms=100, pace=1.0, silence_s=1.5)
        if _events(s, start, "response.created"):
            _settle(s, start, timeout)
        res.responded = bool(_events(s, start, "response.output_audio.delta"))
        res.passed, res.why = judge(turn.check, reply="", responded=res.responded, tool_calls=[])
        return res
    span = speech_span(clip) or (0.0, clip.duration)
    s.stream(clip, chunk_ms=100, pace=1.0, silence_s=0.0 if turn.barge_in else 1.0)
    end_of_speech = s.sent_at(pos0 + span[1])
    if turn.barge_in:
        res.user_text += f" / then: {turn.barge_in}"
        deadline = time.perf_counter() + timeout
        while not _events(s, start, "response.output_audio.delta") and time.perf_counter() < deadline:
            s.pad(0.1, chunk_ms=100, pace=1.0)
        first_delta = (_events(s, start, "response.output_audio.delta") or [None])[0]
        if first_delta is not None:
            res.ttfa_s = first_delta.t - end_of_speech
            while s.sent_s < first_delta.t + turn.barge_in_after_s:
                s.pad(0.1, chunk_ms=100, pace=1.0)
        cut = clips[turn.barge_in]
        cut_pos, cut_start = s.sent_s, len(s.timeline().events)
        onset = cut_pos + (speech_span(cut) or (0.0, 0.0))[0]
        s.stream(cut, chunk_ms=100, pace=1.0, silence_s=1.0)
        with contextlib.suppress(BackendError):  # the server may lag behind the audio on a busy machine
            s.wait_for(lambda: bool(_events(s, cut_start, SPEECH_STARTED)), "speech_started", timeout=10.0)
        heard_at = next((e.t for e in _events(s, cut_start, SPEECH_STARTED)), None)
        received = (
            sum(
                e.audio_bytes
                for e in _events(s, start, "response.output_audio.delta")
                if heard_at is None or e.t <= heard_at
            )
            / 2
            / PCM_RATE
        )
        done_before = [
            e for e in _events(s, start, "response.done") if heard_at is not None and e.t < heard_at
        ]
        playing = (
            heard_at is not None and (heard_at - first_delta.t < received or not done_before)
            if first_delta is not None
            else False
        )
        if playing:
            # the client stops playback when it hears speech_started
            res.barge_in_stop_s = heard_at - s.sent_at(onset)
            res.why = "barge-in"
        with contextlib.suppress(BackendError):  # the answer to the interruption
            s.wait_for(
                lambda: bool(_events(s, cut_start, "response.created")), "response.created", timeout=20.0
            )
        calls = _settle(s, start, timeout)
        text, _, _ = _reply_of(s, cut_start, last_only=True)
        _, audio, _ = _reply_of(s, start)
    else:
        with contextlib.suppress(BackendError):  # no response.created: the server missed this turn
            s.wait_for(lambda: bool(_events(s, start, "response.created")), "response.created", timeout=20.0)
        calls = _settle(s, start, timeout)
        text, audio, first = _reply_of(s, start)
        res.ttfa_s = (first - end_of_speech) if first is not None else math.nan
    res.heard = " ".join(
        (e.text or "").strip()
        for e in _events(s, start, "conversation.item.input_audio_transcription.completed")
    )
    res.reply, res.reply_audio, res.tool_calls = text, audio, calls
    res.responded = audio is not None
    res.passed, res.why = judge(turn.check, reply=text, responded=res.responded, tool_calls=calls)
    if turn.barge_in and math.isnan(res.barge_in_stop_s):
        res.passed, res.why = (
            False,
            (
                "no speech_started for the interruption"
                if heard_at is None
                else "the reply was not playing when the user interrupted"
            ),
        )
    return res
