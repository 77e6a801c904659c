"""Every call measured: one history row per SDK call through lab.client / lab.aclient, real server."""

from __future__ import annotations

import asyncio
import io
import logging
import math
import threading

import openai
import pandas as pd
import pytest

import audiolab
from audiolab.audio import Audio
from audiolab.client.history import COLUMNS, SessionCost
from audiolab.client.wire import sse_events
from tests.conftest import speech_clip_path

pytestmark = pytest.mark.engines  # every test here talks to the local backend

FAKE_KEY = "sk-test-FAKEKEY0123456789abcdefghijklmnop"


@pytest.fixture(scope="module")
def clip_wav() -> bytes:
    """Three seconds of a real person reading (beckett.wav), as wav bytes."""
    return Audio.from_file(speech_clip_path("beckett.wav")).slice(0, 3.0).to_wav_bytes()


@pytest.fixture()
def lab():
    return audiolab.connect("local")


def _has_route(name: str) -> bool:
    """Whether the local server has the resource module ``name`` (routes land one at a time)."""
    import importlib.util

    return importlib.util.find_spec(f"audiolab.server.routes.{name}") is not None


def test_models_call_is_a_free_row_with_timings(lab):
    lab.models()
    row = lab.history.frame.iloc[-1]
    assert (row["endpoint"], row["method"], row["status"], row["backend"]) == ("models", "GET", 200, "local")
    assert 0 < row["ttfb_s"] <= row["total_s"] < 30
    assert row["cost_usd"] == 0 and not row["cache_hit"]
    assert list(lab.history.frame.columns) == list(COLUMNS)


def test_speech_row_has_model_voice_params_and_output_seconds(lab):
    body = lab.client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input="Measure me, please.",
                                          response_format="wav", speed=1.25).content
    row = lab.history.frame.iloc[-1]
    assert (row["endpoint"], row["model"], row["voice"], row["status"]) == ("audio/speech", "gpt-4o-mini-tts",
                                                                           "coral", 200)
    assert row["params"]["response_format"] == "wav" and row["params"]["speed"] == 1.25
    assert row["input_chars"] == len("Measure me, please.")
    assert row["output_audio_s"] == pytest.approx(Audio.from_bytes(body).duration, abs=0.01)


def test_streamed_speech_ttfb_is_the_first_chunk_not_the_end(lab):
    text = "This is the first sentence. Here is a second one, longer than the first. And a third to end."
    chunks = []
    with lab.client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="alloy", input=text, response_format="pcm") as r:
        for chunk in r.iter_bytes():
            chunks.append(chunk)
    row = lab.history.frame.iloc[-1]
    assert len(chunks) > 1, "the server streams one chunk per sentence"
    assert row["ttfb_s"] < row["total_s"]
    assert row["output_audio_s"] == pytest.approx(sum(map(len, chunks)) / 2 / 24_000, abs=1e-3)


def test_sse_speech_row_takes_tokens_from_the_done_event(lab):
    with lab.client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="alloy", input="Tokens, please.", stream_format="sse") as r:
        body = r.read()
    done = [e for e in sse_events(body) if e.get("type") == "speech.audio.done"][0]
    row = lab.history.frame.iloc[-1]
    assert row["stream"] and row["status"] == 200
    assert row["text_in"] == done["usage"]["input_tokens"]
    assert row["audio_out"] == done["usage"]["output_tokens"]
    assert row["output_audio_s"] > 0.3


def test_transcription_row_measures_the_uploaded_audio(lab, clip_wav):
    result = lab.client.audio.transcriptions.create(
        model="whisper-1", file=("clip.wav", clip_wav, "audio/wav")
    )
    row = lab.history.frame.iloc[-1]
    assert (row["endpoint"], row["model"], row["status"]) == ("audio/transcriptions", "whisper-1", 200)
    assert row["input_audio_s"] == pytest.approx(3.0, abs=0.02)
    if result.usage is not None and result.usage.type == "duration":
        assert row["billed_seconds"] == pytest.approx(result.usage.seconds)


