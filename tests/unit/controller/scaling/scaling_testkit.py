"""Members, groups and observations for the scaling tests: a fixed clock (T0) and builders whose
defaults are a healthy running member and a plain group of 1-10 members."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

from controller.domain.model import PowerState, TaskState, VmState
from controller.domain.scaling.evaluation import GroupState, Member, Observation
from controller.domain.scaling.model import (
    CPU_UTILIZATION,
    Policy,
    ScalingGroup,
    ScheduledAction,
    ServerTemplate,
    TargetTracking,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()


def member(
    n: int | str,
    cpu: float | None = 50.0,
    *,
    created_at: float | None = None,
    vm: VmState = VmState.ACTIVE,
    task: TaskState | None = None,
    power: PowerState = PowerState.RUNNING,
    host_down_since: float | None = None,
    lost: bool = False,
    custom: Mapping[str, float] | None = None,
    fault: str = "",
) -> Member:
    """Member "web-m{n}", created n minutes before T0 unless `created_at` says."""
    server_id = n if isinstance(n, str) else f"web-m{n:04d}"
    return Member(
        server_id=server_id,
        uid=f"uid-{server_id}",
        created_at=created_at
        if created_at is not None
        else T0 - 60.0 * (int(n) if isinstance(n, int) else 1),
        vm_state=vm,
        task_state=task,
        power_state=power,
        host_id="h1",
        host_down_since=host_down_since,
        lost=lost,
        cpu=cpu,
        custom=dict(custom or {}),
        fault=fault,
    )


def building(n: int) -> Member:
    return member(n, None, vm=VmState.BUILDING, task=TaskState.SPAWNING, power=PowerState.NOSTATE)


def at_cpu(*cpus: float | None) -> tuple[Member, ...]:
    return tuple(member(i + 1, c) for i, c in enumerate(cpus))


def obs(
    members: tuple[Member, ...] | list[Member],
    now: float = T0,
    manual: int | None = None,
    group_metrics: Mapping[str, float] | None = None,
) -> Observation:
    return Observation(
        now=now, members=tuple(members), group_metrics=dict(group_metrics or {}), manual_desired=manual
    )


def cpu_policy(target: float = 50.0, name: str = "cpu", **kw: object) -> Policy:
    return Policy(name, TargetTracking(metric=CPU_UTILIZATION, target=target, **kw))  # type: ignore[arg-type]


def group(
    desired: int = 4,
    min_size: int = 1,
    max_size: int = 10,
    policies: tuple[Policy, ...] = (),
    actions: tuple[ScheduledAction, ...] = (),
    **kw: object,
) -> ScalingGroup:
    return ScalingGroup(
        project="p",
        id="web",
        template=ServerTemplate(flavor_id="m1.small", image_id="debian-12"),
        min_size=min_size,
        max_size=max_size,
        desired_size=desired,
        policies=policies,
        scheduled_actions=actions,
        **kw,  # type: ignore[arg-type]
    )


def restart(state: GroupState) -> GroupState:
    """The state as a new leader reads it back: JSON text in PostgreSQL, decoded."""
    return GroupState.from_json(json.loads(json.dumps(state.to_json())))
