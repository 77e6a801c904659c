"""The runner over real HTTP: a fixed-latency OpenAI-compatible app, then the real local backend."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest

import audiolab
from audiolab.audio import Audio
from audiolab.eval import perturb, runner
from audiolab.eval.datasets import HARVARD_SENTENCES, from_recordings, real_speech, synthetic_speech
from audiolab.eval.metrics import score, summarize
from tests.eval import fixed_latency

TEXTS = ["ever tried ever failed", "no matter try again", "fail again fail better", "the birch canoe slid",
         "glue the sheet to the dark blue background", "rice is often served in round bowls"]
# What the fake backend "hears": one deliberate substitution in every other clip.
HEARD = ["ever tried ever failed", "no matter try gain", "fail again fail better", "the birch canoe slit",
         "glue the sheet to the dark blue background", "rice is often served in round bowl"]


def _clips():
    rng = np.random.default_rng(0)
    return [Audio.from_array((0.1 * rng.standard_normal(16000 + 1600 * i)).astype(np.float32), 16000)
            for i in range(len(TEXTS))]


@pytest.fixture(scope="module")
def dataset():
    return from_recordings(_clips(), TEXTS, speaker="tester")


@pytest.fixture()
def backend():
    b = fixed_latency.start(0.05, transcripts={round(c.duration, 2): h for c, h in zip(_clips(), HEARD)})
    yield b
    b.stop()


def _lab(b):
    return audiolab.connect(b.url, environ={})


def test_evaluate_returns_one_scored_row_per_clip_model_and_condition(backend, dataset, tmp_path):
    conds = perturb.conditions(noise=("white",), snrs=(None, 10))
    df = runner.evaluate(_lab(backend), dataset, models=["m-a", "m-b"], conditions=conds,
                         cache_dir=tmp_path, progress=False)
    assert len(df) == len(TEXTS) * 2 * 2
    assert list(df.columns[:15]) == ["clip_id", "model", "condition", "reference", "hypothesis", "wer",
                                     "substitutions", "deletions", "insertions", "hits", "ref_words",
                                     "audio_seconds", "latency_s", "cost_usd", "synthetic"]
    assert df["error"].isna().all()
    assert set(df["condition"]) == {"clean", "white@10dB"}
    assert df.groupby(["model", "condition"]).size().eq(len(TEXTS)).all()
    expected = score(TEXTS, HEARD, n_boot=0)
    for (_, _), g in df.groupby(["model", "condition"]):
        assert g["hypothesis"].tolist() == HEARD
        assert g["substitutions"].sum() == expected.substitutions == 3
        assert g["ref_words"].sum() == expected.ref_words
    assert (df["latency_s"] >= 0.05).all()
    assert df["cost_usd"].isna().all()  # an unknown URL backend: no price
    assert not df["synthetic"].any()
    assert df.loc[df["condition"] == "white@10dB", "snr_db"].eq(10).all()
    assert backend.requests == len(df)
    assert set(backend.models) == {"m-a", "m-b"}
    s = summarize(df)
    assert s["wer"].tolist() == pytest.approx([expected.wer] * 4)


def test_rerun_is_served_from_the_checkpoint_without_requests(backend, dataset, tmp_path):
    lab = _lab(backend)
    first = runner.evaluate(lab, dataset, models=["m"], cache_dir=tmp_path, progress=False)
    sent = backend.requests
    assert sent == len(TEXTS) and not first["cached"].any()
    again = runner.evaluate(lab, dataset, models=["m"], cache_dir=tmp_path, progress=False)
    assert backend.requests == sent and again["cached"].all()
    assert again["hypothesis"].tolist() == first["hypothesis"].tolist()
    runner.clear_memory_cache()  # a new kernel: only the file remains
    from_disk = runner.evaluate(lab, dataset, models=["m"], cache_dir=tmp_path, progress=False)
    assert backend.requests == sent and from_disk["wer"].tolist() == first["wer"].tolist()


def test_interrupted_run_resumes_with_only_the_missing_cells(backend, dataset, tmp_path):
    lab = _lab(backend)
    runner.clear_memory_cache()
    runner.evaluate(lab, dataset.subset(2), models=["m"], cache_dir=tmp_path, progress=False)
    with open(tmp_path / "cells.jsonl", "a") as fh:
        fh.write('{"key": "torn-wri')  # a write cut short by the interrupt
    runner.clear_memory_cache()
    df = runner.evaluate(lab, dataset, models=["m"], cache_dir=tmp_path, progress=False)
    assert backend.requests == len(TEXTS)
    assert df["cached"].tolist() == [True, True] + [False] * (len(TEXTS) - 2)
    lines = (tmp_path / "cells.jsonl").read_text().splitlines()
    assert sum(1 for line in lines if line.startswith('{"key": "') and line.endswith("}")) == len(TEXTS)
    assert all(json.loads(line)["hypothesis"] for line in lines if line.endswith("}"))


@pytest.mark.parametrize("status", [503, 429])
def test_transient_errors_are_retried(dataset, tmp_path, status):
    b = fixed_latency.start(0.01, transcripts={round(c.duration, 2): h for c, h in zip(_clips(), HEARD)},
                            fail_first=3, fail_status=status)
    try:
        df = runner.evaluate(
            _lab(b), dataset, models=["m"], cache_dir=tmp_path, progress=False, concurrency=1, backoff_s=0.01
        )
    finally:
        b.stop()
    assert df["error"].isna().all()
    assert b.requests == len(TEXTS) + 3


def test_client_errors_are_reported_per_cell_and_not_cached(backend, dataset, tmp_path):
    lab = _lab(backend)
    df = runner.evaluate(
        lab, dataset.subset(2), models=["no-such-model", "m"], cache_dir=tmp_path, progress=False
    )
    bad = df[df["model"] == "no-such-model"]
    assert bad["error"].str.startswith("NotFoundError").all()
    assert bad["wer"].isna().all() and bad["hypothesis"].isna().all()
    assert df[df["model"] == "m"]["error"].isna().all()
    before = backend.requests
    runner.evaluate(lab, dataset.subset(2), models=["no-such-model", "m"], cache_dir=tmp_path, progress=False)
    assert backend.requests == before + 2  # only the failed cells are tried again
    assert summarize(df).set_index("model").loc["no-such-model", "errors"] == 2


def test_concurrency_bounds_requests_in_flight(dataset, tmp_path):
    b = fixed_latency.start(0.2, transcripts={round(c.duration, 2): h for c, h in zip(_clips(), HEARD)})
    try:
        t0 = time.perf_counter()
        runner.evaluate(_lab(b), dataset, models=["m"], concurrency=3, cache_dir=tmp_path, progress=False)
        elapsed = time.perf_counter() - t0
    finally:
        b.stop()
    assert b.max_in_flight == 3
    assert elapsed < len(TEXTS) * 0.2  # faster than one at a time


def test_evaluate_works_inside_a_running_event_loop(backend, dataset):
    lab = _lab(backend)
    runner.clear_memory_cache()

    async def notebook_cell():
        sync_df = runner.evaluate(lab, dataset.subset(2), models=["m"], progress=False)  # as in Jupyter
        async_df = await runner.aevaluate(lab, dataset.subset(3), models=["m"], progress=False)
        return sync_df, async_df

    sync_df, async_df = asyncio.run(notebook_cell())
    assert sync_df["hypothesis"].tolist() == HEARD[:2]
    assert async_df["hypothesis"].tolist() == HEARD[:3]
    assert async_df["cached"].tolist() == [True, True, False]


@pytest.fixture(scope="module")
def local_lab():
    return audiolab.connect("local", environ={})


@pytest.mark.engines
def test_whisper_base_on_the_local_backend_transcribes_real_speech(local_lab, tmp_path):
    ds = real_speech().subset(2)
    df = runner.evaluate(
        local_lab, ds, models=["whisper-base"], cache_dir=tmp_path, progress=False, concurrency=2
    )
    assert df["error"].isna().all(), df["error"].tolist()
    s = summarize(df).iloc[0]
    assert s["wer"] <= 0.10
    assert (df["cost_usd"] == 0.0).all()
    assert (df["latency_s"] > 0).all() and s["rtfx"] > 0


@pytest.mark.engines
def test_synthetic_speech_is_labelled_synthetic(local_lab):
    ds = synthetic_speech(local_lab, texts=["Glue the sheet to the dark blue background."], voices=["alloy"])
    u = ds[0]
    assert u.synthetic and u.audio.meta["synthetic"] and u.speaker == "alloy"
    assert u.text == u.audio.text == "Glue the sheet to the dark blue background."
    assert u.audio.duration > 1.0 and u.audio.rms_db > -40


@pytest.mark.engines
def test_tts_round_trip_intelligibility_on_the_local_backend(local_lab, tmp_path):
    # Intelligibility is a corpus figure: one 8-word sentence moves WER in steps of 12.5 %, and
    # Piper samples its prosody afresh on every request. Five Harvard sentences measured 0.10-0.19
    # over ten runs here; garbled speech scores near 1.0.
    texts = list(HARVARD_SENTENCES[:5])
    df = runner.round_trip(local_lab, texts, voices=["alloy"], judges=["whisper-1"], cache_dir=tmp_path,
                           progress=False)
    assert df[["voice", "tts_model", "model"]].iloc[0].tolist() == ["alloy", "gpt-4o-mini-tts", "whisper-1"]
    assert len(df) == len(texts) and df["synthetic"].all()
    assert df["error"].isna().all(), df["error"].tolist()
    s = summarize(df, by=["voice", "model"]).iloc[0]
    assert s["n"] == len(texts) and s["ref_words"] >= 40
    assert s["wer"] <= 0.35, df[["reference", "hypothesis", "wer"]].to_string()


@pytest.mark.engines
def test_round_trip_scores_words_in_brackets_because_the_tts_reads_them(local_lab, tmp_path):
    text = "The capital (Rome) is very old."
    df = runner.round_trip(local_lab, [text], voices=["alloy"], cache_dir=tmp_path, progress=False)
    row = df.iloc[0]
    assert row["reference"] == "The capital Rome is very old."
    assert row["ref_words"] == 6  # Whisper's normaliser alone would drop "(Rome)" from the reference
    assert row["wer"] <= 0.34, row["hypothesis"]
    assert synthetic_speech(local_lab, [text], ["alloy"])[0].meta["input"] == text
