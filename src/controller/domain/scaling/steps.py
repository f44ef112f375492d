"""Step and simple policies: an alarm (the metric compared with a threshold) and an adjustment,
then a cooldown, as AWS EC2 Auto Scaling's step and simple scaling and OpenStack Heat's
ScalingPolicy have them.

- The alarm: GREATER_OR_EQUAL breaches when value >= threshold, LESS_OR_EQUAL when
  value <= threshold; no value (no member reports the metric) is AWS's INSUFFICIENT_DATA: no
  action.
- A step's bounds are relative to the threshold, measured as the breach (value - threshold
  for GREATER_OR_EQUAL, threshold - value for LESS_OR_EQUAL, so never negative): the step
  whose [lower, upper) holds the breach applies (AWS: lower bound inclusive, upper exclusive;
  an unset bound is open).
- Adjustment types as AWS's: CHANGE_IN_CAPACITY adds (or removes) members, EXACT_CAPACITY sets
  the size, PERCENT_CHANGE adds a percentage of the current size truncated toward zero, but at
  least one member for a non-zero percentage (AWS's rounding and MinAdjustmentMagnitude 1).
- A policy in cooldown (GroupState.cooldown_until) recommends nothing; the cooldown starts when
  its recommendation changed the desired size (decide.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controller.domain.scaling import metrics
from controller.domain.scaling.evaluation import MetricReading, Observation
from controller.domain.scaling.model import (
    AdjustmentType,
    Comparison,
    Policy,
    SimpleScaling,
    Step,
    StepScaling,
)


def breach(value: float | None, comparison: Comparison, threshold: float) -> float | None:
    """How far the metric is past the threshold (>= 0), or None when the alarm is quiet."""
    if value is None:
        return None
    if comparison is Comparison.GREATER_OR_EQUAL:
        return value - threshold if value >= threshold else None
    return threshold - value if value <= threshold else None


def find_step(steps: Sequence[Step], distance: float) -> Step | None:
    for step in steps:
        lower = -math.inf if step.lower is None else step.lower
        upper = math.inf if step.upper is None else step.upper
        if lower <= distance < upper:
            return step
    return None


def adjust(current: int, kind: AdjustmentType, adjustment: int) -> int:
    """The size an adjustment asks for (never below 0)."""
    if kind is AdjustmentType.EXACT_CAPACITY:
        return max(0, adjustment)
    if kind is AdjustmentType.PERCENT_CHANGE:
        change = math.trunc(current * adjustment / 100)
        if change == 0 and adjustment:
            change = 1 if adjustment > 0 else -1
        return max(0, current + change)
    return max(0, current + adjustment)


def rule_of(policy: Policy) -> str:
    return f"step/{policy.name}" if isinstance(policy.kind, StepScaling) else f"simple/{policy.name}"


@dataclass(frozen=True)
class Outcome:
    policy: str
    rule: str  # "step/{policy}" or "simple/{policy}"
    desired: int | None  # None: alarm quiet, no step holds the breach, or cooling down
    reading: MetricReading
    held: str = ""  # why a breach recommended nothing (its cooldown)


def evaluate(policy: Policy, obs: Observation, current: int, cooldown_until: Mapping[str, float]) -> Outcome:
    kind = policy.kind
    assert isinstance(kind, StepScaling | SimpleScaling)
    rule = rule_of(policy)
    reading = metrics.read(policy.name, kind.metric, kind.threshold, obs)
    distance = breach(reading.value, kind.comparison, kind.threshold)
    if distance is None:
        return Outcome(policy.name, rule, None, reading)
    if isinstance(kind, StepScaling):
        step = find_step(kind.steps, distance)
        if step is None:
            return Outcome(policy.name, rule, None, reading)
        adjustment = step.adjustment
    else:
        adjustment = kind.adjustment
    wanted = adjust(current, kind.adjustment_type, adjustment)
    until = cooldown_until.get(policy.name)
    if until is not None and obs.now < until:
        left = math.ceil(until - obs.now)
        held = f"cooldown of {rule}: {left} s left (wanted {wanted})" if wanted != current else ""
        return Outcome(policy.name, rule, None, reading, held)
    return Outcome(policy.name, rule, wanted, reading)
