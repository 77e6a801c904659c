"""A history row per realtime response: the WebSocket side of "every call measured".

``connect()`` replaces ``lab.client.realtime`` (and ``lab.aclient.realtime``) with a
:class:`RealtimeProxy`. Its ``connect(...)`` returns the SDK's connection manager, wrapped so that
the connection it yields reports each response: the row starts at ``response.create`` (or at
``response.created`` when the server started it, e.g. by voice activity), its time to first
byte is the first output delta, and its total is ``response.done``, whose usage gives the
tokens by modality. Everything else passes through to the SDK unchanged.

Example:
    >>> with lab.client.realtime.connect(model="gpt-realtime-mini") as conn:   # doctest: +SKIP
    ...     conn.response.create()
    ...     for event in conn:
    ...         if event.type == "response.done":
    ...             break
    >>> lab.history.frame.query("endpoint == 'realtime'")                     # doctest: +SKIP
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import inspect
import json
import threading
import time
from collections.abc import Mapping

from audiolab.client.wire import _tokens
from audiolab.realtime.events import AUDIO_DELTAS, FIRST_BYTE

__all__ = ["RealtimeProxy", "RealtimeMeter"]

# Bytes per second of each realtime output format.
_RATES = {"audio/pcm": 48_000, "pcm16": 48_000, "audio/pcmu": 8_000, "audio/pcma": 8_000,
          "g711_ulaw": 8_000, "g711_alaw": 8_000}


def _as_dict(event) -> dict:
    if isinstance(event, Mapping):
        return dict(event)
    if hasattr(event, "model_dump"):
        try:
            return event.model_dump(exclude_unset=True)
        except TypeError:
            return {}
    if isinstance(event, (str, bytes)):
        try:
            doc = json.loads(event)
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}
    return {}


class RealtimeMeter:
    """Watches one realtime connection's events and writes a history row per response."""

    def __init__(self, *, history, backend: str, model: str | None):
        self.history = history
        self.backend = backend
        self.model = model
        self.voice: str | None = None
        self.bytes_per_s = 48_000
        self._lock = threading.Lock()
        self.transcription_model: str | None = None
        self._requested: list[float] = []
        self._open: dict[str, dict] = {}
        self._heard: dict[str, dict] = {}  # item id -> input transcription being timed
        self._appended = 0  # input audio bytes appended since the last commit
        self.input_bytes_per_s = 48_000

    # --- client -> server -------------------------------------------------------------------
    def sent(self, event) -> None:
        ev = _as_dict(event)
        kind = ev.get("type")
        if kind == "response.create":
            with self._lock:
                self._requested.append(time.perf_counter())
        elif kind == "input_audio_buffer.append":
            audio = ev.get("audio") or ""
            with self._lock:  # base64 length, not decoded: 4 characters carry 3 bytes
                self._appended += len(audio) * 3 // 4 - audio[-2:].count("=")
        elif kind == "input_audio_buffer.clear":
            with self._lock:
                self._appended = 0
        elif kind == "session.update":
            self._session(ev.get("session") or {})

    # --- server -> client -------------------------------------------------------------------
    def received(self, data) -> None:
        try:
            ev = _as_dict(data)
            kind = ev.get("type") or ""
            if kind in ("session.created", "session.updated"):
                self._session(ev.get("session") or {})
            elif kind == "response.created":
                self._created(ev.get("response") or {})
            elif kind in FIRST_BYTE:
                self._delta(ev, kind)
            elif kind == "response.done":
                self._done(ev.get("response") or {})
            elif (
                kind.startswith("conversation.item.input_audio_transcription.")
                or kind == "input_audio_buffer.committed"
            ):
                self._transcription(ev, kind)
        except Exception:  # measuring must never break the session
            pass

    def _session(self, session: Mapping) -> None:
        if isinstance(session.get("model"), str):
            self.model = session["model"]
        out = (
            ((session.get("audio") or {}).get("output") or {})
            if isinstance(session.get("audio"), Mapping)
            else {}
        )
        voice = out.get("voice") or session.get("voice")
        if isinstance(voice, Mapping):
            voice = voice.get("id")
        if isinstance(voice, str):
            self.voice = voice
        audio_in = (
            (session.get("audio") or {}).get("input") if isinstance(session.get("audio"), Mapping) else None
        )
        transcription = (audio_in or {}).get("transcription") if isinstance(audio_in, Mapping) else None
        if isinstance(transcription, Mapping) and isinstance(transcription.get("model"), str):
            self.transcription_model = transcription["model"]
        in_fmt = (audio_in or {}).get("format") if isinstance(audio_in, Mapping) else None
        if isinstance(in_fmt, Mapping) and in_fmt.get("type") in _RATES:
            rate = in_fmt.get("rate")
            self.input_bytes_per_s = (
                int(rate) * 2 if in_fmt["type"] == "audio/pcm" and rate else _RATES[in_fmt["type"]]
            )
        fmt = out.get("format") or session.get("output_audio_format")
        fmt_type = fmt.get("type") if isinstance(fmt, Mapping) else fmt
        if fmt_type in _RATES:
            rate = fmt.get("rate") if isinstance(fmt, Mapping) else None
            self.bytes_per_s = (int(rate) * 2) if fmt_type == "audio/pcm" and rate else _RATES[fmt_type]

    def _created(self, response: Mapping) -> None:
        rid = response.get("id") or f"resp-{len(self._open)}"
        with self._lock:
            t0 = self._requested.pop(0) if self._requested else time.perf_counter()
        row = self.history.record(
            backend=self.backend,
            endpoint="realtime",
            method="WS",
            model=self.model,
            voice=self.voice,
            params={"output_modalities": response.get("output_modalities")},
            stream=True,
        )
        with self._lock:
            self._open[rid] = {"t0": t0, "ttfb": None, "row": row, "audio_bytes": 0}

    def _delta(self, ev: Mapping, kind: str) -> None:
        with self._lock:
            state = self._open.get(ev.get("response_id"))
            if state is None:
                return
            if state["ttfb"] is None:
                state["ttfb"] = time.perf_counter() - state["t0"]
            if kind in AUDIO_DELTAS:
                with contextlib.suppress(binascii.Error, ValueError):  # a malformed delta counts as none
                    state["audio_bytes"] += len(base64.b64decode(ev.get("delta") or "", validate=False))

    def _done(self, response: Mapping) -> None:
        with self._lock:
            state = self._open.pop(response.get("id"), None)
        if state is None:  # response.done without response.created: record it anyway
            self._created(response)
            with self._lock:
                state = self._open.pop(response.get("id") or f"resp-{len(self._open) - 1}", None)
            if state is None:
                return
        total = time.perf_counter() - state["t0"]
        usage = response.get("usage")
        status = response.get("status")
        details = response.get("status_details")
        self.history.update(
            state["row"],
            status=500 if status == "failed" else 200,
            ttfb_s=state["ttfb"] if state["ttfb"] is not None else total,
            total_s=total,
            output_audio_s=(state["audio_bytes"] / self.bytes_per_s)
            if state["audio_bytes"]
            else float("nan"),
            usage=dict(usage) if isinstance(usage, Mapping) else None,
            error=None if status in (None, "completed") else f"{status}: {details}"[:300],
            **_tokens(usage),
        )


    def _transcription(self, ev: Mapping, kind: str) -> None:
        """Input audio transcription (transcription sessions, input_audio_transcription): one row per item."""
        item = ev.get("item_id")
        now = time.perf_counter()
        with self._lock:
            state = self._heard.get(item)
            if kind == "input_audio_buffer.committed":
                seconds = self._appended / self.input_bytes_per_s if self._appended else float("nan")
                self._appended = 0
                self._heard[item] = {"t0": now, "ttfb": None, "input_s": seconds}
                return
            if state is None:
                state = self._heard[item] = {"t0": now, "ttfb": None, "input_s": float("nan")}
            if kind.endswith(".delta") and state["ttfb"] is None:
                state["ttfb"] = now - state["t0"]
            if not kind.endswith((".completed", ".failed")):
                return
            self._heard.pop(item, None)
        usage = ev.get("usage")
        failed = kind.endswith(".failed")
        self.history.record(
            backend=self.backend,
            endpoint="realtime/transcription",
            method="WS",
            model=self.transcription_model,
            params={},
            stream=True,
            status=500 if failed else 200,
            ttfb_s=state["ttfb"] if state["ttfb"] is not None else now - state["t0"],
            total_s=now - state["t0"],
            input_audio_s=state["input_s"],
            usage=dict(usage) if isinstance(usage, Mapping) else None,
            error=f"failed: {ev.get('error')}"[:300] if failed else None,
            **_tokens(usage),
        )


