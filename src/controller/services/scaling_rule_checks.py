"""Checks of a scaling group's rules as a request gives them: its scaling policies (target
tracking, step, simple) and scheduled actions (cron schedules, time zones), and the value checks
they share with scaling_checks. Every violation is collected, naming its field."""

from __future__ import annotations

import dataclasses
import math
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import TypeVar

from controller.domain import names
from controller.domain.errors import ViolationCollector
from controller.domain.scaling import model as m
from controller.domain.scaling.model import (
    CPU_UTILIZATION,
    AdjustmentType,
    Comparison,
    Policy,
    PolicyKind,
    ScaleInRule,
    ScheduledAction,
    SimpleScaling,
    Step,
    StepScaling,
    TargetTracking,
)
from controller.domain.server_groups import GroupPolicy
from controller.services.scaling_spec import (
    PolicySpec,
    ScheduledActionSpec,
    SimplePolicySpec,
    StepPolicySpec,
    TargetTrackingSpec,
)

F = "scaling_group"
MAX_GROUP_SIZE = 10_000
MAX_POLICIES = 20
MAX_SCHEDULED_ACTIONS = 50
MAX_STEPS = 20
MAX_WINDOW_S = 3600.0  # stabilisation windows and scale-up periods, as Kubernetes' HPA allows
MAX_COOLDOWN_S = 86400.0
MAX_SCALE_UP_PERCENT = 1000
CUSTOM_METRIC = re.compile(r"custom/[A-Za-z0-9_.-]{1,63}")
METRIC_RULE = f"{CPU_UTILIZATION!r} or 'custom/' and 1-63 letters, digits, '_', '.' or '-'"


def check_metric(v: ViolationCollector, field_name: str, metric: str, *, custom_only: bool = False) -> None:
    if not custom_only and metric == CPU_UTILIZATION:
        return
    if CUSTOM_METRIC.fullmatch(metric):
        return
    if custom_only and metric == CPU_UTILIZATION:
        v.add(field_name, f"{metric!r} is measured by the agents: only custom/{{name}} metrics are recorded")
        return
    rule = "'custom/' and 1-63 letters, digits, '_', '.' or '-'" if custom_only else METRIC_RULE
    v.add(field_name, f"{metric!r} is not a metric: {'required: ' if not metric else ''}use {rule}")


def check_value(v: ViolationCollector, field_name: str, value: float) -> None:
    if not math.isfinite(value):
        v.add(field_name, f"must be a finite number, got {value}")


def in_range(v: ViolationCollector, field_name: str, value: float, low: float, high: float) -> None:
    if not math.isfinite(value) or not low <= value <= high:
        v.add(field_name, f"must be between {low:g} and {high:g}, got {value:g}")


E = TypeVar("E", ScaleInRule, AdjustmentType, Comparison, GroupPolicy)


def enum_value(v: ViolationCollector, field_name: str, value: str, kind: type[E]) -> E | None:
    try:
        return kind(value)
    except ValueError:
        v.add(field_name, f"{value!r} is not one of {', '.join(k.value for k in kind)}")
        return None


# --- policies ---------------------------------------------------------------------------------


