"""`make lab` reaches a running JupyterLab on notebooks/, headless."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_jupyterlab_headless(tmp_path):
    port = _free_port()
    token = "audiolab-test-token"
    env = {**os.environ, "JUPYTER_PORT": str(port), "JUPYTER_RUNTIME_DIR": str(tmp_path),
           "LAB_FLAGS": f"--no-browser --ip=127.0.0.1 --IdentityProvider.token={token}"}
    proc = subprocess.Popen(["make", "lab"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5)
                status = r.status_code
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert status == 200, f"JupyterLab did not answer on /lab (exit {proc.poll()})"
        assert "JupyterLab" in r.text
        api = httpx.get(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=5).json()
        names = {c["name"] for c in api["content"]}
        assert any(n.endswith(".ipynb") for n in names), "JupyterLab is not rooted at notebooks/"
        kernels = httpx.get(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}", timeout=5).json()
        # The kernel the notebooks name in their metadata is the one make registered: .venv's Python.
        names = {json.loads(p.read_text())["metadata"]["kernelspec"]["name"] for p in NOTEBOOKS}
        assert names == {"python3"}
        spec = kernels["kernelspecs"]["python3"]["spec"]
        assert spec["display_name"] == "Python 3 (audiolab)"
        assert Path(spec["argv"][0]) == ROOT / ".venv" / "bin" / "python"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
