"""Validation of a scaling group: every violation at once, with the field to fix and what to
write there."""

from __future__ import annotations

from dataclasses import replace

import pytest
from scaling_testkit import cpu_policy, group

from controller.domain.errors import FieldViolation, InvalidArgument
from controller.domain.scaling import validate
from controller.domain.scaling.model import (
    AdjustmentType,
    Comparison,
    Policy,
    ScalingGroup,
    ScheduledAction,
    ServerTemplate,
    SimpleScaling,
    Step,
    StepScaling,
    TargetTracking,
)

GE = Comparison.GREATER_OR_EQUAL
P = "scaling_group.policies[0]"
A = "scaling_group.scheduled_actions[0]"


def violations(g: ScalingGroup) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        validate.validate(g)
    return [(v.field, v.description) for v in caught.value.violations]


def step_policy(*steps: Step, **kw: object) -> Policy:
    return Policy("out", StepScaling("cpu_utilization", GE, 70.0, steps, **kw))  # type: ignore[arg-type]


def test_a_sound_group_passes() -> None:
    g = group(
        desired=3,
        policies=(
            cpu_policy(),
            Policy("queue", TargetTracking("custom/jobs.pending_v2", 25.0, tolerance=0.0)),
            step_policy(Step(None, 10.0, 1), Step(10.0, 20.0, 2), Step(20.0, None, 4)),
            Policy("in", SimpleScaling("cpu_utilization", Comparison.LESS_OR_EQUAL, 20.0, -1)),
        ),
        actions=(
            ScheduledAction("morning", "0 8 * * 1-5", "Europe/Berlin", min_size=4, desired_size=6),
            ScheduledAction("night", "0 20 * * *", "", max_size=4),
        ),
        protected=frozenset({"web-ab12c"}),
    )
    validate.validate(g)


def test_every_violation_is_reported_at_once() -> None:
    g = group(desired=20, min_size=5, max_size=10, health_grace_s=-1.0)
    assert violations(g) == [
        ("scaling_group.desired_size", "20 is outside [min_size 5, max_size 10]"),
        ("scaling_group.health_grace", "-1 s is out of range 0-86400 s"),
    ]


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        (
            dict(min_size=6, max_size=5, desired=5),
            ("scaling_group.min_size", "min_size 6 > max_size 5: lower min_size or raise max_size"),
        ),
        (dict(min_size=-1, desired=0), ("scaling_group.min_size", "-1 is out of range 0-10000")),
        (
            dict(max_size=0, min_size=0, desired=0),
            (
                "scaling_group.max_size",
                "0 is out of range 1-10000 (required: the most members the group may have)",
            ),
        ),
        (dict(max_size=10_001), ("scaling_group.max_size", "10001 is out of range 1-10000")),
        (dict(desired=0), ("scaling_group.desired_size", "0 is outside [min_size 1, max_size 10]")),
    ],
)
def test_sizes(kw: dict[str, int], expected: tuple[str, str]) -> None:
    assert violations(group(**kw)) == [expected]  # type: ignore[arg-type]


def test_group_id_and_template() -> None:
    long_id = "a" * 56
    g = replace(group(), id=long_id, template=ServerTemplate(flavor_id="M1 small", image_id=""))
    got = violations(g)
    assert got[0] == (
        "scaling_group_id",
        "56 characters: a scaling group id has at most 55 characters "
        "(members are named aaaaaaaa…-xxxxx and its server group aaaaaaaa…-members)",
    )
    assert [f for f, _ in got[1:]] == ["scaling_group.template.flavor", "scaling_group.template.image"]
    assert violations(replace(group(), id="Web"))[0][0] == "scaling_group_id"


