"""``audiolab.connect()``: one code path, two backends.

Notebooks and widgets always talk through the official ``openai`` SDK. ``connect`` decides where
it points: the real OpenAI API, the embedded local server, or any OpenAI-compatible base URL.

Choosing the backend, first match wins:
    1. the ``backend=`` argument: ``"openai"``, ``"local"``, or a base URL;
    2. the ``AUDIOLAB_BACKEND`` environment variable;
    3. ``"openai"`` when ``OPENAI_API_KEY`` is set;
    4. otherwise ``"local"``.

Example:
    >>> import audiolab
    >>> lab = audiolab.connect("local")     # doctest: +SKIP
    >>> lab.client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input="Hi")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import atexit
import html
import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field

from audiolab._redact import KIT_LOGGERS, scrub_logs
from audiolab.errors import BackendError, MissingAPIKey

__all__ = ["Lab", "connect", "resolve_backend", "local_server", "LOCAL_API_KEY"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
# The local server ignores the key on loopback; the SDK requires a non-empty one.
LOCAL_API_KEY = "audiolab-local"
# Where a replay-only Lab "points": never dialled, and .invalid never resolves (RFC 2606).
REPLAY_BASE_URL = "http://replay.invalid/v1"

_server_lock = threading.Lock()
_server = None
_tls_server = None


def resolve_backend(backend: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """Which backend ``connect`` will use: ``"openai"``, ``"local"`` or a base URL.

    Example:
        >>> resolve_backend(None, environ={})
        'local'
        >>> resolve_backend(None, environ={"OPENAI_API_KEY": "sk-x"})
        'openai'
    """
    env = os.environ if environ is None else environ
    for choice in (backend, env.get("AUDIOLAB_BACKEND")):
        if choice:
            choice = choice.strip()
            if choice.lower() in ("openai", "local"):
                return choice.lower()
            if choice.startswith(("http://", "https://")):
                return choice.rstrip("/")
            raise BackendError(
                f"Unknown backend {choice!r}: use 'openai', 'local' or a base URL such as http://host:8000/v1."
            )
    return "openai" if env.get("OPENAI_API_KEY") else "local"


def local_server(*, tls: bool = False):
    """The kernel's local backend, started on first use on 127.0.0.1 and a free port, then reused;
    with ``tls``, a second one serving https:// and wss:// with the self-signed certificate of
    :mod:`audiolab.server.tls` (its ``tls.ca`` is what clients trust).

    Raises:
        BackendError: an engine package is missing or the server cannot start; the message names
            the package and the ``make`` command that installs it.
    """
    global _server, _tls_server
    with _server_lock:
        running = _tls_server if tls else _server
        if running is not None and running.alive:
            return running
        try:
            from audiolab.server.serve import start_in_thread
            from audiolab.server.settings import Settings
        except ImportError as exc:
            raise BackendError(
                f"The local backend needs the package '{exc.name}', which is not installed. "
                "Run `make lab` (or `pip install -e .[local]`) to install the local engines."
            ) from exc
        try:
            settings = Settings.from_env(host="127.0.0.1", port=0)
            if tls:
                from audiolab.server.tls import localhost_certificate

                files = localhost_certificate(settings.cache_dir / "tls")
                server = _tls_server = start_in_thread(settings, tls=files)
            else:
                server = _server = start_in_thread(settings)
        except ImportError as exc:
            raise BackendError(
                f"The local backend needs the package '{exc.name}', which is not installed. "
                "Run `make lab` (or `pip install -e .[local]`) to install the local engines."
            ) from exc
        atexit.register(server.stop)
        return server


@dataclass(repr=False, eq=False)
class Lab:
    """A connection to one backend: the SDK clients plus what the kit adds around them.

    Attributes:
        backend: ``"openai"``, ``"local"`` or the base URL of another OpenAI-compatible server.
        base_url: where requests go.
        client: an ``openai.OpenAI`` for that backend; every call through it is recorded.
        aclient: an ``openai.AsyncOpenAI`` for that backend; likewise recorded. Connection
            pools belong to one event loop, so each running loop gets its own client (cached for
            that loop); read outside any loop, it is a new client each time.
        history: :class:`audiolab.client.history.History`, one row per call (``lab.history.frame``).
        cache: the :class:`audiolab.client.cache.ResponseCache` in use, or None (``cache="off"``).
    """

    backend: str
    base_url: str
    client: object
    _aclient_factory: object
    _key_source: str = field(default="none")
    history: object = None
    cache: object = None
    _aclients: object = field(default_factory=weakref.WeakKeyDictionary)

    def __post_init__(self):
        if self.history is None:
            from audiolab.client.history import History

            self.history = History()

    @property
    def aclient(self):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._aclient_factory()
        client = self._aclients.get(loop)
        if client is None:
            client = self._aclients[loop] = self._aclient_factory()
        return client

    def fresh_aclient(self):
        """A new ``openai.AsyncOpenAI`` with its own connection pool, instrumented like ``aclient``."""
        return self._aclient_factory()

    def models(self) -> list[str]:
        """Ids of the models the backend serves."""
        return sorted(m.id for m in self.client.models.list())

    @property
    def is_local(self) -> bool:
        return self.backend == "local"

    @property
    def prices(self):
        """The price table for costs (:class:`~audiolab.client.pricing.PriceTable`); assign a table,
        a DataFrame or the path of a CSV."""
        return self.history.prices

    @prices.setter
    def prices(self, table) -> None:
        self.history.prices = table

    @property
    def cost_so_far(self):
        """The session's estimated spend, shown in notebooks (a :class:`~.history.SessionCost`)."""
        return self.history.cost_so_far()

    def catalog(self, **options):
        """The backend's models joined with what the SDK knows (:func:`~.catalog.catalog`)."""
        from audiolab.client.catalog import catalog

        return catalog(self, **options)

    def probe(self, **options):
        """Which parameters the backend honours or ignores; see :func:`audiolab.client.probe.probe`."""
        from audiolab.client.probe import probe

        return probe(self, **options)

    def __repr__(self) -> str:
        mode = f" cache={self.cache.mode}" if self.cache is not None else ""
        return (
            f"<audiolab.Lab backend={self.backend!r} base_url={self.base_url!r} key={self._key_source}{mode}>"
        )

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.is_local else "#0969da"
        what = "local backend (offline, no key)" if self.is_local else f"{self.backend}"
        if self.cache is not None and self.cache.mode == "replay":
            what += " (replaying the cache, no network)"
        return (
            f'<div style="font-family:sans-serif"><span style="color:{colour}">&#9679;</span> '
            f"<b>audiolab</b> live on {html.escape(what)} &middot; <code>{html.escape(self.base_url)}</code>"
            f" &middot; {html.escape(str(self.cost_so_far))}</div>"
        )


