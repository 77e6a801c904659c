"""Transcript Lab: coloured diffs on a known pair, and real runs against the local backend."""

from __future__ import annotations

import re
import threading

import jiwer
import numpy as np
import pandas as pd
import pytest
from whisper_normalizer.english import EnglishTextNormalizer

import audiolab
from audiolab.errors import InvalidRequest
from audiolab.eval.datasets import real_speech
from audiolab.widgets.recorder import Recorder
from audiolab.widgets.transcript_lab import TranscriptLab, diff_html

REF = "the quick brown fox jumps over the lazy dog"
HYP = "the quick brown box jumps over lazy dog today"


def marks(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<span class="al-(\w+)"[^>]*>([^<]*)</span>', html)


def test_diff_marks_the_substituted_deleted_and_inserted_words():
    got = marks(diff_html(REF, HYP))
    assert [w for k, w in got if k == "sub"] == ["box"]
    assert [w for k, w in got if k == "del"] == ["the"]
    assert [w for k, w in got if k == "ins"] == ["today"]
    assert [w for k, w in got if k == "ok"] == ["the", "quick", "brown", "jumps", "over", "lazy", "dog"]
    assert 'title="reference: fox"' in diff_html(REF, HYP)  # the tooltip names the replaced word


def test_diff_ignores_case_and_punctuation_like_the_wer():
    got = marks(diff_html("It was the best of times, it was the worst of times.",
                          "It was the best of times. It was the worst of time!"))
    assert [(k, w) for k, w in got if k != "ok"] == [("sub", "time")]


@pytest.fixture(scope="module")
def lab():
    return audiolab.connect("local")


@pytest.fixture(scope="module")
def utterance():
    return real_speech()[1]  # ~5 s of a LibriVox reading of A Tale of Two Cities


@pytest.fixture(scope="module")
def lab_run(lab, utterance):
    tl = TranscriptLab(lab, utterance, models=["whisper-base", "pocketsphinx", "gpt-4o-transcribe"])
    return tl, tl.run(progress=False)


@pytest.mark.engines
def test_real_clip_runs_side_by_side_with_timestamps_where_supported(lab_run, utterance):
    tl, df = lab_run
    assert tl.reference == utterance.text
    assert list(df.model) == ["whisper-base", "pocketsphinx", "gpt-4o-transcribe"] and df.error.isna().all()
    row = df.set_index("model")
    assert row.loc["whisper-base", "wer"] <= 0.15
    assert row.loc["whisper-base", "format"] == "verbose_json" and row.loc["whisper-base", "words"] >= 5
    assert row.loc["gpt-4o-transcribe", "format"] == "json"  # refuses verbose_json, as on OpenAI
    assert "gpt-4o-transcribe" in tl._no_verbose
    assert (df.latency_s > 0).all() and (df.rtfx > 0).all()
    words = tl.transcripts[0].words
    starts = [s for s, _, _ in words]
    assert starts == sorted(starts) and words[-1][1] <= utterance.audio.duration + 0.5


@pytest.mark.engines
def test_wer_and_cer_match_jiwer_on_whisper_normalised_text(lab_run, utterance):
    tl, df = lab_run
    norm = EnglishTextNormalizer()
    for _, r in df.iterrows():
        ref, hyp = norm(utterance.text), norm(r.text)
        assert r.wer == pytest.approx(jiwer.wer(ref, hyp))
        assert r.cer == pytest.approx(jiwer.cer(ref, hyp))
        out = jiwer.process_words(ref, hyp)
        assert (r.substitutions, r.deletions, r.insertions) == (
            out.substitutions,
            out.deletions,
            out.insertions,
        )


@pytest.mark.engines
def test_cards_show_diff_scores_and_a_timeline(lab_run):
    tl, _ = lab_run
    tl.widget
    cards = tl._ui._cards
    whisper = cards["whisper-base"].value
    assert "WER" in whisper and "al-ok" in whisper and "data:image/png" in whisper  # timeline drawn
    assert "data:image/png" not in cards["gpt-4o-transcribe"].value  # json: no timestamps, no timeline
    assert "<table" in tl._ui.table.value
    assert len(tl.plot_timeline(0).axes) == 2


@pytest.mark.engines
def test_streaming_mode_collects_text_deltas(lab, utterance):
    from audiolab.widgets._background import run_sync

    seen = []
    clip = utterance.audio.slice(0, 2.0)  # "it was the age of wisdom": short keeps the two runs quick
    tl = TranscriptLab(lab, clip, models=["gpt-4o-transcribe", "whisper-1"], stream=True)
    run_sync(lambda: tl.arun(on_update=seen.append))
    streamed, plain = tl.transcripts
    assert streamed.format == "stream" and streamed.deltas
    assert "".join(streamed.deltas).strip() == streamed.text
    assert 0 < streamed.ttft_s <= streamed.latency_s
    assert plain.format == "verbose_json" and "whisper-1" in tl._no_stream  # whisper-1 ignores stream=true
    partial = [s for s in seen if s.run.model == "gpt-4o-transcribe" and np.isnan(s.latency_s)]
    assert len(partial) == len(streamed.deltas)  # each delta was shown as it arrived
    assert "stream=True" in tl.to_code() and tl.to_code().count("stream=True") == 1


@pytest.mark.engines
def test_a_refused_model_shows_its_error_inline(lab, utterance):
    tl = TranscriptLab(lab, utterance.audio.slice(0, 2.0), reference="it was the age of wisdom",
                       models=["no-such-model", "pocketsphinx"])
    df = tl.run(progress=False)
    err = df.set_index("model").loc["no-such-model", "error"]
    assert err.startswith("HTTP 4") and "no-such-model" in err
    assert pd.isna(df.set_index("model").loc["pocketsphinx", "error"])
    tl.widget
    assert 'role="alert"' in tl._ui._cards["no-such-model"].value and "no-such-model" in tl._ui.errors.value


@pytest.mark.engines
def test_a_recorder_take_becomes_the_labs_audio(lab):
    rec = Recorder()
    tl = TranscriptLab(lab, rec, models=["pocketsphinx"])
    assert tl.audio is None
    with pytest.raises(InvalidRequest):
        tl.run(progress=False)
    x = np.zeros(16000, np.float32)
    rec._handle_custom_msg({"type": "start", "sr": 16000}, [])
    rec._handle_custom_msg({"type": "chunk", "seq": 0, "sr": 16000}, [memoryview(x.tobytes())])
    rec._handle_custom_msg({"type": "stop"}, [])
    assert tl.audio is rec.audio and tl.audio.duration == 1.0


@pytest.mark.engines
def test_transcribe_button_runs_in_the_background(lab, utterance):
    tl = TranscriptLab(lab, utterance.audio.slice(0, 2.0), models=["pocketsphinx"])
    tl.widget
    ui = tl._ui
    ui.temperatures.value = "0, 0.2"
    ui._on_go()
    for t in threading.enumerate():
        if t.name == "audiolab-lab-ui":
            t.join(timeout=60)
    assert [r.run.temperature for r in tl.transcripts] == [0.0, 0.2]
    assert set(ui._cards) == {"pocketsphinx · T=0", "pocketsphinx · T=0.2"} and not ui.go.disabled


@pytest.mark.engines
def test_to_code_reproduces_the_runs(lab, utterance):
    tl = TranscriptLab(lab, utterance, models=["pocketsphinx"], languages=["en"])
    code = tl.to_code()
    assert f"real_speech()[{utterance.id!r}].audio" in code and "language='en'" in code
    scope: dict = {}
    exec(compile(code, "transcript_lab_code", "exec"), scope)
    assert list(scope["results"]) == ["pocketsphinx · en"] and scope["results"]["pocketsphinx · en"].text


def _record(rec: Recorder, x: np.ndarray) -> None:
    rec._handle_custom_msg({"type": "start", "sr": 16000}, [])
    rec._handle_custom_msg({"type": "chunk", "seq": 0, "sr": 16000}, [memoryview(x.astype(np.float32).tobytes())])
    rec._handle_custom_msg({"type": "stop"}, [])


def _join_ui_thread() -> None:
    for t in threading.enumerate():
        if t.name == "audiolab-lab-ui":
            t.join(timeout=120)


@pytest.mark.engines
def test_a_new_take_is_not_scored_against_the_previous_samples_reference(lab, utterance):
    rec = Recorder()
    tl = TranscriptLab(lab, rec, models=["pocketsphinx"])
    tl.widget
    ui = tl._ui
    ui._on_sample({"new": utterance})  # a bundled sample: its text is the reference
    assert ui.reference.value == utterance.text == tl.reference
    ui._on_go()
    _join_ui_thread()
    assert tl.transcripts[0].score is not None and "<small>WER " in ui._cards["pocketsphinx"].value
    assert "al-stale" not in ui._cards["pocketsphinx"].value + ui.table.value and not tl.stale

    _record(rec, real_speech()[0].audio.to_mono().resample(16000).samples)  # a fresh take, another text
    assert tl.audio is rec.audio and tl.reference is None and tl.stale
    assert ui.reference.value == "" and "WER" in ui.status.value  # the box is emptied, and asks for one
    assert 'class="al-stale"' in ui._cards["pocketsphinx"].value and 'class="al-stale"' in ui.table.value

    ui._grey(pending=tl.runs())  # what the Transcribe button shows while the runs are out
    card = ui._cards["pocketsphinx"].value
    assert card.count("<progress") == 1 and card.index("<progress") < card.index('class="al-stale"')
    assert card.count("<b>pocketsphinx</b>") == 1  # the old card is greyed under the bar, not repeated

    ui._on_go()
    _join_ui_thread()
    assert tl.transcripts[0].score is None and tl.transcripts[0].text and not tl.stale
    assert np.isnan(tl.results.loc[0, "wer"])
    card = ui._cards["pocketsphinx"].value
    assert "<small>WER " not in card and "al-del" not in card and "al-stale" not in card and "<progress" not in card

    tl.set_audio(utterance.audio.slice(0, 2.0), reference="it was the age of wisdom")  # or one is given
    assert tl.reference == "it was the age of wisdom" and tl.stale
    tl.set_audio(utterance.audio.replace(text=None))  # a clip without a text: none
    assert tl.reference is None