def _instrument(conn, meter: RealtimeMeter):
    """Wrap this connection's ``send`` and ``recv_bytes`` (instance attributes, SDK untouched)."""
    send, recv_bytes = conn.send, conn.recv_bytes
    if inspect.iscoroutinefunction(send):
        async def asend(event):
            meter.sent(event)
            return await send(event)

        async def arecv_bytes():
            data = await recv_bytes()
            meter.received(data)
            return data

        conn.send, conn.recv_bytes = asend, arecv_bytes
    else:
        def ssend(event):
            meter.sent(event)
            return send(event)

        def srecv_bytes():
            data = recv_bytes()
            meter.received(data)
            return data

        conn.send, conn.recv_bytes = ssend, srecv_bytes
    conn.audiolab_meter = meter
    return conn


class _ManagerProxy:
    def __init__(self, manager, meter: RealtimeMeter):
        self._manager = manager
        self._meter = meter

    def __enter__(self):
        return _instrument(self._manager.__enter__(), self._meter)

    enter = __enter__

    def __exit__(self, *exc):
        return self._manager.__exit__(*exc)

    async def __aenter__(self):
        return _instrument(await self._manager.__aenter__(), self._meter)

    async def __aexit__(self, *exc):
        return await self._manager.__aexit__(*exc)

    def __await__(self):
        return self.__aenter__().__await__()

    def __getattr__(self, name):
        return getattr(self._manager, name)


class RealtimeProxy:
    """Stands in for ``client.realtime``: ``connect`` is metered, everything else passes through."""

    def __init__(self, resource, *, history, backend: str, cache=None, ssl_context=None):
        self._resource = resource
        self._history = history
        self._backend = backend
        self._cache = cache
        self._ssl = ssl_context  # the local CA of a backend served over TLS (connect(tls=True))

    def connect(self, **kwargs):
        if self._cache is not None and self._cache.mode == "replay":
            from audiolab.errors import CacheMiss

            raise CacheMiss(
                f"Replay mode: realtime sessions (model={kwargs.get('model')!r}) go over a WebSocket and "
                f"cannot be replayed from the cache {self._cache.directory}. Use cache='readwrite' "
                "with a live backend.", code="cache_miss")
        if self._ssl is not None:
            options = dict(kwargs.get("websocket_connection_options") or {})
            options.setdefault("ssl", self._ssl)
            kwargs["websocket_connection_options"] = options
        model = kwargs.get("model")
        meter = RealtimeMeter(history=self._history, backend=self._backend,
                              model=model if isinstance(model, str) else None)
        return _ManagerProxy(self._resource.connect(**kwargs), meter)

    def __getattr__(self, name):
        return getattr(self._resource, name)