def connect(backend: str | None = None, *, api_key: str | None = None, timeout: float = 120.0,
            max_retries: int = 2, environ: Mapping[str, str] | None = None, cache: str | None = None,
            cache_dir: str | os.PathLike | None = None, prices=None, tls: bool = False) -> Lab:
    """Connect to a backend and return a :class:`Lab`.

    Args:
        backend: ``"openai"``, ``"local"``, or a base URL; see the module doc for the default.
        api_key: a key for ``"openai"`` or a URL backend; defaults to ``OPENAI_API_KEY``. Never
            printed or stored outside the SDK client.
        timeout: per-request timeout in seconds.
        max_retries: the SDK's retries on 429, 5xx and connection errors.
        cache: ``"off"``, ``"readwrite"`` or ``"replay"`` (default: ``AUDIOLAB_CACHE`` or
            ``"off"``). In ``"replay"`` nothing leaves the process: no key is needed and the
            local server is not started; a request the cache lacks raises ``CacheMiss``.
        cache_dir: the cache folder (default: ``AUDIOLAB_CACHE_DIR`` or ``./audiolab-cache``).
        prices: a price table, DataFrame or CSV path for costs (default: the bundled table).
        tls: with the local backend, serve it over https:// and wss:// (a self-signed certificate
            for localhost, as ``audiolab serve --tls``); this Lab's clients trust its CA.

    Raises:
        MissingAPIKey: ``backend="openai"`` and no key.
        BackendError: the local backend cannot start.
    """
    import openai

    from audiolab.client.cache import ResponseCache
    from audiolab.client.history import History

    scrub_logs(KIT_LOGGERS)  # the key never reaches a log line, whatever the log level
    env = os.environ if environ is None else environ
    choice = resolve_backend(backend, environ=env)
    key = api_key or env.get("OPENAI_API_KEY")
    mode = (cache or env.get("AUDIOLAB_CACHE") or "off").strip().lower()
    response_cache = None
    if mode != "off":
        response_cache = ResponseCache(
            cache_dir or env.get("AUDIOLAB_CACHE_DIR") or "audiolab-cache", mode=mode
        )
    replay = response_cache is not None and response_cache.mode == "replay"
    ssl_context = None  # trust the system's CAs (plus the local CA with tls=True)
    if replay and choice == "local":
        # Replaying needs no server: the address is never dialled (.invalid never resolves).
        base_url, key, source = REPLAY_BASE_URL, LOCAL_API_KEY, "none (replay)"
    elif replay and choice == "openai" and not key:
        base_url, key, source = OPENAI_BASE_URL, LOCAL_API_KEY, "none (replay)"
    elif choice == "openai":
        if not key:
            raise MissingAPIKey(
                "backend='openai' needs an API key: set OPENAI_API_KEY in your environment "
                "(for example in a .env file loaded before Jupyter starts), or use "
                "audiolab.connect('local') for the offline backend."
            )
        base_url, source = OPENAI_BASE_URL, "OPENAI_API_KEY" if not api_key else "argument"
    elif choice == "local":
        server = local_server(tls=tls)
        base_url, key, source = server.url, LOCAL_API_KEY, "local"
        if server.tls is not None:
            from audiolab.server.tls import client_context

            ssl_context = client_context(server.tls.ca)
    else:
        base_url = choice
        key, source = (key, "argument" if api_key else "OPENAI_API_KEY") if key else (LOCAL_API_KEY, "none")
    history = History()
    if prices is not None:
        history.prices = prices
    client, aclient_factory = _instrumented_clients(openai, key=key, base_url=base_url, timeout=timeout,
                                                    max_retries=max_retries, history=history, backend=choice,
                                                    cache=response_cache, ssl_context=ssl_context)
    return Lab(backend=choice, base_url=base_url, client=client, _aclient_factory=aclient_factory,
               _key_source=source, history=history, cache=response_cache)


