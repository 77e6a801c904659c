"""The CPU scheduler of the local server: every engine job runs under one budget of threads.

Engines compute in worker threads, each with ``settings.job_threads`` threads, and at most
``settings.concurrency`` jobs run at once, so the engines together never use more threads than
the CPU budget (``AUDIOLAB_CPU_THREADS``, the machine's cores by default). Who runs next is
decided here:

- **Priority.** :data:`INTERACTIVE` work (a realtime turn, a streamed speech, a streamed chat)
  goes ahead of :data:`BULK` work (file transcriptions, eval runs). A job made of items (an
  iterator: segments, sentences, tokens) gives its slot back between two items when a job it
  should make way for is waiting, then queues again: bulk work yields at segment and sentence
  boundaries. While a realtime session is connected (:meth:`JobRunner.reserve`), bulk work
  leaves one slot free, so that a turn never waits for a bulk segment to end.
- **Fairness.** Waiting jobs of one priority are served by client (API token and address),
  the client served least recently first: a client with a loop of requests gets its turn like
  the others, not ahead of them.
- **Wide jobs.** An interactive job that starts on an idle server (nothing running, nothing
  waiting) on an idle machine (:mod:`~audiolab.server.machine_load`) holds every slot and
  computes with the whole budget (:func:`granted_threads`): a lone voice turn or streamed speech
  is not held to one core. At its next item boundary it narrows to one slot as soon as another
  job waits, so the budget is never exceeded and a newcomer waits at most one item (a token, a
  sentence). A job that started narrow widens at an item boundary once it is alone.
- **Bounds.** Past ``max_queue`` waiting jobs, or ``max_queue_per_client`` for one client, a
  request gets :class:`~audiolab.errors.RateLimited` (429 with ``retry-after``, which the SDK
  honours) instead of joining an unbounded pile-up.

Example:
    >>> import asyncio
    >>> async def demo():
    ...     jobs = JobRunner(max_concurrency=1)
    ...     return await jobs.run(sum, [1, 2, 3], priority=INTERACTIVE, client="alice")
    >>> asyncio.run(demo())
    6
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import math
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import anyio.to_thread

from audiolab.errors import RateLimited
from audiolab.server.job_context import (
    BULK,
    INTERACTIVE,
    ORDER,
    ClientMiddleware,
    client_id,
    current_client,
    current_priority,
    granted_threads,
    run_granted,
    set_priority,
)
from audiolab.server.machine_load import other_busy_cores

__all__ = ["JobRunner", "Reservation", "engine_turn", "INTERACTIVE", "BULK", "set_priority", "client_id",
           "ClientMiddleware", "granted_threads"]

T = TypeVar("T")
_DONE = object()

_SERVED_KEPT = 4096  # clients whose last service time is remembered
#: A job goes wide only while other programs keep less than this many cores busy.
OTHERS_IDLE_CORES = 0.3


@dataclass(eq=False)
class _Lease:
    """One job's claim: waiting in its client's queue, then holding a slot."""

    priority: str
    client: str
    engine: str
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    queued_at: float = field(default_factory=time.perf_counter)
    started_at: float = 0.0
    width: int = 1  # slots held: 1, or all of them for a wide job


class JobRunner:
    """Runs blocking engine calls in worker threads, by priority and fairly, within the CPU budget.

    Args:
        max_concurrency: jobs running at once.
        max_queue: jobs allowed to wait; one more is refused with 429.
        max_queue_per_client: jobs one client may have waiting; one more is refused with 429.
        threads_per_job: threads each engine computes with (for the record: engines read it
            from the settings); ``max_concurrency * threads_per_job`` is the budget in use.
        metrics: a :class:`~audiolab.server.metrics.Metrics` to report to, or ``None``.
        reservation_linger_s: how long a released :meth:`reserve` still holds (a voice client
            that reconnects, or starts its next session, finds its slot free of bulk work).
        wide: let an interactive job alone on the server hold every slot (see *Wide jobs*).
        others_busy: cores other programs keep busy (``None``: unknown); a job goes wide only
            below :data:`OTHERS_IDLE_CORES`.
    """

    def __init__(self, *, max_concurrency: int = 2, max_queue: int = 64,
                 max_queue_per_client: int | None = None, threads_per_job: int = 1, metrics=None,
                 reservation_linger_s: float = 15.0, wide: bool = True,
                 others_busy: Callable[[], float | None] = other_busy_cores):
        self.wide = wide
        self._others_busy = others_busy
        self.reservation_linger_s = reservation_linger_s
        self.max_concurrency = max(1, max_concurrency)
        self.max_queue = max_queue
        self.max_queue_per_client = max_queue if max_queue_per_client is None else max_queue_per_client
        self.threads_per_job = max(1, threads_per_job)
        self.metrics = metrics
        self._queues: dict[str, OrderedDict[str, deque[_Lease]]] = {p: OrderedDict() for p in ORDER}
        self._running: dict[str, int] = {p: 0 for p in ORDER}
        self._reservations = 0
        self._served: OrderedDict[str, int] = OrderedDict()  # client -> sequence number of its last start
        self._sequence = itertools.count()
        self._job_s = 1.0  # moving average of a job's slot time, for retry-after
        self.peak_threads = 0  # the most threads engine jobs ever held at once

    @classmethod
    def from_settings(cls, settings, *, metrics=None) -> JobRunner:
        """The runner of ``settings``' CPU budget (see :class:`~audiolab.server.settings.Settings`)."""
        return cls(max_concurrency=settings.concurrency, max_queue=settings.max_queue,
                   max_queue_per_client=settings.max_queue_per_client, threads_per_job=settings.job_threads,
                   metrics=metrics)

    # --- state ---------------------------------------------------------------------------------
    @property
    def running(self) -> int:
        return sum(self._running.values())

    @property
    def waiting(self) -> int:
        return sum(len(q) for queues in self._queues.values() for q in queues.values())

    @property
    def threads_in_use(self) -> int:
        return self.running * self.threads_per_job

    def waiting_for(self, priority: str) -> int:
        return sum(len(q) for q in self._queues[priority].values())

    def reserve(self) -> Reservation:
        """Until released (a realtime session closes), bulk work leaves one slot for interactive work.

        A bulk job already in that slot gives it back at its next item boundary. The reservation
        lingers ``reservation_linger_s`` after its release. Use it as a context manager, or call
        ``release()`` on it (more than once is harmless).
        """
        self._reservations += 1
        return Reservation(self)

    # --- the API -------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def slot(self, *, priority: str | None = None, client: str | None = None, engine: str = "other"):
        """Hold one slot of the budget while the body runs; refuse with 429 when the queue is full."""
        lease = await self._acquire(priority, client, engine)
        try:
            yield lease
        finally:
            self._release(lease)

    async def run(self, fn: Callable[..., T], /, *args, priority: str | None = None,
                  client: str | None = None, engine: str | None = None, **kwargs) -> T:
        """``fn(*args, **kwargs)`` in a worker thread, once a slot is free.

        ``priority`` and ``client`` default to the request's (:func:`set_priority`,
        :class:`ClientMiddleware`); ``engine`` labels the job in the metrics (found from ``fn``
        when it is an engine's method, or a lambda over one).
        """
        async with self.slot(priority=priority, client=client, engine=engine or _engine_of(fn)) as lease:
            return await anyio.to_thread.run_sync(functools.partial(run_granted, self._threads(lease),
                                                                    functools.partial(fn, *args, **kwargs)))

    async def iterate(self, make_iter: Callable[[], Iterator[T]], *, priority: str | None = None,
                      client: str | None = None, engine: str | None = None) -> AsyncIterator[T]:
        """Items of a blocking iterator, each produced in a worker thread under a slot.

        Between two items the slot is given back if a job this one should make way for is
        waiting (higher priority, another client of the same priority, or any other interactive
        job), and taken again in turn. If the consumer stops early (client disconnected, task
        cancelled), the item being made is allowed to finish, then the iterator is closed and
        the slot released: nothing keeps running, and the slot is never leaked.
        """
        priority, client = priority or current_priority(), client or current_client()
        engine = engine or _engine_of(make_iter)
        lease = await self._acquire(priority, client, engine)
        it = None
        try:
            it = await _finish_even_if_cancelled(run_granted, self._threads(lease), make_iter)
            while True:
                item = await _finish_even_if_cancelled(run_granted, self._threads(lease), next, it, _DONE)
                if item is _DONE:
                    break
                self._resize(lease)
                if self._should_yield(lease):
                    self._release(lease)
                    lease = None
                    yield item
                    lease = await self._acquire(priority, client, engine, resumed=True)
                else:
                    yield item
        finally:
            if lease is not None:
                self._release(lease)
            if it is not None and hasattr(it, "close"):
                it.close()

    async def generate(self, llm, make_iter: Callable[[], Iterator[T]], *,
                       priority: str | None = None) -> AsyncIterator[T]:
        """A chat model's generation, token by token as :meth:`iterate` gives them, taking turns with
        the model's other generations (:func:`engine_turn`): one waiting for its turn holds no slot."""
        async with engine_turn(llm):
            async for item in self.iterate(make_iter, priority=priority, engine="llm"):
                yield item

    # --- scheduling ----------------------------------------------------------------------------
    def _threads(self, lease: _Lease) -> int:
        return lease.width * self.threads_per_job

    def _may_widen(self, lease: _Lease) -> bool:
        if not (self.wide and lease.priority == INTERACTIVE and self.max_concurrency > 1
                and self.running == lease.width and not self.waiting):
            return False
        others = self._others_busy()  # spinning engine threads collapse when another program holds a core
        return others is None or others < OTHERS_IDLE_CORES

    def _resize(self, lease: _Lease) -> None:
        """At an item boundary: a wide job narrows to one slot when someone waits; a narrow one
        widens when it is alone."""
        if lease.width > 1 and self.waiting:
            self._running[lease.priority] -= lease.width - 1
            lease.width = 1
            self._dispatch()
        elif lease.width == 1 and self._may_widen(lease):
            self._running[lease.priority] += self.max_concurrency - 1
            lease.width = self.max_concurrency
            self.peak_threads = max(self.peak_threads, self.threads_in_use)

    def _can_start(self, priority: str) -> bool:
        if self.running >= self.max_concurrency:
            return False
        if priority == BULK and self._reservations and self.max_concurrency > 1:
            return self._running[BULK] < self.max_concurrency - 1
        return True

    def _next_client(self, priority: str) -> str | None:
        """The waiting client of ``priority`` served least recently (never served: first)."""
        queues = self._queues[priority]
        if not queues:
            return None
        return min(queues, key=lambda c: self._served.get(c, -1))

    def _dispatch(self) -> None:
        """Start waiting jobs while the budget allows, by priority, then fairly by client."""
        for priority in ORDER:
            while self._can_start(priority):
                client = self._next_client(priority)
                if client is None:
                    break
                queue = self._queues[priority][client]
                lease = queue.popleft()
                if not queue:
                    del self._queues[priority][client]
                if lease.future.cancelled():  # its waiter was cancelled and has not yet run: skip it
                    continue
                self._start(lease)
        self._report_queues()

    def _start(self, lease: _Lease) -> None:
        self._running[lease.priority] += 1
        if self._may_widen(lease):
            self._running[lease.priority] += self.max_concurrency - 1
            lease.width = self.max_concurrency
        self.peak_threads = max(self.peak_threads, self.threads_in_use)
        self._served[lease.client] = next(self._sequence)
        self._served.move_to_end(lease.client)
        if len(self._served) > _SERVED_KEPT:
            self._served.popitem(last=False)
        lease.started_at = time.perf_counter()
        if self.metrics is not None:
            self.metrics.job_started(lease.engine, lease.priority, lease.started_at - lease.queued_at)
        lease.future.set_result(None)

    def _release(self, lease: _Lease) -> None:
        self._running[lease.priority] -= lease.width
        held = time.perf_counter() - lease.started_at
        self._job_s = 0.8 * self._job_s + 0.2 * held
        if self.metrics is not None:
            self.metrics.job_finished(lease.engine, lease.priority, held)
        self._dispatch()

    def _check_bounds(self, lease: _Lease) -> None:
        mine = len(self._queues[lease.priority].get(lease.client, ()))
        total = self.waiting
        if total < self.max_queue and mine < self.max_queue_per_client:
            return
        ahead = total if total >= self.max_queue else mine
        retry = min(60.0, max(1.0, math.ceil(ahead * self._job_s / self.max_concurrency)))
        if self.metrics is not None:
            self.metrics.rejected(lease.priority)
        whose = "" if total >= self.max_queue else " for this client"
        raise RateLimited(f"The local server is busy ({self.running} running, {ahead} queued{whose}). "
                          f"Retry in {retry:.0f} s.", retry_after=retry)

    async def _acquire(self, priority: str | None, client: str | None, engine: str, *,
                       resumed: bool = False) -> _Lease:
        priority = priority or current_priority()
        if priority not in self._queues:
            raise ValueError(f"priority must be one of {ORDER}, not {priority!r}")
        lease = _Lease(priority, client or current_client(), engine)
        ahead = any(self._queues[p] for p in ORDER[:ORDER.index(priority) + 1])
        if not resumed and (ahead or not self._can_start(priority)):  # a resumed job was admitted already
            self._check_bounds(lease)
        queue = self._queues[priority].setdefault(lease.client, deque())
        if resumed:
            queue.appendleft(lease)  # it keeps its place among its client's jobs
        else:
            queue.append(lease)
        self._dispatch()
        try:
            await lease.future
        except asyncio.CancelledError:
            if lease.future.done() and not lease.future.cancelled():
                self._release(lease)  # granted just as it was cancelled: give the slot back
            else:
                self._forget(lease)
            raise
        return lease

    def _forget(self, lease: _Lease) -> None:
        queue = self._queues[lease.priority].get(lease.client)
        if queue is not None and lease in queue:
            queue.remove(lease)
            if not queue:
                del self._queues[lease.priority][lease.client]
        self._report_queues()

    def _should_yield(self, lease: _Lease) -> bool:
        """Whether a waiting job could use ``lease``'s slot and should go before the rest of it, or
        ``lease`` is bulk work in the slot a reservation keeps for interactive work."""
        if lease.priority == BULK and self._reservations and self.max_concurrency > 1 and \
                self._running[BULK] > self.max_concurrency - 1:
            return True
        self._running[lease.priority] -= lease.width  # as if released
        try:
            for priority in ORDER:
                client = self._next_client(priority)
                if client is None or not self._can_start(priority):
                    continue
                if (ORDER.index(priority) < ORDER.index(lease.priority) or priority == INTERACTIVE
                        or client != lease.client):
                    return True
            return False
        finally:
            self._running[lease.priority] += lease.width

    def _report_queues(self) -> None:
        if self.metrics is not None:
            for p in ORDER:
                self.metrics.queue_depth(p, self.waiting_for(p))


_TURNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def engine_turn(engine) -> asyncio.Lock:
    """The asyncio lock under which generations on ``engine`` (the chat model) take turns.

    The chat engine holds a thread lock for a whole generation, and the runner hands its slot back
    between tokens: a second generation would wait on that lock inside a worker holding a slot, and
    with as many such waiters as slots the first never got a slot back. Waiting here holds no slot.
    """
    return _TURNS.setdefault(engine, {}).setdefault(asyncio.get_running_loop(), asyncio.Lock())


class Reservation:
    """A slot kept free of bulk work, from :meth:`JobRunner.reserve` until :meth:`release`."""

    def __init__(self, runner: JobRunner):
        self._runner = runner

    def release(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None

        def end():
            runner._reservations -= 1
            runner._dispatch()

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or runner.reservation_linger_s <= 0:
            end()
        else:
            loop.call_later(runner.reservation_linger_s, end)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _engine_of(fn) -> str:
    """The engine family behind ``fn``, for metrics: a bound method, a partial of one, or a lambda
    whose closure holds an engine (``lambda: llm.chat(messages)``); anything else is ``"other"``."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    candidates = [getattr(fn, "__self__", None)]
    for cell in getattr(fn, "__closure__", None) or ():
        with contextlib.suppress(ValueError):  # an empty cell
            candidates.append(cell.cell_contents)
    from audiolab.server.registry import ENGINES  # data only: the engine families

    families = {path.rpartition(":")[2]: family for family, path in ENGINES.items()}
    for owner in candidates:
        family = families.get(type(owner).__name__)
        if family is not None:
            return family
    return "other"


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
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([work])
        raise
