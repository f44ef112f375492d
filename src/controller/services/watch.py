"""WatchServers fan-out: instance changes (from NOTIFY on any replica) to subscribers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import structlog

from controller.domain.model import Instance
from controller.services.ports import InstanceStore

log = structlog.get_logger(__name__)


class WatchInterrupted(Exception):
    """The feed may have missed changes; the watcher must start over."""


class Subscription:
    def __init__(self, project: str, max_backlog: int) -> None:
        self.project = project
        self._queue: asyncio.Queue[Instance | Exception] = asyncio.Queue(max_backlog)

    def offer(self, item: Instance | Exception) -> bool:
        try:
            self._queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            return False

    def overflow(self) -> None:
        """Make room for one last item: the error that ends this watcher."""
        self._queue.get_nowait()
        self._queue.put_nowait(WatchInterrupted("watcher fell behind: watch again"))

    async def next(self) -> Instance:
        item = await self._queue.get()
        if isinstance(item, Exception):
            raise item
        return item


class ServerChangeFeed:
    def __init__(self, instances: InstanceStore, *, max_backlog: int = 10_000) -> None:
        self._instances = instances
        self._max_backlog = max_backlog
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._pending: set[UUID] = set()
        self._wake = asyncio.Event()

    def notified(self, payload: str) -> None:
        """NOTIFY payload: "<project> <uid>,<uid>,..." (one per statement and project, in
        chunks: migration 0007). Only projects someone watches are fetched."""
        project, _, uids = payload.partition(" ")
        if self._subs.get(project):
            self._pending.update(UUID(u) for u in uids.split(",") if u)
            self._wake.set()

    def interrupted(self) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub.offer(WatchInterrupted("change feed interrupted: watch again"))

    @asynccontextmanager
    async def subscribe(self, project: str) -> AsyncIterator[Subscription]:
        sub = Subscription(project, self._max_backlog)
        self._subs[project].add(sub)
        try:
            yield sub
        finally:
            self._subs[project].discard(sub)
            if not self._subs[project]:
                del self._subs[project]

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            uids, self._pending = list(self._pending), set()
            # One query for every change that arrived meanwhile.
            for inst in await self._instances.get_many(uids):
                for sub in list(self._subs.get(inst.project, ())):
                    if not sub.offer(inst):
                        log.warning("watch.backlog_full", project=inst.project)
                        self._subs[inst.project].discard(sub)
                        sub.overflow()
