"""Error details that match OpenAI's: a realtime session refuses to become a transcription session,
and the custom-voice endpoints answer OpenAI-shaped errors instead of ``404 Invalid URL``."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import openai
import pytest

from tests.spec import validate


@pytest.fixture(scope="module")
def lab():
    import audiolab

    return audiolab.connect("local", environ={})


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_realtime_session_refuses_a_transcription_session_update_like_openai(lab):
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        assert json.loads(await asyncio.wait_for(conn.recv_bytes(), 60))["type"] == "session.created"
        await conn.send(
            {
                "type": "session.update",
                "event_id": "evt_switch",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                },
            }
        )
        raw = json.loads(await asyncio.wait_for(conn.recv_bytes(), 60))
        # The session is unchanged and still answers.
        await conn.session.update(session={"type": "realtime", "instructions": "Be brief."})
        after = json.loads(await asyncio.wait_for(conn.recv_bytes(), 60))
    validate(raw, "RealtimeServerEventError")
    err = raw["error"]
    assert err["code"] == "invalid_parameter" and err["type"] == "invalid_request_error"
    assert (
        err["message"] == "Passing a transcription session update event to a realtime session is not allowed."
    )
    assert err["event_id"] == "evt_switch"
    assert after["type"] == "session.updated" and after["session"]["type"] == "realtime"


def test_creating_a_custom_voice_says_the_local_backend_has_none(lab):
    with pytest.raises(openai.PermissionDeniedError) as exc:
        lab.client.audio.voices.create(
            name="My voice",
            consent="cons_1234",
            audio_sample=("sample.wav", io.BytesIO(b"RIFF"), "audio/wav"),
        )
    body = exc.value.body
    assert exc.value.status_code == 403 and body["code"] == "custom_voices_unavailable"
    assert "no custom voices" in body["message"] and "alloy" in body["message"]


def test_voice_consent_endpoints_answer_openai_shaped_errors(lab):
    with pytest.raises(openai.PermissionDeniedError) as exc:
        lab.client.audio.voice_consents.create(
            name="Jo", language="en-US", recording=("consent.wav", io.BytesIO(b"RIFF"), "audio/wav")
        )
    assert exc.value.body["code"] == "custom_voices_unavailable"
    page = lab.client.audio.voice_consents.list()
    assert page.data == [] and page.has_more is False
    validate(httpx.get(f"{lab.base_url}/audio/voice_consents").json(), "VoiceConsentListResource")
    for call in (
        lambda: lab.client.audio.voice_consents.retrieve("cons_1234"),
        lambda: lab.client.audio.voice_consents.update("cons_1234", name="Jo"),
        lambda: lab.client.audio.voice_consents.delete("cons_1234"),
    ):
        with pytest.raises(openai.NotFoundError) as exc:
            call()
        assert exc.value.body["param"] == "consent_id" and "no custom voices" in exc.value.body["message"]
        assert "Invalid URL" not in exc.value.body["message"]


def test_readme_documents_every_error_status_the_server_sends():
    import re
    from pathlib import Path

    from audiolab import errors

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Status codes the spec does not list", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d{3}) \|", section, flags=re.M)}
    server_side = [
        c
        for c in vars(errors).values()
        if isinstance(c, type)
        and issubclass(c, errors.AudiolabError)
        and c not in (errors.AudiolabError, errors.BackendError, errors.MissingAPIKey, errors.CacheMiss)
    ]
    # The app's own handlers add 400 (request validation), 404 (unknown path) and 405 (method).
    assert {c.status_code for c in server_side} | {400, 404, 405} <= documented
