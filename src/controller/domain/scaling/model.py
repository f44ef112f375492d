"""A scaling group as the domain sees it: a server template, sizes, policies and scheduled
actions. Pure data: validation lives in `validate`, the decisions in `decide`.

Metric names: CPU is "cpu_utilization" (members' average utilisation of their vcpus, in
percent, from the load view's per-instance EWMA); an application metric is "custom/{name}",
pushed through RecordGroupMetric (per member, or per group: divided by the members).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from controller.domain.server_groups import GroupPolicy

CPU_UTILIZATION = "cpu_utilization"
CUSTOM_PREFIX = "custom/"

# Defaults, as Kubernetes' HPA and AWS's autoscaling have them.
DEFAULT_TOLERANCE = 0.1
DEFAULT_SCALE_DOWN_STABILIZATION_S = 300.0
DEFAULT_SCALE_UP_PERCENT = 100
DEFAULT_SCALE_UP_MEMBERS = 4
DEFAULT_SCALE_UP_PERIOD_S = 15.0
DEFAULT_COOLDOWN_S = 300.0
DEFAULT_WARMUP_S = 60.0
DEFAULT_HEALTH_GRACE_S = 60.0

# A member's server id is "{group}-{5 characters}", and the server group a scaling group owns
# "{group}-members": both within the 63 characters of an id.
MEMBER_SUFFIX_LEN = 5
OWNED_SERVER_GROUP_SUFFIX = "-members"
MAX_GROUP_ID_LEN = 63 - len(OWNED_SERVER_GROUP_SUFFIX)


class ScaleInRule(enum.StrEnum):
    NEWEST_FIRST = "NEWEST_FIRST"
    OLDEST_FIRST = "OLDEST_FIRST"
    LEAST_LOADED = "LEAST_LOADED"


class AdjustmentType(enum.StrEnum):
    CHANGE_IN_CAPACITY = "CHANGE_IN_CAPACITY"
    EXACT_CAPACITY = "EXACT_CAPACITY"
    PERCENT_CHANGE = "PERCENT_CHANGE"


class Comparison(enum.StrEnum):
    GREATER_OR_EQUAL = "GREATER_OR_EQUAL"
    LESS_OR_EQUAL = "LESS_OR_EQUAL"


@dataclass(frozen=True)
class ServerTemplate:
    flavor_id: str
    image_id: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    availability_zone: str = ""
    placement_policy: GroupPolicy | None = None  # None = members are placed freely


@dataclass(frozen=True)
class TargetTracking:
    metric: str
    target: float  # per member: percent for cpu_utilization
    tolerance: float = DEFAULT_TOLERANCE
    scale_down_stabilization_s: float = DEFAULT_SCALE_DOWN_STABILIZATION_S
    scale_up_percent: int = DEFAULT_SCALE_UP_PERCENT
    scale_up_members: int = DEFAULT_SCALE_UP_MEMBERS
    scale_up_period_s: float = DEFAULT_SCALE_UP_PERIOD_S
    disable_scale_in: bool = False
    warmup_s: float = DEFAULT_WARMUP_S  # members younger count as not ready


@dataclass(frozen=True)
class Step:
    lower: float | None  # relative to the threshold; None = open
    upper: float | None
    adjustment: int


@dataclass(frozen=True)
class StepScaling:
    metric: str
    comparison: Comparison
    threshold: float
    steps: tuple[Step, ...]
    adjustment_type: AdjustmentType = AdjustmentType.CHANGE_IN_CAPACITY
    cooldown_s: float = DEFAULT_COOLDOWN_S


@dataclass(frozen=True)
class SimpleScaling:
    metric: str
    comparison: Comparison
    threshold: float
    adjustment: int
    adjustment_type: AdjustmentType = AdjustmentType.CHANGE_IN_CAPACITY
    cooldown_s: float = DEFAULT_COOLDOWN_S


PolicyKind = TargetTracking | StepScaling | SimpleScaling


@dataclass(frozen=True)
class Policy:
    name: str
    kind: PolicyKind

    @property
    def metric(self) -> str:
        return self.kind.metric


@dataclass(frozen=True)
class ScheduledAction:
    name: str
    schedule: str  # cron, 5 fields
    time_zone: str = "UTC"  # IANA
    min_size: int | None = None
    max_size: int | None = None
    desired_size: int | None = None


@dataclass(frozen=True)
class ScalingGroup:
    project: str
    id: str
    template: ServerTemplate
    min_size: int
    max_size: int
    desired_size: int
    policies: tuple[Policy, ...] = ()
    scheduled_actions: tuple[ScheduledAction, ...] = ()
    scale_in_rule: ScaleInRule = ScaleInRule.NEWEST_FIRST
    health_grace_s: float = DEFAULT_HEALTH_GRACE_S
    protected: frozenset[str] = frozenset()  # server ids a scale-in never removes
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def name(self) -> str:
        return scaling_group_name(self.project, self.id)

    @property
    def server_group_id(self) -> str:
        """The server group the scaling group owns ("" when its template has no policy)."""
        return owned_server_group_id(self.id) if self.template.placement_policy else ""


def scaling_group_name(project: str, group_id: str) -> str:
    return f"projects/{project}/scalingGroups/{group_id}"


def owned_server_group_id(group_id: str) -> str:
    return group_id + OWNED_SERVER_GROUP_SUFFIX
