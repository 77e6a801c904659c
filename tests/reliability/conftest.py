"""Shared pieces of the reliability tests: a live server, the OpenAI error-shape check, and the
tally of bad requests that the fuzz files report at the end of the run.

The issue's goal is counted across files: at least 1,000 bad requests, none answered with a
status >= 500. Each fuzz file asserts its own share (and 0 server errors); the terminal summary
prints the totals.
"""

from __future__ import annotations

import collections
import os
import threading
import time

import httpx
import pytest

from audiolab.server.serve import start_in_thread
from audiolab.server.settings import Settings
from tests.spec import validate

#: file -> {"bad": n, "5xx": n} for the terminal summary
TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_ERROR_KEYS = {"message", "type", "param", "code"}


def error_problem(status: int, body, *, server_error_ok: bool = False) -> str | None:
    """Why ``body`` is not an OpenAI error object for ``status`` (None when it is one)."""
    if status >= 500 and not server_error_ok:
        return f"status {status}"
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"not {{'error': {{...}}}}: {str(body)[:200]}"
    err = body["error"]
    if not set(err) >= _ERROR_KEYS:
        return f"error lacks {_ERROR_KEYS - set(err)}: {err}"
    if not isinstance(err["message"], str) or not err["message"].strip():
        return f"empty message: {err}"
    optional_strings = all(err[k] is None or isinstance(err[k], str) for k in ("param", "code"))
    if not isinstance(err["type"], str) or not optional_strings:
        return f"wrong field types: {err}"
    try:
        validate(body, "ErrorResponse")
    except Exception as exc:  # reported as the problem
        return f"not the spec's ErrorResponse: {exc}"[:300]
    return None


def check_http(resp: httpx.Response | object, problems: list, what: str = "") -> int:
    """Record a problem unless ``resp`` is a success or an OpenAI-shaped 4xx; returns the status."""
    status = resp.status_code
    if status >= 400:
        try:
            body = resp.json()
        except ValueError:
            body = getattr(resp, "text", None)
        problem = error_problem(status, body)
        if problem:
            problems.append(f"{what} -> {status}: {problem}")
    return status


def tally(name: str, *, bad: int, server_errors: int) -> None:
    TALLY[name]["bad"] += bad
    TALLY[name]["5xx"] += server_errors


def health(handle) -> dict:
    return httpx.get(handle.url.removesuffix("/v1") + "/health", timeout=10).json()


def wait_idle(handle, *, timeout: float = 30.0) -> dict:
    """Poll ``/health`` until no job runs or waits; returns the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        h = health(handle)
        if h["jobs"]["running"] == 0 and h["jobs"]["waiting"] == 0:
            return h
        if time.monotonic() > deadline:
            return h
        time.sleep(0.1)


def rss_mb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def thread_count() -> int:
    return threading.active_count()


@pytest.fixture(scope="session")
def server():
    """A live local backend on 127.0.0.1 with default limits, shared by the reliability tests."""
    handle = start_in_thread(Settings())
    yield handle
    handle.stop()


def pytest_terminal_summary(terminalreporter):
    if not TALLY:
        return
    tr = terminalreporter
    tr.section("reliability: bad requests")
    for name, c in sorted(TALLY.items()):
        tr.write_line(f"{name:<28} bad requests {c['bad']:>6}   responses >= 500: {c['5xx']}")
    total = sum(c["bad"] for c in TALLY.values())
    fives = sum(c["5xx"] for c in TALLY.values())
    tr.write_line(f"{'total':<28} bad requests {total:>6}   responses >= 500: {fives}")