def test_streamed_transcription_row_has_usage_from_the_last_event(lab, clip_wav):
    stream = lab.client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", stream=True,
                                                    file=("clip.wav", clip_wav, "audio/wav"))
    events = list(stream)
    done = events[-1]
    row = lab.history.frame.iloc[-1]
    assert done.type == "transcript.text.done"
    assert row["stream"] and row["ttfb_s"] <= row["total_s"]
    assert row["audio_in"] == done.usage.input_token_details.audio_tokens
    assert row["text_out"] == done.usage.output_tokens


def test_translation_call_is_recorded(lab, clip_wav):
    if not _has_route("translations"):
        pytest.skip("the translations route is not there yet")
    lab.client.audio.translations.create(model="whisper-1", file=("clip.wav", clip_wav, "audio/wav"))
    row = lab.history.frame.iloc[-1]
    assert (row["endpoint"], row["status"]) == ("audio/translations", 200)
    assert row["input_audio_s"] == pytest.approx(3.0, abs=0.02)


def test_chat_rows_split_tokens_by_modality_and_measure_audio_out(lab):
    if not _has_route("chat"):
        pytest.skip("the chat route is not there yet")
    import base64

    reply = lab.client.chat.completions.create(
        model="gpt-audio-mini", modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
        max_tokens=8, messages=[{"role": "user", "content": "Say hi."}])
    audio = Audio.from_bytes(base64.b64decode(reply.choices[0].message.audio.data))
    row = lab.history.frame.iloc[-1]
    assert (row["endpoint"], row["model"], row["voice"], row["status"]) == (
        "chat/completions",
        "gpt-audio-mini",
        "alloy",
        200,
    )
    u = reply.usage
    assert row["text_in"] + row["audio_in"] == u.prompt_tokens
    assert row["text_out"] + row["audio_out"] == u.completion_tokens
    assert row["audio_out"] == u.completion_tokens_details.audio_tokens
    assert row["output_audio_s"] == pytest.approx(audio.duration, abs=0.01)


def test_async_client_calls_are_recorded(lab):
    async def go():
        r = await lab.aclient.audio.speech.create(
            model="tts-1", voice="echo", input="Async.", response_format="mp3"
        )
        return r.content

    body = asyncio.run(go())
    row = lab.history.frame.iloc[-1]
    assert (row["model"], row["voice"], row["status"]) == ("tts-1", "echo", 200)
    assert row["output_audio_s"] == pytest.approx(Audio.from_bytes(body).duration, abs=0.05)


def test_rejected_call_is_recorded_with_its_status_and_no_cost(lab):
    with pytest.raises(openai.BadRequestError):
        lab.client.audio.speech.create(model="tts-1", voice="alloy", input="Too fast.", speed=5.0)
    row = lab.history.frame.iloc[-1]
    assert row["status"] == 400 and row["error"]
    assert row["cost_usd"] == 0


def test_refused_connection_is_recorded_as_an_error(lab):
    dead = audiolab.connect("http://127.0.0.1:9/v1", api_key=FAKE_KEY, max_retries=0, timeout=5)
    with pytest.raises(openai.APIConnectionError):
        dead.models()
    row = dead.history.frame.iloc[-1]
    assert pd.isna(row["status"]) and "ConnectError" in row["error"]


def test_concurrent_threads_each_get_their_own_row(lab):
    n_threads, per_thread = 6, 5

    def work():
        for _ in range(per_thread):
            lab.models()

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    df = lab.history.frame
    assert len(df) == n_threads * per_thread
    assert (df["status"] == 200).all() and df["total_s"].notna().all()


def test_summary_gives_p50_and_p90_by_model(lab):
    for text in ("One.", "Two words.", "Three words here."):
        lab.client.audio.speech.create(
            model="tts-1", voice="alloy", input=text, response_format="pcm"
        ).content
    lab.models()
    summary = lab.history.summary()
    tts = summary.loc["tts-1"]
    assert tts["calls"] == 3
    totals = lab.history.frame.query("model == 'tts-1'")["total_s"]
    assert tts["total_p50_s"] == pytest.approx(totals.median())
    assert tts["total_p90_s"] == pytest.approx(totals.quantile(0.9))
    assert tts["total_p50_s"] <= tts["total_p90_s"]
    assert summary.loc["(none)", "calls"] == 1