def _instrumented_clients(openai, *, key, base_url, timeout, max_retries, history, backend, cache,
                          ssl_context=None):
    """A sync SDK client and an async-client factory, every request through the instrumented transport."""
    import httpx2

    from audiolab.client.transport import (
        AsyncInstrumentedTransport,
        InstrumentedTransport,
        instrument_realtime,
    )

    base_path = httpx2.URL(base_url).path
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)  # the SDK's defaults
    verify = ssl_context if ssl_context is not None else True
    sync_t = InstrumentedTransport(httpx2.HTTPTransport(limits=limits, verify=verify), history=history,
                                   backend=backend, cache=cache, base_path=base_path)
    client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries,
                           http_client=openai.DefaultHttpxClient(transport=sync_t, timeout=timeout))
    instrument_realtime(client, history=history, backend=backend, cache=cache, ssl_context=ssl_context)

    def make_aclient():
        async_t = AsyncInstrumentedTransport(httpx2.AsyncHTTPTransport(limits=limits, verify=verify),
                                             history=history,
                                             backend=backend, cache=cache, base_path=base_path)
        aclient = openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=openai.DefaultAsyncHttpxClient(transport=async_t, timeout=timeout),
        )
        return instrument_realtime(aclient, history=history, backend=backend, cache=cache,
                                   ssl_context=ssl_context)

    return client, make_aclient