@pytest.mark.parametrize(
    ("tt", "field", "message"),
    [
        (
            TargetTracking("cpu_utilization", 0.0),
            "target",
            "0 is out of range: a CPU target is a percentage, above 0 and at most 100",
        ),
        (
            TargetTracking("cpu_utilization", 120.0),
            "target",
            "120 is out of range: a CPU target is a percentage, above 0 and at most 100",
        ),
        (
            TargetTracking("custom/q", -5.0),
            "target",
            "-5 is not a target: the value per member to hold, above 0",
        ),
        (
            TargetTracking("custom/q", float("nan")),
            "target",
            "nan is not a target: the value per member to hold, above 0",
        ),
        (
            TargetTracking("cpu_utilization", 50.0, tolerance=1.0),
            "tolerance",
            "1 is out of range: a fraction of the target, at least 0 and below 1 (0.1 = 10 %)",
        ),
        (
            TargetTracking("cpu_utilization", 50.0, tolerance=-0.1),
            "tolerance",
            "-0.1 is out of range: a fraction of the target, at least 0 and below 1 (0.1 = 10 %)",
        ),
        (
            TargetTracking("cpu_utilization", 50.0, scale_down_stabilization_s=3601),
            "scale_down_stabilization",
            "3601 s is out of range 0-3600 s",
        ),
        (
            TargetTracking("cpu_utilization", 50.0, scale_up_period_s=-1),
            "scale_up_period",
            "-1 s is out of range: above 0 s and at most 1800 s",
        ),
        (
            TargetTracking("cpu_utilization", 50.0, scale_up_percent=-1),
            "scale_up_percent",
            "-1 is out of range 0-1000",
        ),
        (
            TargetTracking("cpu_utilization", 50.0, scale_up_members=-2),
            "scale_up_members",
            "-2 is out of range 0-10000",
        ),
        (
            TargetTracking("cpu_utilization", 50.0, scale_up_members=0, scale_up_percent=0),
            "scale_up_members",
            "scale_up_percent and scale_up_members are both 0: the group could never grow; set one above 0",
        ),
        (TargetTracking("memory", 50.0), "metric", f"'memory' is not a metric: use {validate.METRIC_RULE}"),
        (TargetTracking("custom/", 50.0), "metric", f"'custom/' is not a metric: use {validate.METRIC_RULE}"),
        (
            TargetTracking("custom/Queue", 50.0),
            "metric",
            f"'custom/Queue' is not a metric: use {validate.METRIC_RULE}",
        ),
        (
            TargetTracking("custom/" + "q" * 64, 50.0),
            "metric",
            f"'custom/{'q' * 64}' is not a metric: use {validate.METRIC_RULE}",
        ),
    ],
)
def test_target_tracking(tt: TargetTracking, field: str, message: str) -> None:
    assert violations(group(policies=(Policy("cpu", tt),))) == [(f"{P}.target_tracking.{field}", message)]


def test_custom_metric_names() -> None:
    assert validate.check_metric("custom/" + "q" * 63) is None
    assert validate.check_metric("custom/a.b-c_d9") is None
    assert validate.check_metric("cpu_utilization") is None
    assert validate.check_metric("custom/a b") is not None


def test_policy_and_action_names_are_unique_valid_ids() -> None:
    g = group(
        policies=(
            cpu_policy(name="cpu"),
            cpu_policy(name="cpu"),
            cpu_policy(name=""),
            cpu_policy(name="Up!"),
        ),
        actions=(
            ScheduledAction("x", "0 8 * * *", desired_size=2),
            ScheduledAction("x", "0 9 * * *", desired_size=2),
        ),
    )
    got = violations(g)
    assert got[0] == (
        "scaling_group.policies[1].name",
        "'cpu' is used twice: names are unique within the group",
    )
    assert got[1][0] == "scaling_group.policies[2].name" and got[1][1].startswith(
        "a name is required (1-63 characters"
    )
    assert got[2][0] == "scaling_group.policies[3].name" and got[2][1].startswith("'Up!' is not a valid id")
    assert got[3] == (
        "scaling_group.scheduled_actions[1].name",
        "'x' is used twice: names are unique within the group",
    )
    assert len(got) == 4


def test_steps_must_not_overlap_nor_be_empty() -> None:
    got = violations(
        group(policies=(step_policy(Step(0.0, 20.0, 1), Step(10.0, None, 3), Step(5.0, 5.0, 1)),))
    )
    assert got == [
        (f"{P}.step.steps[2].upper_bound", "the step is empty: upper_bound 5 is not above lower_bound 5"),
        (f"{P}.step.steps[2]", "overlaps steps[0]: a breach must fall in one step only"),
        (f"{P}.step.steps[1]", "overlaps steps[0]: a breach must fall in one step only"),
    ]
    assert violations(group(policies=(step_policy(),))) == [
        (f"{P}.step.steps", "at least one step is required")
    ]
    touching = group(policies=(step_policy(Step(None, 10.0, 1), Step(10.0, None, 2)),))
    validate.validate(touching)


