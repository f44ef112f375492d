"""WatchServers never shows a server going back in time: a row the change feed read before the
snapshot did (notified earlier, fetched while the snapshot was read) is not sent after it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from scheduler_testkit import pending

from controller.api.servers import ServerApi
from controller.domain.model import Instance, TaskState, VmState
from overcast.v1 import server_pb2


class Listing:
    """ServerService.list as WatchServers reads it: one page, the snapshot."""

    def __init__(self, *servers: Instance) -> None:
        self.servers = list(servers)

    async def list(self, parent: str, **_: Any) -> tuple[list[Instance], str]:
        return self.servers, ""


class Feed:
    """A change feed whose subscription hands over `changes`, then ends the stream."""

    def __init__(self, *changes: Instance) -> None:
        self.changes = list(changes)

    @asynccontextmanager
    async def subscribe(self, project: str) -> AsyncIterator[Feed]:
        yield self

    async def next(self) -> Instance:
        if not self.changes:
            raise StopAsyncIteration
        return self.changes.pop(0)


class Ended(Exception):
    pass


class Context:
    """The call's context: the stream ends (with a status) when the stand-in feed runs out."""

    async def abort_with_status(self, status: Any) -> None:
        raise Ended(status)


async def test_changes_older_than_the_snapshot_are_not_sent() -> None:
    active = pending(1, vm_state=VmState.ACTIVE, task_state=None, version=3)
    deleting = dataclasses.replace(active, task_state=TaskState.DELETING, version=4)
    gone = dataclasses.replace(active, vm_state=VmState.DELETED, task_state=None, version=5)
    api = ServerApi(Listing(deleting), Feed(active, deleting, gone), console=None)  # type: ignore[arg-type]
    seen = []
    try:
        async for change in api.WatchServers(
            server_pb2.WatchServersRequest(parent="projects/demo"), Context()
        ):
            seen.append((change.kind, change.server.etag))
    except Ended:  # the stand-in feed ran out
        pass
    C = server_pb2.ServerChange
    assert seen == [(C.KIND_INITIAL, "4"), (C.KIND_SYNCED, ""), (C.KIND_CHANGED, "5")]
