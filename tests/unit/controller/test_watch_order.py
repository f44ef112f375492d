"""WatchServers never shows a server going back in time: a row the change feed read before the
snapshot did (changed earlier, read while the snapshot was read) is not sent after it. A
filtered watch tells a client that held a server when it stops matching."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from scheduler_testkit import pending

from controller.api.servers import ServerApi, WatchView
from controller.domain import server_filter
from controller.domain.model import Instance, TaskState, VmState
from controller.services.listing import ServerListing
from controller.services.watch import Batch
from overcast.v1 import server_pb2


class Listing(ServerListing):
    """ServerListing as WatchServers reads it: one page, the snapshot "1:1:"."""

    def __init__(self, *servers: Instance) -> None:
        super().__init__(store=None)  # type: ignore[arg-type]
        self.servers = list(servers)

    async def first_page(self, project: str, where: Any, size: int) -> tuple[list[Instance], str]:
        return self.servers, "1:1:"


class Feed:
    """A change feed whose subscription hands over `changes` (one batch each), then ends."""

    def __init__(self, *changes: Instance) -> None:
        self.changes = list(changes)

    @asynccontextmanager
    async def subscribe(self, project: str) -> AsyncIterator[Feed]:
        yield self

    async def next(self) -> Batch:
        if not self.changes:
            raise StopAsyncIteration
        return Batch("1:1:", "2:2:", [self.changes.pop(0)])


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
    listing = Listing(deleting)
    api = ServerApi(None, Feed(active, deleting, gone), console=None, listing=listing)  # type: ignore[arg-type]
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


def test_a_server_leaving_the_filter_is_removed_once_if_the_client_held_it() -> None:
    where = server_filter.parse("vm_state = ACTIVE", project="demo")
    held = pending(1, vm_state=VmState.ACTIVE, task_state=None, version=3)
    never = pending(2, vm_state=VmState.STOPPED, task_state=None, version=3)
    fresh = WatchView(where, resumed=False)
    fresh.saw(held)
    stopped = dataclasses.replace(held, vm_state=VmState.STOPPED, version=4)
    C = server_pb2.ServerChange
    assert fresh.change(stopped) == C.KIND_REMOVED
    assert fresh.change(dataclasses.replace(stopped, version=5)) is None  # the client dropped it
    assert fresh.change(dataclasses.replace(never, version=4)) is None  # never held, never matched
    assert fresh.change(dataclasses.replace(held, version=6)) == C.KIND_CHANGED  # matches again
    # After a resume the watcher cannot know what the client holds: a non-match is REMOVED once.
    resumed = WatchView(where, resumed=True)
    assert resumed.change(dataclasses.replace(never, version=4)) == C.KIND_REMOVED
    assert resumed.change(dataclasses.replace(never, version=5)) is None
    # Unfiltered, everything matches: deletions come as CHANGED with vm_state DELETED.
    plain = WatchView(server_filter.EVERYTHING, resumed=True)
    assert plain.change(dataclasses.replace(held, vm_state=VmState.DELETED, version=9)) == C.KIND_CHANGED