def test_a_step_below_the_threshold_can_never_apply() -> None:
    got = violations(group(policies=(step_policy(Step(None, -5.0, 1)),)))
    assert got == [
        (
            f"{P}.step.steps[0].upper_bound",
            "upper_bound -5 <= 0: the bounds measure how far past the threshold the metric is (0 or more)",
        )
    ]


def test_too_many_steps_policies_and_actions() -> None:
    many_steps = tuple(Step(float(i), float(i + 1), 1) for i in range(21))
    assert violations(group(policies=(step_policy(*many_steps),))) == [
        (f"{P}.step.steps", "21 steps: at most 20")
    ]
    policies = tuple(cpu_policy(name=f"p{i}") for i in range(21))
    assert violations(group(policies=policies)) == [("scaling_group.policies", "21 policies: at most 20")]
    actions = tuple(ScheduledAction(f"a{i}", "0 8 * * *", desired_size=2) for i in range(51))
    assert violations(group(actions=actions)) == [
        ("scaling_group.scheduled_actions", "51 actions: at most 50")
    ]


def test_alarms_need_a_comparison_a_finite_threshold_and_a_sane_cooldown() -> None:
    bad = SimpleScaling("cpu_utilization", None, float("inf"), 1, cooldown_s=86_401.0)  # type: ignore[arg-type]
    assert violations(group(policies=(Policy("s", bad),))) == [
        (f"{P}.simple.comparison", "a comparison is required: GREATER_OR_EQUAL or LESS_OR_EQUAL"),
        (f"{P}.simple.threshold", "inf is not a threshold: a finite number"),
        (f"{P}.simple.cooldown", "86401 s is out of range 0-86400 s"),
    ]


ZERO = "an adjustment of 0 changes nothing: give how much to add (or, negative, remove), not 0"


def test_adjustments() -> None:
    def simple(adjustment: int, kind: AdjustmentType = AdjustmentType.CHANGE_IN_CAPACITY) -> ScalingGroup:
        return group(policies=(Policy("s", SimpleScaling("cpu_utilization", GE, 80.0, adjustment, kind)),))

    assert violations(simple(0)) == [(f"{P}.simple.adjustment", ZERO)]
    assert violations(simple(0, AdjustmentType.PERCENT_CHANGE)) == [(f"{P}.simple.adjustment", ZERO)]
    validate.validate(simple(0, AdjustmentType.EXACT_CAPACITY))  # "set the size to 0" means something
    assert violations(simple(-1, AdjustmentType.EXACT_CAPACITY)) == [
        (f"{P}.simple.adjustment", "-1 is out of range 0-10000")
    ]
    assert violations(simple(10_001)) == [
        (f"{P}.simple.adjustment", "10001 is too large a change: at most 10000 members either way")
    ]
    validate.validate(simple(5000, AdjustmentType.PERCENT_CHANGE))
    assert violations(simple(1_000_001, AdjustmentType.PERCENT_CHANGE)) == [
        (f"{P}.simple.adjustment", "1000001 % is out of range: -100 % (every member) to 100000 %")
    ]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (
            ScheduledAction("a", "0 25 * * *", desired_size=2),
            [(f"{A}.schedule", "'0 25 * * *': hour 25 out of range 0-23")],
        ),
        (
            ScheduledAction("a", "0 8 * * *", "Mars/Olympus", desired_size=2),
            [
                (
                    f"{A}.time_zone",
                    "'Mars/Olympus' is not an IANA time zone "
                    "(e.g. 'UTC', 'Europe/Berlin', 'America/New_York')",
                )
            ],
        ),
        (
            ScheduledAction("a", "0 8 * * *"),
            [(A, "the action sets nothing: give min_size, max_size or desired_size")],
        ),
        (
            ScheduledAction("a", "0 8 * * *", min_size=-1, desired_size=1),
            [(f"{A}.min_size", "-1 is out of range 0-10000")],
        ),
        (
            ScheduledAction("a", "0 8 * * *", min_size=20),
            [(A, "min_size 20 > max_size 10 once the action applies")],
        ),
        (
            ScheduledAction("a", "0 8 * * *", max_size=0),
            [(A, "min_size 1 > max_size 0 once the action applies")],
        ),
        (
            ScheduledAction("a", "0 8 * * *", desired_size=11),
            [(f"{A}.desired_size", "11 is outside [min_size 1, max_size 10]")],
        ),
        (
            ScheduledAction("a", "0 8 * * *", max_size=3, desired_size=4),
            [(f"{A}.desired_size", "4 is outside [min_size 1, max_size 3]")],
        ),
    ],
)
def test_scheduled_actions(action: ScheduledAction, expected: list[tuple[str, str]]) -> None:
    assert violations(group(actions=(action,))) == expected


