"""Notebook sentences come from the run's own numbers and from the model actually serving an id."""

from __future__ import annotations

import pandas as pd
import pytest

import audiolab
from audiolab.notes import latency_verdict, model_note
from audiolab.server.engines.llm import GGUFS
from audiolab.server.registry import ALIASES, CHAT_MODEL, MODELS, REALTIME_MODEL


def _rows(chain_s: float, pipelined_s: float, vad_s: float, respond_s: float) -> pd.DataFrame:
    rows = []
    for q in range(2):  # two questions each; the medians are what count
        rows += [
            {"agent": "chained", "pipeline": "chained", "question": q, "time_to_first_audio_s": chain_s + q * 0.1,
             "stage_stt_s": 0.4, "stage_llm_s": chain_s - 0.7, "stage_tts_s": 0.3},
            {"agent": "chained (pipelined)", "pipeline": "chained", "question": q,
             "time_to_first_audio_s": pipelined_s + q * 0.1, "stage_stt_s": 0.4, "stage_llm_s": pipelined_s - 0.6,
             "stage_tts_s": 0.2},
            {"agent": "realtime", "pipeline": "realtime", "question": q,
             "time_to_first_audio_s": vad_s + respond_s + q * 0.1, "stage_vad_s": vad_s, "stage_respond_s": respond_s},
        ]
    return pd.DataFrame(rows)


def test_verdict_names_realtime_when_it_measured_faster():
    text = latency_verdict(_rows(chain_s=2.0, pipelined_s=1.6, vad_s=0.6, respond_s=0.5))
    assert "realtime was faster here by 500 ms" in text  # medians of two questions each
    assert "realtime 1150 ms" in text and "chained (pipelined) 1650 ms" in text
    assert "600 ms of end-of-turn detection" in text
    assert "chained (pipelined) reached first audio 400 ms sooner than chained" in text


def test_verdict_names_the_chain_and_the_reason_when_it_measured_faster():
    slow_turn = latency_verdict(_rows(chain_s=2.0, pipelined_s=1.2, vad_s=0.6, respond_s=1.5))
    assert "Here the chained (pipelined) was faster than realtime by 900 ms" in slow_turn
    assert "took 1500 ms from the end of the turn" in slow_turn
    endpointing = latency_verdict(_rows(chain_s=2.0, pipelined_s=1.2, vad_s=0.6, respond_s=0.7))
    assert "faster than realtime by 100 ms" in endpointing and "waits 600 ms for the end of the turn" in endpointing
    assert "realtime was faster" not in slow_turn + endpointing


@pytest.mark.engines
def test_model_note_names_the_local_model_its_size_and_limits():
    lab = audiolab.connect("local")
    for model, local in (("gpt-audio-mini", CHAT_MODEL), ("gpt-realtime", REALTIME_MODEL)):
        assert ALIASES[model].target == local
        gguf = GGUFS[MODELS[local].options["model"]]
        note = model_note(lab, model)
        assert f"`{local}`" in note and gguf.size_note in note and gguf.limits in note
    assert "135 million parameters" in model_note(lab, "smollm2-135m-instruct")


def test_keyword_verdict_reports_the_fix_only_when_the_keyword_made_it():
    from audiolab.notes import keyword_verdict

    fixed = [{"name": "Quillon", "without": "The Quillen report.", "with": "The Quillon report."}]
    assert "came out as 'The Quillen report.'" in keyword_verdict(fixed)
    not_fixed = [{"name": "Siobhan", "without": "Send it to Chivon.", "with": "Send it to Chivon."}]
    assert keyword_verdict(not_fixed).startswith("In this run the keywords did not fix Siobhan")
