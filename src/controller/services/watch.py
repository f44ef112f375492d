"""WatchServers fan-out: what changed in a project (woken by NOTIFY on any replica), read as
"changed since the last snapshot" (migration 0014) and handed to each subscriber with the
snapshots before and after, which are the resume points of the changes it sends.

The NOTIFY only says which project changed; what changed is read from the table by snapshot,
so a change is never missed between two reads, whatever order transactions commit in (the
uids a NOTIFY carries arrive in commit order, but a row re-read by uid can already hold a later
change than the snapshot it was read at knows of).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog

from controller.domain.model import Instance
from controller.services.listing import ServerListing

log = structlog.get_logger(__name__)


class WatchInterrupted(Exception):
    """The feed may have missed changes; the watcher must start over (or resume)."""


@dataclass(frozen=True)
class Batch:
    """The servers of a project changed after snapshot `start` (read at `start_at`) and seen
    by `end`."""

    start: str
    end: str
    servers: list[Instance]
    start_at: float = 0.0


class Subscription:
    def __init__(self, project: str, max_backlog: int) -> None:
        self.project = project
        self._queue: asyncio.Queue[Batch | Exception] = asyncio.Queue(max_backlog)

    def offer(self, item: Batch | Exception) -> bool:
        try:
            self._queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            return False

    def overflow(self) -> None:
        """Make room for one last item: the error that ends this watcher."""
        self._queue.get_nowait()
        self._queue.put_nowait(
            WatchInterrupted("watcher fell behind: watch again from its last resume_token")
        )

    async def next(self) -> Batch:
        item = await self._queue.get()
        if isinstance(item, Exception):
            raise item
        return item


class ServerChangeFeed:
    def __init__(self, listing: ServerListing, *, max_backlog: int = 1000) -> None:
        self._listing = listing
        self._max_backlog = max_backlog  # batches
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        # project → the snapshot its last read was made at, and when
        self._cursor: dict[str, tuple[str, float]] = {}
        self._pending: set[str] = set()
        self._wake = asyncio.Event()

    def notified(self, payload: str) -> None:
        """NOTIFY payload: "<project> <uid>,<uid>,..." (migration 0007). Only projects someone
        watches are read."""
        project, _, _ = payload.partition(" ")
        if self._subs.get(project):
            self._pending.add(project)
            self._wake.set()

    def interrupted(self) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub.offer(WatchInterrupted("change feed interrupted: watch again from the last resume_token"))

    @asynccontextmanager
    async def subscribe(self, project: str) -> AsyncIterator[Subscription]:
        """Subscribe before reading what to send first: the feed's cursor is then no later
        than that read, so every later change reaches the subscriber (some twice)."""
        sub = Subscription(project, self._max_backlog)
        self._subs[project].add(sub)
        try:
            if project not in self._cursor:
                snapshot = await self._listing.snapshot()
                self._cursor.setdefault(project, (snapshot, self._listing.now()))
            yield sub
        finally:
            self._subs[project].discard(sub)
            if not self._subs[project]:
                del self._subs[project]
                self._cursor.pop(project, None)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            projects, self._pending = self._pending, set()
            try:
                for project in projects:
                    await self._read(project)
            except BaseException:
                # Read again once restarted (supervised): the cursors did not move, so nothing
                # is lost, only late.
                self._pending |= projects
                self._wake.set()
                raise

    async def _read(self, project: str) -> None:
        cursor = self._cursor.get(project)
        if cursor is None:  # nobody watches it any more
            return
        start, start_at = cursor
        servers: list[Instance] = []
        read_at = self._listing.now()
        async with self._listing.changes_since(project, start) as changes:
            async for page in changes.pages:
                servers.extend(page)
            end = changes.snapshot
        if project in self._cursor:
            self._cursor[project] = (end, read_at)
        if not servers:
            return
        batch = Batch(start, end, servers, start_at)
        for sub in list(self._subs.get(project, ())):
            if not sub.offer(batch):
                log.warning("watch.backlog_full", project=project)
                self._subs[project].discard(sub)
                sub.overflow()
