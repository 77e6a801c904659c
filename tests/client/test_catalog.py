"""The model catalog: backend models joined with the installed SDK's ids, params and shutdown dates."""

from __future__ import annotations

import datetime as dt
import re
import typing
import warnings
from importlib import resources

import pytest

import audiolab
from audiolab.client.catalog import (
    KINDS,
    ModelShutdownWarning,
    catalog_frame,
    check_model,
    model_kind,
    pick_model,
    sdk_models,
)
from audiolab.errors import InvalidRequest, UnsupportedModel

TODAY = dt.date(2026, 11, 24)


@pytest.fixture(scope="module")
def lab():
    return audiolab.connect("local")


@pytest.fixture(scope="module")
def local_catalog(lab):
    return lab.catalog(today=TODAY)


def _sdk_text(rel: str) -> str:
    return resources.files("openai").joinpath(rel).read_text()


def test_sdk_model_lists_match_the_sdk_literals():
    from openai.types import AudioModel
    from openai.types.audio import SpeechModel

    rows = sdk_models()
    assert {r["model"] for r in rows if r["kind"] == "tts"} == set(typing.get_args(SpeechModel))
    assert {r["model"] for r in rows if r["kind"] == "stt"} == set(typing.get_args(AudioModel))


def test_shutdown_dates_come_from_the_sdk_docstrings():
    text = " ".join(_sdk_text("types/audio/speech_model.py").split())
    for row in (r for r in sdk_models() if r["kind"] == "tts"):
        assert row["shutdown_date"] is not None
        assert f'"{row["model"]}"' in text and f"shutdown date: {row['shutdown_date']}" in text
    by_model = {(r["model"], r["kind"]): r for r in sdk_models()}
    chat = " ".join(_sdk_text("types/shared/chat_model.py").split())
    m = re.search(r'"gpt-4o-audio-preview-2024-10-01": Announced shutdown date: (\d{4}-\d{2}-\d{2})', chat)
    assert by_model[("gpt-4o-audio-preview-2024-10-01", "chat audio")]["shutdown_date"] == m.group(1)
    assert by_model[("gpt-transcribe", "stt")]["shutdown_date"] is None


def test_param_support_follows_the_sdk_docs():
    by_model = {(r["model"], r["kind"]): r for r in sdk_models()}
    assert "instructions" in by_model[("tts-1", "tts")]["unsupported"]
    assert "instructions" in by_model[("gpt-4o-mini-tts", "tts")]["params"]
    assert "stream_format=sse" in by_model[("tts-1-hd", "tts")]["unsupported"]
    assert "stream" in by_model[("whisper-1", "stt")]["unsupported"]
    assert "stream" in by_model[("gpt-4o-mini-transcribe", "stt")]["params"]
    assert by_model[("gpt-4o-transcribe", "stt")]["formats"] == ("json",)
    assert "verbose_json" in by_model[("whisper-1", "stt")]["formats"]
    assert by_model[("gpt-realtime", "realtime")]["formats"] == ("audio/pcm", "audio/pcmu", "audio/pcma")


@pytest.mark.engines
def test_catalog_joins_backend_models_with_the_sdk(local_catalog):
    df = local_catalog.set_index(["model", "kind"])
    tts = df.loc[("gpt-4o-mini-tts", "tts")]
    assert tts["served"] and tts["in_sdk"] and tts["alias_of"] == "piper-joe"
    assert tts["shutdown_date"] == dt.date(2027, 1, 6) and tts["days_left"] == 43
    local_only = df.loc[("piper-joe", "tts")]
    assert local_only["served"] and not local_only["in_sdk"]
    sdk_only = df.loc[("gpt-realtime-2025-08-28", "realtime")]
    assert sdk_only["served"] is not None and not sdk_only["served"] and sdk_only["in_sdk"]
    # OpenAI retired it; the local backend still answers it, so that old tutorials run.
    retired = df.loc[("gpt-4o-audio-preview", "chat audio")]
    assert retired["served"] and retired["past_shutdown"] and retired["days_left"] < 0
    assert "no longer serves" in retired["note"]
    assert set(local_catalog["kind"]) <= set(KINDS)


@pytest.mark.engines
def test_the_backend_model_object_overrides_shutdown_and_replacement(lab):
    served = {m.id: m.to_dict() for m in lab.client.models.list()}
    df = catalog_frame(served.values(), today=TODAY).set_index(["model", "kind"])
    whisper = df.loc[("whisper-1", "stt")]
    assert str(whisper["shutdown_date"]) == served["whisper-1"]["shutdown_date"]
    assert whisper["replacement"] == served["whisper-1"]["replacement"]
    edited = dict(served["whisper-1"], shutdown_date="2030-05-01", replacement="my-stt")
    row = catalog_frame([edited], today=TODAY).set_index(["model", "kind"]).loc[("whisper-1", "stt")]
    assert row["shutdown_date"] == dt.date(2030, 5, 1) and row["replacement"] == "my-stt"


