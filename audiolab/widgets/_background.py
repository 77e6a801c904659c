"""Run the labs' async work from plain (sync) code, inside Jupyter or not.

Jupyter cells already run inside an event loop, where ``asyncio.run`` refuses to start; the
labs then run their coroutine on a fresh loop in a worker thread and wait for it. Each run also
gets its own HTTP connection pool (a copy of ``lab.aclient`` with the same key, base URL,
timeout and retries): pooled connections belong to the loop that opened them, and a loop that
has finished cannot serve them again. The new pool sits under the same instrumented transport
as ``lab.aclient``, so history, cost and the response cache (replay mode too) still apply.

Example:
    >>> async def answer():
    ...     return 42
    >>> run_sync(answer)
    42
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["run_sync", "run_in_thread", "scoped_client", "describe_error"]


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` to completion and return its result, whatever the caller's loop.

    Args:
        make: a zero-argument callable returning the coroutine (called on the loop that runs it).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_call(make))
    box: dict[str, Any] = {}

    def target():
        try:
            box["value"] = asyncio.run(_call(make))
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="audiolab-lab-run", daemon=True)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_in_thread(
    make: Callable[[], Awaitable[Any]], *, on_error: Callable[[BaseException], None]
) -> threading.Thread:
    """Start ``make()`` on its own loop in a daemon thread and return at once (for button clicks)."""

    def target():
        try:
            asyncio.run(_call(make))
        except BaseException as exc:  # shown in the widget's error area, never lost
            on_error(exc)

    worker = threading.Thread(target=target, name="audiolab-lab-ui", daemon=True)
    worker.start()
    return worker


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


@contextlib.asynccontextmanager
async def scoped_client(lab) -> AsyncIterator[Any]:
    """A client for ``lab`` with its own connection pool, closed on exit.

    An audiolab ``Lab`` makes it with ``fresh_aclient()``, so history, the response cache and
    replay mode carry over; any other object with an ``aclient`` gets a plain copy.
    """
    fresh = getattr(lab, "fresh_aclient", None)
    if fresh is not None:
        client = fresh()
    else:
        import openai

        client = lab.aclient.copy(http_client=openai.DefaultAsyncHttpxClient())
    try:
        yield client
    finally:
        await client.close()


def describe_error(exc: BaseException) -> str:
    """One line a person can act on: HTTP status and the backend's message for SDK errors."""
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body) if isinstance(body.get("error", body), dict) else body
        message = inner.get("message") or message
    prefix = f"HTTP {status}" if status else type(exc).__name__
    return f"{prefix}: {message}"