def _unique_names(v: ViolationCollector, field_name: str, items: Iterable[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(items):
        if name and name in seen:
            v.add(f"{field_name}[{i}].name", f"{name!r} is used twice: names are unique within the group")
        seen.add(name)


def check_policies(v: ViolationCollector, specs: Sequence[PolicySpec]) -> tuple[Policy, ...]:
    if len(specs) > MAX_POLICIES:
        v.add(f"{F}.policies", f"at most {MAX_POLICIES}, got {len(specs)}")
    _unique_names(v, f"{F}.policies", (p.name for p in specs))
    out = []
    for i, p in enumerate(specs):
        f = f"{F}.policies[{i}]"
        name = v.check(lambda f=f, p=p: names.check_id(p.name, f"{f}.name"))  # type: ignore[misc]
        kind: PolicyKind | None = None
        if isinstance(p.kind, TargetTrackingSpec):
            kind = _target_tracking(v, f"{f}.target_tracking", p.kind)
        elif isinstance(p.kind, StepPolicySpec):
            kind = _step(v, f"{f}.step", p.kind)
        elif isinstance(p.kind, SimplePolicySpec):
            kind = _simple(v, f"{f}.simple", p.kind)
        else:
            v.add(f, "required: one of target_tracking, step or simple")
        if kind is not None:
            out.append(Policy(name, kind))
    return tuple(out)


def _target_tracking(v: ViolationCollector, f: str, t: TargetTrackingSpec) -> TargetTracking:
    check_metric(v, f"{f}.metric", t.metric)
    if t.metric == CPU_UTILIZATION:
        if not (math.isfinite(t.target) and 0 < t.target <= 100):
            v.add(f"{f}.target", f"a CPU utilisation in percent: above 0 and at most 100, got {t.target:g}")
    elif not (math.isfinite(t.target) and t.target > 0):
        v.add(f"{f}.target", f"required: a value per member above 0, got {t.target:g}")
    out = TargetTracking(metric=t.metric, target=t.target)
    if t.tolerance is not None:
        if not (math.isfinite(t.tolerance) and 0 <= t.tolerance < 1):
            v.add(f"{f}.tolerance", f"a fraction of the target: at least 0 and below 1, got {t.tolerance:g}")
        out = dataclasses.replace(out, tolerance=t.tolerance)
    if t.scale_down_stabilization_s is not None:
        in_range(v, f"{f}.scale_down_stabilization", t.scale_down_stabilization_s, 0, MAX_WINDOW_S)
        out = dataclasses.replace(out, scale_down_stabilization_s=t.scale_down_stabilization_s)
    if t.scale_up_percent is not None:
        in_range(v, f"{f}.scale_up_percent", t.scale_up_percent, 0, MAX_SCALE_UP_PERCENT)
        out = dataclasses.replace(out, scale_up_percent=t.scale_up_percent)
    if t.scale_up_members is not None:
        in_range(v, f"{f}.scale_up_members", t.scale_up_members, 0, MAX_GROUP_SIZE)
        out = dataclasses.replace(out, scale_up_members=t.scale_up_members)
    if out.scale_up_percent == 0 and out.scale_up_members == 0:
        v.add(f"{f}.scale_up_members", "scale_up_percent and scale_up_members are both 0: set one above 0")
    if t.scale_up_period_s is not None:
        if not (math.isfinite(t.scale_up_period_s) and 0 < t.scale_up_period_s <= MAX_WINDOW_S):
            v.add(f"{f}.scale_up_period", f"must be above 0 s and at most {MAX_WINDOW_S:g} s")
        out = dataclasses.replace(out, scale_up_period_s=t.scale_up_period_s)
    return dataclasses.replace(out, disable_scale_in=t.disable_scale_in)


def _alarm(
    v: ViolationCollector, f: str, metric: str, comparison: str, threshold: float, adjustment_type: str
) -> tuple[Comparison | None, AdjustmentType | None]:
    check_metric(v, f"{f}.metric", metric)
    chosen: Comparison | None = None
    if not comparison:
        v.add(f"{f}.comparison", f"required: one of {', '.join(c.value for c in Comparison)}")
    else:
        chosen = enum_value(v, f"{f}.comparison", comparison, Comparison)
    check_value(v, f"{f}.threshold", threshold)
    kind = AdjustmentType.CHANGE_IN_CAPACITY
    if adjustment_type:
        kind = enum_value(v, f"{f}.adjustment_type", adjustment_type, AdjustmentType) or kind
    return chosen, kind


def _adjustment(v: ViolationCollector, f: str, adjustment: int, kind: AdjustmentType | None) -> None:
    if kind is AdjustmentType.EXACT_CAPACITY:
        in_range(v, f, adjustment, 0, MAX_GROUP_SIZE)
    elif kind is AdjustmentType.PERCENT_CHANGE:
        in_range(v, f, adjustment, -100, 100 * MAX_SCALE_UP_PERCENT)
    else:
        in_range(v, f, adjustment, -MAX_GROUP_SIZE, MAX_GROUP_SIZE)


def _cooldown(v: ViolationCollector, f: str, seconds: float | None) -> float:
    if seconds is None:
        return m.DEFAULT_COOLDOWN_S
    in_range(v, f"{f}.cooldown", seconds, 0, MAX_COOLDOWN_S)
    return seconds


def _step(v: ViolationCollector, f: str, s: StepPolicySpec) -> StepScaling | None:
    comparison, kind = _alarm(v, f, s.metric, s.comparison, s.threshold, s.adjustment_type)
    if not s.steps:
        v.add(f"{f}.steps", "required: at least one step")
    elif len(s.steps) > MAX_STEPS:
        v.add(f"{f}.steps", f"at most {MAX_STEPS}, got {len(s.steps)}")
    for i, step in enumerate(s.steps):
        sf = f"{f}.steps[{i}]"
        for bound, value in (("lower_bound", step.lower), ("upper_bound", step.upper)):
            if value is not None:
                check_value(v, f"{sf}.{bound}", value)
        if step.lower is not None and step.upper is not None and not step.lower < step.upper:
            v.add(f"{sf}.upper_bound", f"must be above lower_bound ({step.lower:g}), got {step.upper:g}")
        _adjustment(v, f"{sf}.adjustment", step.adjustment, kind)
    cooldown = _cooldown(v, f, s.cooldown_s)
    if comparison is None or kind is None:
        return None
    steps = tuple(Step(x.lower, x.upper, x.adjustment) for x in s.steps)
    return StepScaling(s.metric, comparison, s.threshold, steps, kind, cooldown)


def _simple(v: ViolationCollector, f: str, s: SimplePolicySpec) -> SimpleScaling | None:
    comparison, kind = _alarm(v, f, s.metric, s.comparison, s.threshold, s.adjustment_type)
    if kind is not AdjustmentType.EXACT_CAPACITY and s.adjustment == 0:
        v.add(f"{f}.adjustment", "required: the members to add (or, negative, remove), not 0")
    else:
        _adjustment(v, f"{f}.adjustment", s.adjustment, kind)
    cooldown = _cooldown(v, f, s.cooldown_s)
    if comparison is None or kind is None:
        return None
    return SimpleScaling(s.metric, comparison, s.threshold, s.adjustment, kind, cooldown)


# --- scheduled actions ------------------------------------------------------------------------

# minute, hour, day of month, month, day of week (0 and 7 are Sunday): numbers only.
CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_CRON_ITEM = re.compile(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?")


def check_cron(schedule: str) -> str:
    """What is wrong with a 5-field cron schedule ("" = nothing)."""
    parts = schedule.split()
    if len(parts) != len(CRON_FIELDS):
        return (
            f"{schedule!r} is not a cron schedule of 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 8 * * 1-5'"
        )
    for part, (what, low, high) in zip(parts, CRON_FIELDS, strict=True):
        for item in part.split(","):
            match = _CRON_ITEM.fullmatch(item)
            if match is None:
                return (
                    f"{what} {item!r}: use *, a number, a range a-b, a list a,b or a step */n (numbers only)"
                )
            first, last, step = match.group(2), match.group(3), match.group(4)
            values = [int(x) for x in (first, last) if x is not None]
            if any(not low <= x <= high for x in values):
                return f"{what} {item!r}: values from {low} to {high}"
            if len(values) == 2 and values[0] > values[1]:
                return f"{what} {item!r}: a range goes upwards"
            if step is not None and int(step) < 1:
                return f"{what} {item!r}: a step is at least 1"
    return ""


def check_scheduled_actions(
    v: ViolationCollector, specs: Sequence[ScheduledActionSpec]
) -> tuple[ScheduledAction, ...]:
    if len(specs) > MAX_SCHEDULED_ACTIONS:
        v.add(f"{F}.scheduled_actions", f"at most {MAX_SCHEDULED_ACTIONS}, got {len(specs)}")
    _unique_names(v, f"{F}.scheduled_actions", (a.name for a in specs))
    out = []
    for i, a in enumerate(specs):
        f = f"{F}.scheduled_actions[{i}]"
        name = v.check(lambda f=f, a=a: names.check_id(a.name, f"{f}.name"))  # type: ignore[misc]
        problem = check_cron(a.schedule) if a.schedule else "required: a cron schedule, e.g. '0 8 * * 1-5'"
        if problem:
            v.add(f"{f}.schedule", problem)
        zone = a.time_zone or "UTC"
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            v.add(f"{f}.time_zone", f"{zone!r} is not an IANA time zone, e.g. Europe/Paris (empty = UTC)")
        sizes = {"min_size": a.min_size, "max_size": a.max_size, "desired_size": a.desired_size}
        if all(s is None for s in sizes.values()):
            v.add(f, "sets nothing: give min_size, max_size or desired_size")
        for key, size in sizes.items():
            if size is not None:
                in_range(v, f"{f}.{key}", size, 0, MAX_GROUP_SIZE)
        if a.min_size is not None and a.max_size is not None and a.min_size > a.max_size:
            v.add(f"{f}.min_size", f"must not exceed max_size ({a.max_size}), got {a.min_size}")
        if a.desired_size is not None:
            if a.min_size is not None and a.desired_size < a.min_size:
                v.add(f"{f}.desired_size", f"must be at least min_size ({a.min_size}), got {a.desired_size}")
            if a.max_size is not None and a.desired_size > a.max_size:
                v.add(f"{f}.desired_size", f"must be at most max_size ({a.max_size}), got {a.desired_size}")
        out.append(ScheduledAction(name, a.schedule, zone, a.min_size, a.max_size, a.desired_size))
    return tuple(out)
