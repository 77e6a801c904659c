"""Running the local backend: in a background thread of the kernel, or standalone (``audiolab serve``)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from audiolab.errors import BackendError, InvalidRequest
from audiolab.server.settings import Settings
from audiolab.server.tls import TlsFiles

__all__ = ["ServerHandle", "start_in_thread", "serve_forever", "check_binding"]


def check_binding(settings: Settings) -> None:
    """Refuse to bind beyond loopback without a token.

    Raises:
        InvalidRequest: a non-loopback host with no ``api_key``.
    """
    if not settings.is_loopback and not settings.api_key:
        raise InvalidRequest(
            f"Binding {settings.host} exposes the server to your network: pass --api-key TOKEN "
            "(clients then send it as their OpenAI API key).",
            param="api_key",
        )


@dataclass
class ServerHandle:
    """A running in-process server. ``url`` is its OpenAI base URL (``http://127.0.0.1:PORT/v1``,
    ``https://localhost:PORT/v1`` with TLS); ``tls`` names the certificate files (``tls.ca`` is
    what a client must trust)."""

    host: str
    port: int
    app: object
    _server: object
    _thread: threading.Thread
    tls: TlsFiles | None = None

    @property
    def url(self) -> str:
        if self.tls is None:
            return f"http://{self.host}:{self.port}/v1"
        host = "localhost" if self.host in ("127.0.0.1", "::1") else self.host  # the name on the certificate
        return f"https://{host}:{self.port}/v1"

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)


def _bind(settings: Settings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _ssl_options(tls: TlsFiles | None) -> dict:
    return {} if tls is None else {"ssl_certfile": str(tls.certfile), "ssl_keyfile": str(tls.keyfile)}


def start_in_thread(settings: Settings | None = None, *, timeout: float = 30.0,
                    tls: TlsFiles | None = None) -> ServerHandle:
    """Start the backend on ``settings.host`` (127.0.0.1) and a free port, in a daemon thread;
    with ``tls`` (see :mod:`audiolab.server.tls`) it serves HTTPS and WSS.

    Raises:
        BackendError: the server did not come up within ``timeout`` seconds.
    """
    import uvicorn

    from audiolab.server.app import create_app

    settings = settings or Settings()
    check_binding(settings)
    app = create_app(settings)
    sock = _bind(settings)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level=settings.log_level, lifespan="off", ws="websockets-sansio",
                            ws_max_size=32 * 1024 * 1024, timeout_graceful_shutdown=2, **_ssl_options(tls))
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run():
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"audiolab-server:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if errors or not thread.is_alive():
            raise BackendError(f"The local backend failed to start: {errors[0] if errors else 'thread exited'}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise BackendError(f"The local backend did not start within {timeout:.0f} s.")
        time.sleep(0.02)
    return ServerHandle(settings.host, port, app, server, thread, tls)


def serve_forever(settings: Settings, *, tls: TlsFiles | None = None) -> None:
    """Run the backend in the foreground until interrupted (``audiolab serve``), over TLS with ``tls``."""
    import uvicorn

    from audiolab.server.app import create_app

    check_binding(settings)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port or 8000, log_level=settings.log_level,
                ws="websockets-sansio", ws_max_size=32 * 1024 * 1024, **_ssl_options(tls))
