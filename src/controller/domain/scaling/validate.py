"""Validation of a scaling group as the API receives it: every violation at once, each with its
field path ("scaling_group.policies[0].target_tracking.target") and what to fix, so the API
answers INVALID_ARGUMENT with BadRequest field violations. This module owns every value rule
of a group (sizes, targets, durations, metric names, steps, schedules, names); the service only
parses a request into the model (services.scaling_checks) and calls `collect`.

The limits follow Kubernetes' HPA validation (stabilisation window at most 3600 s, scale-up
period at most 1800 s, a positive target) and AWS's quotas in spirit (a few dozen policies and
scheduled actions, 20 steps per policy); a group holds at most MAX_SIZE members.
"""

from __future__ import annotations

import functools
import math
import re

from controller.domain.errors import ViolationCollector
from controller.domain.names import ID_RULE, check_catalog_id, check_id
from controller.domain.scaling import schedule
from controller.domain.scaling.model import (
    CPU_UTILIZATION,
    CUSTOM_PREFIX,
    MAX_GROUP_ID_LEN,
    OWNED_SERVER_GROUP_SUFFIX,
    AdjustmentType,
    Comparison,
    Policy,
    ScalingGroup,
    ScheduledAction,
    SimpleScaling,
    Step,
    StepScaling,
    TargetTracking,
)

MAX_SIZE = 10_000
MAX_POLICIES = 20
MAX_SCHEDULED_ACTIONS = 50
MAX_STEPS = 20
MAX_STABILIZATION_S = 3600.0  # HPA's limit on stabilizationWindowSeconds
MAX_SCALE_UP_PERIOD_S = 1800.0  # HPA's limit on periodSeconds
MAX_SCALE_UP_PERCENT = 1000
MAX_PERCENT_CHANGE = 100 * MAX_SCALE_UP_PERCENT
MAX_COOLDOWN_S = 86_400.0
MAX_HEALTH_GRACE_S = 86_400.0
_CUSTOM_NAME = re.compile(r"^[a-z0-9_.-]{1,63}$")
CUSTOM_RULE = "'custom/' and a name of 1-63 characters of a-z, 0-9, '_', '.' and '-'"
METRIC_RULE = f"'cpu_utilization' or {CUSTOM_RULE}"


def check_metric(metric: str, *, custom_only: bool = False) -> str | None:
    """None when `metric` names a metric (only a custom one if `custom_only`: what
    RecordGroupMetric accepts), else what to fix."""
    if metric == CPU_UTILIZATION and custom_only:
        return f"{metric!r} is measured by the agents: only custom/{{name}} metrics are recorded"
    if metric == CPU_UTILIZATION:
        return None
    if metric.startswith(CUSTOM_PREFIX) and _CUSTOM_NAME.match(metric.removeprefix(CUSTOM_PREFIX)):
        return None
    required = "required: " if not metric else ""
    return f"{metric!r} is not a metric: {required}use {CUSTOM_RULE if custom_only else METRIC_RULE}"


def check_size(c: ViolationCollector, field: str, value: int) -> None:
    """A number of members any group may have (0-MAX_SIZE)."""
    if not 0 <= value <= MAX_SIZE:
        c.add(field, f"{value} is out of range 0-{MAX_SIZE}")


def _duration(c: ViolationCollector, field: str, seconds: float, most: float) -> None:
    if not (math.isfinite(seconds) and 0 <= seconds <= most):
        c.add(field, f"{seconds:g} s is out of range 0-{most:g} s")


def _name(c: ViolationCollector, field: str, name: str, seen: set[str]) -> None:
    if not name:
        c.add(field, f"a name is required ({ID_RULE})")
    elif name in seen:
        c.add(field, f"{name!r} is used twice: names are unique within the group")
    else:
        c.check(lambda: check_id(name, field))
    seen.add(name)


def _target_tracking(c: ViolationCollector, at: str, tt: TargetTracking) -> None:
    if (message := check_metric(tt.metric)) is not None:
        c.add(f"{at}.metric", message)
    if tt.metric == CPU_UTILIZATION and not 0 < tt.target <= 100:
        c.add(
            f"{at}.target",
            f"{tt.target:g} is out of range: a CPU target is a percentage, above 0 and at most 100",
        )
    elif not (math.isfinite(tt.target) and tt.target > 0):
        c.add(f"{at}.target", f"{tt.target:g} is not a target: the value per member to hold, above 0")
    if not 0 <= tt.tolerance < 1:
        c.add(
            f"{at}.tolerance",
            f"{tt.tolerance:g} is out of range: a fraction of the target, at least 0 and below 1 "
            "(0.1 = 10 %)",
        )
    _duration(c, f"{at}.scale_down_stabilization", tt.scale_down_stabilization_s, MAX_STABILIZATION_S)
    _duration(c, f"{at}.warmup", tt.warmup_s, MAX_STABILIZATION_S)
    if not 0 < tt.scale_up_period_s <= MAX_SCALE_UP_PERIOD_S:  # also false for NaN
        c.add(
            f"{at}.scale_up_period",
            f"{tt.scale_up_period_s:g} s is out of range: above 0 s and at most {MAX_SCALE_UP_PERIOD_S:g} s",
        )
    if not 0 <= tt.scale_up_percent <= MAX_SCALE_UP_PERCENT:
        c.add(f"{at}.scale_up_percent", f"{tt.scale_up_percent} is out of range 0-{MAX_SCALE_UP_PERCENT}")
    check_size(c, f"{at}.scale_up_members", tt.scale_up_members)
    if tt.scale_up_percent == 0 and tt.scale_up_members == 0:
        c.add(
            f"{at}.scale_up_members",
            "scale_up_percent and scale_up_members are both 0: the group could never grow; set one above 0",
        )


