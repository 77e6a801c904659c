"""The official OpenAI Node SDK (npm ``openai``, pinned in tests/node/package.json) runs unmodified
against ``audiolab serve --tls``: HTTP endpoints over https:// and ``OpenAIRealtimeWS``, which
always dials wss://. The client trusts the server through ``NODE_EXTRA_CA_CERTS``, as the README
says. ``make test`` installs the npm packages (``make node-deps``); the test skips only when
``node`` itself is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.engines,
    pytest.mark.skipif(
        NODE is None,
        reason="node is not installed: the Node SDK test needs node >= 20 and npm (apt install nodejs npm)",
    ),
]


def _node_modules() -> Path:
    modules = HERE / "node_modules"
    if not (modules / "openai" / "package.json").is_file():
        npm = shutil.which("npm")
        assert npm, "node is installed but npm is not: run `make node-deps` on a machine with npm"
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, (
            f"`npm ci` in tests/node failed (run `make node-deps`):\n{done.stderr[-2000:]}"
        )
    return modules


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def tls_server():
    """``audiolab serve --tls`` as a user runs it, in its own process; the CA path is read from
    what it prints."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "audiolab.cli", "serve", "--tls", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "NODE_EXTRA_CA_CERTS=" in line or len(lines) > 20:
                break
        banner = "".join(lines)
        assert f"https://localhost:{port}/v1" in banner, banner
        ca = Path(banner.split("NODE_EXTRA_CA_CERTS=", 1)[1].split(")", 1)[0])
        assert ca.is_file() and ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
        _wait_for_tls(port)
        yield {"url": f"https://localhost:{port}/v1", "ca": ca}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _wait_for_tls(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port}")


def _run_node(script: str, env: dict) -> subprocess.CompletedProcess:
    _node_modules()
    return subprocess.run(
        [NODE, str(HERE / script)], cwd=HERE, env=env, capture_output=True, text=True, timeout=400
    )


def test_node_sdk_speaks_https_and_realtime_wss_to_audiolab_serve_tls(tls_server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(
        OPENAI_BASE_URL=tls_server["url"],
        OPENAI_API_KEY="sk-local-node",
        NODE_EXTRA_CA_CERTS=str(tls_server["ca"]),
    )
    done = _run_node("sdk_smoke.mjs", env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "whisper-1" in out["models"] and "gpt-4o-audio-preview" in out["models"]
    assert out["speech_riff"] == "RIFF" and out["speech_bytes"] > 20_000
    assert "node" in out["transcript"].lower()
    assert out["chat_audio_bytes"] > 10_000
    assert (out["error_class"], out["error_status"], out["error_code"]) == (
        "NotFoundError",
        404,
        "model_not_found",
    )
    assert out["realtime_url_scheme"] == "wss:" and out["realtime_status"] == "completed"
    assert out["realtime_events"][0] == "session.created" and out["realtime_events"][-1] == "response.done"
    assert "response.output_text.delta" in out["realtime_events"] and out["realtime_text"].strip()


def test_node_without_the_ca_refuses_the_self_signed_certificate(tls_server):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NODE_EXTRA_CA_CERTS"))}
    env.update(OPENAI_BASE_URL=tls_server["url"], OPENAI_API_KEY="sk-local-node")
    done = _run_node("sdk_smoke.mjs", env)
    assert done.returncode != 0
    assert "certificate" in done.stderr.lower() or "self-signed" in done.stderr.lower(), done.stderr[-2000:]
