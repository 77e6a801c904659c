"""``deploy/nginx/audiolab.conf`` as shipped: two ``audiolab serve`` replicas behind nginx.

The test rewrites only the listen port and the upstream servers of the repository's file to free
loopback ports, runs nginx in the foreground with a temporary prefix, and drives it with the
real ``openai`` SDK: speech, a transcription, the model list, and a realtime WebSocket session,
all through the proxy and with the replicas' API key. Skipped only when nginx is not installed
(``make`` installs it through ``scripts/system-deps.sh``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from audiolab.audio import Audio
from tests.conftest import speech_clip_path

pytestmark = pytest.mark.engines

CONF = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "audiolab.conf"
KEY = "lab-key-for-the-proxy-test"


def _nginx() -> str | None:
    found = shutil.which("nginx")
    return found or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with status {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in time")


def site_config(text: str, *, listen: int, replicas: list[int]) -> str:
    """The shipped file with its listen port and upstream servers replaced, nothing else."""
    text, n = re.subn(r"^(\s*)listen \d+;", rf"\g<1>listen 127.0.0.1:{listen};", text, flags=re.M)
    assert n == 1
    servers = [m for m in re.finditer(r"^(\s*)server 127\.0\.0\.1:\d+ (.*);$", text, flags=re.M)]
    assert len(servers) == 2
    indent, options = servers[0].group(1), servers[0].group(2)
    block = "\n".join(f"{indent}server 127.0.0.1:{p} {options};" for p in replicas)
    return text[:servers[0].start()] + block + text[servers[-1].end():]


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    nginx = _nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (Debian package 'nginx'; `make` installs it through "
                    "scripts/system-deps.sh)")
    tmp = tmp_path_factory.mktemp("nginx")
    procs: list[subprocess.Popen] = []
    try:
        ports = [_free_port(), _free_port()]
        for i, port in enumerate(ports):
            env = {**os.environ, "AUDIOLAB_API_KEY": KEY,
                   "AUDIOLAB_RESPONSE_CACHE_DIR": str(tmp / f"cache{i}")}
            cmd = [sys.executable, "-m", "audiolab.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
            with open(tmp / f"replica{i}.log", "wb") as log:
                procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log))
        for port, proc in zip(ports, procs):
            _wait_http(f"http://127.0.0.1:{port}/health", proc)
        listen = _free_port()
        site = site_config(CONF.read_text(), listen=listen, replicas=ports)
        (tmp / "logs").mkdir()
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach the temporary prefix
        (tmp / "nginx.conf").write_text(
            f"{user}worker_processes 1;\nerror_log {tmp}/logs/error.log warn;\npid {tmp}/nginx.pid;\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{\n  access_log {tmp}/logs/access.log;\n  client_body_temp_path {tmp}/body;\n"
            f"  proxy_temp_path {tmp}/proxy;\n{site}\n}}\n")
        base = [nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf")]
        check = subprocess.run([*base, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        procs.append(subprocess.Popen([*base, "-g", "daemon off;"], stderr=subprocess.DEVNULL))
        _wait_http(f"http://127.0.0.1:{listen}/health", procs[-1], timeout=20)
        yield {"url": f"http://127.0.0.1:{listen}/v1", "replicas": ports, "tmp": tmp}
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_shipped_config_balances_http_over_both_replicas(proxy):
    client = openai.OpenAI(base_url=proxy["url"], api_key=KEY, max_retries=0)
    upstreams = set()
    for _ in range(4):
        r = client.models.with_raw_response.list()
        assert any(m.id == "whisper-1" for m in r.parse().data)
        upstreams.add(r.headers["x-audiolab-upstream"])
    assert upstreams == {f"127.0.0.1:{p}" for p in proxy["replicas"]}

    speech = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="Good morning, class.",
                                        response_format="wav")
    audio = Audio.from_bytes(speech.read())
    assert audio.duration > 0.5

    clip = Audio.from_file(speech_clip_path("two_cities.wav")).to_mono().resample(16_000).slice(0.0, 6.0)
    text = client.audio.transcriptions.create(model="whisper-1", file=("clip.wav", clip.to_wav_bytes())).text
    assert "best of times" in text.lower()


def test_wrong_key_is_refused_through_the_proxy(proxy):
    client = openai.OpenAI(base_url=proxy["url"], api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_realtime_session_through_the_proxy(proxy):
    client = openai.OpenAI(base_url=proxy["url"], api_key=KEY, max_retries=0)
    with client.realtime.connect(model="gpt-realtime") as conn:
        first = json.loads(conn.recv_bytes())
        assert first["type"] == "session.created", first
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                     "instructions": "Answer in one short sentence."})
        conn.conversation.item.create(item={"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is the capital of France?"}]})
        conn.response.create()
        events = []
        while not events or events[-1]["type"] not in ("response.done", "error"):
            events.append(json.loads(conn.recv_bytes()))
    done = events[-1]
    assert done["type"] == "response.done" and done["response"]["status"] == "completed"
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text.strip()
