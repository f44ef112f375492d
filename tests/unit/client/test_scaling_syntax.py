"""The policy helpers of `client.scaling`, the one-line syntax of `overcast group` (--step,
--simple, --schedule) and the update requests built from what is given."""

from __future__ import annotations

import pytest

from client import InvalidArgument
from client import build_scaling as build
from client.cli.scaling_syntax import (
    duplicate_names,
    format_policy,
    format_schedule,
    format_simple,
    format_step,
    merge_by_name,
    parse_duration,
    parse_schedule,
    parse_simple,
    parse_step,
)
from client.scaling import scheduled, server_template, simple, step, target_tracking
from overcast.v1 import scaling_group_pb2 as pb
from overcast.v1 import server_group_pb2

GE, LE = pb.COMPARISON_GREATER_OR_EQUAL, pb.COMPARISON_LESS_OR_EQUAL


def _bounds(s: pb.ScalingStep) -> tuple[float | None, float | None, int]:
    lower = s.lower_bound if s.HasField("lower_bound") else None
    upper = s.upper_bound if s.HasField("upper_bound") else None
    return lower, upper, s.adjustment


# --- helpers ---------------------------------------------------------------------------------


def test_target_tracking_cpu_is_named_after_its_metric() -> None:
    policy = target_tracking("cpu", target=60)
    assert policy.name == "cpu" and policy.WhichOneof("kind") == "target_tracking"
    tt = policy.target_tracking
    assert (tt.metric, tt.target) == ("cpu_utilization", 60.0)
    # Knobs not given stay unset, so the controller's defaults apply.
    assert not tt.HasField("tolerance") and not tt.HasField("scale_down_stabilization")


def test_target_tracking_knobs_and_custom_metric() -> None:
    policy = target_tracking(
        "custom/Queue_Depth", 5, tolerance=0.2, scale_down_stabilization=60, disable_scale_in=True
    )
    tt = policy.target_tracking
    # Custom names are lower case on the controller: the client says so rather than be refused.
    assert policy.name == "queue-depth" and tt.metric == "custom/queue_depth"
    assert tt.tolerance == pytest.approx(0.2) and tt.scale_down_stabilization.seconds == 60
    assert tt.disable_scale_in


def test_step_above_with_bounds_and_cooldown() -> None:
    policy = step("cpu", above=70, steps=[(0, 20, 1), (20, None, 3)], cooldown=120)
    assert policy.name == "cpu-high"
    p = policy.step
    assert (p.metric, p.comparison, p.threshold) == ("cpu_utilization", GE, 70.0)
    assert p.adjustment_type == pb.ADJUSTMENT_TYPE_CHANGE_IN_CAPACITY
    assert [_bounds(s) for s in p.steps] == [(0.0, 20.0, 1), (20.0, None, 3)]
    assert p.cooldown.seconds == 120


def test_simple_below_percent() -> None:
    policy = simple("custom/rps", below=10, adjustment=-25, adjustment_type="percent")
    assert policy.name == "rps-low"
    p = policy.simple
    assert (p.comparison, p.threshold, p.adjustment) == (LE, 10.0, -25)
    assert p.adjustment_type == pb.ADJUSTMENT_TYPE_PERCENT_CHANGE and not p.HasField("cooldown")


@pytest.mark.parametrize("sides", [{}, {"above": 1, "below": 2}])
def test_alarm_needs_exactly_one_side(sides: dict[str, float]) -> None:
    with pytest.raises(InvalidArgument) as info:
        simple("cpu", adjustment=1, **sides)
    assert info.value.field_violations == [
        ("comparison", "give exactly one of above= (scale on high values) or below=")
    ]


def test_unknown_adjustment_type_names_the_choices() -> None:
    with pytest.raises(InvalidArgument, match="change, exact, percent"):
        step("cpu", above=1, steps=[(None, None, 1)], adjustment_type="double")


def test_scheduled_needs_a_size() -> None:
    assert scheduled("night", "0 22 * * *", max_size=2).max_size == 2
    with pytest.raises(InvalidArgument, match="at least one of"):
        scheduled("night", "0 22 * * *")


def test_server_template_names_and_placement() -> None:
    t = server_template("m1.small", "images/cirros", placement_policy="anti-affinity")
    assert (t.flavor, t.image) == ("flavors/m1.small", "images/cirros")
    assert t.placement_policy == server_group_pb2.SERVER_GROUP_POLICY_ANTI_AFFINITY
    with pytest.raises(InvalidArgument) as info:
        server_template("f", "i", placement_policy="sideways")
    assert info.value.field_violations[0][0] == "template.placement_policy"


