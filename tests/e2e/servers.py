"""Start and stop the servers the browser tests drive (Jupyter, Voila), each with its own
Jupyter dirs, a free port on 127.0.0.1, and a log to show when it fails to come up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

__all__ = ["free_port", "running", "wait_http", "wait_port", "server_env"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def running(cmd: list[str], *, env: dict, cwd: Path, log: Path):
    """Run a server process for the duration of the block, logging to ``log``; stop it after."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)  # the servers shut their kernels down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def wait_http(url: str, *, proc: subprocess.Popen, log: Path, token: str | None = None,
              timeout: float = 90.0) -> None:
    """Poll ``url`` until it answers 200, failing early (with the log) if the server exits."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"token {token}"} if token else {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode} before answering {url}:\n{_tail(log)}",
                        pytrace=False)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n{_tail(log)}", pytrace=False)


def wait_port(port: int, *, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    """Wait until something listens on 127.0.0.1:``port``, failing early if the server exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{_tail(log)}", pytrace=False)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            return
        time.sleep(0.3)
    pytest.fail(f"nothing listened on port {port} within {timeout:.0f} s:\n{_tail(log)}", pytrace=False)


def server_env(home: Path) -> dict:
    """The servers' (and so the kernels') environment: isolated Jupyter dirs, local backend."""
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
                 "JUPYTERLAB_WORKSPACES_DIR"):
        path = home / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    # No news/update checks: their popup would cover the widgets (and there is no internet).
    notes = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab" / "apputils-extension"
    notes.mkdir(parents=True, exist_ok=True)
    (notes / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env.update(AUDIOLAB_BACKEND="local", PYTHONUNBUFFERED="1")
    env.pop("MPLBACKEND", None)  # kernels draw inline, as for a person
    env.pop("AUDIOLAB_HEADLESS", None)
    # The kernels run this venv's python: make sure its bin comes first.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env
