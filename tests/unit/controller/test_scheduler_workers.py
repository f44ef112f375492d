"""SchedulerWorkers' decisions around the database (controller.services.scheduling), with an
in-memory batch: confirming against freshly locked host rows, re-deciding after a lost race,
deleted server groups, and what each outcome writes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

from scheduler_testkit import db_host, pending

from controller.domain.model import Host, HostState, Instance, TaskState, VmState
from controller.domain.placements import (
    Failure,
    PendingServer,
    Placement,
    failed,
    failure_messages,
    placed,
    placement_messages,
)
from controller.domain.server_groups import GroupPlacement, GroupPolicy
from controller.scheduler.policy import SchedulerPolicy, Strategy, build_scheduler
from controller.services.scheduling import SchedulerWorkers, host_columns
from controller.services.snapshot_cache import SnapshotCache


class FakeBatch:
    def __init__(
        self,
        pending: list[Instance],
        hosts: list[Host],
        now: dict[str, Host] | None = None,
        up_within_s: float = 3.0,
    ) -> None:
        self.servers = {i.uid: i for i in pending}  # the whole rows, for what the domain says
        self.pending = [PendingServer.of(i) for i in pending]
        self.rows = hosts
        self.hosts = host_columns(hosts, time.time(), up_within_s)  # what the scheduler reads
        self.groups: dict[str, GroupPlacement] = {}
        self.now = now or {}  # the rows as another batch left them
        self.locked: list[list[str]] = []
        self.claimed: list[Placement] = []
        self.failed: list[Failure] = []

    async def lock_hosts(self, host_ids: Sequence[str]) -> list[Host]:
        self.locked.append(list(host_ids))
        seen = {h.id: h for h in self.rows}
        return [self.now.get(h, seen[h]) for h in host_ids]

    async def claim(self, placements: Sequence[Placement]) -> set[UUID]:
        self.claimed.extend(placements)
        return {p.server.uid for p in placements}

    async def fail(self, failures: Sequence[Failure]) -> None:
        self.failed.extend(failures)


class FakeStore:
    def __init__(self, batch: FakeBatch) -> None:
        self.b = batch

    @asynccontextmanager
    async def batch(
        self, limit: int, up_within_s: float, *, read_fleet: bool = True
    ) -> AsyncIterator[FakeBatch]:
        yield self.b


def workers(batch: FakeBatch) -> SchedulerWorkers:
    return SchedulerWorkers(FakeStore(batch), build_scheduler(SchedulerPolicy(load_weight=0.0)))


async def test_placements_write_spawn_and_scheduled_and_lock_hosts_in_id_order() -> None:
    batch = FakeBatch([pending(i) for i in range(4)], [db_host("h2"), db_host("h1")])
    w = workers(batch)
    assert await w.place_batch() == 4
    assert batch.locked == [["h1", "h2"]]
    assert sorted(p.host_id for p in batch.claimed) == ["h1", "h1", "h2", "h2"]
    for p in batch.claimed:
        inst = batch.servers[p.server.uid]
        after, messages = placed(inst, p), placement_messages(inst, p)
        assert after.host_id == p.host_id and after.task_state is TaskState.SPAWNING
        assert after.allocated and after.version == 2 and after.task_command == p.command_id
        assert [x.message_type for x in messages] == ["command.spawn", "instance.scheduled"]
        assert messages[0].routing_key == p.host_id and messages[0].message_id == p.command_id
        assert messages[1].message_id == p.event_id
    assert (w.placed, w.redecided, w.lost_races) == (4, 0, 0)


async def test_a_host_filled_by_another_batch_moves_the_placement_to_another_locked_host() -> None:
    # The snapshot saw h1 empty; by the time it is locked another batch has filled it.
    hosts = [db_host("h1"), db_host("h2")]
    batch = FakeBatch([pending(0), pending(1)], hosts, now={"h1": replace(hosts[0], vcpus_used=4)})
    w = workers(batch)
    assert await w.place_batch() == 2
    assert [p.host_id for p in batch.claimed] == ["h2", "h2"]
    assert w.redecided == 1


async def test_a_placement_no_locked_host_can_take_stays_pending() -> None:
    hosts = [db_host("h1", vcpus=2), db_host("h2", vcpus=2)]
    gone = {"h1": replace(hosts[0], vcpus_used=2), "h2": replace(hosts[1], state=HostState.DOWN)}
    batch = FakeBatch([pending(0), pending(1)], hosts, now=gone)
    w = workers(batch)
    assert await w.place_batch() == 0  # nothing settled: both wait for the next batch
    assert batch.claimed == [] and batch.failed == []
    assert (w.redecided, w.lost_races) == (1, 2)


async def test_no_valid_host_and_a_deleted_group_fail_with_their_reason() -> None:
    batch = FakeBatch(
        [pending(0, vcpus=64), pending(1, server_group="gone"), pending(2, server_group="apart")],
        [db_host("h1")],
    )
    batch.groups = {"demo/apart": GroupPlacement("demo/apart", GroupPolicy.ANTI_AFFINITY, ("h1",))}
    w = workers(batch)
    assert await w.place_batch() == 3
    faults = {f.server.server_id: f.reason for f in batch.failed}
    assert faults == {
        "s0": "No valid host: 1 host: 1 removed by capacity (vcpus)",
        "s1": "No valid host: projects/demo/serverGroups/gone no longer exists",
        "s2": "No valid host: 1 host: 1 removed by server group (anti-affinity)",
    }
    for f in batch.failed:
        inst = batch.servers[f.server.uid]
        after = failed(inst, f)
        assert after.vm_state is VmState.ERROR and after.task_state is None and after.fault == f.reason
        assert [x.message_type for x in failure_messages(inst, f)] == ["instance.create.error"]
    assert batch.locked == [] and w.no_valid_host == 3


async def test_live_load_reaches_the_scheduler() -> None:
    loads = {"cold": 0.05, "warm": 0.4}  # warm + 1/16 stays under the 0.6 target
    chosen = {}
    for strategy in Strategy:
        batch = FakeBatch([pending(0, vcpus=1)], [db_host("cold", vcpus=16), db_host("warm", vcpus=16)])
        w = SchedulerWorkers(
            FakeStore(batch),
            build_scheduler(SchedulerPolicy(strategy=strategy, ram_weight=0.0, cpu_weight=0.0)),
            load_of=lambda ids: [loads.get(h, math.nan) for h in ids],
        )
        await w.place_batch()
        chosen[strategy] = [p.host_id for p in batch.claimed]
    # Spread balances the load; pack fills hosts toward the target load.
    assert chosen == {Strategy.SPREAD: ["cold"], Strategy.PACK: ["warm"]}


class FleetStore:
    """Batches over a small fleet whose rows the claims really change (as the database
    would), serving the pending instances in the order given."""

    def __init__(self, hosts: list[Host], pending: list[Instance]) -> None:
        self.rows = {h.id: h for h in hosts}
        self.pending = list(pending)
        self.reads: list[bool] = []  # read_fleet of each batch
        self.failed: list[Failure] = []

    @asynccontextmanager
    async def batch(
        self, limit: int, up_within_s: float, *, read_fleet: bool = True
    ) -> AsyncIterator[FakeBatch]:
        self.reads.append(read_fleet)
        take, self.pending = self.pending[:limit], self.pending[limit:]
        b = FakeBatch(take, sorted(self.rows.values(), key=lambda h: h.id), up_within_s=up_within_s)
        if not read_fleet:
            b.hosts = None  # type: ignore[assignment]
        yield b
        for p in b.claimed:  # committed: the rows now hold the claims
            h = self.rows[p.host_id]
            i = p.server
            self.rows[h.id] = replace(
                h,
                vcpus_used=h.vcpus_used + i.vcpus,
                memory_mib_used=h.memory_mib_used + i.memory_mib,
                disk_gib_used=h.disk_gib_used + i.disk_gib,
            )
        self.failed.extend(b.failed)
        done = {p.server.uid for p in b.claimed} | {f.server.uid for f in b.failed}
        self.pending = [i for i in take if i.uid not in done] + self.pending  # left pending


async def test_the_fleet_is_read_once_per_refresh_and_claims_are_remembered_in_between() -> None:
    store = FleetStore([db_host("h1", vcpus=4)], [pending(n) for n in range(3)])  # 2 vcpus each
    w = SchedulerWorkers(store, build_scheduler(), batch_size=1, fleet_refresh_s=3600.0)
    assert await w.place_batch() == 1 and await w.place_batch() == 1
    assert store.reads == [True, False] and w.live.reads == 1
    assert store.rows["h1"].vcpus_used == 4  # the second batch knew the first one's claim
    # The third finds no room in the remembered snapshot: not failed yet, but read again.
    assert await w.place_batch() == 1 and store.failed == [] and w.deferred == 1
    # Meanwhile a server was deleted: the fresh read sees the room, and it is placed there.
    store.rows["h1"] = replace(store.rows["h1"], vcpus_used=2)
    assert await w.place_batch() == 1
    assert store.reads == [True, False, False, True] and store.rows["h1"].vcpus_used == 4
    assert store.failed == [] and w.placed == 3


async def test_a_fresh_read_without_room_fails_the_server_with_the_reason() -> None:
    store = FleetStore([db_host("h1", vcpus=2)], [pending(0), pending(1)])
    w = SchedulerWorkers(store, build_scheduler(), batch_size=1, fleet_refresh_s=3600.0)
    assert await w.place_batch() == 1  # placed; the fleet was read
    assert await w.place_batch() == 1 and w.deferred == 1 and store.failed == []  # not read: deferred
    assert await w.place_batch() == 1  # read again: really no room
    assert [f.reason for f in store.failed] == ["No valid host: 1 host: 1 removed by capacity (vcpus)"]


async def test_a_host_changed_behind_the_snapshot_is_taken_as_read_when_locked() -> None:
    store = FleetStore([db_host("h1", vcpus=4), db_host("h2", vcpus=4)], [pending(n) for n in range(3)])
    w = SchedulerWorkers(
        store, build_scheduler(SchedulerPolicy(load_weight=0.0)), batch_size=1, fleet_refresh_s=3600.0
    )
    assert await w.place_batch() == 1
    first = (store.rows["h1"].vcpus_used and "h1") or "h2"
    other = "h2" if first == "h1" else "h1"
    # Another replica fills the other host: this process's snapshot does not know it yet.
    store.rows[other] = replace(store.rows[other], vcpus_used=4)
    # The next batch chooses `other` (emptier in the snapshot), locks it, finds it full: the
    # placement stays pending (no other host was locked), and the snapshot takes the row.
    assert await w.place_batch() == 0
    assert (w.redecided, w.lost_races) == (1, 1) and store.rows[first].vcpus_used == 2
    assert await w.place_batch() == 1 and store.rows[first].vcpus_used == 4
    assert store.reads == [True, False, False]  # all without reading the fleet again


async def test_hosts_are_not_taken_for_dead_while_this_controller_is_behind_on_heartbeats() -> None:
    late = datetime.fromtimestamp(time.time() - 5.0, UTC)  # recorded 5 s ago: 3 s is the window
    store = FleetStore([db_host("h1", last_heartbeat=late)], [pending(0)])
    window = [3.0]
    # No waiting for a usable host (wait_for_hosts_s, below): this is about the window.
    w = SchedulerWorkers(store, build_scheduler(), heartbeat_window_s=lambda: window[0], wait_for_hosts_s=0)
    assert await w.place_batch() == 1
    faults = [f.reason for f in store.failed]
    assert faults == ["No valid host: 1 host: 1 removed by down or disabled"]
    # The same host and age, but the controller hears its agents slowly: the window is 7 s.
    store = FleetStore([db_host("h1", last_heartbeat=late)], [pending(1)])
    w = SchedulerWorkers(store, build_scheduler(), heartbeat_window_s=lambda: window[0])
    window[0] = 7.0
    assert await w.place_batch() == 1 and store.failed == [] and store.rows["h1"].vcpus_used == 2


async def test_a_host_with_more_room_than_the_snapshot_thought_keeps_its_placements() -> None:
    store = FleetStore([db_host("h1", vcpus=8)], [pending(n) for n in range(2)])
    w = SchedulerWorkers(store, build_scheduler(), batch_size=1, fleet_refresh_s=3600.0)
    assert await w.place_batch() == 1
    # Its server was deleted meanwhile:
    store.rows["h1"] = replace(store.rows["h1"], vcpus_used=0, memory_mib_used=0, disk_gib_used=0)
    assert await w.place_batch() == 1  # decided on 2 vcpus used, found 0: fits all the more
    assert (w.redecided, w.lost_races) == (0, 0) and store.rows["h1"].vcpus_used == 2
    snap = w.live.snapshot
    assert snap is not None and snap.usage("h1") == (2, 1024, 10)  # and the snapshot took the row


async def test_with_no_usable_host_at_all_a_server_waits_for_one_before_it_fails() -> None:
    """Every host DOWN at once is more likely the control plane's own trouble (agents moving to
    another replica, a partition) than the whole fleet failing: the server waits for a host,
    and is placed when one is back; it fails only after wait_for_hosts_s."""
    silent = datetime.fromtimestamp(time.time() - 60.0, UTC)
    store = FleetStore([db_host("h1", last_heartbeat=silent), db_host("h2", enabled=False)], [pending(0)])
    now = [100.0]
    w = SchedulerWorkers(store, build_scheduler(), wait_for_hosts_s=30.0)
    w.live = SnapshotCache(w.fleet_refresh_s, clock=lambda: now[0])
    assert await w.place_batch() == 0  # nothing settled: the worker waits for news
    assert store.failed == [] and len(store.pending) == 1 and w.waiting_for_hosts == 1
    now[0] += 29.0
    assert await w.place_batch() == 0 and store.failed == []  # read afresh, still waiting
    assert store.reads == [True, True]
    store.rows["h1"] = replace(store.rows["h1"], last_heartbeat=datetime.now(UTC))  # back
    assert await w.place_batch() == 1 and store.rows["h1"].vcpus_used == 2 and store.failed == []

    # Never back: after the wait, the server fails as it would have at once.
    store = FleetStore([db_host("h1", last_heartbeat=silent)], [pending(1)])
    w = SchedulerWorkers(store, build_scheduler(), wait_for_hosts_s=30.0)
    w.live = SnapshotCache(w.fleet_refresh_s, clock=lambda: now[0])
    assert await w.place_batch() == 0
    now[0] += 30.0
    assert await w.place_batch() == 1
    assert [f.reason for f in store.failed] == ["No valid host: 1 host: 1 removed by down or disabled"]


async def test_with_a_usable_host_in_the_fleet_a_server_that_fits_none_fails_at_once() -> None:
    silent = datetime.fromtimestamp(time.time() - 60.0, UTC)
    store = FleetStore([db_host("h1", last_heartbeat=silent), db_host("h2", vcpus=1)], [pending(0)])
    w = SchedulerWorkers(store, build_scheduler(), wait_for_hosts_s=30.0)
    assert await w.place_batch() == 1 and w.waiting_for_hosts == 0
    assert [f.reason for f in store.failed] == [
        "No valid host: 2 hosts: 1 removed by down or disabled, 1 removed by capacity (vcpus)"
    ]


async def test_a_worker_waiting_for_hosts_reads_the_fleet_once_a_poll_not_at_every_wake() -> None:
    # Every create NOTIFYs the workers; while servers wait for a usable host, a wake must not
    # mean another read of the whole fleet.
    silent = datetime.fromtimestamp(time.time() - 60.0, UTC)
    store = FleetStore([db_host("h1", last_heartbeat=silent)], [pending(0)])
    w = SchedulerWorkers(store, build_scheduler(), workers=1, idle_poll_s=0.4, wait_for_hosts_s=60.0)
    running = asyncio.create_task(w.run())
    try:
        for _ in range(24):  # 1.2 s of creates arriving
            w.wake()
            await asyncio.sleep(0.05)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert 2 <= len(store.reads) <= 5, store.reads  # one every 0.4 s, not 24
    assert store.failed == [] and w.waiting_for_hosts == len(store.reads)