# --- the step and simple syntax ----------------------------------------------------------------


def test_parse_step() -> None:
    policy = parse_step("cpu>=70:+1@0..20,+3@20..,cooldown=2m")
    assert policy.name == "cpu-high"
    p = policy.step
    assert (p.metric, p.comparison, p.threshold) == ("cpu_utilization", GE, 70.0)
    assert [_bounds(s) for s in p.steps] == [(0.0, 20.0, 1), (20.0, None, 3)]
    assert p.cooldown.seconds == 120


def test_parse_step_below_open_and_named() -> None:
    policy = parse_step(" custom/queue <= 10.5 : -1 , name=drain")
    p = policy.step
    assert policy.name == "drain"
    assert (p.metric, p.comparison, p.threshold) == ("custom/queue", LE, 10.5)
    assert [_bounds(s) for s in p.steps] == [(None, None, -1)]


@pytest.mark.parametrize(
    ("text", "kind", "adjustments"),
    [
        ("cpu>=70:+50%@0..,+100%@30..", pb.ADJUSTMENT_TYPE_PERCENT_CHANGE, [50, 100]),
        ("cpu>=90:=10", pb.ADJUSTMENT_TYPE_EXACT_CAPACITY, [10]),
        ("cpu<=20:-2@..-10", pb.ADJUSTMENT_TYPE_CHANGE_IN_CAPACITY, [-2]),
    ],
)
def test_parse_step_adjustment_types(text: str, kind: int, adjustments: list[int]) -> None:
    p = parse_step(text).step
    assert p.adjustment_type == kind and [s.adjustment for s in p.steps] == adjustments


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("cpu>70:+1", "METRIC>=THRESHOLD"),
        ("cpu>=70", "METRIC>=THRESHOLD"),
        ("cpu>=seventy:+1", "METRIC>=THRESHOLD"),
        ("cpu>=70:", "give an adjustment after the colon"),
        ("cpu>=70:+1@20..10", "lower bound must be below its upper bound"),
        ("cpu>=70:+1@20", "LOW..HIGH"),
        ("cpu>=70:+1@a..b", "must be a number"),
        ("cpu>=70:up", "+N or -N"),
        ("cpu>=70:+1,+50%@10..", "all +N, all +N% or all =N"),
        ("cpu>=70:=5%", "takes no %"),
        ("cpu>=70:+1,cooldown=soon", "a duration such as 90"),
        ("cpu>=70:+1,colour=red", "unknown option colour="),
    ],
)
def test_bad_step_says_what_to_write(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=r".*") as info:
        parse_step(text)
    assert says in str(info.value)


def test_parse_simple() -> None:
    policy = parse_simple("cpu>=85:+2,cooldown=300")
    p = policy.simple
    assert policy.name == "cpu-high"
    assert (p.threshold, p.adjustment, p.cooldown.seconds) == (85.0, 2, 300)
    with pytest.raises(ValueError, match="one adjustment and no @bounds"):
        parse_simple("cpu>=85:+2@0..10")
    with pytest.raises(ValueError, match="one adjustment and no @bounds"):
        parse_simple("cpu>=85:+2,+3")


@pytest.mark.parametrize(
    "text",
    [
        "cpu>=70:+1@0..20,+3@20..",
        "cpu<=30:-1,cooldown=90s",
        "custom/queue>=100:+50%@0..,name=burst",
        "cpu>=95:=10@..5,cooldown=600s,name=flood",
        "cpu>=0.5:+1@-1.5..2.25",
    ],
)
def test_step_prints_back_as_it_is_read(text: str) -> None:
    policy = parse_step(text)
    assert format_step(policy) == text
    assert parse_step(format_step(policy)) == policy


def test_simple_and_target_tracking_described() -> None:
    assert format_simple(parse_simple("cpu<=10:-1,cooldown=5m")) == "cpu<=10:-1,cooldown=300s"
    assert format_policy(parse_simple("cpu>=80:+2")) == "simple: cpu>=80:+2"
    assert format_policy(target_tracking("cpu", 60)) == "target tracking: cpu_utilization at 60 per member"
    described = format_policy(target_tracking("custom/rps", 100, tolerance=0.05, disable_scale_in=True))
    assert described == "target tracking: custom/rps at 100 per member, tolerance 0.05, no scale-in"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600), ("1.5m", 90)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


