"""The local backend over TLS: a self-signed certificate for localhost made with trustme (or the
caller's own), HTTPS and WSS through the real Python SDK, including the beta realtime client that
always dials wss://."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import openai
import pytest
from cryptography import x509

from audiolab.errors import InvalidRequest
from audiolab.server.serve import start_in_thread
from audiolab.server.settings import Settings
from audiolab.server.tls import client_context, localhost_certificate, user_certificate


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return localhost_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(certs):
    handle = start_in_thread(Settings(), tls=certs)
    yield handle
    handle.stop()


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_certificate_names_localhost_and_is_reused_while_fresh(certs):
    cert = x509.load_pem_x509_certificate(certs.certfile.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert oct(certs.keyfile.stat().st_mode & 0o777) == "0o600"
    again = localhost_certificate(certs.ca.parent)
    assert again.certfile.read_bytes() == certs.certfile.read_bytes()


def test_python_sdk_over_https_trusting_the_local_ca(server, certs, two_cities):
    assert server.url.startswith("https://localhost:")
    client = openai.OpenAI(
        base_url=server.url, api_key="local", http_client=httpx.Client(verify=client_context(certs.ca))
    )
    assert "whisper-1" in {m.id for m in client.models.list()}
    text = client.audio.transcriptions.create(
        model="whisper-1", file=("c.wav", two_cities.slice(0, 5).to_wav_bytes(), "audio/wav")
    ).text
    assert text.lower().startswith("it was the best of times")


def test_a_client_without_the_ca_is_refused(server):
    client = openai.OpenAI(base_url=server.url, api_key="local", max_retries=0)
    with pytest.raises(openai.APIConnectionError) as exc:
        client.models.list()
    assert "CERTIFICATE_VERIFY_FAILED" in str(exc.value.__cause__)


@pytest.mark.anyio
async def test_beta_realtime_client_dials_wss_by_default_and_connects(server, certs):
    client = openai.AsyncOpenAI(
        base_url=server.url, api_key="local", http_client=httpx.AsyncClient(verify=client_context(certs.ca))
    )
    async with client.beta.realtime.connect(
        model="gpt-4o-realtime-preview", websocket_connection_options={"ssl": client_context(certs.ca)}
    ) as conn:
        created = json.loads(await asyncio.wait_for(conn.recv_bytes(), 60))
    assert created["type"] == "session.created" and created["session"]["input_audio_format"] == "pcm16"


def test_callers_own_certificate_is_checked(certs, tmp_path):
    assert user_certificate(certs.certfile, certs.keyfile).ca is None
    other = localhost_certificate(tmp_path)
    with pytest.raises(InvalidRequest) as exc:
        user_certificate(certs.certfile, other.keyfile)
    assert exc.value.param == "ssl_certfile"
    with pytest.raises(InvalidRequest):
        user_certificate(tmp_path / "missing.pem", certs.keyfile)


def test_cli_refuses_a_certificate_without_its_key(certs):
    done = subprocess.run(
        [sys.executable, "-m", "audiolab.cli", "serve", "--ssl-certfile", str(certs.certfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--ssl-certfile and --ssl-keyfile go together" in done.stderr


@pytest.mark.anyio
async def test_connect_tls_serves_the_local_backend_over_https_and_wss():
    import audiolab

    lab = audiolab.connect("local", environ={}, tls=True)
    assert lab.base_url.startswith("https://localhost:")
    speech = lab.client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="alloy", input="Secure hello.", response_format="wav"
    )
    assert speech.read()[:4] == b"RIFF"
    async with lab.aclient.realtime.connect(model="gpt-realtime") as conn:
        created = json.loads(await asyncio.wait_for(conn.recv_bytes(), 60))
    assert created["type"] == "session.created" and created["session"]["type"] == "realtime"
    assert audiolab.connect("local", environ={}, tls=True).base_url == lab.base_url  # one TLS server, reused
