"""JobRunner: bounded concurrency, a bounded queue, and no leaked slot when a client goes away."""

from __future__ import annotations

import asyncio
import time

import pytest

from audiolab.errors import RateLimited
from audiolab.server.jobs import JobRunner


def _slow_sentences(n=100, dt=0.1):
    for i in range(n):
        time.sleep(dt)
        yield i


def test_cancelled_stream_releases_its_slot_and_closes_the_iterator():
    closed = []

    def make():
        def gen():
            try:
                yield from _slow_sentences()
            finally:
                closed.append(True)
        return gen()

    async def main():
        jobs = JobRunner(max_concurrency=1, max_queue=1)

        async def consume():
            async for _ in jobs.iterate(make):
                pass

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.35)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (jobs.running, jobs.waiting) == (0, 0)
        assert await jobs.run(lambda: "next request served") == "next request served"

    asyncio.run(main())
    assert closed == [True]


def test_requests_past_the_queue_bound_get_rate_limited_with_retry_after():
    async def main():
        jobs = JobRunner(max_concurrency=1, max_queue=2)
        busy = [asyncio.ensure_future(jobs.run(time.sleep, 0.3)) for _ in range(3)]
        await asyncio.sleep(0.05)
        with pytest.raises(RateLimited) as exc:
            await jobs.run(time.sleep, 0)
        assert exc.value.retry_after >= 1 and exc.value.status_code == 429
        await asyncio.gather(*busy)
        assert (jobs.running, jobs.waiting) == (0, 0)

    asyncio.run(main())
