"""Background work of a Realtime session that can be cancelled *and waited for*.

Engine calls run in worker threads (``JobRunner`` over ``anyio.to_thread``). A plain
``asyncio.Task.cancel()`` does not wait for such a thread: the task ends at once while the thread
keeps computing, and the job slot is given back too early. Cancelling through an anyio
``CancelScope`` instead lets the thread call finish first (anyio shields it), so when a
:class:`Work` has ended nothing it started is still running. Sessions rely on this to leave
nothing behind when a client disconnects.

Example:
    >>> import asyncio
    >>> async def demo():
    ...     w = Work(asyncio.sleep(10, result="late"))
    ...     w.cancel()
    ...     return await w
    >>> asyncio.run(demo()) is None
    True
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine

import anyio

__all__ = ["Work"]

class Work:
    """``coro`` in its own task and cancel scope; awaiting it gives the result, or ``None`` if cancelled."""

    def __init__(self, coro: Coroutine, *, name: str | None = None):
        self.scope = anyio.CancelScope()
        self.task = asyncio.create_task(self._run(coro), name=name)

    async def _run(self, coro: Coroutine):
        with self.scope:
            return await coro
        return None  # cancelled

    def cancel(self) -> None:
        self.scope.cancel()

    def done(self) -> bool:
        return self.task.done()

    def __await__(self):
        return self.task.__await__()
