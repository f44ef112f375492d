"""A scaling group's metrics per member, from one Observation: what a policy compares with its
target or threshold, and what users see in the group's status (MetricReading).

- "cpu_utilization": the members' average `cpu` (percent of their vcpus), over the members
  that report one.
- "custom/{name}": the average of the members' own values; when no member reports one, the
  group-wide value (RecordGroupMetric without a member) divided by the members counted.

Counted members are the live ones neither being deleted nor failed (ERROR or lost), as
Kubernetes' HPA leaves out pods being deleted or Failed (replica_calculator.go, groupPods).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controller.domain.model import VmState
from controller.domain.scaling.evaluation import Member, MetricReading, Observation
from controller.domain.scaling.model import CPU_UTILIZATION


@dataclass(frozen=True)
class Sample:
    """One counted member's value of a metric, as HPA's groupPods sorts pods."""

    server_id: str
    pending: bool  # still being built: HPA's Pending pod
    ready: bool  # Member.ready: ACTIVE, running, no operation in flight
    value: float | None  # None = no fresh value


def failed(member: Member) -> bool:
    """ERROR or lost: replaced, not measured (HPA's Failed pod)."""
    return member.vm_state is VmState.ERROR or member.lost


def counted(members: Sequence[Member]) -> tuple[Member, ...]:
    """The members a metric is measured over: neither being deleted nor failed."""
    return tuple(m for m in members if not m.deleting and not failed(m))


def member_value(member: Member, metric: str) -> float | None:
    if metric == CPU_UTILIZATION:
        return member.cpu
    return member.custom.get(metric)


def samples(members: Sequence[Member], metric: str) -> tuple[Sample, ...]:
    return tuple(
        Sample(m.server_id, m.vm_state is VmState.BUILDING, m.ready, member_value(m, metric))
        for m in counted(members)
    )


def group_value(obs: Observation, metric: str) -> float | None:
    """The group-wide value of a custom metric, when no member reports its own."""
    if metric == CPU_UTILIZATION:
        return None
    if any(s.value is not None for s in samples(obs.members, metric)):
        return None
    return obs.group_metrics.get(metric)


def read(policy: str, metric: str, target: float, obs: Observation) -> MetricReading:
    """The metric's value per member (None when nobody reports it) and how many it covers."""
    members = samples(obs.members, metric)
    values = [s.value for s in members if s.value is not None]
    if values:
        return MetricReading(policy, metric, sum(values) / len(values), target, len(values))
    total = group_value(obs, metric)
    if total is not None and members:
        return MetricReading(policy, metric, total / len(members), target, len(members))
    return MetricReading(policy, metric, None, target, 0)
