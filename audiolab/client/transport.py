"""The instrumented transport under ``lab.client``: cache, timing and a history row per request.

``connect()`` builds the SDK clients with ``http_client=httpx2.Client(transport=...)`` so every
request the official SDK makes passes through :class:`InstrumentedTransport` (or its async twin):

1. it reads the request as OpenAI parameters (:class:`audiolab.client.wire.WireRequest`), never its
   headers;
2. it serves the request from the response cache, or, in replay mode, raises
   :class:`~audiolab.errors.CacheMiss` without touching the network;
3. otherwise it sends the request, wraps the response stream to time the first byte and the end,
   stores complete cacheable responses, and fills the history row.

Realtime sessions go over a WebSocket, not HTTP: :func:`instrument_realtime` wraps
``client.realtime.connect`` so that each ``response.done`` becomes a row.

Example:
    >>> import httpx2                                                     # doctest: +SKIP
    >>> t = InstrumentedTransport(httpx2.HTTPTransport(), history=History(),
    ...                           backend="local")                          # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
import zlib

import httpx2

from audiolab.client.cache import CACHEABLE_STATUS, ResponseCache, cache_key
from audiolab.client.history import History
from audiolab.client.wire import WireRequest, parse_response

__all__ = ["InstrumentedTransport", "AsyncInstrumentedTransport", "BYPASS_HEADER", "instrument_realtime"]

#: Send ``extra_headers={BYPASS_HEADER: "1"}`` to skip the cache for one call (the probe does).
#: The header is removed before the request leaves the process.
BYPASS_HEADER = "x-audiolab-cache-bypass"


class _Call:
    """One HTTP exchange being measured; becomes (and updates) one history row."""

    def __init__(self, owner, request: httpx2.Request, wire: WireRequest, *, key: str | None, hit: bool):
        self.owner = owner
        self.wire = wire
        self.key = key
        self.hit = hit
        self.t0 = time.perf_counter()
        self.ttfb: float | None = None
        self.done = False
        self._lock = threading.Lock()
        self.row = owner.history.record(
            backend=owner.backend, endpoint=wire.endpoint, method=wire.method, model=wire.model,
            voice=wire.voice, params=wire.key_params(), stream=wire.stream, cache_hit=hit,
            input_chars=wire.input_chars)

    def first_byte(self) -> None:
        if self.ttfb is None:
            self.ttfb = time.perf_counter() - self.t0

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.done:
                return
            self.done = True
        self.owner.history.update(self.row, total_s=time.perf_counter() - self.t0,
                                  error=f"{type(exc).__name__}: {exc}"[:300])

    def finish(self, status: int, headers: httpx2.Headers, chunks: list[bytes], *, complete: bool) -> None:
        total = time.perf_counter() - self.t0
        with self._lock:
            if self.done:
                return
            self.done = True
        fields = {"status": status, "ttfb_s": self.ttfb if self.ttfb is not None else total, "total_s": total}
        try:
            body = b"".join(chunks)
            if complete and self.key and not self.hit and self.owner.cache is not None \
                    and self.owner.cache.writes and status in CACHEABLE_STATUS:
                self.owner.cache.store(self.key, status=status, headers=headers, chunks=chunks,
                                       request=self.wire.summary(), meta={"backend": self.owner.backend})
            result = parse_response(self.wire, status, headers.get("content-type"),
                                    _decoded(body, headers.get("content-encoding")))
            fields.update(usage=dict(result.usage) if result.usage else None, text_in=result.text_in,
                          text_out=result.text_out, audio_in=result.audio_in, audio_out=result.audio_out,
                          billed_seconds=result.billed_seconds, output_audio_s=result.output_audio_s,
                          input_audio_s=self.wire.input_audio_seconds(), error=result.error)
            if not complete:
                fields["error"] = ((result.error or "") + " (stream closed before the end)").strip()
        except Exception as exc:  # measuring must never break the caller's request
            fields["error"] = f"audiolab could not read the response: {type(exc).__name__}: {exc}"[:300]
        self.owner.history.update(self.row, **fields)


def _decoded(body: bytes, encoding: str | None) -> bytes:
    if encoding in ("gzip", "deflate"):
        try:
            return zlib.decompress(body, 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        except zlib.error:
            return b""
    return body


class _MeasuredStream(httpx2.SyncByteStream):
    def __init__(self, inner, call: _Call, status: int, headers):
        self.inner, self.call, self.status, self.headers = inner, call, status, headers
        self.chunks: list[bytes] = []

    def __iter__(self):
        try:
            for chunk in self.inner:
                if chunk:
                    self.call.first_byte()
                    self.chunks.append(chunk)
                yield chunk
        except GeneratorExit:  # the reader stopped early: a partial response, not a failure
            self.call.finish(self.status, self.headers, self.chunks, complete=False)
            raise
        except BaseException as exc:
            self.call.fail(exc)
            raise
        self.call.finish(self.status, self.headers, self.chunks, complete=True)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.call.finish(self.status, self.headers, self.chunks, complete=False)


class _AsyncMeasuredStream(httpx2.AsyncByteStream):
    def __init__(self, inner, call: _Call, status: int, headers):
        self.inner, self.call, self.status, self.headers = inner, call, status, headers
        self.chunks: list[bytes] = []

    async def __aiter__(self):
        try:
            async for chunk in self.inner:
                if chunk:
                    self.call.first_byte()
                    self.chunks.append(chunk)
                yield chunk
        except GeneratorExit:  # the reader stopped early: a partial response, not a failure
            self.call.finish(self.status, self.headers, self.chunks, complete=False)
            raise
        except BaseException as exc:
            self.call.fail(exc)
            raise
        self.call.finish(self.status, self.headers, self.chunks, complete=True)

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            self.call.finish(self.status, self.headers, self.chunks, complete=False)


class _ReplayStream(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A cached body served as the chunks it arrived in."""

    def __init__(self, chunks, call: _Call, status: int, headers):
        self.chunks, self.call, self.status, self.headers = tuple(chunks), call, status, headers

    def __iter__(self):
        for chunk in self.chunks:
            self.call.first_byte()
            yield chunk
        self.call.finish(self.status, self.headers, list(self.chunks), complete=True)

    async def __aiter__(self):
        for chunk in self.chunks:
            self.call.first_byte()
            yield chunk
        self.call.finish(self.status, self.headers, list(self.chunks), complete=True)

    def close(self) -> None:
        self.call.finish(self.status, self.headers, list(self.chunks), complete=True)

    async def aclose(self) -> None:
        self.close()