def test_a_deprecated_model_gets_a_current_replacement():
    df = catalog_frame(
        [{"id": "gpt-realtime-mini"}, {"id": "gpt-realtime-2.1-mini"}, {"id": "gpt-realtime-2"}], today=TODAY
    ).set_index(["model", "kind"])
    assert df.loc[("gpt-realtime-mini", "realtime"), "replacement"] == "gpt-realtime-2.1-mini"


@pytest.mark.engines
def test_pick_model_gives_a_served_model_for_every_kind(lab, local_catalog):
    served = set(lab.models())
    for kind in ("tts", "stt", "chat audio", "realtime"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ModelShutdownWarning)
            model = pick_model(local_catalog, kind)
        assert model in served
        assert kind in set(local_catalog.query("model == @model")["kind"])


def test_pick_model_skips_a_shut_down_model_and_warns():
    df = catalog_frame([{"id": "gpt-4o-audio-preview"}, {"id": "gpt-audio-mini"}], today=TODAY)
    with pytest.warns(ModelShutdownWarning):
        model = pick_model(df, "chat audio", prefer=["gpt-4o-audio-preview", "gpt-audio-mini"])
    assert model == "gpt-audio-mini"


def test_pick_model_uses_the_real_date_of_today():
    future = dt.date.today() + dt.timedelta(days=3650)
    models = [{"id": "tts-1", "kind": "tts", "shutdown_date": future.isoformat()},
              {"id": "tts-1-hd", "kind": "tts", "shutdown_date": "2001-01-01"}]
    with pytest.warns(ModelShutdownWarning):
        assert (
            pick_model(catalog_frame(models, include_sdk=False), "tts", prefer=["tts-1-hd", "tts-1"])
            == "tts-1"
        )


def test_when_every_model_is_past_shutdown_the_pick_still_warns():
    later = dt.date(2027, 6, 1)
    df = catalog_frame([{"id": "tts-1"}, {"id": "gpt-4o-mini-tts"}], include_sdk=False, today=later)
    with pytest.warns(ModelShutdownWarning):
        assert pick_model(df, "tts") in ("tts-1", "gpt-4o-mini-tts")


def test_check_model_warns_before_using_a_shut_down_model():
    df = catalog_frame([{"id": "gpt-4o-mini-audio-preview"}, {"id": "gpt-audio-mini"}], today=TODAY)
    with pytest.warns(ModelShutdownWarning):
        row = check_model(df, "gpt-4o-mini-audio-preview")
    assert row["past_shutdown"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_model(df, "gpt-audio-mini")["past_shutdown"]
    with pytest.raises(UnsupportedModel):
        check_model(df, "no-such-model")


def test_bad_kind_and_unserved_kind_are_clear_errors():
    with pytest.raises(InvalidRequest):
        pick_model(catalog_frame([], include_sdk=False), "video")
    with pytest.raises(UnsupportedModel):
        pick_model(catalog_frame([{"id": "tts-1"}], include_sdk=False), "stt")


def test_catalog_in_replay_without_a_model_list_shows_the_sdk(tmp_path):
    lab = audiolab.connect("local", cache="replay", cache_dir=tmp_path, environ={})
    with pytest.warns(UserWarning):
        df = lab.catalog(today=TODAY)
    assert df["served"].isna().all() and df["in_sdk"].all()
    with pytest.warns(ModelShutdownWarning):
        assert (
            pick_model(df, "chat audio", prefer=["gpt-4o-audio-preview", "gpt-audio-mini"])
            == "gpt-audio-mini"
        )


def test_every_sdk_model_has_the_kind_its_sdk_list_gives_it():
    # One rule for "what kind of model is this": the SDK's own lists agree with model_kind().
    # (Realtime sessions also take chat-audio ids such as gpt-audio-1.5: those keep "chat audio".)
    for row in sdk_models():
        if row["kind"] in ("tts", "stt") or "realtime" in row["model"]:
            assert model_kind(row["model"]) == row["kind"], row["model"]


@pytest.mark.engines
def test_catalog_and_both_labs_agree_on_every_served_model_kind(lab, local_catalog):
    from audiolab.widgets.transcript_lab import stt_models
    from audiolab.widgets.voice_lab import tts_models

    served = local_catalog[local_catalog["served"].fillna(False).astype(bool)]
    kinds = dict(zip(served["model"], served["kind"]))
    assert kinds["gpt-realtime-whisper"] == "stt"
    assert set(stt_models(lab)) == {m for m, k in kinds.items() if k == "stt"}
    assert set(tts_models(lab)) == {m for m, k in kinds.items() if k == "tts"}
