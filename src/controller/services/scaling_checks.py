"""A scaling group as a request gives it (scaling_spec.GroupSpec) turned into the domain's
ScalingGroup, with every violation at once, each naming its field
(`scaling_group.policies[0].target_tracking.target`) and what to fix.

`check_group` is the one entry point. It parses what only a request has (resource names, enum
names, unset values and their defaults, the update mask's fields) here and in
scaling_rule_parse, then leaves every value rule (sizes, targets, durations, cron schedules,
unique names, the group id) to `controller.domain.scaling.validate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence

from controller.domain import limits, names
from controller.domain.errors import InvalidArgument, ViolationCollector
from controller.domain.scaling import validate
from controller.domain.scaling.model import ScaleInRule, ScalingGroup, ServerTemplate
from controller.domain.server_groups import GroupPolicy
from controller.services import scaling_rule_parse as rules
from controller.services.scaling_rule_parse import F, enum_value
from controller.services.scaling_spec import UPDATABLE, GroupSpec, TemplateSpec
from controller.services.server_groups import check_availability_zone

_NO_TEMPLATE = ServerTemplate("", "")  # stands in for a template not given (reported as such)


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
    policies = rules.policies(v, spec.policies) if "policies" in paths else None
    actions = rules.scheduled_actions(spec.scheduled_actions) if "scheduled_actions" in paths else None
    rule = _scale_in_rule(v, spec.scale_in_rule) if "scale_in_rule" in paths else None
    protected = _protected(v, spec.protected_members, project) if "protected_members" in paths else None
    grace = spec.health_grace_s if "health_grace" in paths else None

    current = base or ScalingGroup(project, group_id, _NO_TEMPLATE, min_size=0, max_size=0, desired_size=0)
    min_size = spec.min_size if "min_size" in paths else current.min_size
    max_size = spec.max_size if "max_size" in paths else current.max_size
    if base is None:
        desired = spec.desired_size or max(min_size, 0)  # 0 means min_size
    elif "desired_size" in paths:
        desired = spec.desired_size
    else:
        desired = min(max(base.desired_size, min_size), max_size)  # as AWS does on a new min/max
    group = dataclasses.replace(
        current,
        template=template or current.template,
        min_size=min_size,
        max_size=max_size,
        desired_size=desired,
        policies=current.policies if policies is None else policies,
        scheduled_actions=current.scheduled_actions if actions is None else actions,
        scale_in_rule=rule or current.scale_in_rule,
        health_grace_s=current.health_grace_s if grace is None else grace,
        protected=current.protected if protected is None else protected,
    )
    _validate(v, group, no_template="template" in paths and template is None)
    v.raise_if_any()
    return group


def _validate(v: ViolationCollector, group: ScalingGroup, *, no_template: bool) -> None:
    """The domain's violations of `group`, but none on a field the request already has one on
    (where it could not be parsed, a stand-in is validated), nor on a template not given."""
    found = ViolationCollector()
    validate.collect(found, group)
    parsed = {x.field for x in v.violations}
    v.violations.extend(
        x
        for x in found.violations
        if x.field not in parsed and not (no_template and x.field.startswith(f"{F}.template."))
    )


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


def _scale_in_rule(v: ViolationCollector, value: str) -> ScaleInRule:
    if not value:
        return ScaleInRule.NEWEST_FIRST
    return enum_value(v, f"{F}.scale_in_rule", value, ScaleInRule) or ScaleInRule.NEWEST_FIRST


def _protected(v: ViolationCollector, servers: Sequence[str], project: str) -> frozenset[str]:
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
