"""SchedulerWorkers' decisions around the database (controller.services.scheduling), with an
in-memory batch: confirming against freshly locked host rows, re-deciding after a lost race,
deleted server groups, and what each outcome writes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

from controller.domain.model import Host, HostState, Instance, TaskState, VmState
from controller.domain.server_groups import GroupPlacement, GroupPolicy
from controller.scheduler.policy import SchedulerPolicy, build_scheduler
from controller.services.ports import Mutation
from controller.services.scheduling import SchedulerWorkers


def db_host(host_id: str, **kw: object) -> Host:
    fields: dict[str, object] = dict(
        id=host_id,
        hostname=host_id,
        arch="x86_64",
        hypervisor_type="test",
        hypervisor_uri="test:///default",
        availability_zone="az1",
        vcpus=4,
        memory_mib=8192,
        disk_gib=100,
        cpu_allocation_ratio=1.0,
        ram_allocation_ratio=1.0,
        disk_allocation_ratio=1.0,
        state=HostState.UP,
        last_heartbeat=datetime.now(UTC),
    )
    fields.update(kw)
    return Host(**fields)  # type: ignore[arg-type]


def pending(n: int, **kw: object) -> Instance:
    fields: dict[str, object] = dict(
        uid=uuid.uuid4(),
        project="demo",
        server_id=f"s{n}",
        flavor_id="f",
        image_id="i",
        vcpus=2,
        memory_mib=1024,
        disk_gib=10,
        vm_state=VmState.BUILDING,
        task_state=TaskState.SCHEDULING,
    )
    fields.update(kw)
    return Instance(**fields)  # type: ignore[arg-type]


class FakeBatch:
    def __init__(
        self, pending: list[Instance], hosts: list[Host], now: dict[str, Host] | None = None
    ) -> None:
        self.pending = pending
        self.hosts = hosts
        self.groups: dict[str, GroupPlacement] = {}
        self.now = now or {}  # the rows as another batch left them
        self.locked: list[list[str]] = []
        self.claimed: list[Mutation] = []
        self.failed: list[Mutation] = []

    async def lock_hosts(self, host_ids: Sequence[str]) -> list[Host]:
        self.locked.append(list(host_ids))
        seen = {h.id: h for h in self.hosts}
        return [self.now.get(h, seen[h]) for h in host_ids]

    async def claim(self, placements: Sequence[Mutation]) -> set[UUID]:
        self.claimed.extend(placements)
        return {p.instance.uid for p in placements}

    async def fail(self, failures: Sequence[Mutation]) -> None:
        self.failed.extend(failures)


class FakeStore:
    def __init__(self, batch: FakeBatch) -> None:
        self.b = batch

    @asynccontextmanager
    async def batch(self, limit: int) -> AsyncIterator[FakeBatch]:
        yield self.b


def workers(batch: FakeBatch) -> SchedulerWorkers:
    return SchedulerWorkers(FakeStore(batch), build_scheduler(SchedulerPolicy(load_weight=0.0)))


async def test_placements_write_spawn_and_scheduled_and_lock_hosts_in_id_order() -> None:
    batch = FakeBatch([pending(i) for i in range(4)], [db_host("h2"), db_host("h1")])
    w = workers(batch)
    assert await w.place_batch() == 4
    assert batch.locked == [["h1", "h2"]]
    assert sorted(m.instance.host_id or "" for m in batch.claimed) == ["h1", "h1", "h2", "h2"]
    for m in batch.claimed:
        assert m.instance.task_state is TaskState.SPAWNING and m.instance.allocated
        assert m.instance.version == 2 and m.instance.task_command is not None
        assert [x.message_type for x in m.messages] == ["command.spawn", "instance.scheduled"]
        assert m.messages[0].routing_key == m.instance.host_id
    assert (w.placed, w.redecided, w.lost_races) == (4, 0, 0)


async def test_a_host_filled_by_another_batch_moves_the_placement_to_another_locked_host() -> None:
    # The snapshot saw h1 empty; by the time it is locked another batch has filled it.
    hosts = [db_host("h1"), db_host("h2")]
    batch = FakeBatch([pending(0), pending(1)], hosts, now={"h1": replace(hosts[0], vcpus_used=4)})
    w = workers(batch)
    assert await w.place_batch() == 2
    assert [m.instance.host_id for m in batch.claimed] == ["h2", "h2"]
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
    faults = {m.instance.server_id: m.instance.fault for m in batch.failed}
    assert faults == {
        "s0": "No valid host: 1 host: 1 removed by capacity (vcpus)",
        "s1": "No valid host: projects/demo/serverGroups/gone no longer exists",
        "s2": "No valid host: 1 host: 1 removed by server group (anti-affinity)",
    }
    for m in batch.failed:
        assert m.instance.vm_state is VmState.ERROR and m.instance.task_state is None
        assert [x.message_type for x in m.messages] == ["instance.create.error"]
    assert batch.locked == [] and w.no_valid_host == 3


async def test_live_load_reaches_the_scheduler() -> None:
    batch = FakeBatch([pending(0, vcpus=1)], [db_host("cold", vcpus=16), db_host("warm", vcpus=16)])
    loads = {"cold": 0.05, "warm": 0.4}  # warm + 1/16 stays under the 0.6 target
    w = SchedulerWorkers(
        FakeStore(batch),
        build_scheduler(SchedulerPolicy(ram_weight=0.0, cpu_weight=0.0)),
        load_of=loads.get,
    )
    await w.place_batch()
    assert [m.instance.host_id for m in batch.claimed] == ["warm"]  # filled toward the target
