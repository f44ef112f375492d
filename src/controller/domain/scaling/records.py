"""What the store keeps of a scaling group besides its configuration, and what an evaluation
round writes back: the group's status (its last metrics, decision and fault), its history
(activities, each also published as a `scaling.*` event), its members as the autoscaler reads
them, and the application metrics pushed for it.

An activity's JSON (`Activity.to_json`) names servers by id; its event payload (`scaling_event`,
shaped like events.proto's ScalingPayload) by resource name, as the API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from controller.domain.messages import OutboxMessage
from controller.domain.model import PowerState, TaskState, VmState
from controller.domain.names import server_name
from controller.domain.scaling.evaluation import Decision, GroupState, MetricReading
from controller.domain.scaling.model import ScalingGroup, scaling_group_name

SCALING_DECISION = "scaling.decision"
MEMBER_ADDED = "scaling.member.added"
MEMBER_REMOVED = "scaling.member.removed"
MEMBER_REPLACED = "scaling.member.replaced"

# The event catalogue's rows for scaling groups (controller.domain.lifecycle.event_catalogue).
SCALING_EVENTS: Mapping[str, str] = {
    SCALING_DECISION: "a scaling group's desired size (or min/max, by a scheduled action) changed; "
    "the payload says which rule decided, on what metrics, and what held it back",
    MEMBER_ADDED: "the autoscaler created a member to reach the desired size",
    MEMBER_REMOVED: "the autoscaler deleted a member in a scale-in (chosen by the group's scale-in rule)",
    MEMBER_REPLACED: "the autoscaler deleted an unhealthy member and created its replacement; "
    "reason in payload",
}


def metric_reading(d: Mapping[str, Any]) -> MetricReading:
    """`MetricReading.as_dict` read back."""
    value = d.get("value")
    return MetricReading(
        policy=str(d.get("policy", "")),
        metric=str(d.get("metric", "")),
        value=float(value) if value is not None else None,
        target=float(d.get("target", 0.0)),
        reporting_members=int(d.get("reporting_members", 0)),
    )


@dataclass(frozen=True)
class GroupStatus:
    """What the last evaluation saw (GetScalingGroup's `status`, with the sizes counted live)."""

    metrics: tuple[MetricReading, ...] = ()
    last_decision: str = ""  # why the desired size is what it is
    fault: str = ""  # why the group cannot reach its desired size; "" = nothing wrong

    def to_json(self) -> dict[str, Any]:
        return {
            "metrics": [m.as_dict() for m in self.metrics],
            "last_decision": self.last_decision,
            "fault": self.fault,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> GroupStatus:
        if not data:
            return cls()
        return cls(
            metrics=tuple(metric_reading(m) for m in data.get("metrics", [])),
            last_decision=str(data.get("last_decision", "")),
            fault=str(data.get("fault", "")),
        )


@dataclass(frozen=True)
class GroupRecord:
    """A stored group: its configuration, what the autoscaler keeps of it, and its members."""

    group: ScalingGroup
    status: GroupStatus = field(default_factory=GroupStatus)
    state: GroupState = field(default_factory=GroupState)
    manual_desired: int | None = None  # a SetDesiredSize (or desired_size update) not yet evaluated
    last_scale_at: datetime | None = None
    deleting: bool = False  # DeleteScalingGroup is deleting its members
    members: tuple[str, ...] = ()  # server ids of the live members (those being deleted too), sorted
    current_size: int = 0  # live members not being deleted
    active_size: int = 0  # members ACTIVE, running, nothing in flight

    @property
    def server_group_id(self) -> str:
        return self.group.server_group_id


@dataclass(frozen=True)
class MemberRow:
    """A live member as the store has it (the autoscaler adds load and host health)."""

    project: str
    group_id: str
    uid: UUID
    server_id: str
    created_at: datetime
    vm_state: VmState
    task_state: TaskState | None
    power_state: PowerState
    host_id: str | None
    fault: str
    # Its host_failure_policy is EVACUATE: a failed host's controller rebuilds it elsewhere,
    # so the autoscaler does not also replace it for that (domain.host_failure).
    evacuates: bool = False


@dataclass(frozen=True)
class GroupMetric:
    """The latest value of a pushed metric (RecordGroupMetric)."""

    project: str
    group_id: str
    metric: str  # "custom/{name}"
    member: str  # server id; "" = the whole group
    value: float
    recorded_at: datetime


@dataclass(frozen=True)
class Activity:
    """One entry of a group's history (ScalingActivity in the API)."""

    kind: str  # SCALING_DECISION, MEMBER_ADDED, MEMBER_REMOVED or MEMBER_REPLACED
    current_size: int = 0
    previous_desired: int = 0
    desired_size: int = 0
    rule: str = ""
    metrics: tuple[MetricReading, ...] = ()
    clamped: tuple[str, ...] = ()
    member: str = ""  # server id, for member activities
    reason: str = ""
    replacement: str = ""  # server id of the new member replacing `member`
    id: int = 0  # given by the store
    occurred_at: datetime | None = None  # given by the store

    def to_json(self) -> dict[str, Any]:
        return {
            "current_size": self.current_size,
            "previous_desired": self.previous_desired,
            "desired_size": self.desired_size,
            "rule": self.rule,
            "metrics": [m.as_dict() for m in self.metrics],
            "clamped": list(self.clamped),
            "member": self.member,
            "reason": self.reason,
            "replacement": self.replacement,
        }

    @classmethod
    def from_json(
        cls, kind: str, data: Mapping[str, Any], *, id: int = 0, occurred_at: datetime | None = None
    ) -> Activity:
        return cls(
            kind=kind,
            current_size=int(data.get("current_size", 0)),
            previous_desired=int(data.get("previous_desired", 0)),
            desired_size=int(data.get("desired_size", 0)),
            rule=str(data.get("rule", "")),
            metrics=tuple(metric_reading(m) for m in data.get("metrics", [])),
            clamped=tuple(str(c) for c in data.get("clamped", [])),
            member=str(data.get("member", "")),
            reason=str(data.get("reason", "")),
            replacement=str(data.get("replacement", "")),
            id=id,
            occurred_at=occurred_at,
        )


def decision_activity(d: Decision) -> Activity:
    return Activity(
        SCALING_DECISION,
        current_size=d.current,
        previous_desired=d.previous_desired,
        desired_size=d.desired,
        rule=d.rule,
        metrics=d.metrics,
        clamped=d.clamped,
    )


def member_activity(
    kind: str, d: Decision, member: str, *, reason: str = "", replacement: str = ""
) -> Activity:
    """A member added, removed or replaced by decision `d` (server ids)."""
    if kind not in (MEMBER_ADDED, MEMBER_REMOVED, MEMBER_REPLACED):
        raise ValueError(f"{kind!r} is not a member activity")
    return Activity(
        kind,
        current_size=d.current,
        previous_desired=d.previous_desired,
        desired_size=d.desired,
        rule=d.rule,
        member=member,
        reason=reason,
        replacement=replacement,
    )


def scaling_event(project: str, group_id: str, a: Activity) -> OutboxMessage:
    """The `scaling.*` event announcing activity `a` (payload: events.proto ScalingPayload)."""
    name = scaling_group_name(project, group_id)
    payload: dict[str, Any] = {
        "name": name,
        "current_size": a.current_size,
        "previous_desired": a.previous_desired,
        "desired_size": a.desired_size,
        "rule": a.rule,
        "metrics": [m.as_dict() for m in a.metrics],
        "clamped": list(a.clamped),
        "member": server_name(project, a.member) if a.member else "",
        "reason": a.reason,
        "replacement": server_name(project, a.replacement) if a.replacement else "",
    }
    return OutboxMessage("event", a.kind, a.kind, payload, project, name)


@dataclass(frozen=True)
class GroupOutcome:
    """What one evaluation round writes for one group (`save_decisions`).

    The sizes are written, and a pending manual_desired cleared, only when the group is still at
    `version` (the one the round loaded): a group changed meanwhile (UpdateScalingGroup,
    SetDesiredSize) keeps its new sizes for the next round to decide on. State, status and
    activities are written either way; a group deleted meanwhile gets nothing."""

    project: str
    group_id: str
    version: int
    desired_size: int
    min_size: int
    max_size: int
    state: GroupState
    status: GroupStatus = field(default_factory=GroupStatus)
    scaled: bool = False  # members were added or removed: last_scale_at becomes now
    activities: tuple[Activity, ...] = ()

    @property
    def name(self) -> str:
        return scaling_group_name(self.project, self.group_id)


def group_key(group: ScalingGroup) -> tuple[str, str]:
    return (group.project, group.id)
