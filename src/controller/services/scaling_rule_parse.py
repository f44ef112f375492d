"""A scaling group's rules as a request gives them (scaling_spec) turned into the domain's
policies and scheduled actions: enum names parsed, what must be given present, unset tunings
given their defaults. Whether the values can work is `controller.domain.scaling.validate`'s to
say; where a request cannot be parsed a stand-in keeps the other items at their indexes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from controller.domain.errors import ViolationCollector
from controller.domain.scaling import model as m
from controller.domain.scaling.model import (
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
E = TypeVar("E", ScaleInRule, AdjustmentType, Comparison, GroupPolicy)
T = TypeVar("T", int, float)
# Stands in for a policy without a kind (reported as such) so no other rule fires on it.
_NO_KIND = TargetTracking(m.CPU_UTILIZATION, 50.0)


def enum_value(v: ViolationCollector, field_name: str, value: str, kind: type[E]) -> E | None:
    try:
        return kind(value)
    except ValueError:
        v.add(field_name, f"{value!r} is not one of {', '.join(k.value for k in kind)}")
        return None


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def policies(v: ViolationCollector, specs: Sequence[PolicySpec]) -> tuple[Policy, ...]:
    out = []
    for i, p in enumerate(specs):
        f = f"{F}.policies[{i}]"
        kind: PolicyKind = _NO_KIND
        if isinstance(p.kind, TargetTrackingSpec):
            kind = _target_tracking(p.kind)
        elif isinstance(p.kind, StepPolicySpec):
            kind = _step(v, f"{f}.step", p.kind)
        elif isinstance(p.kind, SimplePolicySpec):
            kind = _simple(v, f"{f}.simple", p.kind)
        else:
            v.add(f, "required: one of target_tracking, step or simple")
        out.append(Policy(p.name, kind))
    return tuple(out)


def _target_tracking(t: TargetTrackingSpec) -> TargetTracking:
    return TargetTracking(
        metric=t.metric,
        target=t.target,
        tolerance=_or(t.tolerance, m.DEFAULT_TOLERANCE),
        scale_down_stabilization_s=_or(t.scale_down_stabilization_s, m.DEFAULT_SCALE_DOWN_STABILIZATION_S),
        scale_up_percent=_or(t.scale_up_percent, m.DEFAULT_SCALE_UP_PERCENT),
        scale_up_members=_or(t.scale_up_members, m.DEFAULT_SCALE_UP_MEMBERS),
        scale_up_period_s=_or(t.scale_up_period_s, m.DEFAULT_SCALE_UP_PERIOD_S),
        disable_scale_in=t.disable_scale_in,
        warmup_s=_or(t.warmup_s, m.DEFAULT_WARMUP_S),
    )


def _alarm(
    v: ViolationCollector, f: str, comparison: str, adjustment_type: str
) -> tuple[Comparison, AdjustmentType]:
    """The alarm's enums; a missing or unknown one is reported and stood in for."""
    chosen = None
    if not comparison:
        v.add(f"{f}.comparison", f"required: one of {', '.join(c.value for c in Comparison)}")
    else:
        chosen = enum_value(v, f"{f}.comparison", comparison, Comparison)
    kind = AdjustmentType.CHANGE_IN_CAPACITY
    if adjustment_type:
        kind = enum_value(v, f"{f}.adjustment_type", adjustment_type, AdjustmentType) or kind
    return chosen or Comparison.GREATER_OR_EQUAL, kind


def _step(v: ViolationCollector, f: str, s: StepPolicySpec) -> StepScaling:
    comparison, kind = _alarm(v, f, s.comparison, s.adjustment_type)
    steps = tuple(Step(x.lower, x.upper, x.adjustment) for x in s.steps)
    cooldown = _or(s.cooldown_s, m.DEFAULT_COOLDOWN_S)
    return StepScaling(s.metric, comparison, s.threshold, steps, kind, cooldown)


def _simple(v: ViolationCollector, f: str, s: SimplePolicySpec) -> SimpleScaling:
    comparison, kind = _alarm(v, f, s.comparison, s.adjustment_type)
    cooldown = _or(s.cooldown_s, m.DEFAULT_COOLDOWN_S)
    return SimpleScaling(s.metric, comparison, s.threshold, s.adjustment, kind, cooldown)


def scheduled_actions(specs: Sequence[ScheduledActionSpec]) -> tuple[ScheduledAction, ...]:
    return tuple(
        ScheduledAction(a.name, a.schedule, a.time_zone or "UTC", a.min_size, a.max_size, a.desired_size)
        for a in specs
    )
