"""A scaling group request that cannot work is refused with a violation naming the field and what
to fix (services.scaling_checks.check_group; the value rules are domain.scaling.validate's),
every violation at once; an update replaces only the fields its mask names."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from controller.domain.errors import InvalidArgument
from controller.domain.scaling.model import ScalingGroup, TargetTracking
from controller.domain.scaling.schedule import check_schedule
from controller.domain.server_groups import GroupPolicy
from controller.services.scaling_checks import check_group
from controller.services.scaling_spec import (
    GroupSpec,
    PolicySpec,
    ScheduledActionSpec,
    SimplePolicySpec,
    StepPolicySpec,
    StepSpec,
    TargetTrackingSpec,
    TemplateSpec,
    check_update_mask,
)

TEMPLATE = TemplateSpec("flavors/m1.tiny", "images/cirros")


def spec(**kw: Any) -> GroupSpec:
    base: dict[str, Any] = {"template": TEMPLATE, "min_size": 1, "max_size": 4}
    return GroupSpec(**{**base, **kw})


def cpu(target: float, **kw: Any) -> PolicySpec:
    return PolicySpec("cpu", TargetTrackingSpec("cpu_utilization", target, **kw))


def violations(s: GroupSpec, group_id: str = "web", **kw: Any) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as info:
        check_group(s, "demo", group_id, **kw)
    return {v.field: v.description for v in info.value.violations}


@pytest.mark.parametrize(
    ("request_spec", "field", "says"),
    [
        (spec(min_size=5, max_size=3), "scaling_group.min_size", "min_size 5 > max_size 3"),
        (spec(min_size=-1), "scaling_group.min_size", "-1 is out of range 0-10000"),
        (spec(max_size=0), "scaling_group.max_size", "0 is out of range 1-10000 (required"),
        (spec(max_size=100_000), "scaling_group.max_size", "100000 is out of range 1-10000"),
        (spec(desired_size=9), "scaling_group.desired_size", "9 is outside [min_size 1, max_size 4]"),
        (spec(template=None), "scaling_group.template", "required"),
        (
            spec(template=TemplateSpec("", "images/cirros")),
            "scaling_group.template.flavor",
            "required: flavors/",
        ),
        (
            spec(template=TemplateSpec("flavors/m1.tiny", "")),
            "scaling_group.template.image",
            "required: images/",
        ),
        (
            spec(template=TemplateSpec("m1.tiny", "images/cirros")),
            "scaling_group.template.flavor",
            "flavors/{flavor}",
        ),
        (
            spec(template=TemplateSpec("flavors/m1.tiny", "images/cirros", placement_policy="7")),
            "scaling_group.template.placement_policy",
            "'7' is not one of AFFINITY",
        ),
        (spec(policies=(cpu(150),)), "scaling_group.policies[0].target_tracking.target", "at most 100"),
        (spec(policies=(cpu(0),)), "scaling_group.policies[0].target_tracking.target", "above 0"),
        (
            spec(policies=(PolicySpec("q", TargetTrackingSpec("custom/q", -2)),)),
            "scaling_group.policies[0].target_tracking.target",
            "above 0",
        ),
        (
            spec(policies=(PolicySpec("m", TargetTrackingSpec("memory", 50)),)),
            "scaling_group.policies[0].target_tracking.metric",
            "'memory' is not a metric: use 'cpu_utilization' or 'custom/'",
        ),
        (
            spec(policies=(PolicySpec("m", TargetTrackingSpec("custom/", 50)),)),
            "scaling_group.policies[0].target_tracking.metric",
            "is not a metric",
        ),
        (
            spec(policies=(cpu(50, tolerance=1.5),)),
            "scaling_group.policies[0].target_tracking.tolerance",
            "below 1",
        ),
        (
            spec(policies=(cpu(50, scale_up_percent=0, scale_up_members=0),)),
            "scaling_group.policies[0].target_tracking.scale_up_members",
            "both 0",
        ),
        (
            spec(policies=(cpu(50, scale_up_period_s=0),)),
            "scaling_group.policies[0].target_tracking.scale_up_period",
            "above 0 s",
        ),
        (
            spec(policies=(cpu(50, scale_down_stabilization_s=-1),)),
            "scaling_group.policies[0].target_tracking.scale_down_stabilization",
            "-1 s is out of range 0-3600 s",
        ),
        (
            spec(policies=(PolicySpec("nothing", None),)),
            "scaling_group.policies[0]",
            "one of target_tracking",
        ),
        (spec(policies=(cpu(50), cpu(60))), "scaling_group.policies[1].name", "used twice"),
        (
            spec(policies=(PolicySpec("Bad Name", TargetTrackingSpec("cpu_utilization", 50)),)),
            "scaling_group.policies[0].name",
            "not a valid id",
        ),
        (
            spec(
                policies=(
                    PolicySpec("s", StepPolicySpec("cpu_utilization", "", 80, (StepSpec(None, None, 1),))),
                )
            ),
            "scaling_group.policies[0].step.comparison",
            "required: one of GREATER_OR_EQUAL, LESS_OR_EQUAL",
        ),
        (
            spec(policies=(PolicySpec("s", StepPolicySpec("cpu_utilization", "GREATER_OR_EQUAL", 80, ())),)),
            "scaling_group.policies[0].step.steps",
            "at least one step",
        ),
        (
            spec(
                policies=(
                    PolicySpec(
                        "s", StepPolicySpec("cpu_utilization", "GREATER_OR_EQUAL", 80, (StepSpec(10, 5, 1),))
                    ),
                )
            ),
            "scaling_group.policies[0].step.steps[0].upper_bound",
            "above lower_bound",
        ),
        (
            spec(policies=(PolicySpec("s", SimplePolicySpec("cpu_utilization", "LESS_OR_EQUAL", 10, 0)),)),
            "scaling_group.policies[0].simple.adjustment",
            "not 0",
        ),
        (
            spec(
                policies=(
                    PolicySpec(
                        "s", SimplePolicySpec("cpu_utilization", "LESS_OR_EQUAL", 10, -1, "EXACT_CAPACITY")
                    ),
                )
            ),
            "scaling_group.policies[0].simple.adjustment",
            "-1 is out of range 0-10000",
        ),
        (
            spec(
                policies=(PolicySpec("s", SimplePolicySpec("cpu_utilization", "LESS_OR_EQUAL", 10, 1, "9")),)
            ),
            "scaling_group.policies[0].simple.adjustment_type",
            "'9' is not one of CHANGE_IN_CAPACITY",
        ),
        (
            spec(scheduled_actions=(ScheduledActionSpec("n", "0 25 * * *", desired_size=1),)),
            "scaling_group.scheduled_actions[0].schedule",
            "hour 25 out of range 0-23",
        ),
        (
            spec(scheduled_actions=(ScheduledActionSpec("n", "every day", desired_size=1),)),
            "scaling_group.scheduled_actions[0].schedule",
            "5 fields",
        ),
        (
            spec(scheduled_actions=(ScheduledActionSpec("n", "0 8 * * *", "Mars/Olympus", desired_size=1),)),
            "scaling_group.scheduled_actions[0].time_zone",
            "not an IANA time zone",
        ),
        (
            spec(scheduled_actions=(ScheduledActionSpec("n", "0 8 * * *"),)),
            "scaling_group.scheduled_actions[0]",
            "sets nothing",
        ),
        (
            spec(scheduled_actions=(ScheduledActionSpec("n", "0 8 * * *", min_size=5, max_size=2),)),
            "scaling_group.scheduled_actions[0].min_size",
            "min_size 5 > max_size 2",
        ),
        (spec(scale_in_rule="RANDOM"), "scaling_group.scale_in_rule", "'RANDOM' is not one of NEWEST_FIRST"),
        (spec(health_grace_s=-5), "scaling_group.health_grace", "-5 s is out of range 0-86400 s"),
        (
            spec(protected_members=("projects/other/servers/web-1",)),
            "scaling_group.protected_members[0]",
            "must be a server of projects/demo",
        ),
        (
            spec(protected_members=("web-1",)),
            "scaling_group.protected_members[0]",
            "projects/{project}/servers/",
        ),
    ],
)
def test_a_request_that_cannot_work_is_refused_naming_the_field(
    request_spec: GroupSpec, field: str, says: str
) -> None:
    found = violations(request_spec)
    assert field in found, found
    assert says in found[field], found[field]


def test_group_ids_leave_room_for_member_and_server_group_names() -> None:
    assert "scaling_group_id" in violations(spec(), group_id="a" * 56)
    assert "scaling_group_id" in violations(spec(), group_id="Web")
    assert check_group(spec(), "demo", "a" * 55).id == "a" * 55


def test_every_violation_is_reported_at_once() -> None:
    found = violations(
        spec(template=TemplateSpec("", ""), min_size=3, max_size=2, policies=(cpu(500),), scale_in_rule="X"),
        group_id="Bad",
    )
    assert {
        "scaling_group_id",
        "scaling_group.template.flavor",
        "scaling_group.template.image",
        "scaling_group.min_size",
        "scaling_group.policies[0].target_tracking.target",
        "scaling_group.scale_in_rule",
    } <= set(found)


@pytest.mark.parametrize(
    "schedule", ["* * * * *", "0 8 * * 1-5", "*/15 0-6,22-23 1 1,6,12 0", "5 4 31 12 7", "0-59/5 * * * *"]
)
def test_cron_schedules_a_user_would_write_are_accepted(schedule: str) -> None:
    assert check_schedule(schedule) is None


@pytest.mark.parametrize(
    "schedule", ["* * * *", "60 * * * *", "* * 0 * *", "5-1 * * * *", "*/0 * * * *", "@daily"]
)
def test_cron_schedules_that_never_or_always_fail_are_refused(schedule: str) -> None:
    assert check_schedule(schedule) is not None


# ---- updates ---------------------------------------------------------------------------------


def current() -> ScalingGroup:
    return check_group(
        spec(
            min_size=2,
            max_size=6,
            desired_size=4,
            policies=(cpu(50),),
            template=TemplateSpec("flavors/m1.tiny", "images/cirros", placement_policy="ANTI_AFFINITY"),
        ),
        "demo",
        "web",
    )


def test_an_update_replaces_only_the_masked_fields() -> None:
    base = dataclasses.replace(current(), version=7)
    # Everything else in the request is ignored: template absent, sizes 0, no policies.
    new = check_group(GroupSpec(template=None, max_size=10), "demo", "web", base=base, paths={"max_size"})
    assert new == dataclasses.replace(base, max_size=10)
    new = check_group(
        GroupSpec(template=None, max_size=0, policies=()), "demo", "web", base=base, paths={"policies"}
    )
    assert new.policies == () and new.max_size == 6
    new = check_group(
        GroupSpec(template=None, max_size=0, policies=(cpu(80),)),
        "demo",
        "web",
        base=base,
        paths={"policies"},
    )
    assert new.policies[0].kind == TargetTracking("cpu_utilization", 80.0)


def test_new_bounds_bring_the_desired_size_along_unless_it_is_set() -> None:
    base = current()  # [2, 6], desired 4
    lower = check_group(GroupSpec(template=None, max_size=3), "demo", "web", base=base, paths={"max_size"})
    assert (lower.max_size, lower.desired_size) == (3, 3)
    higher = check_group(
        GroupSpec(template=None, max_size=0, min_size=5), "demo", "web", base=base, paths={"min_size"}
    )
    assert (higher.min_size, higher.desired_size) == (5, 5)
    found = violations(
        GroupSpec(template=None, max_size=0, desired_size=9), base=base, paths={"desired_size"}
    )
    assert "9 is outside [min_size 2, max_size 6]" in found["scaling_group.desired_size"]
    found = violations(GroupSpec(template=None, max_size=1, min_size=0), base=base, paths={"max_size"})
    assert "min_size 2 > max_size 1" in found["scaling_group.min_size"]


def test_the_placement_policy_cannot_change() -> None:
    base = current()
    t = TemplateSpec("flavors/m1.small", "images/cirros", placement_policy="AFFINITY")
    found = violations(GroupSpec(template=t, max_size=0), base=base, paths={"template"})
    assert "cannot change (it is ANTI_AFFINITY)" in found["scaling_group.template.placement_policy"]
    same = TemplateSpec("flavors/m1.small", "images/cirros", placement_policy="ANTI_AFFINITY")
    new = check_group(GroupSpec(template=same, max_size=0), "demo", "web", base=base, paths={"template"})
    assert new.template.flavor_id == "m1.small" and new.template.placement_policy is GroupPolicy.ANTI_AFFINITY


@pytest.mark.parametrize(
    ("paths", "says"),
    [
        ([], "required"),
        (["size"], "'size' is not an updatable field"),
        (["name"], "'name' is output only"),
        (["members"], "output only"),
        (["template.flavor"], "not an updatable field"),
    ],
)
def test_an_update_mask_names_updatable_fields(paths: list[str], says: str) -> None:
    _, bad = check_update_mask(paths)
    assert bad and bad[0][0] == "update_mask" and says in bad[0][1]


def test_a_star_mask_replaces_every_updatable_field() -> None:
    chosen, bad = check_update_mask(["*"])
    assert not bad and "template" in chosen and "protected_members" in chosen


# ---- one owner per rule: the request parsed here, its values judged by the domain -------------


def step(comparison: str, *steps: StepSpec) -> StepPolicySpec:
    return StepPolicySpec("cpu_utilization", comparison, 80, steps)


def test_the_domain_rules_apply_to_requests_at_the_request_indexes() -> None:
    found = violations(
        spec(
            policies=(
                PolicySpec("Bad Name", step("SIDEWAYS", StepSpec(0, 10, 1))),
                PolicySpec("out", step("GREATER_OR_EQUAL", StepSpec(0, 20, 1), StepSpec(10, None, 2))),
                cpu(150),
            )
        )
    )
    comparison = "'SIDEWAYS' is not one of GREATER_OR_EQUAL, LESS_OR_EQUAL"
    assert found == {
        "scaling_group.policies[0].name": found.get("scaling_group.policies[0].name", "missing"),
        "scaling_group.policies[0].step.comparison": comparison,
        "scaling_group.policies[1].step.steps[1]": "overlaps steps[0]: a breach must fall in one step only",
        "scaling_group.policies[2].target_tracking.target": (
            "150 is out of range: a CPU target is a percentage, above 0 and at most 100"
        ),
    }
    assert found["scaling_group.policies[0].name"].startswith("'Bad Name' is not a valid id")


def test_a_field_the_request_could_not_parse_is_reported_once() -> None:
    def listed(s: GroupSpec) -> list[str]:
        with pytest.raises(InvalidArgument) as info:
            check_group(s, "demo", "web")
        return [v.field for v in info.value.violations]

    assert listed(spec(template=None)) == ["scaling_group.template"]
    assert listed(spec(template=TemplateSpec("", "images/cirros"))) == ["scaling_group.template.flavor"]
    assert listed(spec(template=TemplateSpec("m1.tiny", "images/cirros"))) == [
        "scaling_group.template.flavor"
    ]


def test_unset_tunings_take_the_documented_defaults() -> None:
    group = check_group(
        spec(policies=(cpu(60),), scheduled_actions=(ScheduledActionSpec("n", "0 8 * * *", max_size=2),)),
        "demo",
        "web",
    )
    assert group.policies[0].kind == TargetTracking("cpu_utilization", 60.0)
    assert group.scheduled_actions[0].time_zone == "UTC" and group.health_grace_s == 60.0
    assert group.desired_size == group.min_size == 1
