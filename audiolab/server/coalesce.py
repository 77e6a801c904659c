"""Identical requests cost once: single-flight sharing in front of the response cache.

A route that knows its request is deterministic names it by content
(:func:`~audiolab.server.response_cache.request_key`) and hands :meth:`Sharing.respond` a
``make(listeners)`` coroutine that builds the response as it would alone. Then:

- a finished identical response in the cache (or finished and being written to it) is sent back
  as it was (``x-audiolab-cache: hit``);
- an identical request already being computed is joined (``joined``): the joiner gets the bytes
  produced so far, then the rest as they come, so a late joiner of a stream receives the same
  full body as the first client;
- otherwise ``make`` runs once (``miss``), in a task of its own, so that no single client's
  disconnect stops the work others wait for. The work stops (``listeners.is_disconnected()``
  turns true) only when every client has gone; such an abandoned result is never stored.

A request without a key (``key=None``: chat at temperature > 0, or sharing turned off) runs
as before, untouched (``x-audiolab-cache: off``). Errors raised before the first byte reach
every waiting client as the same typed error; they are never stored. Only 200 responses that
ran to completion are stored.

Counters (:meth:`Sharing.stats`) count per route: ``computed`` (engine runs), ``joined``,
``hits``, ``unshared``; their hit ratio is logged on every shared request.

Example:
    >>> sharing = Sharing(None)
    >>> sharing.stats()
    {}
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from starlette.responses import Response, StreamingResponse

from audiolab.server.response_cache import ResponseCache, Stored
from audiolab.server.sse import ClosingStream

__all__ = ["Sharing", "Listeners", "sharing_of", "mark_sampled", "CACHE_HEADER"]

log = logging.getLogger("audiolab.server.coalesce")
CACHE_HEADER = "x-audiolab-cache"
_COUNTERS = ("computed", "joined", "hits", "unshared")


class Listeners:
    """The clients of one computation; stands in for ``request.is_disconnected()`` in a producer."""

    def __init__(self):
        self.count = 0
        self.sampled = False  # set by the route when the engine sampled after all: never stored

    async def is_disconnected(self) -> bool:
        return self.count == 0


class _Flight:
    """One computation and everything it produced so far."""

    def __init__(self, key: str):
        self.key = key
        self.listeners = Listeners()
        self.head: tuple[int, list, str | None] | None = None  # status, headers, media type
        self.chunks: list[bytes] = []
        self.done = False
        self.abandoned = False
        self.storing = False  # done, and its response is being written to the cache
        self.error: BaseException | None = None
        self._changed = asyncio.Event()
        self.task: asyncio.Task | None = None

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        await self._changed.wait()

    async def wait_head(self) -> None:
        while self.head is None and self.error is None and not self.done:
            await self.changed()
        if self.error is not None and self.head is None:
            raise copy.copy(self.error)  # each client's handler may annotate its own copy


def _headers_of(response: Response) -> list:
    return [[k.decode("latin-1"), v.decode("latin-1")] for k, v in response.raw_headers
            if k.lower() not in (b"content-length", CACHE_HEADER.encode())]


class Sharing:
    """Single-flight sharing and the response cache of one app.

    Args:
        cache: the :class:`ResponseCache`, or ``None`` to share concurrent requests only.
        enabled: ``False`` turns sharing off entirely (every request computes on its own).
    """

    def __init__(self, cache: ResponseCache | None, *, enabled: bool = True):
        self.cache = cache
        self.enabled = enabled
        self._flights: dict[str, _Flight] = {}
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_COUNTERS, 0))
        self._observers: list[Callable[[str, str], None]] = []

    # ---- counters ---------------------------------------------------------------------------
    def stats(self) -> dict[str, dict[str, int]]:
        """Per route: ``computed``, ``joined``, ``hits``, ``unshared`` since start."""
        return {route: dict(c) for route, c in self._counts.items()}

    def hit_ratio(self) -> float:
        """Share of shareable requests answered without computing (cache hits and joins)."""
        c = self._counts.values()
        saved = sum(x["hits"] + x["joined"] for x in c)
        total = saved + sum(x["computed"] for x in c)
        return saved / total if total else 0.0

    def observe(self, fn: Callable[[str, str], None]) -> None:
        """Call ``fn(route, outcome)`` on every count (for a metrics registry)."""
        self._observers.append(fn)

    def _count(self, route: str, what: str) -> None:
        self._counts[route][what] += 1
        for fn in self._observers:
            fn(route, what)
        if what != "unshared":
            log.info("response sharing: %s %s (hit ratio %.0f%%)", route, what, 100 * self.hit_ratio())

    # ---- serving ----------------------------------------------------------------------------
    async def respond(self, route: str, key: str | None, make: Callable[[object], Awaitable[Response]], *,
                      request, store: bool = True) -> Response:
        """The response to a request named ``key`` (``None``: not shareable), computed at most once.

        Args:
            route: a short name for the counters (``"speech"``).
            key: the request's content address, or ``None`` to run ``make(request)`` as is.
            make: builds the response; gets an object with ``async is_disconnected()`` to poll.
            request: the client's request (passed to ``make`` when nothing is shared).
            store: keep a finished 200 response in the cache (``False``: share concurrent only).
        """
        if key is None or not self.enabled:
            self._count(route, "unshared")
            response = await make(request)
            response.headers[CACHE_HEADER] = "off"
            return response
        if store and self.cache is not None and key in self.cache:
            stored = await asyncio.to_thread(self.cache.get, key)
            if stored is not None:
                self._count(route, "hits")
                return self._complete(stored.status, stored.headers, None, stored.body, "hit")
        flight = self._flights.get(key)
        if flight is not None and flight.storing:  # finished, its entry being written: a hit already
            self._count(route, "hits")
            return self._complete(*flight.head, b"".join(flight.chunks), "hit")
        outcome = "joined"
        if flight is None:
            outcome = "miss"
            flight = self._flights[key] = _Flight(key)
            flight.task = asyncio.get_running_loop().create_task(self._run(route, flight, make, store))
        self._count(route, "computed" if outcome == "miss" else "joined")
        flight.listeners.count += 1
        try:
            await flight.wait_head()
        except BaseException:
            self._leave(flight)
            raise
        status, headers, media_type = flight.head
        if flight.done:
            self._leave(flight)
            return self._complete(status, headers, media_type, b"".join(flight.chunks), outcome)
        leave = _Once(lambda: self._leave(flight))
        # A client's copy of a shared stream leaves the flight however the response ends.
        return ClosingStream(self._replay(flight, leave), on_close=leave, status_code=status,
                             media_type=media_type, headers=_header_dict(headers, outcome))

    @staticmethod
    def _complete(status: int, headers: list, media_type, body: bytes, outcome: str) -> Response:
        return Response(body, status_code=status, media_type=media_type,
                        headers=_header_dict(headers, outcome))

    def _leave(self, flight: _Flight) -> None:
        flight.listeners.count -= 1
        if flight.listeners.count == 0 and not flight.done:
            flight.abandoned = True  # a truncated result: never stored, never joined again
            if self._flights.get(flight.key) is flight:
                del self._flights[flight.key]
            flight.notify()
            # Nobody is left to read it: stop the work (a streaming route's producer, blocked
            # on its next item, would otherwise run to the end before looking at the listeners).
            if flight.task is not None and not flight.task.done():
                flight.task.cancel()

    async def _replay(self, flight: _Flight, leave):
        i = 0
        try:
            while True:
                while i < len(flight.chunks):
                    yield flight.chunks[i]
                    i += 1
                if flight.done or flight.error is not None:
                    return
                await flight.changed()
        finally:
            leave()

    async def _run(self, route: str, flight: _Flight, make, store: bool) -> None:
        try:
            response = await make(flight.listeners)
            flight.head = (response.status_code, _headers_of(response), None)
            flight.notify()
            if isinstance(response, StreamingResponse):
                try:
                    async for chunk in response.body_iterator:
                        flight.chunks.append(chunk.encode() if isinstance(chunk, str) else bytes(chunk))
                        flight.notify()
                finally:
                    closer = getattr(response, "_on_close", None)
                    if callable(closer):
                        closer()
            else:
                flight.chunks.append(bytes(response.body))
            flight.done = True
        except BaseException as exc:  # handed to every waiting client
            flight.error = exc
            self._drop(flight)
            if not isinstance(exc, Exception):
                raise
            return
        flight.notify()
        try:
            if (not flight.abandoned and not flight.listeners.sampled and store and self.cache is not None
                    and flight.head[0] == 200):
                # Until the entry is written, identical requests are served from the finished flight.
                value = Stored(flight.head[0], flight.head[1], b"".join(flight.chunks))
                flight.storing = True
                await asyncio.to_thread(self.cache.put, flight.key, value)
        finally:
            self._drop(flight)

    def _drop(self, flight: _Flight) -> None:
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]
        flight.notify()


class _Once:
    def __init__(self, fn):
        self._fn = fn

    def __call__(self) -> None:
        fn, self._fn = self._fn, None
        if fn is not None:
            fn()


def _header_dict(headers: list, outcome: str) -> dict[str, str]:
    out = {k: v for k, v in headers}
    out[CACHE_HEADER] = outcome
    return out


def mark_sampled(listeners, transcript) -> None:
    """Note a transcript that another run might not repeat, so that it is not stored: one that
    was sampled (Whisper's temperature fallback), or cut short by the decode budget (``partial``,
    which depends on how busy the server was).

    ``listeners`` is what ``make`` received: a :class:`Listeners`, or the request when nothing
    is shared (then there is nothing to mark).
    """
    if not isinstance(listeners, Listeners):
        return
    if getattr(transcript, "partial", False) or any(
            (getattr(s, "temperature", 0.0) or 0.0) > 0 for s in transcript.segments):
        listeners.sampled = True


def sharing_of(app_state) -> Sharing:
    """The app's :class:`Sharing`, made from its settings on first use."""
    sharing = getattr(app_state, "sharing", None)
    if sharing is None:
        settings = app_state.settings
        enabled = bool(getattr(settings, "response_cache", True))
        cache = None
        if enabled and getattr(settings, "response_cache_mb", 0) > 0:
            bound = int(settings.response_cache_mb * 2**20)
            cache = ResponseCache(settings.response_cache_dir, max_bytes=bound)
        sharing = app_state.sharing = Sharing(cache, enabled=enabled)
        _show_ratio_at(str(getattr(settings, "log_level", "warning")))
        metrics = getattr(app_state, "metrics", None)
        if metrics is not None:
            _export(sharing, metrics.registry)
    return sharing


def _show_ratio_at(level: str) -> None:
    """With ``log_level`` info or debug (``AUDIOLAB_LOG_LEVEL=info``), print the hit-ratio lines
    on stderr as uvicorn prints its own; at the default (warning) they stay quiet."""
    if level.lower() not in ("info", "debug", "trace") or log.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _export(sharing: Sharing, registry) -> None:
    """Counters and the cache size in the app's Prometheus registry (``GET /metrics``)."""
    from prometheus_client import Counter, Gauge

    requests = Counter("audiolab_response_cache_requests",
                       "Shareable requests by outcome: hit (cache), joined (a computation in flight), "
                       "computed (the engine ran), unshared (not deterministic, or sharing off).",
                       ["route", "outcome"], registry=registry)
    sharing.observe(lambda route, outcome: requests.labels(route, outcome).inc())
    size = Gauge("audiolab_response_cache_bytes", "Bytes held by the on-disk response cache.",
                 registry=registry)
    size.set_function(lambda: sharing.cache.total if sharing.cache is not None else 0)
