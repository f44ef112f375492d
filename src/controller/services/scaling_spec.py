"""A scaling group as a request gives it, before it is checked (scaling_checks.check_group):
resource names and enum names as strings (an enum number the API's stubs lack stays a number,
for the check to refuse), values a request may leave unset as None. The API edge fills these
from protobuf; nothing here knows protobuf."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

UPDATABLE = (
    "min_size",
    "max_size",
    "desired_size",
    "template",
    "policies",
    "scheduled_actions",
    "scale_in_rule",
    "health_grace",
    "protected_members",
)
OUTPUT_ONLY = ("name", "members", "server_group", "status", "create_time", "update_time", "etag")


@dataclass(frozen=True)
class TemplateSpec:
    flavor: str  # "flavors/{flavor}"
    image: str  # "images/{image}"
    metadata: dict[str, str] = field(default_factory=dict)
    availability_zone: str = ""
    placement_policy: str = ""  # a GroupPolicy value; "" = none


@dataclass(frozen=True)
class TargetTrackingSpec:
    metric: str
    target: float
    tolerance: float | None = None
    scale_down_stabilization_s: float | None = None
    scale_up_percent: int | None = None
    scale_up_members: int | None = None
    scale_up_period_s: float | None = None
    disable_scale_in: bool = False
    warmup_s: float | None = None


@dataclass(frozen=True)
class StepSpec:
    lower: float | None
    upper: float | None
    adjustment: int


@dataclass(frozen=True)
class StepPolicySpec:
    metric: str
    comparison: str  # a Comparison value; "" = not given
    threshold: float
    steps: tuple[StepSpec, ...]
    adjustment_type: str = ""  # an AdjustmentType value; "" = change in capacity
    cooldown_s: float | None = None


@dataclass(frozen=True)
class SimplePolicySpec:
    metric: str
    comparison: str
    threshold: float
    adjustment: int
    adjustment_type: str = ""
    cooldown_s: float | None = None


@dataclass(frozen=True)
class PolicySpec:
    name: str
    kind: TargetTrackingSpec | StepPolicySpec | SimplePolicySpec | None  # None = none given


@dataclass(frozen=True)
class ScheduledActionSpec:
    name: str
    schedule: str
    time_zone: str = ""  # "" = UTC
    min_size: int | None = None
    max_size: int | None = None
    desired_size: int | None = None


@dataclass(frozen=True)
class GroupSpec:
    template: TemplateSpec | None
    max_size: int
    min_size: int = 0
    desired_size: int = 0  # at create, 0 = min_size
    policies: tuple[PolicySpec, ...] = ()
    scheduled_actions: tuple[ScheduledActionSpec, ...] = ()
    scale_in_rule: str = ""  # a ScaleInRule value; "" = newest first
    health_grace_s: float | None = None
    protected_members: tuple[str, ...] = ()  # "projects/{project}/servers/{server}"


def check_update_mask(paths: Sequence[str]) -> tuple[set[str], list[tuple[str, str]]]:
    """The fields an update replaces ("*": all of them), and the violations of the mask."""
    bad: list[tuple[str, str]] = []
    if not paths:
        bad.append(("update_mask", f"required: the fields to change, some of {', '.join(UPDATABLE)} (or *)"))
    chosen: set[str] = set()
    for p in paths:
        if p == "*":
            chosen.update(UPDATABLE)
        elif p in UPDATABLE:
            chosen.add(p)
        elif p in OUTPUT_ONLY:
            bad.append(("update_mask", f"{p!r} is output only: leave it out"))
        else:
            bad.append(
                ("update_mask", f"{p!r} is not an updatable field: use some of {', '.join(UPDATABLE)}")
            )
    return chosen, bad
