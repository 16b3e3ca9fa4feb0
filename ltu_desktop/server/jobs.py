"""One engine, one job at a time: requests wait in a bounded FIFO and run in order on one worker thread.

The engine serialises generation with its own lock; running every request on one thread as well means
a waiting request holds a queue slot, not a thread, and the queue can say "full" instead of growing."""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"The queue is full; retry in {retry_after} s.")
        self.retry_after = retry_after


class Dropped(Exception):
    """The job never ran: its client left while it waited, or the server is shutting down."""


@dataclass(eq=False)
class Job:
    """`work(job)` runs on the worker thread and may `emit` events; its return value ends the stream.

    `stop` is set when the client goes away; generation checks it before every token."""

    work: Callable[[Job], Any]
    loop: asyncio.AbstractEventLoop
    stop: threading.Event = field(default_factory=threading.Event)
    events: asyncio.Queue = field(default_factory=asyncio.Queue)

    def emit(self, kind: str, value: Any = None) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            pass

    async def next(self) -> tuple[str, Any]:
        """("piece", ...) and other events from `work`, then ("done", result) or ("error", exception)."""
        return await self.events.get()

    async def result(self) -> Any:
        while True:
            kind, value = await self.next()
            if kind == "done":
                return value
            if kind == "error":
                raise value


class JobQueue:
    def __init__(self, max_waiting: int):
        self.max_waiting = max_waiting
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._pending = 0  # submitted and not yet finished: the running job and those waiting
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: Job | None = None
        self._closed = False
        self._mean_s = 2.0  # running mean of a job's duration, for Retry-After

    @property
    def waiting(self) -> int:
        return max(0, self._pending - 1)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def submit(self, work: Callable[[Job], Any]) -> Job:
        job = Job(work, asyncio.get_running_loop())
        with self._lock:
            if self._closed:
                raise Dropped("The server is shutting down.")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ltu-server-engine", daemon=True)
                self._thread.start()
            if self._pending > self.max_waiting:
                raise QueueFull(max(1, math.ceil(self._mean_s * self._pending)))
            self._pending += 1
            self._jobs.put_nowait(job)
        return job

    def close(self, timeout: float = 10.0) -> None:
        """Drop what waits, stop what runs (within a token) and end the worker thread."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
            while True:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    self._pending -= 1
                    job.stop.set()
                    job.emit("error", Dropped("The server is shutting down."))
            running = self._running
            if running is not None:
                running.stop.set()
            if thread is not None:
                self._jobs.put_nowait(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            t0, ran = time.perf_counter(), not job.stop.is_set()
            kind, value = "error", Dropped("The client left before its turn.")
            if ran:
                self._running = job
                try:
                    kind, value = "done", job.work(job)
                except Exception as exc:  # reported to the job's own request; the worker serves on
                    kind, value = "error", exc
            with self._lock:  # counted out before the client hears, so its next request finds room
                self._pending -= 1
                self._running = None
                if ran:
                    self._mean_s = 0.8 * self._mean_s + 0.2 * (time.perf_counter() - t0)
            job.emit(kind, value)
