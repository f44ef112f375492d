"""Run jobs concurrently across keys and strictly in submission order within a key."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

import structlog

log = structlog.get_logger("agent.sequencer")

Job = Callable[[], Awaitable[None]]


class KeyedSequencer:
    """One worker task per key with queued jobs; idle keys cost nothing.

    Jobs must handle their own errors; one that raises is logged and the next job for the key
    still runs. After close() no queued job starts (callers relying on redelivery, like AMQP
    consumers, simply never acknowledge them).
    """

    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[Job]] = {}
        self._workers: dict[Hashable, asyncio.Task[None]] = {}
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, key: Hashable, job: Job) -> bool:
        """Queue a job; False if the sequencer is closing and the job will never run."""
        if self._closing:
            return False
        self._queues.setdefault(key, deque()).append(job)
        if key not in self._workers:
            self._idle.clear()
            self._workers[key] = asyncio.create_task(self._work(key), name=f"sequencer:{key}")
        return True

    @property
    def active_keys(self) -> int:
        return len(self._workers)

    def queued(self, key: Hashable) -> int:
        return len(self._queues.get(key, ()))

    async def _work(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue and not self._closing:
                job = queue.popleft()
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("sequencer.job_failed", key=str(key))
        finally:
            self._queues.pop(key, None)
            self._workers.pop(key, None)
            if not self._workers:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Wait until every queued job has run."""
        await self._idle.wait()

    async def close(self, grace: float) -> int:
        """Start nothing new, give running jobs `grace` seconds, then cancel them.

        Returns how many jobs had to be cancelled.
        """
        self._closing = True
        if self._workers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=grace)
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        return len(workers)
