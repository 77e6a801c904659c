"""Bounded engine work: CPU jobs run off the event loop, at most N at once, with a bounded queue.

Past the queue bound a request gets :class:`~audiolab.errors.RateLimited` (429 with
``retry-after``) instead of joining an unbounded pile-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import anyio.to_thread

from audiolab.errors import RateLimited

__all__ = ["JobRunner"]

T = TypeVar("T")
_DONE = object()


class JobRunner:
    """Runs blocking engine calls in worker threads with admission control.

    Args:
        max_concurrency: jobs running at once.
        max_queue: jobs allowed to wait; one more is refused with 429.
    """

    def __init__(self, *, max_concurrency: int = 2, max_queue: int = 64):
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self._sem = asyncio.Semaphore(max_concurrency)
        self.waiting = 0
        self.running = 0

    @contextlib.asynccontextmanager
    async def slot(self):
        """Hold one of the ``max_concurrency`` slots; refuse with 429 when the queue is full."""
        if self.waiting >= self.max_queue:
            raise RateLimited(
                f"The local server is busy ({self.running} running, {self.waiting} queued). Retry shortly.",
                retry_after=max(1.0, self.waiting / max(1, self.max_concurrency)),
            )
        self.waiting += 1
        try:
            await self._sem.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._sem.release()

    async def run(self, fn: Callable[..., T], /, *args, **kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, once a slot is free."""
        async with self.slot():
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def iterate(self, make_iter: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """Items of a blocking iterator, each produced in a worker thread, holding one slot.

        If the consumer stops early (client disconnected, task cancelled), the item being made
        is allowed to finish, then the iterator is closed and the slot released: nothing keeps
        running, and the slot is never leaked.
        """
        async with self.slot():
            it = await _finish_even_if_cancelled(make_iter)
            try:
                while True:
                    item = await _finish_even_if_cancelled(next, it, _DONE)
                    if item is _DONE:
                        break
                    yield item
            finally:
                if hasattr(it, "close"):
                    it.close()


async def _finish_even_if_cancelled(fn, *args):
    """Run ``fn(*args)`` in a worker thread; on cancellation, wait for the thread, then re-raise.

    A cancelled await does not stop a thread, so without this a generator could be closed while
    it is still executing in its worker.
    """
    work = asyncio.ensure_future(anyio.to_thread.run_sync(functools.partial(fn, *args)))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        # anyio cancel scopes re-deliver cancellation at every await: keep waiting for the thread.
        while not work.done():
            try:
                await asyncio.wait([work])
            except asyncio.CancelledError:
                pass
        raise
