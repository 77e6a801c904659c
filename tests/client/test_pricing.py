"""Cost arithmetic on a fixture price table, over real calls to the local backend."""

from __future__ import annotations

import datetime as dt
import math

import pytest

import audiolab
from audiolab.audio import Audio
from audiolab.client.pricing import UNITS, PriceTable, load_prices
from audiolab.errors import InvalidRequest
from tests.conftest import speech_clip_path

FIXTURE = """backend,model,unit,price_usd,source,date,note
local,gpt-4o-mini-tts,1M_text_in,2.0,fixture,2026-01-01,
local,gpt-4o-mini-tts,1M_audio_out,50.0,fixture,2026-01-01,
local,gpt-4o-mini-tts,minute_estimate,0.6,fixture,2026-01-01,used without usage
local,whisper-1,minute,0.5,fixture,2026-01-01,
local,tts-1,1M_characters,1000,fixture,2026-01-01,
local,gpt-4o-mini-transcribe,1M_audio_in,100,fixture,2026-01-01,
local,gpt-4o-mini-transcribe,1M_text_in,10,fixture,2026-01-01,
local,gpt-4o-mini-transcribe,1M_text_out,20,fixture,2026-01-01,
local,gpt-4o-transcribe,1M_audio_in,,fixture,2026-01-01,price not known yet
"""


@pytest.fixture(scope="module")
def clip_wav() -> bytes:
    return Audio.from_file(speech_clip_path("beckett.wav")).slice(0, 2.5).to_wav_bytes()


@pytest.fixture()
def prices_csv(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(FIXTURE)
    return path


@pytest.fixture()
def lab(prices_csv):
    return audiolab.connect("local", prices=prices_csv)


@pytest.mark.engines
def test_speech_tokens_cost_usage_times_price(lab):
    with lab.client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="alloy", input="Count my tokens.", stream_format="sse") as r:
        r.read()
    row = lab.history.frame.iloc[-1]
    assert row["text_in"] > 0 and row["audio_out"] > 0
    expected = row["text_in"] * 2.0 / 1e6 + row["audio_out"] * 50.0 / 1e6
    assert row["cost_basis"] == "tokens"
    assert row["cost_usd"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.engines
def test_speech_without_usage_falls_back_to_the_minute_estimate(lab):
    body = lab.client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="No usage here.",
                                          response_format="wav").content
    row = lab.history.frame.iloc[-1]
    assert row["cost_basis"] == "minute_estimate"
    assert row["cost_usd"] == pytest.approx(Audio.from_bytes(body).duration / 60 * 0.6, rel=1e-3)


@pytest.mark.engines
def test_whisper_is_billed_per_minute_of_the_reported_duration(lab, clip_wav):
    result = lab.client.audio.transcriptions.create(model="whisper-1", file=("c.wav", clip_wav, "audio/wav"))
    row = lab.history.frame.iloc[-1]
    seconds = result.usage.seconds if result.usage is not None else 2.5
    assert row["cost_basis"] == "minutes"
    assert row["cost_usd"] == pytest.approx(seconds / 60 * 0.5, rel=1e-3)


@pytest.mark.engines
def test_tts_1_is_billed_per_character(lab):
    text = "Twenty-six characters now"
    lab.client.audio.speech.create(model="tts-1", voice="alloy", input=text, response_format="pcm").content
    row = lab.history.frame.iloc[-1]
    assert (row["cost_basis"], row["input_chars"]) == ("characters", len(text))
    assert row["cost_usd"] == pytest.approx(len(text) * 1000 / 1e6)


@pytest.mark.engines
def test_streamed_transcription_tokens_cost_by_modality(lab, clip_wav):
    done = list(lab.client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", stream=True,
                                                       file=("c.wav", clip_wav, "audio/wav")))[-1]
    u = done.usage
    row = lab.history.frame.iloc[-1]
    expected = (u.input_token_details.audio_tokens * 100 + (u.input_token_details.text_tokens or 0) * 10
                + u.output_tokens * 20) / 1e6
    assert row["cost_usd"] == pytest.approx(expected)


@pytest.mark.engines
def test_missing_price_is_unknown_not_zero_and_the_session_says_so(lab, clip_wav):
    lab.client.audio.speech.create(
        model="tts-1", voice="alloy", input="Known.", response_format="pcm"
    ).content
    lab.client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("c.wav", clip_wav, "audio/wav"))
    lab.client.audio.speech.create(
        model="tts-1-hd", voice="alloy", input="No row.", response_format="pcm"
    ).content
    df = lab.history.frame
    assert math.isnan(df.iloc[1]["cost_usd"]) and df.iloc[1]["cost_basis"] == "unknown"
    assert math.isnan(df.iloc[2]["cost_usd"]), "a model with no row at all is unknown too"
    cost = lab.cost_so_far
    assert cost.unknown == 2 and cost.calls == 3
    assert cost.usd == pytest.approx(df.iloc[0]["cost_usd"])
    assert "unknown price" in str(cost)
    assert lab.history.summary().loc["gpt-4o-transcribe", "unknown_cost"] == 1