def _alarm(c: ViolationCollector, at: str, policy: StepScaling | SimpleScaling) -> None:
    if (message := check_metric(policy.metric)) is not None:
        c.add(f"{at}.metric", message)
    if policy.comparison not in (Comparison.GREATER_OR_EQUAL, Comparison.LESS_OR_EQUAL):
        c.add(f"{at}.comparison", "a comparison is required: GREATER_OR_EQUAL or LESS_OR_EQUAL")
    if not math.isfinite(policy.threshold):
        c.add(f"{at}.threshold", f"{policy.threshold:g} is not a threshold: a finite number")
    _duration(c, f"{at}.cooldown", policy.cooldown_s, MAX_COOLDOWN_S)


def _adjustment(c: ViolationCollector, field: str, kind: AdjustmentType, adjustment: int) -> None:
    if kind is AdjustmentType.EXACT_CAPACITY:
        check_size(c, field, adjustment)
    elif kind is AdjustmentType.PERCENT_CHANGE and not -100 <= adjustment <= MAX_PERCENT_CHANGE:
        c.add(field, f"{adjustment} % is out of range: -100 % (every member) to {MAX_PERCENT_CHANGE} %")
    elif kind is AdjustmentType.CHANGE_IN_CAPACITY and abs(adjustment) > MAX_SIZE:
        c.add(field, f"{adjustment} is too large a change: at most {MAX_SIZE} members either way")


def _bounds(step: Step) -> tuple[float, float]:
    return (-math.inf if step.lower is None else step.lower, math.inf if step.upper is None else step.upper)


def _step_bounds(c: ViolationCollector, field: str, step: Step) -> bool:
    """Report what is wrong with the step's bounds; False when they are not numbers at all."""
    given = (("lower_bound", step.lower), ("upper_bound", step.upper))
    bad = [(key, bound) for key, bound in given if bound is not None and not math.isfinite(bound)]
    for key, bound in bad:
        c.add(f"{field}.{key}", f"{bound:g} is not a bound: a finite number, or unset for an open end")
    if bad:
        return False
    lower, upper = _bounds(step)
    if not lower < upper:
        c.add(
            f"{field}.upper_bound",
            f"the step is empty: upper_bound {upper:g} is not above lower_bound {lower:g}",
        )
    elif upper <= 0:
        c.add(
            f"{field}.upper_bound",
            f"upper_bound {upper:g} <= 0: the bounds measure how far past the threshold the metric "
            "is (0 or more)",
        )
    return True


def _steps(c: ViolationCollector, at: str, policy: StepScaling) -> None:
    if not policy.steps:
        c.add(f"{at}.steps", "at least one step is required")
    if len(policy.steps) > MAX_STEPS:
        c.add(f"{at}.steps", f"{len(policy.steps)} steps: at most {MAX_STEPS}")
    numeric = []  # (index, step) of the steps whose bounds are numbers, for the overlap check
    for i, step in enumerate(policy.steps):
        if _step_bounds(c, f"{at}.steps[{i}]", step):
            numeric.append((i, step))
        _adjustment(c, f"{at}.steps[{i}].adjustment", policy.adjustment_type, step.adjustment)
    reach: tuple[int, float] | None = None  # the step reaching highest so far, and how high
    for j, step in sorted(numeric, key=lambda s: _bounds(s[1])):
        lower, upper = _bounds(step)
        if reach is not None and lower < reach[1]:
            c.add(f"{at}.steps[{j}]", f"overlaps steps[{reach[0]}]: a breach must fall in one step only")
        if reach is None or upper > reach[1]:
            reach = (j, upper)


def _policy(c: ViolationCollector, at: str, policy: Policy, seen: set[str]) -> None:
    _name(c, f"{at}.name", policy.name, seen)
    kind = policy.kind
    if isinstance(kind, TargetTracking):
        _target_tracking(c, f"{at}.target_tracking", kind)
    elif isinstance(kind, StepScaling):
        _alarm(c, f"{at}.step", kind)
        _steps(c, f"{at}.step", kind)
    else:
        _alarm(c, f"{at}.simple", kind)
        _adjustment(c, f"{at}.simple.adjustment", kind.adjustment_type, kind.adjustment)
        if kind.adjustment == 0 and kind.adjustment_type is not AdjustmentType.EXACT_CAPACITY:
            c.add(
                f"{at}.simple.adjustment",
                "an adjustment of 0 changes nothing: give how much to add (or, negative, remove), not 0",
            )


