"""Voice agents: a chained STT → LLM → TTS pipeline and realtime speech-to-speech, timed per stage.

Both agents talk to the real local backend through the official SDK (HTTP for the chained one,
a WebSocket for the realtime one), on spoken questions made by the local TTS.
"""

from __future__ import annotations

import io
import math

import pytest

import audiolab
from audiolab.agents import (
    AgentTurn,
    ChainedAgent,
    RealtimeAgent,
    breakdown,
    compare_agents,
    plot_breakdown,
    tradeoffs,
)
from audiolab.audio import Audio
from audiolab.errors import InvalidRequest
from audiolab.eval.metrics import wer
from tests.spoken import clean_take

pytestmark = pytest.mark.engines  # every test here talks to the local backend

MODELS = dict(stt_model="gpt-transcribe", chat_model="gpt-4o-mini", tts_model="gpt-4o-mini-tts")


@pytest.fixture(scope="module")
def lab():
    return audiolab.connect("local")


@pytest.fixture(scope="module")
def question(lab) -> Audio:
    return clean_take(lab, "What is the capital of Italy?")


def test_chained_agent_hears_answers_and_times_each_stage(lab, question):
    agent = ChainedAgent(lab, voice="marin", max_tokens=30, **MODELS)
    before = len(lab.history)
    turn = agent.ask(question)
    assert isinstance(turn, AgentTurn) and turn.pipeline == "chained"
    assert wer(question.text, turn.heard) <= 0.2, turn.heard
    assert turn.reply and turn.audio is not None and turn.audio.duration > 0.3
    assert list(turn.stages) == ["stt", "llm", "tts"] and all(v > 0 for v in turn.stages.values())
    assert turn.time_to_first_audio == pytest.approx(sum(turn.stages.values()))
    # The stages add up to the first audio byte as measured on one clock.
    assert turn.time_to_first_audio == pytest.approx(turn.extra["measured_first_audio"], abs=0.05)
    assert turn.total >= turn.time_to_first_audio
    # Three requests, each in lab.history, all free on the local backend.
    assert turn.extra["requests"] == 3 and len(lab.history) - before == 3
    assert turn.cost_usd == 0.0
    # The conversation is remembered for the next turn, and forgotten on reset.
    assert [m["role"] for m in agent.messages] == ["user", "assistant"]
    agent.reset()
    assert agent.messages == []


def test_pipelined_agent_starts_speaking_before_the_llm_is_done(lab, question):
    agent = ChainedAgent(lab, pipelined=True, max_tokens=60, instructions="Answer in three short sentences.",
                         **MODELS)
    turn = agent.ask(question)
    tts_calls = turn.extra["requests"] - 2
    assert tts_calls >= 1
    assert turn.stages["llm"] <= turn.extra["llm_total"]
    if tts_calls > 1:  # several sentences: the first was spoken while the LLM was still writing
        assert turn.stages["llm"] < turn.extra["llm_total"]
    assert turn.agent == "chained (pipelined)"


def test_realtime_agent_reports_vad_and_response_stages(lab, question):
    agent = RealtimeAgent(lab, model="gpt-realtime-mini", voice="marin", max_output_tokens=30,
                          transcription_model="gpt-transcribe")
    turn = agent.ask(question)
    assert turn.pipeline == "realtime" and list(turn.stages) == ["vad", "respond"]
    # Streamed in real time, the server VAD needs its silence window (500 ms) to end the turn.
    assert 0.3 <= turn.stages["vad"] <= 3.0 and turn.stages["respond"] > 0
    assert turn.reply and turn.audio is not None
    assert wer(question.text, turn.heard) <= 0.25
    assert turn.total >= turn.time_to_first_audio
    assert agent.last_run.timeline.first("response.done") is not None


def test_compare_builds_the_tables_and_the_breakdown_plot(lab, question):
    agents = [ChainedAgent(lab, max_tokens=20, name="A", **MODELS),
              ChainedAgent(lab, max_tokens=20, pipelined=True, name="B", **MODELS)]
    df = compare_agents(agents, [question, question])
    assert len(df) == 4 and set(df["agent"]) == {"A", "B"}
    assert {"stage_stt_s", "stage_llm_s", "stage_tts_s", "time_to_first_audio_s"} <= set(df.columns)
    med = breakdown(df)
    assert list(med.index) == ["A", "B"]
    assert med.loc["A", "time_to_first_audio_s"] == pytest.approx(
        df[df["agent"] == "A"]["time_to_first_audio_s"].median())
    table = tradeoffs(df)
    assert list(table.columns) == ["A", "B"]
    assert table.loc["time to first audio, median (ms)", "A"] == round(
        med.loc["A", "time_to_first_audio_s"] * 1000
    )
    assert table.loc["requests per turn", "A"] == 3.0
    fig = plot_breakdown(df)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"
    bars = fig.axes[0].patches
    assert len(bars) == 2 * 3  # two agents × three stages


def test_agents_ask_for_an_audio_clip(lab):
    with pytest.raises(InvalidRequest):
        ChainedAgent(lab, **MODELS).ask("What is the capital of Italy?")
    with pytest.raises(InvalidRequest):
        RealtimeAgent(lab, model="gpt-realtime-mini").ask(b"RIFF")


def test_turn_row_is_flat_and_cost_is_nan_without_history(question):
    class NoHistory:  # a lab-like object without lab.history: cost is unknown, not zero
        history = None

    turn = AgentTurn(agent="x", pipeline="chained", heard="h", reply="r", audio=question,
                     stages={"stt": 0.1, "llm": 0.2, "tts": 0.3}, time_to_first_audio=0.6, total=1.0)
    row = turn.to_row()
    assert row["stage_llm_s"] == 0.2 and row["reply_audio_s"] == pytest.approx(question.duration)
    assert math.isnan(row["cost_usd"])
    from audiolab.agents import _cost_since, _history_len

    assert _history_len(NoHistory()) is None and math.isnan(_cost_since(NoHistory(), None))
