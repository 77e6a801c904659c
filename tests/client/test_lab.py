"""connect(): which backend, which clients, and never the key."""

from __future__ import annotations

import pytest

import audiolab
from audiolab.client.lab import connect, resolve_backend
from audiolab.errors import BackendError, MissingAPIKey

FAKE_KEY = "sk-test-FAKEKEY0123456789abcdefghijklmnop"


@pytest.mark.parametrize(
    "backend, environ, expected",
    [
        (None, {}, "local"),
        (None, {"OPENAI_API_KEY": FAKE_KEY}, "openai"),
        (None, {"AUDIOLAB_BACKEND": "local", "OPENAI_API_KEY": FAKE_KEY}, "local"),
        (None, {"AUDIOLAB_BACKEND": "http://10.0.0.5:8000/v1/"}, "http://10.0.0.5:8000/v1"),
        ("local", {"OPENAI_API_KEY": FAKE_KEY}, "local"),
        ("openai", {"AUDIOLAB_BACKEND": "local"}, "openai"),
        ("http://127.0.0.1:9/v1", {"AUDIOLAB_BACKEND": "openai"}, "http://127.0.0.1:9/v1"),
        ("OpenAI", {}, "openai"),
    ],
)
def test_backend_resolution_first_match_wins(backend, environ, expected):
    assert resolve_backend(backend, environ=environ) == expected


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(BackendError, match="Unknown backend 'openia'"):
        resolve_backend("openia", environ={})


def test_openai_backend_without_key_says_how_to_fix():
    with pytest.raises(MissingAPIKey) as exc:
        connect("openai", environ={})
    assert "OPENAI_API_KEY" in str(exc.value) and "local" in str(exc.value)


def test_openai_backend_points_the_sdk_at_openai_and_hides_the_key():
    lab = connect("openai", environ={"OPENAI_API_KEY": FAKE_KEY})
    assert lab.backend == "openai"
    assert str(lab.client.base_url).startswith("https://api.openai.com/v1")
    assert FAKE_KEY not in repr(lab) and FAKE_KEY not in lab._repr_html_()
    assert "FAKEKEY" not in repr(lab)


@pytest.mark.engines
def test_local_backend_starts_once_and_lists_models():
    lab = connect("local", environ={})
    again = connect(environ={})
    assert lab.backend == again.backend == "local"
    assert lab.base_url == again.base_url and lab.base_url.startswith("http://127.0.0.1:")
    models = lab.models()
    assert {"whisper-1", "whisper-base", "gpt-4o-mini-tts", "piper-joe"} <= set(models)
    assert "local backend" in lab._repr_html_()


@pytest.mark.engines
def test_url_backend_talks_to_any_openai_compatible_server():
    local = connect("local", environ={})
    lab = connect(local.base_url, api_key=FAKE_KEY, environ={})
    assert lab.backend == local.base_url
    assert "whisper-1" in lab.models()
    assert FAKE_KEY not in repr(lab)


def test_audiolab_connect_is_the_public_entry_point():
    assert audiolab.connect is connect


def test_missing_engine_package_names_it_and_the_make_command():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "import audiolab\n"
        "try:\n    audiolab.connect('local', environ={})\n"
        "except audiolab.errors.BackendError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "uvicorn" in out and "make lab" in out
