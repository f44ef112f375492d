"""The autoscaler loop (services/autoscaler.py) against an in-memory store and create/delete
paths: what it saves before it acts, how a new leader resumes, how a template no host can
take is backed off, and when a metric crossing wakes a round. The decisions themselves are
the pure decide()'s (tests beside this one)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from controller.domain.model import PowerState, TaskState, VmState
from controller.domain.scaling.evaluation import GroupState
from controller.domain.scaling.model import (
    CPU_UTILIZATION,
    AdjustmentType,
    Comparison,
    Policy,
    ScalingGroup,
    ServerTemplate,
    SimpleScaling,
    TargetTracking,
)
from controller.domain.scaling.records import (
    Activity,
    GroupMetric,
    GroupOutcome,
    GroupRecord,
    GroupStatus,
    MemberRow,
)
from controller.services.autoscaler import Autoscaler, GroupKey
from controller.services.load_view import HostSample, InstanceSample, LoadView

KEY: GroupKey = ("demo", "web")


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Load:
    """A member's CPU as the load view would have it (percent / 100)."""

    def __init__(self, cpu: float, stale: bool = False) -> None:
        self.sample = InstanceSample("", cpu, 100, 0, 0, 0, 0, True)
        self.cpu_util_ewma = cpu
        self.stale = stale


class World:
    """The store, the servers and their loads: one in-memory world the autoscaler acts on."""

    def __init__(self, group: ScalingGroup, clock: Clock) -> None:
        self.group = group
        self.state = GroupState()
        self.status = GroupStatus()
        self.manual: int | None = None
        self.members: dict[str, MemberRow] = {}
        self.loads: dict[UUID, Load] = {}
        self.metrics: list[GroupMetric] = []
        self.down: dict[str, float] = {}
        self.saved: list[GroupOutcome] = []
        self.activities: list[Activity] = []
        self.created: list[str] = []
        self.deleted: list[UUID] = []
        self.clock = clock
        self.fail_creates_with = ""  # the scheduler's reason: new members end in ERROR unplaced
        self.cpu_of_new = 0.0

    # AutoscalerStore
    async def load_all(self) -> list[GroupRecord]:
        return [GroupRecord(self.group, self.status, self.state, self.manual)]

    async def members_of(self, keys: Sequence[GroupKey]) -> dict[GroupKey, list[MemberRow]]:
        return {KEY: list(self.members.values())}

    async def fresh_metrics(self, max_age_s: float) -> list[GroupMetric]:
        return list(self.metrics)

    async def prune_metrics(self, max_age_s: float) -> int:
        return 0

    async def prune_activities(self, max_age_s: float) -> int:
        return 0

    async def hosts_down_since(self) -> dict[str, float]:
        return dict(self.down)

    async def save_decisions(self, outcomes: Sequence[GroupOutcome]) -> list[str]:
        for o in outcomes:
            self.group = replace(
                self.group,
                desired_size=o.desired_size,
                min_size=o.min_size,
                max_size=o.max_size,
                version=self.group.version + (o.desired_size != self.group.desired_size),
            )
            self.state, self.status, self.manual = o.state, o.status, None
            self.saved.append(o)
            self.activities.extend(o.activities)
        return []

    async def record_activities(self, activities: Sequence[tuple[str, str, Activity]]) -> None:
        self.activities.extend(a for _, _, a in activities)

    # MemberServers
    async def create_members(self, group: ScalingGroup, server_ids: Sequence[str]) -> list[Any]:
        for sid in server_ids:
            row = _row(sid, self.clock(), placed=not self.fail_creates_with, fault=self.fail_creates_with)
            self.members[sid] = row
            self.loads[row.uid] = Load(self.cpu_of_new)
            self.created.append(sid)
        return []

    async def delete_members(self, uids: Sequence[UUID]) -> None:
        for sid, m in list(self.members.items()):
            if m.uid in uids:
                del self.members[sid]
                self.deleted.append(m.uid)

    # MemberLoads
    async def instance_loads(self, instances: Sequence[Any]) -> Mapping[UUID, Any]:
        return {i.uid: self.loads[i.uid] for i in instances if i.uid in self.loads}

    def set_cpu(self, fraction: float) -> None:
        for uid in self.loads:
            self.loads[uid] = Load(fraction)


def _row(server_id: str, created: float, *, placed: bool = True, fault: str = "") -> MemberRow:
    return MemberRow(
        project="demo",
        group_id="web",
        uid=uuid.uuid4(),
        server_id=server_id,
        created_at=datetime.fromtimestamp(created, UTC),
        vm_state=VmState.ACTIVE if placed else VmState.ERROR,
        task_state=None,
        power_state=PowerState.RUNNING if placed else PowerState.UNKNOWN,
        host_id="host-1" if placed else None,
        fault=fault,
    )


def _group(*policies: Policy, min_size: int = 1, max_size: int = 10, desired: int = 2) -> ScalingGroup:
    return ScalingGroup(
        project="demo",
        id="web",
        template=ServerTemplate("m1.tiny", "cirros"),
        min_size=min_size,
        max_size=max_size,
        desired_size=desired,
        policies=policies,
    )


def _cpu_policy(target: float = 50.0, window: float = 300.0) -> Policy:
    return Policy("cpu", TargetTracking(CPU_UTILIZATION, target, scale_down_stabilization_s=window))


def _world(group: ScalingGroup, *, members: int, cpu: float) -> tuple[World, Autoscaler, Clock]:
    clock = Clock()
    world = World(group, clock)
    for n in range(members):
        inst = _row(f"web-init{n}", clock() - 600)
        world.members[inst.server_id] = inst
        world.loads[inst.uid] = Load(cpu)
    scaler = Autoscaler(world, world, world, clock=clock, randbelow=random.Random(7).randrange, period_s=5.0)
    return world, scaler, clock


