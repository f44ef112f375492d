"""A scaling group as a request gives it (scaling_spec.GroupSpec) checked and turned into the
domain's ScalingGroup, with every violation at once, each naming its field
(`scaling_group.policies[0].target_tracking.target`) and what to fix.

`check_group` is the one entry point. It parses what only a request has (resource names, enum
names, unset values) and checks the values (sizes, targets, durations, cron schedules, unique
names): the value checks are what `controller.domain.scaling.validate` will own once it exists.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from controller.domain import limits, names
from controller.domain.errors import InvalidArgument, ViolationCollector
from controller.domain.scaling import model as m
from controller.domain.scaling.model import ScaleInRule, ScalingGroup, ServerTemplate
from controller.domain.server_groups import GroupPolicy
from controller.services.scaling_rule_checks import (
    MAX_GROUP_SIZE,
    F,
    check_policies,
    check_scheduled_actions,
    enum_value,
    in_range,
)
from controller.services.scaling_spec import UPDATABLE, GroupSpec, TemplateSpec
from controller.services.server_groups import check_availability_zone

MAX_HEALTH_GRACE_S = 86400.0


def check_group(
    spec: GroupSpec,
    project: str,
    group_id: str,
    *,
    base: ScalingGroup | None = None,
    paths: Collection[str] = UPDATABLE,
) -> ScalingGroup:
    """The group `spec` describes (create: `base` None), or `base` with the fields in `paths`
    replaced by spec's (update; a desired size left out is brought within the new bounds).
    InvalidArgument lists every violation."""
    v = ViolationCollector()
    if base is None:
        v.check(lambda: names.check_id(group_id, "scaling_group_id"))
        if len(group_id) > m.MAX_GROUP_ID_LEN:
            v.add(
                "scaling_group_id",
                f"at most {m.MAX_GROUP_ID_LEN} characters (members are named {group_id[:8]}…-xxxxx "
                f"and its server group {group_id[:8]}…{m.OWNED_SERVER_GROUP_SUFFIX})",
            )
    template = _template(v, spec.template) if "template" in paths else None
    if (
        base is not None
        and template is not None
        and template.placement_policy != base.template.placement_policy
    ):
        was = base.template.placement_policy.value if base.template.placement_policy else "none"
        v.add(
            f"{F}.template.placement_policy",
            f"cannot change (it is {was}): members already placed by it would not follow; "
            "create another scaling group",
        )
    policies = check_policies(v, spec.policies) if "policies" in paths else None
    actions = check_scheduled_actions(v, spec.scheduled_actions) if "scheduled_actions" in paths else None
    rule = _scale_in_rule(v, spec.scale_in_rule) if "scale_in_rule" in paths else None
    grace = _health_grace(v, spec.health_grace_s) if "health_grace" in paths else None
    protected = _protected(v, spec.protected_members, project) if "protected_members" in paths else None

    min_size = spec.min_size if "min_size" in paths or base is None else base.min_size
    max_size = spec.max_size if "max_size" in paths or base is None else base.max_size
    if base is None:
        desired = spec.desired_size or max(min_size, 0)
    elif "desired_size" in paths:
        desired = spec.desired_size
    else:
        desired = min(max(base.desired_size, min_size), max_size)  # as AWS does on a new min/max
    _check_sizes(v, min_size, max_size, desired, desired_given=base is not None or spec.desired_size != 0)
    v.raise_if_any()

    if base is None:
        assert template is not None and policies is not None and actions is not None
        assert rule is not None and grace is not None and protected is not None
        return ScalingGroup(
            project=project,
            id=group_id,
            template=template,
            min_size=min_size,
            max_size=max_size,
            desired_size=desired,
            policies=policies,
            scheduled_actions=actions,
            scale_in_rule=rule,
            health_grace_s=grace,
            protected=protected,
        )
    return ScalingGroup(
        project=base.project,
        id=base.id,
        template=template or base.template,
        min_size=min_size,
        max_size=max_size,
        desired_size=desired,
        policies=base.policies if policies is None else policies,
        scheduled_actions=base.scheduled_actions if actions is None else actions,
        scale_in_rule=rule or base.scale_in_rule,
        health_grace_s=base.health_grace_s if grace is None else grace,
        protected=base.protected if protected is None else protected,
        version=base.version,
        created_at=base.created_at,
        updated_at=base.updated_at,
    )


# --- sizes ------------------------------------------------------------------------------------


def _check_sizes(v: ViolationCollector, low: int, high: int, desired: int, *, desired_given: bool) -> None:
    if low < 0:
        v.add(f"{F}.min_size", f"must not be negative, got {low}")
    if high < 1:
        v.add(f"{F}.max_size", f"required: at least 1, got {high}")
    elif high > MAX_GROUP_SIZE:
        v.add(f"{F}.max_size", f"at most {MAX_GROUP_SIZE}, got {high}")
    if low > high >= 1:
        v.add(f"{F}.min_size", f"must not exceed max_size ({high}), got {low}")
    elif desired_given and not low <= desired <= high and high >= 1 and low >= 0:
        v.add(f"{F}.desired_size", f"must be within min_size and max_size [{low}, {high}], got {desired}")


# --- template ---------------------------------------------------------------------------------


def _template(v: ViolationCollector, t: TemplateSpec | None) -> ServerTemplate | None:
    f = f"{F}.template"
    if t is None:
        v.add(f, "required: the flavor and image every member is created from")
        return None
    flavor = _required_name(v, f"{f}.flavor", t.flavor, names.parse_flavor, "flavors/{flavor}")
    image = _required_name(v, f"{f}.image", t.image, names.parse_image, "images/{image}")
    limits.check_metadata(v, f"{f}.metadata", dict(t.metadata))
    zone = check_availability_zone(v, f"{f}.availability_zone", t.availability_zone)
    policy = None
    if t.placement_policy:
        policy = enum_value(v, f"{f}.placement_policy", t.placement_policy, GroupPolicy)
    return ServerTemplate(flavor, image, dict(t.metadata), zone, policy)


def _required_name(
    v: ViolationCollector, field_name: str, name: str, parse: Callable[[str, str], str], shape: str
) -> str:
    if not name:
        v.add(field_name, f"required: {shape}")
        return ""
    return v.check(lambda: parse(name, field_name))


def _scale_in_rule(v: ViolationCollector, value: str) -> ScaleInRule | None:
    if not value:
        return ScaleInRule.NEWEST_FIRST
    return enum_value(v, f"{F}.scale_in_rule", value, ScaleInRule)


def _health_grace(v: ViolationCollector, seconds: float | None) -> float:
    if seconds is None:
        return m.DEFAULT_HEALTH_GRACE_S
    in_range(v, f"{F}.health_grace", seconds, 0, MAX_HEALTH_GRACE_S)
    return seconds


def _protected(v: ViolationCollector, servers: Sequence[str], project: str) -> frozenset[str]:
    if len(servers) > MAX_GROUP_SIZE:
        v.add(f"{F}.protected_members", f"at most {MAX_GROUP_SIZE} servers, got {len(servers)}")
    ids = set()
    for i, name in enumerate(servers):
        f = f"{F}.protected_members[{i}]"
        try:
            server_project, server_id = names.parse_server(name, f)
        except InvalidArgument as exc:
            v.violations.extend(exc.violations)
            continue
        if server_project != project:
            v.add(f, f"must be a server of projects/{project}, got {name!r}")
        ids.add(server_id)
    return frozenset(ids)
