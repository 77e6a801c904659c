"""Retired OpenAI ids (``gpt-4o-audio-preview``, ``gpt-4o-realtime-preview``...) and the Realtime
beta dialect still run on the local backend, marked as retired: old tutorials run unmodified.

The seed's Chat Completions audio snippet and the cookbook's steering_tts audio cells run as
separate programs against the real server (``OPENAI_BASE_URL``), exactly as a user would run them.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from pydantic import TypeAdapter

from audiolab.audio import Audio
from audiolab.client.catalog import catalog_frame, pick_model, sdk_models
from audiolab.server.registry import ALIASES, RETIRED

SNIPPETS = Path(__file__).parent / "snippets"
_BETA_EVENTS = TypeAdapter(BetaServerEvent)


@pytest.fixture(scope="module")
def lab():
    import audiolab

    return audiolab.connect("local", environ={})


def _run(script: Path, lab, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AUDIOLAB_"))}
    env.update(OPENAI_BASE_URL=lab.base_url, OPENAI_API_KEY="sk-local-not-a-real-key")
    return subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_seed_chat_audio_snippet_runs_verbatim_on_the_local_backend(lab, tmp_path):
    done = _run(SNIPPETS / "seed_chat_audio.py.txt", lab, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ChatCompletionAudio(" in done.stdout and "finish_reason=" in done.stdout
    dog = Audio.from_file(tmp_path / "dog.wav")
    assert dog.duration > 0.5 and float(np.abs(dog.samples).max()) > 0.05


def test_steering_tts_audio_cells_run_unmodified(lab, tmp_path):
    done = _run(SNIPPETS / "steering_tts_cells.py", lab, tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("plain", "child", "fast"):
        clip = Audio.from_file(tmp_path / "sounds" / f"{name}.mp3")
        assert clip.duration > 0.5, name
    spoken = [line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("child ", "fast "))]
    assert len(spoken) == 2 and all(text.strip() for _, text in spoken)


def test_every_retired_audio_id_in_the_sdk_is_served():
    sdk_ids = {
        r["model"]
        for r in sdk_models()
        if "preview" in r["model"] and r["kind"] in ("chat audio", "realtime")
    }
    assert sdk_ids and sdk_ids <= set(RETIRED)
    assert all(ALIASES[i].retired and ALIASES[i].replacement for i in RETIRED)


def test_retired_chat_id_answers_with_deprecation_sunset_and_link_headers(lab):
    raw = lab.client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini-audio-preview-2024-12-17",
        modalities=["text", "audio"],
        audio={"voice": "coral", "format": "wav"},
        max_tokens=16,
        messages=[{"role": "user", "content": "Say hello."}],
    )
    h = raw.headers
    sunset = email.utils.parsedate_to_datetime(h["sunset"])
    assert sunset.date().isoformat() == "2026-05-07"
    assert h["deprecation"] == f"@{int(sunset.timestamp())}"
    assert 'rel="deprecation"' in h["link"] and h["warning"].startswith("299 ")
    assert "gpt-audio-mini" in h["warning"]
    assert raw.parse().choices[0].message.audio.data


def test_current_ids_carry_no_deprecation_header(lab):
    raw = lab.client.chat.completions.with_raw_response.create(
        model="gpt-audio-mini", max_tokens=8, messages=[{"role": "user", "content": "Hi"}]
    )
    assert "deprecation" not in raw.headers and "sunset" not in raw.headers


def test_models_and_catalog_say_openai_no_longer_serves_retired_ids(lab):
    model = lab.client.models.retrieve("gpt-4o-realtime-preview")
    extra = model.model_extra
    assert extra["retired"] is True and "OpenAI no longer serves" in extra["note"]
    assert extra["replacement"] == "gpt-realtime"
    listed = httpx.get(f"{lab.base_url}/models/gpt-4o-audio-preview")
    assert listed.headers["deprecation"].startswith("@")
    df = catalog_frame(httpx.get(f"{lab.base_url}/models").json()["data"])
    rows = df[df["model"].isin(list(RETIRED))]
    assert set(rows["model"]) == set(RETIRED)
    assert rows["past_shutdown"].all() and rows["note"].str.contains("OpenAI no longer serves").all()
    for kind in ("chat audio", "realtime"):
        assert pick_model(df, kind) not in RETIRED


# --- the Realtime beta: OpenAI-Beta: realtime=v1, beta event names and shapes -------------------
@pytest.fixture
def anyio_backend():
    return "asyncio"


def _beta_client(lab) -> openai.AsyncOpenAI:
    # The SDK's beta realtime client always dials wss:// unless told a websocket_base_url; plain
    # HTTP here (``audiolab serve --tls`` serves the wss:// it expects by default).
    return openai.AsyncOpenAI(
        base_url=lab.base_url, api_key="sk-local", websocket_base_url=lab.base_url.replace("http", "ws", 1),
        http_client=openai.DefaultAsyncHttpxClient(),  # no close scheduled on a later test's loop when collected
    )


def _beta(raw) -> object:
    data = json.loads(raw)
    ev = _BETA_EVENTS.validate_python(data)
    assert ev.type == data["type"]
    return ev


@pytest.mark.anyio
async def test_beta_realtime_client_gets_beta_event_names_on_a_retired_model(lab):
    async with _beta_client(lab).beta.realtime.connect(model="gpt-4o-realtime-preview-2024-12-17") as conn:
        created = _beta(await asyncio.wait_for(conn.recv_bytes(), 60))
        assert created.type == "session.created"
        assert created.session.input_audio_format == "pcm16" and "audio" in created.session.modalities
        await conn.session.update(
            session={
                "modalities": ["text", "audio"],
                "voice": "ash",
                "instructions": "Answer in one short sentence.",
                "input_audio_format": "pcm16",
                "output_audio_format": "pcm16",
                "turn_detection": None,
            }
        )
        updated = _beta(await asyncio.wait_for(conn.recv_bytes(), 60))
        assert updated.type == "session.updated" and updated.session.voice == "ash"
        assert updated.session.turn_detection is None
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Say hello."}],
            }
        )
        await conn.response.create()
        events = []
        while not events or events[-1].type != "response.done":
            events.append(_beta(await asyncio.wait_for(conn.recv_bytes(), 120)))
    types = [e.type for e in events]
    assert "conversation.item.created" in types and "conversation.item.added" not in types
    assert "response.audio.delta" in types and "response.audio_transcript.delta" in types
    assert "response.audio.done" in types and "response.audio_transcript.done" in types
    assert not any(t.startswith("response.output_audio") for t in types)
    done = events[-1].response
    assert done.status == "completed" and done.modalities == ["text", "audio"] and done.voice == "ash"
    assert done.output[0].content[0].type == "audio" and done.output[0].content[0].transcript
    pcm = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.audio.delta")
    assert len(pcm) > 9_600  # more than 0.2 s of 24 kHz pcm16: a spoken "Hello!" is about 0.4 s


@pytest.mark.anyio
async def test_beta_text_modality_streams_response_text_events(lab):
    async with _beta_client(lab).beta.realtime.connect(model="gpt-4o-mini-realtime-preview") as conn:
        _beta(await asyncio.wait_for(conn.recv_bytes(), 60))
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hi."}]}
        )
        await conn.response.create(response={"modalities": ["text"], "max_response_output_tokens": 12})
        events = []
        while not events or events[-1].type != "response.done":
            events.append(_beta(await asyncio.wait_for(conn.recv_bytes(), 120)))
    types = [e.type for e in events]
    assert "response.text.delta" in types and "response.text.done" in types
    text = "".join(e.delta for e in events if e.type == "response.text.delta")
    assert text.strip() and events[-1].response.output[0].content[0].type == "text"


@pytest.mark.anyio
async def test_ga_client_on_a_retired_realtime_model_keeps_ga_names_and_sees_deprecation(lab):
    async with lab.aclient.realtime.connect(model="gpt-4o-realtime-preview") as conn:
        created = json.loads(await asyncio.wait_for(conn.recv_bytes(), 60))
        assert created["type"] == "session.created" and created["session"]["type"] == "realtime"
    # The handshake's own headers: a raw upgrade shows them.
    import websockets

    url = lab.base_url.replace("http", "ws", 1) + "/realtime?model=gpt-4o-realtime-preview"
    async with websockets.connect(url) as ws:
        assert ws.response.headers["deprecation"] == "true"
        assert 'rel="deprecation"' in ws.response.headers["link"]


def test_unknown_preview_id_is_still_a_404(lab):
    with pytest.raises(openai.NotFoundError):
        lab.client.chat.completions.create(
            model="gpt-4o-audio-preview-2099-01-01", messages=[{"role": "user", "content": "Hi"}]
        )


@pytest.mark.anyio
async def test_browser_style_beta_subprotocol_selects_the_beta_dialect(lab):
    import websockets

    url = lab.base_url.replace("http", "ws", 1) + "/realtime?model=gpt-4o-realtime-preview"
    async with websockets.connect(url, subprotocols=["realtime", "openai-beta.realtime-v1"]) as ws:
        created = _beta(await asyncio.wait_for(ws.recv(), 60))
    assert created.type == "session.created" and created.session.input_audio_format == "pcm16"