async def test_a_busy_group_grows_to_the_computed_size_and_saves_before_it_acts() -> None:
    world, scaler, _ = _world(_group(_cpu_policy(50.0)), members=2, cpu=0.9)
    saved_then_created: list[tuple[int, int]] = []
    create = world.create_members

    async def watching_create(group: ScalingGroup, ids: Sequence[str]) -> list[Any]:
        saved_then_created.append((len(world.saved), len(ids)))
        return await create(group, ids)

    world.create_members = watching_create  # type: ignore[method-assign]
    await scaler.evaluate()
    # ceil(2 x 90 / 50) = 4: two new members, the decision saved first
    assert world.group.desired_size == 4
    assert saved_then_created == [(1, 2)]
    assert len(world.members) == 4
    kinds = [a.kind for a in world.activities]
    assert kinds.count("scaling.member.added") == 2
    decision = world.saved[0].activities[0]
    assert decision.kind == "scaling.decision"
    assert (decision.desired_size, decision.previous_desired) == (4, 2)
    assert decision.metrics[0].value == pytest.approx(90.0)


async def test_a_group_at_its_target_changes_nothing_and_decides_nothing() -> None:
    world, scaler, _ = _world(_group(_cpu_policy(50.0)), members=2, cpu=0.5)
    await scaler.evaluate()
    await scaler.evaluate()
    assert world.group.desired_size == 2
    assert world.created == [] and world.deleted == []
    assert [a for a in world.activities if a.kind == "scaling.decision"] == []


async def test_a_new_leader_resumes_a_cooldown_from_the_saved_state() -> None:
    policy = Policy(
        "up",
        SimpleScaling(
            CPU_UTILIZATION, Comparison.GREATER_OR_EQUAL, 70.0, 2, AdjustmentType.CHANGE_IN_CAPACITY, 120.0
        ),
    )
    world, first, clock = _world(_group(policy), members=2, cpu=0.9)
    await first.evaluate()
    assert world.group.desired_size == 4
    # The leader dies; another replica's autoscaler starts from what PostgreSQL holds.
    clock.t += 30
    world.set_cpu(0.9)
    second = Autoscaler(world, world, world, clock=clock, randbelow=random.Random(8).randrange)
    await second.evaluate()
    assert world.group.desired_size == 4, "the cooldown survived the failover"
    clock.t += 100  # past the 120 s cooldown
    await second.evaluate()
    assert world.group.desired_size == 6


async def test_a_template_no_host_takes_is_backed_off_with_the_schedulers_reason() -> None:
    world, scaler, clock = _world(_group(desired=1, min_size=1), members=0, cpu=0.0)
    reason = "NoValidHost: no host has 64 vcpus free (ComputeFilter)"
    world.fail_creates_with = reason
    await scaler.evaluate()
    assert len(world.created) == 1
    clock.t += 1
    await scaler.evaluate()  # the member failed placement: deleted, the fault recorded, no retry
    assert world.members == {}
    assert world.saved[-1].status.fault == reason
    assert world.status.fault == reason
    assert len(world.created) == 1
    for _ in range(5):  # within the backoff: nothing new
        clock.t += 1
        await scaler.evaluate()
    assert len(world.created) == 1
    clock.t += 60
    await scaler.evaluate()
    assert len(world.created) == 2, "retried once the backoff passed"


def _sample(uid: UUID, cpu: float) -> InstanceSample:
    return InstanceSample(str(uid), cpu, 100, 0, 0, 0, 0, True)


async def test_a_metric_crossing_its_target_wakes_a_round_and_a_steady_one_does_not() -> None:
    clock = Clock()
    view = LoadView(clock=clock)
    world = World(_group(_cpu_policy(50.0)), clock)
    scaler = Autoscaler(world, world, world, view, clock=clock)
    for n in range(2):
        inst = _row(f"web-m{n}", clock() - 60)
        world.members[inst.server_id] = inst
        world.loads[inst.uid] = Load(0.5)
    await scaler.evaluate()
    view.add_listener(scaler._on_load)
    host = HostSample(clock(), 0.5, 1000, 1000, 0, 0, 0, True)
    uids = [m.uid for m in world.members.values()]
    view.absorb("host-1", host, [_sample(u, 0.52) for u in uids])
    assert not scaler._wake.is_set()
    view.absorb("host-1", host, [_sample(u, 0.95) for u in uids])
    view.absorb("host-1", host, [_sample(u, 0.95) for u in uids])
    assert scaler._wake.is_set()


async def test_members_in_error_are_replaced_and_the_replacement_is_recorded() -> None:
    world, scaler, _ = _world(_group(desired=2), members=2, cpu=0.1)
    broken = next(iter(world.members))
    world.members[broken] = replace(world.members[broken], vm_state=VmState.ERROR, fault="start failed")
    await scaler.evaluate()
    assert broken not in world.members
    assert len(world.members) == 2
    replaced = [a for a in world.activities if a.kind == "scaling.member.replaced"]
    assert len(replaced) == 1 and replaced[0].member == broken
    assert replaced[0].replacement.startswith("web-") and replaced[0].replacement in world.members


async def test_stopped_members_still_deleting_are_not_counted_twice() -> None:
    world, scaler, _ = _world(_group(desired=2), members=2, cpu=0.1)
    first = next(iter(world.members))
    world.members[first] = replace(world.members[first], task_state=TaskState.DELETING)
    await scaler.evaluate()
    live = [m for m in world.members.values() if m.task_state is not TaskState.DELETING]
    assert len(live) == 2
