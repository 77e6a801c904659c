"""What an engine job carries from its request: the client, the priority, and the threads granted.

A route marks its request interactive (:func:`set_priority`); :class:`ClientMiddleware` keeps who
the request comes from (:func:`client_id`). Both live in context variables, so the tasks a
handler starts (a realtime session's turns) inherit them. In the worker thread that computes a
job, :func:`granted_threads` tells the engine how many threads the
:class:`~audiolab.server.jobs.JobRunner` granted it.

Example:
    >>> client_id({"type": "http", "headers": [], "client": ("127.0.0.1", 5000)})
    'no-token@127.0.0.1'
"""

from __future__ import annotations

import contextvars
import hashlib
import threading

__all__ = ["INTERACTIVE", "BULK", "ORDER", "set_priority", "client_id", "ClientMiddleware", "granted_threads",
           "current_client", "current_priority", "run_granted"]

INTERACTIVE = "interactive"
BULK = "bulk"
ORDER = (INTERACTIVE, BULK)
_ANONYMOUS = "anonymous"
_CLIENT: contextvars.ContextVar[str] = contextvars.ContextVar("audiolab_job_client", default=_ANONYMOUS)
_PRIORITY: contextvars.ContextVar[str] = contextvars.ContextVar("audiolab_job_priority", default=BULK)
_GRANT = threading.local()  # .threads: what the job running in this worker thread was granted


def granted_threads(default: int) -> int:
    """Threads the engine job running in this worker thread may compute with.

    The runner grants one job's share (``threads_per_job``), or the whole budget to an
    interactive job that finds the server idle (:class:`JobRunner`, *wide jobs*). Engines call
    it at the start of a step to pick their thread count; outside a job (a direct call) it
    is ``default``.

    Example:
        >>> granted_threads(1)
        1
    """
    return getattr(_GRANT, "threads", None) or default


def run_granted(threads: int, fn, *args):
    """``fn(*args)`` with :func:`granted_threads` answering ``threads`` (in the worker thread)."""
    before = getattr(_GRANT, "threads", None)
    _GRANT.threads = threads
    try:
        return fn(*args)
    finally:
        _GRANT.threads = before


def set_priority(priority: str) -> None:
    """Run the jobs this request starts from now on (and those of the tasks it starts) at ``priority``.

    A route calls it once it knows the request is interactive (``stream=true``, a streamed
    speech format), so that every job of the request, from decoding the upload to the last
    sentence, goes ahead of bulk work; jobs default to :data:`BULK`.
    """
    if priority not in ORDER:
        raise ValueError(f"priority must be one of {ORDER}, not {priority!r}")
    _PRIORITY.set(priority)


def client_id(scope) -> str:
    """Who a request comes from: a digest of its bearer token (if any) and the client's address.

    The token is never kept, only 12 hex digits of its SHA-256. Works on an ASGI scope, or on a
    Starlette ``Request``/``WebSocket`` (anything with ``.scope``).
    """
    scope = getattr(scope, "scope", scope)
    headers = dict(scope.get("headers") or [])
    raw = headers.get(b"authorization", b"").decode("latin-1")
    token = raw[7:].strip() if raw[:7].lower() == "bearer " else ""
    if not token and scope.get("type") == "websocket":
        for proto in headers.get(b"sec-websocket-protocol", b"").decode("latin-1").split(","):
            if proto.strip().startswith("openai-insecure-api-key."):
                token = proto.strip().split(".", 1)[1]
    host = (scope.get("client") or ("local", 0))[0]
    who = hashlib.sha256(token.encode()).hexdigest()[:12] if token else "no-token"
    return f"{who}@{host}"


class ClientMiddleware:
    """ASGI middleware: jobs started while serving a request or a WebSocket count against its client.

    The client (:func:`client_id`) is kept in a context variable, which tasks started by the
    handler (a realtime session's turns and responses) inherit, so callers of the runner need
    not pass ``client=``.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        token = _CLIENT.set(client_id(scope))
        try:
            return await self.app(scope, receive, send)
        finally:
            _CLIENT.reset(token)


def current_client() -> str:
    """The client of the request being served (``"anonymous"`` outside one)."""
    return _CLIENT.get()


def current_priority() -> str:
    """The priority of the request being served (:data:`BULK` unless it said otherwise)."""
    return _PRIORITY.get()
