"""Binding beyond loopback needs a token; a wrong token gets an OpenAI-shaped 401."""

from __future__ import annotations

import subprocess
import sys

import httpx
import openai
import pytest

from audiolab.errors import InvalidRequest
from audiolab.server.serve import check_binding, start_in_thread
from audiolab.server.settings import Settings

TOKEN = "classroom-token-123"


@pytest.fixture(scope="module")
def guarded():
    handle = start_in_thread(Settings(api_key=TOKEN))
    yield handle
    handle.stop()


def test_binding_beyond_loopback_requires_a_token():
    with pytest.raises(InvalidRequest) as exc:
        check_binding(Settings(host="0.0.0.0"))
    assert exc.value.param == "api_key"
    check_binding(Settings(host="0.0.0.0", api_key=TOKEN))


def test_cli_refuses_to_bind_lan_without_a_token():
    out = subprocess.run([sys.executable, "-m", "audiolab.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--api-key" in out.stderr


def test_wrong_token_gets_openai_shaped_401(guarded):
    client = openai.OpenAI(base_url=guarded.url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as exc:
        client.models.list()
    assert exc.value.body["code"] == "invalid_api_key"
    assert TOKEN not in str(exc.value.body)


def test_right_token_is_served(guarded):
    client = openai.OpenAI(base_url=guarded.url, api_key=TOKEN, max_retries=0)
    assert "whisper-1" in {m.id for m in client.models.list()}


def test_health_is_open_but_api_is_not(guarded):
    base = guarded.url.removesuffix("/v1")
    assert httpx.get(f"{base}/health").status_code == 200
    assert httpx.get(f"{guarded.url}/models").status_code == 401