@pytest.mark.engines
def test_editing_lab_prices_reprices_the_whole_session(lab, clip_wav):
    lab.client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("c.wav", clip_wav, "audio/wav"))
    assert math.isnan(lab.history.frame.iloc[-1]["cost_usd"])
    lab.prices = lab.prices.set("gpt-4o-transcribe", "minute_estimate", 0.006, backend="local")
    row = lab.history.frame.iloc[-1]
    seconds = (
        row["billed_seconds"] if row["billed_seconds"] == row["billed_seconds"] else row["input_audio_s"]
    )
    assert row["cost_basis"] == "minute_estimate"
    assert row["cost_usd"] == pytest.approx(seconds / 60 * 0.006)
    lab.prices = lab.prices.frame.assign(price_usd=0.0)  # a DataFrame works too
    assert lab.history.frame.iloc[-1]["cost_usd"] == 0


@pytest.mark.engines
def test_cache_hits_cost_nothing_but_keep_their_live_price(prices_csv, tmp_path):
    lab = audiolab.connect("local", prices=prices_csv, cache="readwrite", cache_dir=tmp_path / "c")
    for _ in range(2):
        lab.client.audio.speech.create(
            model="tts-1", voice="alloy", input="Twice.", response_format="pcm"
        ).content
    miss, hit = lab.history.frame.to_dict("records")
    assert miss["cost_usd"] == pytest.approx(6 * 1000 / 1e6)
    assert (hit["cost_usd"], hit["cost_basis"]) == (0.0, "cache")
    assert hit["cost_live_usd"] == pytest.approx(miss["cost_usd"])


@pytest.mark.engines
def test_the_local_backend_is_free_with_the_bundled_table():
    lab = audiolab.connect("local")
    lab.client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="alloy", input="Free.", response_format="pcm"
    ).content
    row = lab.history.frame.iloc[-1]
    assert (row["cost_usd"], row["cost_basis"]) == (0.0, "free")


def test_bundled_table_has_a_source_and_date_for_every_price():
    table = load_prices()
    assert len(table) > 20
    for p in table.prices:
        assert p.unit in UNITS and p.price_usd >= 0
        dt.date.fromisoformat(p.date)
        if p.backend == "openai":
            assert p.source.startswith("https://")
        else:
            assert p.price_usd == 0


def test_snapshot_ids_use_their_base_model_price():
    table = load_prices()
    base = table.cost(
        backend="openai", model="gpt-4o-mini-tts", quantities={"text_in": 1000, "audio_out": 2000}
    )
    snap = table.cost(backend="openai", model="gpt-4o-mini-tts-2025-12-15",
                      quantities={"text_in": 1000, "audio_out": 2000})
    by_unit = {p.unit: p.price_usd for p in table.lookup(backend="openai", model="gpt-4o-mini-tts")}
    assert base == snap
    assert base.usd == pytest.approx((1000 * by_unit["1M_text_in"] + 2000 * by_unit["1M_audio_out"]) / 1e6)


def test_a_used_modality_without_a_price_makes_the_cost_unknown():
    table = PriceTable(()).set("m", "1M_text_in", 1.0)
    assert table.cost(backend="openai", model="m", quantities={"text_in": 10}).usd == pytest.approx(1e-5)
    assert math.isnan(table.cost(backend="openai", model="m", quantities={"text_in": 10, "audio_out": 5}).usd)
    assert math.isnan(table.cost(backend="openai", model="m", quantities={}).usd)


def test_round_trip_through_csv(tmp_path):
    table = load_prices().set("my-model", "minute", 0.25, source="https://example.org/prices")
    again = load_prices(table.to_csv(tmp_path / "mine.csv"))
    assert again.cost(backend="openai", model="my-model", quantities={"minutes": 4}).usd == pytest.approx(1.0)
    assert len(again) == len(table)


def test_unknown_unit_is_rejected(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("backend,model,unit,price_usd\nopenai,x,per_fortnight,1\n")
    with pytest.raises(InvalidRequest) as exc:
        load_prices(bad)
    assert exc.value.param == "unit"
    with pytest.raises(InvalidRequest):
        PriceTable(()).set("x", "per_fortnight", 1.0)