def _action(
    c: ViolationCollector, at: str, action: ScheduledAction, group: ScalingGroup, seen: set[str]
) -> None:
    _name(c, f"{at}.name", action.name, seen)
    if (message := schedule.check_schedule(action.schedule)) is not None:
        c.add(f"{at}.schedule", message)
    if (message := schedule.check_time_zone(action.time_zone)) is not None:
        c.add(f"{at}.time_zone", message)
    sizes = {"min_size": action.min_size, "max_size": action.max_size, "desired_size": action.desired_size}
    if all(v is None for v in sizes.values()):
        c.add(at, "the action sets nothing: give min_size, max_size or desired_size")
    for key, value in sizes.items():
        if value is not None:
            check_size(c, f"{at}.{key}", value)
    low = group.min_size if action.min_size is None else action.min_size
    high = group.max_size if action.max_size is None else action.max_size
    if low > high and action.min_size is not None and action.max_size is not None:
        c.add(f"{at}.min_size", f"min_size {low} > max_size {high}: lower min_size or raise max_size")
    elif low > high:
        c.add(at, f"min_size {low} > max_size {high} once the action applies")
    elif action.desired_size is not None and not low <= action.desired_size <= high:
        c.add(f"{at}.desired_size", f"{action.desired_size} is outside [min_size {low}, max_size {high}]")


def collect(
    c: ViolationCollector,
    group: ScalingGroup,
    prefix: str = "scaling_group",
    id_field: str = "scaling_group_id",
) -> None:
    """Every violation of `group` into `c`."""
    c.check(lambda: check_id(group.id, id_field))
    if len(group.id) > MAX_GROUP_ID_LEN:
        c.add(
            id_field,
            f"{len(group.id)} characters: a scaling group id has at most {MAX_GROUP_ID_LEN} characters "
            f"(members are named {group.id[:8]}…-xxxxx and its server group "
            f"{group.id[:8]}…{OWNED_SERVER_GROUP_SUFFIX})",
        )
    c.check(lambda: check_catalog_id(group.template.flavor_id, f"{prefix}.template.flavor"))
    c.check(lambda: check_catalog_id(group.template.image_id, f"{prefix}.template.image"))
    check_size(c, f"{prefix}.min_size", group.min_size)
    if not 1 <= group.max_size <= MAX_SIZE:
        required = " (required: the most members the group may have)" if group.max_size == 0 else ""
        c.add(f"{prefix}.max_size", f"{group.max_size} is out of range 1-{MAX_SIZE}{required}")
    if group.min_size > group.max_size:
        c.add(
            f"{prefix}.min_size",
            f"min_size {group.min_size} > max_size {group.max_size}: lower min_size or raise max_size",
        )
    elif not group.min_size <= group.desired_size <= group.max_size:
        c.add(
            f"{prefix}.desired_size",
            f"{group.desired_size} is outside [min_size {group.min_size}, max_size {group.max_size}]",
        )
    _duration(c, f"{prefix}.health_grace", group.health_grace_s, MAX_HEALTH_GRACE_S)
    if len(group.protected) > MAX_SIZE:
        c.add(f"{prefix}.protected_members", f"{len(group.protected)} servers: at most {MAX_SIZE}")
    for server_id in sorted(group.protected):
        c.check(functools.partial(check_id, server_id, f"{prefix}.protected_members"))
    if len(group.policies) > MAX_POLICIES:
        c.add(f"{prefix}.policies", f"{len(group.policies)} policies: at most {MAX_POLICIES}")
    seen: set[str] = set()
    for i, policy in enumerate(group.policies):
        _policy(c, f"{prefix}.policies[{i}]", policy, seen)
    if len(group.scheduled_actions) > MAX_SCHEDULED_ACTIONS:
        c.add(
            f"{prefix}.scheduled_actions",
            f"{len(group.scheduled_actions)} actions: at most {MAX_SCHEDULED_ACTIONS}",
        )
    seen = set()
    for i, action in enumerate(group.scheduled_actions):
        _action(c, f"{prefix}.scheduled_actions[{i}]", action, group, seen)


def validate(group: ScalingGroup, prefix: str = "scaling_group", id_field: str = "scaling_group_id") -> None:
    """Raise InvalidArgument with every violation of `group`, if any."""
    c = ViolationCollector()
    collect(c, group, prefix, id_field)
    c.raise_if_any()


def check_desired_size(group: ScalingGroup, desired: int, field: str = "desired_size") -> None:
    """SetDesiredSize: within the group's bounds."""
    if not group.min_size <= desired <= group.max_size:
        c = ViolationCollector()
        c.add(field, f"{desired} is outside [min_size {group.min_size}, max_size {group.max_size}]")
        c.raise_if_any()