def test_a_scheduled_action_may_widen_the_bounds() -> None:
    validate.validate(group(actions=(ScheduledAction("a", "0 8 * * *", max_size=50, desired_size=40),)))


def test_protected_members_are_server_ids() -> None:
    got = violations(group(protected=frozenset({"projects/p/servers/x"})))
    assert got[0][0] == "scaling_group.protected_members"
    assert got[0][1].startswith("'projects/p/servers/x' is not a valid id")


def test_the_field_prefix_is_the_callers() -> None:
    c = validate.ViolationCollector()
    validate.collect(c, group(desired=0), prefix="group", id_field="name")
    assert c.violations == [FieldViolation("group.desired_size", "0 is outside [min_size 1, max_size 10]")]


def test_set_desired_size_must_be_within_the_bounds() -> None:
    validate.check_desired_size(group(), 10)
    validate.check_desired_size(group(), 1)
    with pytest.raises(InvalidArgument) as caught:
        validate.check_desired_size(group(), 11)
    assert caught.value.violations == [
        FieldViolation("desired_size", "11 is outside [min_size 1, max_size 10]")
    ]
    with pytest.raises(InvalidArgument):
        validate.check_desired_size(group(), 0)


def test_step_bounds_are_numbers() -> None:
    got = violations(group(policies=(step_policy(Step(float("nan"), 10.0, 1), Step(0.0, float("inf"), 2)),)))
    assert got == [
        (f"{P}.step.steps[0].lower_bound", "nan is not a bound: a finite number, or unset for an open end"),
        (f"{P}.step.steps[1].upper_bound", "inf is not a bound: a finite number, or unset for an open end"),
    ]


def test_scale_up_limits_and_percent_changes_have_ranges() -> None:
    def tt(**kw: object) -> ScalingGroup:
        return group(policies=(Policy("cpu", TargetTracking("cpu_utilization", 50.0, **kw)),))  # type: ignore[arg-type]

    assert violations(tt(scale_up_period_s=0.0)) == [
        (f"{P}.target_tracking.scale_up_period", "0 s is out of range: above 0 s and at most 1800 s")
    ]
    assert violations(tt(scale_up_percent=1001)) == [
        (f"{P}.target_tracking.scale_up_percent", "1001 is out of range 0-1000")
    ]
    validate.validate(tt(scale_up_percent=1000, scale_up_members=10_000, scale_up_period_s=1800.0))
    minus = SimpleScaling("cpu_utilization", GE, 80.0, -101, AdjustmentType.PERCENT_CHANGE)
    assert violations(group(policies=(Policy("s", minus),))) == [
        (f"{P}.simple.adjustment", "-101 % is out of range: -100 % (every member) to 100000 %")
    ]


def test_an_action_whose_own_bounds_conflict_names_its_min_size() -> None:
    action = ScheduledAction("a", "0 8 * * *", min_size=5, max_size=2)
    assert violations(group(actions=(action,))) == [
        (f"{A}.min_size", "min_size 5 > max_size 2: lower min_size or raise max_size")
    ]


def test_recorded_metrics_are_custom_ones() -> None:
    assert validate.check_metric("custom/rps", custom_only=True) is None
    assert validate.check_metric("cpu_utilization", custom_only=True) == (
        "'cpu_utilization' is measured by the agents: only custom/{name} metrics are recorded"
    )
    assert (
        validate.check_metric("rps", custom_only=True) == f"'rps' is not a metric: use {validate.CUSTOM_RULE}"
    )
    assert validate.check_metric("") == f"'' is not a metric: required: use {validate.METRIC_RULE}"
