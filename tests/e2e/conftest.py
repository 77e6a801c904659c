"""Real-browser fixtures: a Jupyter server (JupyterLab 4 and Notebook 7), Voila, and Debian's
Chromium with a fake microphone that plays real human speech.

Kernel-only runs (nbclient) execute no JavaScript, so a recorder that never records passes them.
Here a real Chromium drives the real front ends:

* ``jupyter``: one ``jupyter lab`` server on 127.0.0.1, a free port and a token, serving a tmp
  folder of generated test notebooks; JupyterLab is at ``/lab``, Notebook 7 at ``/tree``.
* ``browser``: Chromium from Debian (never a downloaded browser) with
  ``--use-file-for-fake-audio-capture`` pointing at a 16-bit mono 48 kHz wav of
  two_cities-01 ("It was the best of times, ..."), padded with silence; Chromium loops it.
* ``voila_app``: ``voila`` serving a notebook as an app.

Without the ``playwright`` package or ``/usr/bin/chromium`` every test here is skipped, and the
session ends with a banner saying why. ``AUDIOLAB_E2E_REQUIRED=1`` (implied by ``CI=true``)
turns that skip into a failure, so CI never passes without having run them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.browser_page import ARTIFACTS, PageErrors, screenshot
from tests.e2e.servers import free_port, running, server_env, wait_http, wait_port

CHROMIUM = os.environ.get("AUDIOLAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FAKE_MIC_UTTERANCE = "two_cities-01"
#: Silence around the fake-mic speech (4.19 s). Chromium opens the file anew at each getUserMedia
#: and loops it; a take of 5.5 s that starts up to 1 s into the file hears the whole sentence
#: once, and the loop (6.7 s) is longer than the take, so no word comes twice.
FAKE_MIC_LEAD_S, FAKE_MIC_TAIL_S = 1.0, 1.5

_TIMES: list[tuple[str, float, str]] = []
_SKIPPED: list[str] = []


def _required() -> bool:
    flag = os.environ.get("AUDIOLAB_E2E_REQUIRED") or os.environ.get("CI") or ""
    return flag.strip().lower() not in ("", "0", "false", "no")


def missing_requirement() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return (
            "the Python package 'playwright' is missing (pip install -e '.[dev]'; never `playwright install`)"
        )
    if not os.access(CHROMIUM, os.X_OK):
        return (f"no Chromium at {CHROMIUM}: install Debian's (sudo apt-get install chromium; "
                "`make test` does it as root via scripts/system-deps.sh)")
    if importlib.util.find_spec("jupyterlab") is None:
        return "jupyterlab is not installed (pip install -e '.[dev]')"
    return None


def skip_or_fail(reason: str) -> None:
    """Skip loudly, or fail when the browser tests are required (CI)."""
    message = f"REAL-BROWSER TESTS NOT RUN: {reason}"
    _SKIPPED.append(message)
    if _required():
        pytest.fail(message + " (AUDIOLAB_E2E_REQUIRED/CI is set, so this is a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="package")
def e2e_ready() -> None:
    reason = missing_requirement()
    if reason:
        skip_or_fail(reason)


# ---- timings and the loud skip banner ------------------------------------------------------

@pytest.fixture(autouse=True)
def _scenario_timer(request):
    t0 = time.perf_counter()
    yield
    seconds = time.perf_counter() - t0
    report = getattr(request.node, "rep_call", None)
    if report is None:  # skipped or failed in set-up: no scenario ran
        return
    outcome = report.outcome
    _TIMES.append((request.node.name, seconds, outcome))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\n[e2e] {request.node.name}: {seconds:.1f} s ({outcome})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


def pytest_terminal_summary(terminalreporter):
    if _TIMES:
        terminalreporter.section("real-browser scenarios (time)")
        for name, seconds, outcome in _TIMES:
            terminalreporter.write_line(f"{seconds:7.1f} s  {outcome:8s} {name}")
        terminalreporter.write_line(f"{sum(s for _, s, _ in _TIMES):7.1f} s  total")
    if _SKIPPED:
        terminalreporter.section("REAL-BROWSER TESTS SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.write_line(_SKIPPED[0], red=True, bold=True)


# ---- Jupyter ---------------------------------------------------------------------------------

@dataclass
class JupyterServer:
    """A running ``jupyter lab`` server (JupyterLab 4 at /lab, Notebook 7 at /tree)."""

    base: str
    token: str
    root: Path
    log: Path

    def lab_url(self, notebook: str) -> str:
        """JupyterLab on ``notebook`` in a workspace of its own (no tabs of earlier tests)."""
        workspace = Path(notebook).stem.replace("_", "-")
        return f"{self.base}/lab/workspaces/{workspace}/tree/{notebook}?token={self.token}"

    def tree_url(self) -> str:
        return f"{self.base}/tree?token={self.token}"

    def notebook_url(self, notebook: str) -> str:
        return f"{self.base}/notebooks/{notebook}?token={self.token}"

    def _api(self, method: str, path: str):
        req = urllib.request.Request(f"{self.base}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every session's kernel (each loads speech models: free the memory between tests)."""
        for session in self._api("GET", "/api/sessions") or []:
            with contextlib.suppress(urllib.error.URLError):
                self._api("DELETE", f"/api/sessions/{session['id']}")


