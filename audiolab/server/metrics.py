"""The server's Prometheus metrics: one registry per app, served as text at ``GET /metrics``.

:class:`Metrics` owns a ``prometheus_client`` :class:`~prometheus_client.CollectorRegistry` (not the
process-wide default one: several apps may live in one process, in tests or in a notebook) and
the instruments of the job runner and of HTTP requests. Other parts of the server add their own
instruments to :attr:`Metrics.registry`, for example a cache::

    hits = Counter("audiolab_cache_hits", "Responses served from the cache.", registry=metrics.registry)

Example:
    >>> m = Metrics()
    >>> m.queue_depth("bulk", 3)
    >>> b"audiolab_jobs_queued" in m.render()[0]
    True
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["Metrics", "MetricsMiddleware"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0)


class Metrics:
    """Instruments of one server; ``registry`` is where more can be added."""

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.queued = Gauge("audiolab_jobs_queued", "Engine jobs waiting for a slot of the CPU budget.",
                            ["priority"], registry=r)
        self.in_flight = Gauge("audiolab_jobs_in_flight", "Engine jobs holding a slot, by engine.",
                               ["engine", "priority"], registry=r)
        self.rejected_total = Counter("audiolab_jobs_rejected", "Jobs refused with 429: a queue was full.",
                                      ["priority"], registry=r)
        self.wait_seconds = Histogram("audiolab_job_wait_seconds", "Time a job waited for a slot.",
                                      ["priority"], buckets=_LATENCY_BUCKETS, registry=r)
        self.run_seconds = Histogram("audiolab_job_seconds", "Time a job held its slot, by engine.",
                                     ["engine", "priority"], buckets=_LATENCY_BUCKETS, registry=r)
        self.request_seconds = Histogram("audiolab_request_duration_seconds",
                                         "HTTP request latency, until the last byte of the response.",
                                         ["method", "route", "status"], buckets=_LATENCY_BUCKETS, registry=r)
        self.turn_pieces = Counter("audiolab_realtime_turn_pieces",
                                   "Realtime: pieces of user turns transcribed while the user still spoke.",
                                   registry=r)

    # --- job runner hooks ------------------------------------------------------------------------
    def queue_depth(self, priority: str, n: int) -> None:
        self.queued.labels(priority).set(n)

    def job_started(self, engine: str, priority: str, waited_s: float) -> None:
        self.in_flight.labels(engine, priority).inc()
        self.wait_seconds.labels(priority).observe(waited_s)

    def job_finished(self, engine: str, priority: str, held_s: float) -> None:
        self.in_flight.labels(engine, priority).dec()
        self.run_seconds.labels(engine, priority).observe(held_s)

    def rejected(self, priority: str) -> None:
        self.rejected_total.labels(priority).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """ASGI middleware: the latency of every HTTP request, labelled by route template and status."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.request_seconds.labels(scope.get("method", ""), route, str(status[0])).observe(
                time.perf_counter() - start)