class _Base:
    def __init__(self, inner, *, history: History, backend: str, cache: ResponseCache | None = None,
                 base_path: str = "/v1"):
        self.inner = inner
        self.history = history
        self.backend = backend
        self.cache = cache
        self.base_path = base_path

    def _begin(self, request: httpx2.Request):
        """Parse, consult the cache; returns (call, cached response or None)."""
        bypass = request.headers.pop(BYPASS_HEADER, None) is not None
        wire = WireRequest.from_parts(request.method, request.url.path, request.headers.get("content-type"),
                                      request.content, base_path=self.base_path,
                                      query=dict(request.url.params.multi_items()))
        cache = self.cache
        key = cache_key(wire.canonical()) if cache is not None and cache.reads else None
        if key and cache.mode == "replay" and bypass:
            raise cache.miss(key, wire.summary() + " (sent with the cache bypassed)")
        hit = cache.load(key) if key and not bypass else None
        if hit is None and key and cache.mode == "replay":
            miss = cache.miss(key, wire.summary(), corrupt=cache.is_corrupt(key))
            call = _Call(self, request, wire, key=key, hit=False)
            call.fail(miss)
            raise miss
        call = _Call(self, request, wire, key=None if bypass else key, hit=hit is not None)
        if hit is not None:
            response = httpx2.Response(hit.status, headers=dict(hit.headers),
                                       stream=_ReplayStream(hit.chunks, call, hit.status,
                                                            httpx2.Headers(dict(hit.headers))),
                                       request=request)
            return call, response
        return call, None


class InstrumentedTransport(_Base, httpx2.BaseTransport):
    """A sync httpx2 transport that records every request in ``history`` and serves the cache.

    Args:
        inner: the transport that really sends requests (``httpx2.HTTPTransport()``).
        history: where rows go.
        backend: the backend name recorded in rows and used for prices.
        cache: a :class:`~audiolab.client.cache.ResponseCache`, or None.
        base_path: the API root path, stripped from URLs to name endpoints.
    """

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        call, cached = self._begin(request)
        if cached is not None:
            return cached
        try:
            response = self.inner.handle_request(request)
        except BaseException as exc:
            call.fail(exc)
            raise
        return httpx2.Response(response.status_code, headers=response.headers,
                               stream=_MeasuredStream(response.stream, call, response.status_code,
                                                      response.headers),
                               extensions=response.extensions, request=request)

    def close(self) -> None:
        self.inner.close()


class AsyncInstrumentedTransport(_Base, httpx2.AsyncBaseTransport):
    """The async twin of :class:`InstrumentedTransport`, for ``lab.aclient``."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        call, cached = self._begin(request)
        if cached is not None:
            return cached
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:
            call.fail(exc)
            raise
        return httpx2.Response(response.status_code, headers=response.headers,
                               stream=_AsyncMeasuredStream(response.stream, call, response.status_code,
                                                           response.headers),
                               extensions=response.extensions, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def instrument_realtime(client, *, history: History, backend: str, cache: ResponseCache | None = None,
                        ssl_context=None):
    """Make ``client.realtime.connect(...)`` record one history row per ``response.done`` (and
    dial wss:// trusting ``ssl_context``, when given).

    Works for ``openai.OpenAI`` and ``openai.AsyncOpenAI``. In replay mode a realtime session
    cannot be replayed, so connecting raises :class:`~audiolab.errors.CacheMiss`.
    """
    from audiolab.realtime.meter import RealtimeProxy

    resource = client.realtime  # the SDK's cached property: replace it on this instance only
    client.__dict__["realtime"] = RealtimeProxy(resource, history=history, backend=backend, cache=cache,
                                                ssl_context=ssl_context)
    return client
