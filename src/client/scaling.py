"""The parts of a scaling group, built from friendly arguments.

```python
from client.scaling import scheduled, simple, step, target_tracking

oc.create_scaling_group(
    "web", flavor="m1.small", image="cirros", min_size=1, max_size=10,
    policies=[
        target_tracking("cpu", target=60),
        step("custom/queue", above=100, steps=[(0, 50, 1), (50, None, 3)], cooldown=120),
        simple("cpu", below=10, adjustment=-1),
    ],
    scheduled_actions=[scheduled("night", "0 22 * * *", time_zone="Europe/Paris", max_size=2)],
)
```

Metrics: "cpu" (or "cpu_utilization") is the members' average CPU in percent of their vcpus;
"custom/{name}" a value pushed with `record_group_metric`. Durations are seconds. A policy's
name defaults to its metric's ("cpu", "queue"), with "-high" or "-low" for step and simple
policies (whose alarm fires above or below the threshold); the group's history names what
decided as "{kind}/{name}" ("target_tracking/cpu").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import cast

from google.protobuf import duration_pb2

from overcast.v1 import scaling_group_pb2 as pb
from overcast.v1 import server_group_pb2

from . import enum_names
from .build import server_group_policy_value
from .errors import InvalidArgument
from .names import flavor_name, image_name

CPU = "cpu_utilization"
CUSTOM_PREFIX = "custom/"

StepBounds = tuple[float | None, float | None, int]
"""(lower, upper, adjustment): the step taken when the breach (how far the metric is past the
threshold) lies within [lower, upper); None is an open bound."""

# Short names users type for the scale-in rule and the adjustment types.
_SCALE_IN = {"newest": "NEWEST_FIRST", "oldest": "OLDEST_FIRST", "least-loaded": "LEAST_LOADED"}
_ADJUSTMENT = {
    "change": "CHANGE_IN_CAPACITY",
    "exact": "EXACT_CAPACITY",
    "percent": "PERCENT_CHANGE",
}


def _invalid(field: str, fix: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {fix}", field_violations=[(field, fix)])


def metric_name(metric: str) -> str:
    """ "cpu" → "cpu_utilization"; a custom metric in lower case, as the controller names them
    ("custom/Queue_Depth" → "custom/queue_depth"), so a policy and the values pushed for it
    agree however they were typed; anything else as given, for the controller to judge."""
    name = metric.strip()
    if not name:
        raise _invalid("metric", "give a metric: cpu or custom/NAME")
    if name.lower() in ("cpu", CPU):
        return CPU
    return name.lower() if name.lower().startswith(CUSTOM_PREFIX) else name


def default_policy_name(metric: str) -> str:
    """ "cpu" for cpu_utilization, "queue-depth" for custom/queue_depth: an id-like name."""
    name = metric_name(metric)
    base = "cpu" if name == CPU else name.removeprefix(CUSTOM_PREFIX)
    return re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-") or "metric"


def seconds(value: float | None) -> duration_pb2.Duration | None:
    if value is None:
        return None
    if value < 0:
        raise _invalid("duration", f"must not be negative, got {value:g}")
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(value * 1e9))
    return duration


def _enum_value(descriptor: object, value: int | str, aliases: Mapping[str, str], field: str) -> int:
    if isinstance(value, int):
        return value
    key = value.strip().lower()
    number = enum_names.number(descriptor, aliases.get(key, key))  # type: ignore[arg-type]
    if number is None:
        choices = ", ".join(aliases)
        raise _invalid(field, f"must be one of {choices}, got {value!r}")
    return number


def scale_in_rule_value(rule: int | str) -> pb.ScaleInRule:
    """ "newest", "oldest", "least-loaded" (or the enum's own names) → ScaleInRule."""
    return cast(pb.ScaleInRule, _enum_value(pb.ScaleInRule.DESCRIPTOR, rule, _SCALE_IN, "scale_in_rule"))


def scale_in_rule_names() -> list[str]:
    return list(_SCALE_IN)


def adjustment_type_value(kind: int | str) -> pb.AdjustmentType:
    """ "change", "exact", "percent" (or the enum's own names) → AdjustmentType."""
    descriptor = pb.AdjustmentType.DESCRIPTOR
    return cast(pb.AdjustmentType, _enum_value(descriptor, kind, _ADJUSTMENT, "adjustment_type"))


def placement_policy_value(policy: int | str | None) -> server_group_pb2.ServerGroupPolicy:
    """ "anti-affinity", "soft-affinity", … → ServerGroupPolicy; None → unspecified (free)."""
    if policy is None or policy == "":
        return server_group_pb2.SERVER_GROUP_POLICY_UNSPECIFIED
    try:
        return server_group_policy_value(policy)
    except InvalidArgument as err:
        raise _invalid("template.placement_policy", err.field_violations[0][1]) from None


def _alarm(above: float | None, below: float | None) -> tuple[pb.Comparison, float]:
    if (above is None) == (below is None):
        raise _invalid("comparison", "give exactly one of above= (scale on high values) or below=")
    if above is not None:
        return pb.COMPARISON_GREATER_OR_EQUAL, float(above)
    return pb.COMPARISON_LESS_OR_EQUAL, float(below)  # type: ignore[arg-type]


def _alarm_name(metric: str, comparison: pb.Comparison) -> str:
    side = "high" if comparison == pb.COMPARISON_GREATER_OR_EQUAL else "low"
    return f"{default_policy_name(metric)}-{side}"


def target_tracking(
    metric: str,
    target: float,
    *,
    name: str | None = None,
    tolerance: float | None = None,
    scale_down_stabilization: float | None = None,
    scale_up_percent: int | None = None,
    scale_up_members: int | None = None,
    scale_up_period: float | None = None,
    disable_scale_in: bool = False,
    warmup: float | None = None,
) -> pb.ScalingPolicy:
    """Hold `metric` at `target` per member (percent for cpu), as Kubernetes' HPA does.
    Unset knobs take the controller's defaults (tolerance 0.1, 300 s scale-down window,
    scale up at most max(100 %, 4 members) per 15 s, members warming up for 60 s)."""
    policy = pb.TargetTrackingPolicy(
        metric=metric_name(metric),
        target=float(target),
        tolerance=tolerance,
        scale_down_stabilization=seconds(scale_down_stabilization),
        scale_up_percent=scale_up_percent,
        scale_up_members=scale_up_members,
        scale_up_period=seconds(scale_up_period),
        disable_scale_in=disable_scale_in,
        warmup=seconds(warmup),
    )
    return pb.ScalingPolicy(name=name or default_policy_name(metric), target_tracking=policy)


def _step(item: StepBounds | pb.ScalingStep) -> pb.ScalingStep:
    if isinstance(item, pb.ScalingStep):
        return item
    lower, upper, adjustment = item
    return pb.ScalingStep(lower_bound=lower, upper_bound=upper, adjustment=adjustment)


def step(
    metric: str,
    *,
    above: float | None = None,
    below: float | None = None,
    steps: Iterable[StepBounds | pb.ScalingStep],
    adjustment_type: int | str = "change",
    cooldown: float | None = None,
    name: str | None = None,
) -> pb.ScalingPolicy:
    """When `metric` is at or `above` (or `below`) the threshold, take the step whose bounds
    hold the breach: `steps=[(0, 20, 1), (20, None, 3)]` adds 1 member up to 20 past the
    threshold, 3 beyond. `adjustment_type`: "change" (members), "exact" (the size) or
    "percent" (of the current size). Then wait `cooldown` seconds (default 300)."""
    comparison, threshold = _alarm(above, below)
    built = [_step(s) for s in steps]
    if not built:
        raise _invalid("step.steps", "give at least one step (lower, upper, adjustment)")
    policy = pb.StepPolicy(
        metric=metric_name(metric),
        comparison=comparison,
        threshold=threshold,
        adjustment_type=adjustment_type_value(adjustment_type),
        steps=built,
        cooldown=seconds(cooldown),
    )
    return pb.ScalingPolicy(name=name or _alarm_name(metric, comparison), step=policy)


def simple(
    metric: str,
    *,
    above: float | None = None,
    below: float | None = None,
    adjustment: int,
    adjustment_type: int | str = "change",
    cooldown: float | None = None,
    name: str | None = None,
) -> pb.ScalingPolicy:
    """When `metric` is at or `above` (or `below`) the threshold, adjust by `adjustment`, then
    wait `cooldown` seconds (default 300): AWS simple scaling."""
    comparison, threshold = _alarm(above, below)
    policy = pb.SimplePolicy(
        metric=metric_name(metric),
        comparison=comparison,
        threshold=threshold,
        adjustment_type=adjustment_type_value(adjustment_type),
        adjustment=adjustment,
        cooldown=seconds(cooldown),
    )
    return pb.ScalingPolicy(name=name or _alarm_name(metric, comparison), simple=policy)


def scheduled(
    name: str,
    schedule: str,
    *,
    time_zone: str = "",
    min_size: int | None = None,
    max_size: int | None = None,
    desired_size: int | None = None,
) -> pb.ScheduledAction:
    """Set the sizes given when the 5-field cron `schedule` fires, in `time_zone` (IANA;
    empty = UTC)."""
    if min_size is None and max_size is None and desired_size is None:
        raise _invalid("scheduled_actions.min_size", "give at least one of min_size, max_size, desired_size")
    return pb.ScheduledAction(
        name=name,
        schedule=schedule.strip(),
        time_zone=time_zone,
        min_size=min_size,
        max_size=max_size,
        desired_size=desired_size,
    )


def server_template(
    flavor: str,
    image: str,
    *,
    metadata: Mapping[str, str] | None = None,
    availability_zone: str = "",
    placement_policy: int | str | None = None,
) -> pb.ServerTemplate:
    """What every member is created from; `placement_policy` ("anti-affinity", …) spreads or
    packs the members through a server group the scaling group owns."""
    return pb.ServerTemplate(
        flavor=flavor_name(flavor),
        image=image_name(image),
        metadata=dict(metadata or {}),
        availability_zone=availability_zone,
        placement_policy=placement_policy_value(placement_policy),
    )


__all__ = [
    "CPU",
    "CUSTOM_PREFIX",
    "StepBounds",
    "adjustment_type_value",
    "default_policy_name",
    "metric_name",
    "placement_policy_value",
    "scale_in_rule_names",
    "scale_in_rule_value",
    "scheduled",
    "server_template",
    "simple",
    "step",
    "target_tracking",
]
