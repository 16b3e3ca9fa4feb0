"""The job queue under the server: one at a time in order, bounded, and stoppable."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ltu_desktop.server.jobs import Dropped, JobQueue, QueueFull


def test_jobs_run_one_at_a_time_in_order_and_a_full_queue_says_when_to_retry():
    async def scenario():
        q, gate, order = JobQueue(max_waiting=2), threading.Event(), []

        def work(name):
            def run(job):
                gate.wait(10)
                order.append(name)
                job.emit("piece", name)
                return name.upper()
            return run

        first = q.submit(work("a"))
        while not q.busy:
            await asyncio.sleep(0.01)
        waiting = [q.submit(work("b")), q.submit(work("c"))]
        with pytest.raises(QueueFull) as full:
            q.submit(work("d"))
        assert full.value.retry_after >= 1 and q.waiting == 2
        waiting[0].stop.set()  # its client left while it waited: it never runs
        gate.set()
        assert await first.next() == ("piece", "a") and await first.result() == "A"
        with pytest.raises(Dropped):
            await waiting[0].result()
        assert await waiting[1].result() == "C" and order == ["a", "c"]
        q.close()
        with pytest.raises(Dropped):
            q.submit(work("e"))

    asyncio.run(scenario())


def test_close_stops_the_running_job_and_drops_the_waiting_ones():
    async def scenario():
        q = JobQueue(max_waiting=4)
        running = q.submit(lambda job: job.stop.wait(10) and "stopped")
        while not q.busy:
            await asyncio.sleep(0.01)
        waiting = q.submit(lambda job: "never")
        await asyncio.to_thread(q.close)
        assert await running.result() == "stopped"
        with pytest.raises(Dropped, match="shutting down"):
            await waiting.result()

    asyncio.run(scenario())


def test_with_no_waiting_room_an_idle_queue_still_takes_one():
    async def scenario():
        q, gate = JobQueue(max_waiting=0), threading.Event()
        first = q.submit(lambda job: gate.wait(10))
        with pytest.raises(QueueFull):
            q.submit(lambda job: None)
        gate.set()
        assert await first.result() is True
        assert await q.submit(lambda job: "next").result() == "next"
        q.close()

    asyncio.run(scenario())