# --- schedules -----------------------------------------------------------------------------------


def test_parse_schedule() -> None:
    action = parse_schedule("night=0 22 * * 1-5@Europe/Paris:min=1,max=2,desired=1")
    assert (action.name, action.schedule, action.time_zone) == ("night", "0 22 * * 1-5", "Europe/Paris")
    assert (action.min_size, action.max_size, action.desired_size) == (1, 2, 1)


def test_parse_schedule_utc_one_size() -> None:
    action = parse_schedule("morning=0 8,12 * * *:desired=4")
    assert (action.schedule, action.time_zone, action.desired_size) == ("0 8,12 * * *", "", 4)
    assert not action.HasField("min_size") and not action.HasField("max_size")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0 22 * * *:min=1", "NAME=CRON"),
        ("night=0 22 * * *", "end the schedule with the sizes"),
        ("night=0 22 * *:min=1", "5 fields"),
        ("night=@daily:min=1", "5 fields"),
        ("night=0 22 * * *:min=one", "min=N, max=N and desired=N"),
        ("night=0 22 * * *:size=1", "min=N, max=N and desired=N"),
        ("night=0 22 * * *:", "at least one of min=N"),
    ],
)
def test_bad_schedule_says_what_to_write(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=r".*") as info:
        parse_schedule(text)
    assert says in str(info.value)


@pytest.mark.parametrize(
    "text", ["night=0 22 * * *@Europe/Paris:min=1,max=2", "peak=30 7 * * 1-5:desired=8", "x=* * * * *:max=3"]
)
def test_schedule_prints_back_as_it_is_read(text: str) -> None:
    assert format_schedule(parse_schedule(text)) == text


# --- combining with what the group has ---------------------------------------------------------


def test_merge_by_name_replaces_in_place_adds_and_removes() -> None:
    cpu, high, low = target_tracking("cpu", 60), parse_step("cpu>=80:+2"), parse_step("cpu<=10:-1")
    newer_cpu = target_tracking("cpu", 70)
    rps = target_tracking("custom/rps", 100)
    merged = merge_by_name([cpu, high, low], [rps, newer_cpu], remove={"cpu-low"})
    assert [(p.name, p) for p in merged] == [("cpu", newer_cpu), ("cpu-high", high), ("rps", rps)]
    assert duplicate_names([cpu, newer_cpu, high]) == ["cpu"]


def test_update_mask_is_what_was_given() -> None:
    call = build.update_scaling_group("web", "demo", max_size=8, desired_size=0, policies=[], etag="7")
    request = call.request
    assert request.scaling_group.name == "projects/demo/scalingGroups/web"
    assert list(request.update_mask.paths) == ["max_size", "desired_size", "policies"]
    assert request.etag == "7" and request.scaling_group.max_size == 8
    everything = build.update_scaling_group(
        "projects/p/scalingGroups/g",
        template=server_template("m1.big", "cirros"),
        scheduled_actions=[scheduled("n", "0 0 * * *", min_size=0)],
        scale_in_rule="least-loaded",
        health_grace=30,
        protected_members=["g-abcde"],
    ).request
    assert list(everything.update_mask.paths) == [
        "template",
        "scheduled_actions",
        "scale_in_rule",
        "health_grace",
        "protected_members",
    ]
    group = everything.scaling_group
    assert group.scale_in_rule == pb.SCALE_IN_RULE_LEAST_LOADED and group.health_grace.seconds == 30
    assert list(group.protected_members) == ["projects/p/servers/g-abcde"]  # the group's project


def test_create_request_defaults_to_the_controllers() -> None:
    request = build.create_scaling_group("web", flavor="m1.small", image="cirros", max_size=4).request
    group = request.scaling_group
    assert (request.parent, request.scaling_group_id) == ("projects/demo", "web")
    assert (group.min_size, group.max_size, group.desired_size) == (0, 4, 0)
    assert group.scale_in_rule == pb.SCALE_IN_RULE_UNSPECIFIED and not group.HasField("health_grace")
    assert group.template.placement_policy == server_group_pb2.SERVER_GROUP_POLICY_UNSPECIFIED


def test_a_value_pushed_names_its_metric_as_the_policy_does() -> None:
    call = build.record_group_metric("web", "custom/Queue_Depth", 7, project="demo")
    assert call.request.metric == "custom/queue_depth" and call.request.value == 7.0
