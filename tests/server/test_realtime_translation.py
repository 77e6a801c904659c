"""``wss /v1/realtime/translations`` driven by the SDK's ``client.realtime.translations.connect()`` over a
real WebSocket, with real engines (Silero VAD, whisper-base, the chat model, Piper/eSpeak) on
synthesized speech; and ``POST /v1/realtime/translations/client_secrets``.

Every server event is validated into the SDK's ``RealtimeTranslationServerEvent`` union and
against OpenAI's published schema.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json

import numpy as np
import openai
import pytest
from openai.types.realtime import RealtimeTranslationServerEvent
from openai.types.realtime.realtime_translation_client_secret_create_response import (
    RealtimeTranslationClientSecretCreateResponse,
)
from pydantic import TypeAdapter
from websockets.exceptions import ConnectionClosed

from audiolab.audio import PCM_RATE, Audio, float_to_pcm16, pcm16_to_float
from audiolab.eval.metrics import wer
from audiolab.realtime.translation import translate_live
from tests.server.realtime_wire import WireEvents
from tests.spec import validate
from tests.spoken import spoken_cer

pytestmark = pytest.mark.anyio

_EVENTS = TypeAdapter(RealtimeTranslationServerEvent)
_CHUNK = PCM_RATE // 5  # 200 ms, as OpenAI advises
SPANISH = "Buenos días a todos. Hoy vamos a hablar del tiempo en Madrid."
ENGLISH = "Good morning everyone. The weather in Paris is lovely today."


@pytest.fixture
def anyio_backend():
    return "asyncio"


_WIRE = WireEvents(_EVENTS, "RealtimeTranslationServerEvent", next_timeout=60.0)
_parse, _next = _WIRE.parse, _WIRE.next


async def _until_closed(conn, timeout: float = 120.0) -> list:
    out = []
    while not out or out[-1].type != "session.closed":
        out.append(await _next(conn, timeout))
    return out


async def _stream(conn, audio: Audio, *, silence_s: float = 0.6) -> None:
    x = np.concatenate([audio.to_mono().resample(PCM_RATE).samples, np.zeros(int(silence_s * PCM_RATE))])
    pcm = float_to_pcm16(x).astype("<i2").tobytes()
    for i in range(0, len(pcm), 2 * _CHUNK):
        await conn.send({"type": "session.input_audio_buffer.append",
                         "audio": base64.b64encode(pcm[i:i + 2 * _CHUNK]).decode()})


def _text(events, type_: str) -> str:
    return "".join(e.delta for e in events if e.type == type_).strip()


def _speech(events) -> Audio:
    pcm = b"".join(base64.b64decode(e.delta) for e in events if e.type == "session.output_audio.delta")
    return Audio.from_array(pcm16_to_float(np.frombuffer(pcm, dtype="<i2")), PCM_RATE)


def _heard(lab, audio: Audio):
    """What whisper hears in ``audio``: (text, language name)."""
    wav = io.BytesIO(audio.to_wav_bytes())
    wav.name = "speech.wav"
    r = lab.client.audio.transcriptions.create(model="whisper-1", file=wav, response_format="verbose_json")
    return r.text, r.language


async def test_spanish_speech_comes_out_as_english_text_and_speech(lab, spoken):
    clip = spoken(SPANISH, "kokoro-es")
    async with lab.aclient.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        created = await _next(conn)
        assert created.type == "session.created"
        assert (created.session.type, created.session.model) == ("translation", "gpt-realtime-translate")
        assert created.session.id.startswith("sess_")
        await conn.send({"type": "session.update", "session": {"audio": {
            "input": {"transcription": {"model": "gpt-realtime-whisper"}, "noise_reduction": {"type": "near_field"}},
            "output": {"language": "en"}}}})
        updated = await _next(conn)
        assert updated.type == "session.updated"
        assert updated.session.audio.input.transcription.model == "gpt-realtime-whisper"
        assert updated.session.audio.input.noise_reduction.type == "near_field"
        assert updated.session.audio.output.language == "en"
        await _stream(conn, clip)
        await conn.session.close()
        events = await _until_closed(conn)
        with pytest.raises(ConnectionClosed):  # the server ends the socket after session.closed
            await asyncio.wait_for(conn.recv_bytes(), 10)
    said, translated = _text(events, "session.input_transcript.delta"), _text(events, "session.output_transcript.delta")
    assert wer(SPANISH, said) < 0.5, said  # the source transcript is Spanish, close to what was read
    words = set(translated.lower().replace(",", " ").replace(".", " ").split())
    assert "madrid" in words and not words & {"vamos", "hablar", "del", "hoy"}, translated
    audio = [e for e in events if e.type == "session.output_audio.delta"]
    assert audio and all((e.sample_rate, e.channels, e.format) == (PCM_RATE, 1, "pcm16") for e in audio)
    timed = [e.elapsed_ms for e in events if e.type.endswith(".delta")]
    assert all(t % 200 == 0 and 0 <= t <= clip.duration * 1000 + 800 for t in timed), timed
    heard, language = _heard(lab, _speech(events))
    assert language == "english" and spoken_cer(translated, heard) < 0.35, (translated, heard)


async def test_english_speech_into_french_goes_through_the_chat_model(lab, spoken):
    async with lab.aclient.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        await _next(conn)
        await conn.send({"type": "session.update", "session": {"audio": {"output": {"language": "fr"}}}})
        assert (await _next(conn)).session.audio.output.language == "fr"
        await _stream(conn, spoken(ENGLISH, "piper-joe"))
        await conn.session.close()
        events = await _until_closed(conn, timeout=240)
    assert not [e for e in events if e.type == "error"]
    # No transcription model configured: no source transcript, as OpenAI documents.
    assert not [e for e in events if e.type == "session.input_transcript.delta"]
    translated = _text(events, "session.output_transcript.delta")
    assert translated and wer(ENGLISH, translated) > 0.6, translated  # not the English passed through
    # Both sentences: the second arrives while the first is decoded (the clip is sent at once).
    assert "paris" in translated.lower(), translated
    heard, language = _heard(lab, _speech(events))
    assert language == "french", (translated, heard)


async def test_unsupported_output_language_gets_an_error_naming_the_supported_ones(lab):
    async with lab.aclient.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        await _next(conn)
        await conn.send({"type": "session.update", "event_id": "evt_ja",
                         "session": {"audio": {"output": {"language": "ja"}}}})
        err = await _next(conn)
        assert err.type == "error" and err.error.type == "invalid_request_error"
        assert (err.error.param, err.error.code, err.error.event_id) == (
            "session.audio.output.language", "unsupported_language", "evt_ja")
        assert all(code in err.error.message for code in ("de", "en", "es", "fr"))
        await conn.send({"type": "session.update", "session": {"audio": {"output": {"language": "es-ES"}}}})
        assert (await _next(conn)).session.audio.output.language == "es"
        await conn.session.close()
        assert [e.type for e in await _until_closed(conn, timeout=20)] == ["session.closed"]


async def test_unknown_model_gets_an_error_event_and_the_socket_closes(lab):
    async with lab.aclient.realtime.translations.connect(model="gpt-nope") as conn:
        err = await _next(conn, timeout=20)
        assert err.type == "error" and err.error.param == "model"
        assert "gpt-realtime-translate" in err.error.message
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(conn.recv_bytes(), 10)


MISTAKES = {
    "bad_json": ("{not json", "invalid_json", None),
    "unknown_event": ('{"type": "response.create", "event_id": "evt_1"}', "invalid_value", "type"),
    "append_without_audio": ('{"type": "session.input_audio_buffer.append", "event_id": "evt_1"}',
                             "missing_required_parameter", "audio"),
    "append_bad_base64": ('{"type": "session.input_audio_buffer.append", "event_id": "evt_1", "audio": "@@"}',
                          "invalid_value", "audio"),
    "change_type": (json.dumps({"type": "session.update", "event_id": "evt_1", "session": {"type": "realtime"}}),
                    "invalid_value", "session.type"),
    "change_model": (json.dumps({"type": "session.update", "event_id": "evt_1", "session": {"model": "gpt-realtime"}}),
                     "invalid_value", "session.model"),
    "unknown_field": (json.dumps({"type": "session.update", "event_id": "evt_1",
                                  "session": {"audio": {"output": {"voice": "marin"}}}}),
                      "unknown_parameter", "session.audio.output.voice"),
    "unknown_transcription_model": (json.dumps({"type": "session.update", "event_id": "evt_1", "session": {
        "audio": {"input": {"transcription": {"model": "nope"}}}}}), None, "session.audio.input.transcription.model"),
    "bad_noise_reduction": (json.dumps({"type": "session.update", "event_id": "evt_1", "session": {
        "audio": {"input": {"noise_reduction": {"type": "loud_room"}}}}}), "invalid_value",
        "session.audio.input.noise_reduction.type"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
async def test_mistake_gets_an_error_event_and_the_session_goes_on(lab, mistake):
    frame, code, param = MISTAKES[mistake]
    async with lab.aclient.realtime.translations.connect(model="gpt-realtime-translate") as conn:
        await _next(conn)
        await conn.send_raw(frame)
        err = await _next(conn)
        assert err.type == "error" and err.error.message and err.error.param == param
        if code is not None:
            assert err.error.code == code
        if code != "invalid_json":
            assert err.error.event_id == "evt_1"
        await conn.send({"type": "session.update", "session": {"audio": {"output": {"language": "en"}}}})
        assert (await _next(conn)).type == "session.updated"


def test_client_secret_carries_the_effective_translation_session(lab):
    raw = lab.client.realtime.translations.client_secrets.with_raw_response.create(
        session={"model": "gpt-realtime-translate", "audio": {"input": {"transcription": {
            "model": "gpt-realtime-whisper"}, "noise_reduction": None}, "output": {"language": "es"}}},
        expires_after={"anchor": "created_at", "seconds": 600})
    data = json.loads(raw.text)
    validate(data, "RealtimeTranslationClientSecretCreateResponse")
    secret = raw.parse()
    assert isinstance(secret, RealtimeTranslationClientSecretCreateResponse)
    assert secret.value.startswith("ek_") and secret.session.expires_at == secret.expires_at
    assert (secret.session.type, secret.session.audio.output.language) == ("translation", "es")
    assert secret.session.audio.input.transcription.model == "gpt-realtime-whisper"


@pytest.mark.parametrize(("session", "expires", "param"), [
    ({"model": "gpt-realtime-translate", "audio": {"output": {"language": "xx"}}}, None,
     "session.audio.output.language"),
    ({"audio": {"output": {"language": "en"}}}, None, "session.model"),
    ({"model": "gpt-realtime-translate"}, {"seconds": 5}, "expires_after.seconds"),
])
def test_bad_client_secret_request_is_a_400_naming_the_parameter(lab, session, expires, param):
    extra = {"expires_after": expires} if expires else {}
    with pytest.raises(openai.BadRequestError) as caught:
        lab.client.realtime.translations.client_secrets.create(session=session, **extra)
    assert caught.value.body["param"] == param


def test_translate_live_times_both_transcripts(lab, spoken):
    run = translate_live(lab, spoken(SPANISH, "kokoro-es"), pace=0)
    assert not run.errors
    assert run.input_transcript and run.output_transcript
    assert 0 < run.first_output_s <= max(d.t for d in run.deltas)
    assert run.output is not None and run.output.duration > 0.5
    assert set(run.to_frame()["stream"]) == {"input", "output"}
    ax = run.plot()
    assert len(ax.get_yticks()) == 3