def test_plot_draws_one_series_per_model(lab):
    import matplotlib

    matplotlib.use("Agg")
    lab.models()
    lab.client.audio.speech.create(
        model="tts-1", voice="alloy", input="Plot me.", response_format="pcm"
    ).content
    ax = lab.history.plot()
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"(none)", "tts-1"}


def test_session_cost_is_notebook_visible(lab):
    lab.models()
    cost = lab.cost_so_far
    assert isinstance(cost, SessionCost) and cost.calls == 1 and float(cost) == 0.0
    assert str(cost) in cost._repr_html_()
    assert str(cost) in lab._repr_html_()
    assert str(cost) in lab.history._repr_html_()


def test_realtime_response_becomes_a_row(lab):
    if not _has_route("realtime"):
        pytest.skip("the realtime route is not there yet")
    with lab.client.realtime.connect(model="gpt-realtime-mini") as conn:
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        conn.conversation.item.create(item={"type": "message", "role": "user",
                                            "content": [{"type": "input_text", "text": "Say hi."}]})
        conn.response.create(response={"max_output_tokens": 8})
        for event in conn:
            if event.type == "response.done":
                usage = event.response.usage
                break
    row = lab.history.frame.query("endpoint == 'realtime'").iloc[-1]
    assert (row["model"], row["method"], row["status"]) == ("gpt-realtime-mini", "WS", 200)
    assert 0 < row["ttfb_s"] <= row["total_s"]
    assert row["text_in"] == usage.input_token_details.text_tokens
    assert row["text_out"] == usage.output_token_details.text_tokens


def test_realtime_transcription_becomes_a_row(lab, clip_wav):
    if not _has_route("realtime"):
        pytest.skip("the realtime route is not there yet")
    import base64

    pcm = Audio.from_bytes(clip_wav).resample(24_000).to_pcm16()
    with lab.client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        conn.session.update(session={"type": "transcription", "audio": {"input": {
            "format": {"type": "audio/pcm", "rate": 24_000}, "turn_detection": None,
            "transcription": {"model": "gpt-4o-mini-transcribe"}}}})
        conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())
        conn.input_audio_buffer.commit()
        for event in conn:
            if event.type == "conversation.item.input_audio_transcription.completed":
                break
    row = lab.history.frame.query("endpoint == 'realtime/transcription'").iloc[-1]
    assert (row["model"], row["status"]) == ("gpt-4o-mini-transcribe", 200)
    assert row["input_audio_s"] == pytest.approx(3.0, abs=0.01)
    assert row["audio_in"] == event.usage.input_token_details.audio_tokens
    assert 0 < row["ttfb_s"] <= row["total_s"]


def test_fake_key_never_reaches_history_reprs_cache_or_logs(tmp_path, clip_wav, caplog):
    local = audiolab.connect("local")
    caplog.set_level(logging.DEBUG)
    lab = audiolab.connect(local.base_url, api_key=FAKE_KEY, cache="readwrite", cache_dir=tmp_path)
    lab.models()
    lab.client.audio.speech.create(
        model="tts-1", voice="alloy", input="Secret?", response_format="wav"
    ).content
    lab.client.audio.transcriptions.create(model="whisper-1", file=("c.wav", clip_wav, "audio/wav"))
    lab.client.audio.speech.create(
        model="tts-1", voice="alloy", input="Secret?", response_format="wav"
    ).content
    df = lab.history.frame
    assert len(df) == 4 and df["cache_hit"].sum() == 1
    texts = [
        df.to_csv(),
        repr(df.to_dict("records")),
        repr(lab.history),
        lab.history._repr_html_(),
        repr(lab),
        lab._repr_html_(),
        repr(lab.cache),
        caplog.text,
        str(lab.history.rows()),
    ]
    for text in texts:
        assert FAKE_KEY not in text and "FAKEKEY" not in text
    files = list(tmp_path.rglob("*"))
    assert any(f.suffix == ".entry" for f in files)
    for f in files:
        if f.is_file():
            assert b"FAKEKEY" not in f.read_bytes()
    buf = io.StringIO()
    df.to_json(buf, date_format="iso")
    assert "FAKEKEY" not in buf.getvalue()
    assert not math.isnan(float(lab.cost_so_far))
