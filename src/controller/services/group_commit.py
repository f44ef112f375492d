"""Group commit: calls that arrive together are written together.

`submit(item)` returns when the batch holding the item has been written (or raises what writing
it raised). While one batch is being written, new items gather; the next batch takes all of
them (up to `max_items`). A lone item is written at once: no timer adds latency, batches only
form under load, which is when they pay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

T = TypeVar("T")
R = TypeVar("R")

log = structlog.get_logger(__name__)


class GroupCommit(Generic[T, R]):
    def __init__(self, write: Callable[[Sequence[T]], Awaitable[Sequence[R]]], max_items: int = 500) -> None:
        self._write = write
        self._max_items = max_items
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0  # written so far (for tests and benchmarks)

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            # A task of its own: the caller may be cancelled (its stream closed) while the
            # batch it started is written for others too.
            self._writer = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(0)  # let the callers resumed meanwhile join this batch
            batch, self._queue = self._queue[: self._max_items], self._queue[self._max_items :]
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:  # each caller gets it: none is left waiting
                for _, f in batch:
                    if not f.done():
                        f.set_exception(exc)
                continue
            self.batches += 1
            for (_, f), r in zip(batch, results, strict=True):
                if not f.done():
                    f.set_result(r)