@pytest.fixture(scope="package")
def notebooks_dir(tmp_path_factory) -> Path:
    """Where the generated test notebooks are written and the servers are rooted."""
    return tmp_path_factory.mktemp("e2e-notebooks")


@pytest.fixture(scope="package")
def jupyter(e2e_ready, notebooks_dir, tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyter-home")
    port, token, log = free_port(), secrets.token_hex(16), home / "jupyter.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={notebooks_dir}", "--LabApp.expose_app_in_browser=True",
           "--JupyterNotebookApp.expose_app_in_browser=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI and `make test` may run as root
        cmd.append("--allow-root")
    with running(cmd, env=server_env(home), cwd=notebooks_dir, log=log) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/status", proc=proc, log=log, token=token)
        server = JupyterServer(base, token, notebooks_dir, log)
        yield server
        server.shutdown_kernels()


@pytest.fixture(scope="package")
def notebook7(jupyter) -> None:
    """Notebook 7 is installed (the same server then serves it at /tree and /notebooks)."""
    if importlib.util.find_spec("notebook") is None:
        skip_or_fail("Notebook 7 is not installed (pip install notebook==7.6.5)")


@pytest.fixture
def kernels_stopped(jupyter):
    """Stop the test's kernels when it ends."""
    yield
    jupyter.shutdown_kernels()


# ---- Voila -----------------------------------------------------------------------------------

@dataclass
class VoilaApp:
    url: str
    log: Path


@pytest.fixture
def voila_app(e2e_ready, tmp_path_factory):
    """``voila_app(notebook_path)``: serve one notebook as an app (stopped at the test's end)."""
    if importlib.util.find_spec("voila") is None:
        skip_or_fail("voila is not installed (pip install voila==0.5.13)")
    stack = contextlib.ExitStack()

    def serve(notebook: Path, *, cell_timeout: int = 240) -> VoilaApp:
        home = tmp_path_factory.mktemp("voila-home")
        port, log = free_port(), home / "voila.log"
        cmd = [sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}",
               "--Voila.port_retries=0", "--show_tracebacks=True",
               f"--VoilaExecutor.timeout={cell_timeout}", str(notebook)]
        proc = stack.enter_context(running(cmd, env=server_env(home), cwd=notebook.parent, log=log))
        # Voila has no /api/status, and GET / would run the notebook: wait for the port instead.
        wait_port(port, proc=proc, log=log)
        return VoilaApp(f"http://127.0.0.1:{port}/", log)

    with stack:
        yield serve


# ---- the fake microphone and the browser -------------------------------------------------------

@dataclass(frozen=True)
class FakeMic:
    """What Chromium's fake microphone plays, in a loop."""

    path: Path
    text: str  # the words spoken
    lead_s: float  # silence before them
    speech_s: float  # their duration
    loop_s: float  # the whole file


@pytest.fixture(scope="package")
def fake_mic(tmp_path_factory) -> FakeMic:
    """A real speech clip as Chromium wants it: a 16-bit mono 48 kHz wav, a few seconds long."""
    import numpy as np

    from audiolab.audio import Audio
    from audiolab.eval.datasets import real_speech

    utt = real_speech()[FAKE_MIC_UTTERANCE]
    speech = utt.audio.to_mono().resample(48000)
    lead = np.zeros(int(FAKE_MIC_LEAD_S * 48000), np.float32)
    tail = np.zeros(int(FAKE_MIC_TAIL_S * 48000), np.float32)
    clip = Audio.from_array(np.concatenate([lead, speech.samples, tail]), 48000)
    path = tmp_path_factory.mktemp("fake-mic") / "fake-mic.wav"
    path.write_bytes(clip.to_wav_bytes())
    return FakeMic(path=path, text=utt.text, lead_s=FAKE_MIC_LEAD_S, speech_s=speech.duration,
                   loop_s=clip.duration)


def chromium_args(fake_mic: FakeMic) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={fake_mic.path}",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--disable-quic", "--disable-sync"]


@pytest.fixture(scope="package")
def browser(e2e_ready, fake_mic, tmp_path_factory):
    """A Chromium context (fresh ``--user-data-dir``) whose microphone plays ``fake_mic``."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        try:
            context = pw.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, headless=True, args=chromium_args(fake_mic),
                viewport={"width": 1500, "height": 1100}, permissions=["microphone"])
        except Exception as exc:  # a broken Chromium install: say so instead of a stack of CDP noise
            skip_or_fail(f"Chromium at {CHROMIUM} did not start: {exc}")
        context.set_default_timeout(30_000)
        yield context
        context.close()


@pytest.fixture
def page(browser, request):
    """A fresh tab; its uncaught errors and console errors are collected on ``page.errors``."""
    with contextlib.suppress(FileNotFoundError):  # a screenshot of an earlier failure
        (ARTIFACTS / f"FAILED-{request.node.name}.png").unlink()
    tab = browser.new_page()
    tab.errors = PageErrors(tab)
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:  # what the page showed, and said, when it failed
        with contextlib.suppress(Exception):
            screenshot(tab, f"FAILED-{request.node.name}")
        for line in (tab.errors.uncaught + tab.errors.console)[-20:]:
            print(f"[e2e page error] {line}")
    with contextlib.suppress(Exception):
        tab.close()
