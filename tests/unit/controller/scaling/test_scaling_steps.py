"""Step and simple policies: the alarm, the step that holds the breach, the adjustment types
(AWS's rounding) and the cooldown."""

from __future__ import annotations

import pytest
from scaling_testkit import T0, at_cpu, obs

from controller.domain.scaling import steps
from controller.domain.scaling.model import (
    AdjustmentType,
    Comparison,
    Policy,
    SimpleScaling,
    Step,
    StepScaling,
)

GE, LE = Comparison.GREATER_OR_EQUAL, Comparison.LESS_OR_EQUAL
CHANGE, EXACT, PERCENT = (
    AdjustmentType.CHANGE_IN_CAPACITY,
    AdjustmentType.EXACT_CAPACITY,
    AdjustmentType.PERCENT_CHANGE,
)

# Scale out by 1 from 70 % to 80 %, by 3 from 80 %, as AWS's step scaling example.
OUT = Policy("out", StepScaling("cpu_utilization", GE, 70.0, (Step(0.0, 10.0, 1), Step(10.0, None, 3))))
IN = Policy("in", StepScaling("cpu_utilization", LE, 30.0, (Step(0.0, 20.0, -1), Step(20.0, None, -2))))


@pytest.mark.parametrize(
    ("value", "comparison", "expected"),
    [
        (80.0, GE, 10.0),
        (70.0, GE, 0.0),  # equal breaches
        (69.9, GE, None),
        (20.0, LE, 10.0),  # threshold - value
        (30.0, LE, 0.0),
        (30.1, LE, None),
        (None, GE, None),  # no data: no alarm
    ],
)
def test_breach(value: float | None, comparison: Comparison, expected: float | None) -> None:
    assert steps.breach(value, comparison, 70.0 if comparison is GE else 30.0) == expected


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [(65.0, None), (70.0, 5), (79.9, 5), (80.0, 7), (100.0, 7)],  # lower bound inclusive, upper exclusive
)
def test_the_step_holding_the_breach_applies(cpu: float, expected: int | None) -> None:
    assert steps.evaluate(OUT, obs(at_cpu(cpu, cpu, cpu, cpu)), 4, {}).desired == expected


@pytest.mark.parametrize(("cpu", "expected"), [(31.0, None), (30.0, 3), (10.1, 3), (10.0, 2), (0.0, 2)])
def test_scale_in_steps_measure_below_the_threshold(cpu: float, expected: int | None) -> None:
    assert steps.evaluate(IN, obs(at_cpu(cpu, cpu, cpu, cpu)), 4, {}).desired == expected


def test_a_breach_in_no_step_recommends_nothing() -> None:
    gap = Policy("gap", StepScaling("cpu_utilization", GE, 50.0, (Step(10.0, 20.0, 2),)))
    assert steps.evaluate(gap, obs(at_cpu(55.0)), 1, {}).desired is None
    assert steps.evaluate(gap, obs(at_cpu(65.0)), 1, {}).desired == 3


@pytest.mark.parametrize(
    ("current", "kind", "adjustment", "expected"),
    [
        (4, CHANGE, 2, 6),
        (4, CHANGE, -6, 0),  # never below 0
        (4, EXACT, 9, 9),
        (4, EXACT, -1, 0),
        (10, PERCENT, 25, 12),  # 2.5 -> 2 (truncated)
        (10, PERCENT, -25, 8),  # -2.5 -> -2 (toward zero)
        (3, PERCENT, 10, 4),  # 0.3 -> at least 1
        (3, PERCENT, -10, 2),  # -0.3 -> at least -1
        (0, PERCENT, 50, 1),  # from nothing: at least 1
        (5, PERCENT, 0, 5),
        (4, PERCENT, 100, 8),
    ],
)
def test_adjustment_types(current: int, kind: AdjustmentType, adjustment: int, expected: int) -> None:
    assert steps.adjust(current, kind, adjustment) == expected


def test_simple_policy_applies_its_one_adjustment() -> None:
    simple = Policy("add2", SimpleScaling("custom/q", GE, 100.0, 2))
    result = steps.evaluate(simple, obs([], group_metrics={"custom/q": 500.0}), 0, {})
    assert result.desired is None  # no member: a group value has no per-member figure
    members = at_cpu(1.0, 1.0)
    result = steps.evaluate(simple, obs(members, group_metrics={"custom/q": 500.0}), 2, {})
    assert (result.desired, result.rule, result.reading.value) == (4, "simple/add2", 250.0)


def test_a_policy_in_cooldown_recommends_nothing_and_says_so() -> None:
    o = obs(at_cpu(90, 90, 90, 90))
    held = steps.evaluate(OUT, o, 4, {"out": T0 + 119.5})
    assert held.desired is None
    assert held.held == "cooldown of step/out: 120 s left (wanted 7)"
    assert steps.evaluate(OUT, o, 4, {"out": T0}).desired == 7  # the cooldown ended at now
    assert steps.evaluate(OUT, o, 4, {"other": T0 + 100}).desired == 7  # another policy's


def test_a_cooldown_with_nothing_to_do_says_nothing() -> None:
    quiet = steps.evaluate(OUT, obs(at_cpu(10, 10)), 2, {"out": T0 + 100})
    assert quiet.desired is None and quiet.held == ""
    exact = Policy("exact", SimpleScaling("cpu_utilization", GE, 10.0, 2, EXACT))
    assert steps.evaluate(exact, obs(at_cpu(90, 90)), 2, {"exact": T0 + 100}).held == ""
