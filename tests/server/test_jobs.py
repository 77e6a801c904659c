"""JobRunner: bounded concurrency, a bounded queue, and no leaked slot when a client goes away."""

from __future__ import annotations

import asyncio
import time

import pytest

from audiolab.errors import RateLimited
from audiolab.server.jobs import INTERACTIVE, JobRunner


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


def test_a_waiter_cancelled_just_as_a_slot_frees_leaks_no_slot():
    # Task.cancel() cancels the awaited future at once, but the waiter's own handler runs a loop
    # step later; a release in between must skip that lease, not start it (a realtime client that
    # vanished mid-turn used to leave a slot "running" for good this way).
    async def main():
        jobs = JobRunner(max_concurrency=1, max_queue=4)

        async def wait_for_slot():
            async with jobs.slot():
                pass

        async with jobs.slot():
            waiter = asyncio.ensure_future(wait_for_slot())
            await asyncio.sleep(0)
            assert jobs.waiting == 1
            waiter.cancel()
        results = await asyncio.gather(waiter, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        assert (jobs.running, jobs.waiting) == (0, 0)
        assert await jobs.run(lambda: "next request served") == "next request served"

    asyncio.run(main())


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


def _recorder(order):
    def work(name):
        time.sleep(0.02)
        order.append(name)
        return name
    return work


async def _settle():
    for _ in range(5):  # let freshly created tasks reach their queue
        await asyncio.sleep(0)


def _order_served(queued_first, queued_later) -> list[str]:
    """The order one slot serves named jobs in: ``queued_first`` (name, run options) pairs are queued,
    then, once they wait, ``queued_later``."""
    order: list[str] = []
    work = _recorder(order)

    async def main():
        jobs = JobRunner(max_concurrency=1, max_queue=16)
        tasks = [asyncio.ensure_future(jobs.run(work, name, **kw)) for name, kw in queued_first]
        await _settle()
        tasks += [asyncio.ensure_future(jobs.run(work, name, **kw)) for name, kw in queued_later]
        await asyncio.gather(*tasks)

    asyncio.run(main())
    return order


def test_an_interactive_job_overtakes_queued_bulk_jobs():
    order = _order_served(
        [(f"bulk-{i}", {"client": "eval-loop"}) for i in range(4)],
        [("turn", {"priority": INTERACTIVE, "client": "eval-loop"})],
    )
    assert order == ["bulk-0", "turn", "bulk-1", "bulk-2", "bulk-3"]


def test_bulk_iterator_yields_its_slot_between_items_to_interactive_work():
    order: list = []

    def segments():
        for i in range(5):
            time.sleep(0.02)
            order.append(i)
            yield i

    async def main():
        jobs = JobRunner(max_concurrency=1, max_queue=16)
        turn = None
        async for i in jobs.iterate(segments, client="file-upload"):
            if i == 0:
                turn = asyncio.ensure_future(jobs.run(_recorder(order), "turn", priority=INTERACTIVE,
                                                      client="voice"))
                await _settle()
        await turn
        assert (jobs.running, jobs.waiting) == (0, 0)

    asyncio.run(main())
    # The turn queued while segment 1 was decoding; it ran before segment 2.
    assert order == [0, 1, "turn", 2, 3, 4]


def test_waiting_clients_are_served_in_turn_not_in_arrival_order():
    order = _order_served(
        [(f"a{i}", {"client": "alice"}) for i in range(4)], [(f"b{i}", {"client": "bob"}) for i in range(2)]
    )
    assert order == ["a0", "b0", "a1", "b1", "a2", "a3"]


def test_one_client_past_its_queue_bound_is_refused_while_others_still_queue():
    async def main():
        jobs = JobRunner(max_concurrency=1, max_queue=16, max_queue_per_client=2)
        busy = [asyncio.ensure_future(jobs.run(time.sleep, 0.1, client="loop")) for _ in range(3)]
        await _settle()
        with pytest.raises(RateLimited) as exc:
            await jobs.run(time.sleep, 0, client="loop")
        assert exc.value.retry_after >= 1
        assert await jobs.run(lambda: "served", client="someone-else") == "served"
        await asyncio.gather(*busy)

    asyncio.run(main())


def test_a_reservation_keeps_one_slot_free_of_bulk_work():
    async def main():
        jobs = JobRunner(max_concurrency=2, max_queue=16, reservation_linger_s=0)
        with jobs.reserve():
            bulk = [asyncio.ensure_future(jobs.run(time.sleep, 0.2, client=f"c{i}")) for i in range(2)]
            await _settle()
            assert (jobs.running, jobs.waiting) == (1, 1)
            assert await jobs.run(lambda: "now", priority=INTERACTIVE) == "now"
            assert jobs.peak_threads <= 2
        await asyncio.gather(*bulk)

    asyncio.run(main())


def test_bulk_work_in_the_reserved_slot_gives_it_back_at_its_next_item():
    def segments(name):
        def gen():
            for i in range(6):
                time.sleep(0.02)
                yield name, i
        return gen

    async def main():
        jobs = JobRunner(max_concurrency=2, max_queue=16, reservation_linger_s=0)
        seen_running: list[int] = []

        async def consume(name):
            async for _ in jobs.iterate(segments(name), client=name):
                seen_running.append(jobs._running["bulk"])

        files = [asyncio.ensure_future(consume(f"file-{i}")) for i in range(2)]
        await _settle()
        assert jobs.running == 2  # no voice session yet: bulk work uses both slots
        with jobs.reserve():
            before = len(seen_running)
            assert await jobs.run(lambda: "turn", priority=INTERACTIVE, client="voice") == "turn"
            assert max(seen_running[before + 2:], default=1) <= 1
        await asyncio.gather(*files)
        assert (jobs.running, jobs.waiting) == (0, 0)

    asyncio.run(main())


def _granted_per_item(n, dt=0.05):
    from audiolab.server.jobs import granted_threads

    for _ in range(n):
        time.sleep(dt)
        yield granted_threads(1)


def test_an_interactive_job_alone_computes_with_the_whole_budget_and_bulk_with_its_share():
    from audiolab.server.jobs import BULK, granted_threads

    async def main():
        jobs = JobRunner(max_concurrency=2, threads_per_job=1, others_busy=lambda: 0.0)
        alone = await jobs.run(granted_threads, 1, priority=INTERACTIVE)
        bulk = await jobs.run(granted_threads, 1, priority=BULK)
        narrow = JobRunner(max_concurrency=2, threads_per_job=1, wide=False)
        # another program holds a core: two spinning threads would be slower than one
        busy = JobRunner(max_concurrency=2, threads_per_job=1, others_busy=lambda: 1.0)
        return (alone, bulk, await narrow.run(granted_threads, 1, priority=INTERACTIVE),
                await busy.run(granted_threads, 1, priority=INTERACTIVE), jobs.peak_threads)

    assert asyncio.run(main()) == (2, 1, 1, 1, 2)


def test_a_wide_job_narrows_when_another_job_waits_so_the_budget_holds():
    from audiolab.server.jobs import BULK

    async def main():
        jobs = JobRunner(max_concurrency=2, threads_per_job=1, others_busy=lambda: 0.0)
        seen: list[int] = []

        async def stream():
            async for granted in jobs.iterate(lambda: _granted_per_item(12), priority=INTERACTIVE):
                seen.append(granted)

        task = asyncio.ensure_future(stream())
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        await jobs.run(time.sleep, 0.1, priority=BULK)
        bulk_wait = time.perf_counter() - started
        await task
        return seen, bulk_wait, jobs.peak_threads

    seen, bulk_wait, peak = asyncio.run(main())
    assert seen[0] == 2 and 1 in seen, seen  # wide while alone, one share while the bulk job ran
    assert seen[-1] == 2, seen  # and wide again once alone
    assert bulk_wait < 0.1 + 0.2, bulk_wait  # the newcomer waited one item at most, not the stream
    assert peak <= 2


def test_a_program_spinning_on_one_core_is_measured_as_about_one_busy_core():
    import subprocess
    import sys

    from audiolab.server.machine_load import SAMPLE_S, OtherLoad

    probe = OtherLoad()
    if probe.busy_cores() is None:
        pytest.skip("no /proc/stat on this system")
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(SAMPLE_S * 3)
        busy = probe.busy_cores()
    finally:
        spin.kill()
        spin.wait()
    assert busy is not None and busy >= 0.6, busy  # this process's own threads are not counted
