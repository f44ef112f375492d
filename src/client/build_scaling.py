"""The scaling group calls as data, shared by the sync and async clients (as `build` is for
the rest): friendly arguments in, the request and the stub method out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import empty_pb2, field_mask_pb2

from overcast.v1 import scaling_group_pb2 as pb

from .build import Listing, Unary
from .names import DEFAULT_PROJECT, project_name, project_of, scaling_group_name, server_name
from .scaling import metric_name, scale_in_rule_value, seconds, server_template

_Group = pb.ScalingGroup
_STUB = "scaling_groups"


def create_scaling_group(
    group_id: str,
    *,
    flavor: str,
    image: str,
    max_size: int,
    min_size: int = 0,
    desired_size: int | None = None,
    project: str = DEFAULT_PROJECT,
    metadata: Mapping[str, str] | None = None,
    availability_zone: str = "",
    placement_policy: int | str | None = None,
    policies: Iterable[pb.ScalingPolicy] = (),
    scheduled_actions: Iterable[pb.ScheduledAction] = (),
    scale_in_rule: int | str | None = None,
    health_grace: float | None = None,
    protected_members: Iterable[str] = (),
    request_id: str | None = None,
) -> Unary[pb.ScalingGroup]:
    group = _Group(
        template=server_template(
            flavor,
            image,
            metadata=metadata,
            availability_zone=availability_zone,
            placement_policy=placement_policy,
        ),
        min_size=min_size,
        max_size=max_size,
        desired_size=desired_size or 0,  # 0: the controller starts at min_size
        policies=list(policies),
        scheduled_actions=list(scheduled_actions),
        scale_in_rule=scale_in_rule_value(scale_in_rule) if scale_in_rule is not None else None,
        health_grace=seconds(health_grace),
        protected_members=[server_name(m, project) for m in protected_members],
    )
    request = pb.CreateScalingGroupRequest(
        parent=project_name(project),
        scaling_group=group,
        scaling_group_id=group_id,
        request_id=request_id or "",
    )
    return Unary(_STUB, "CreateScalingGroup", request, _Group)


def get_scaling_group(name: str, project: str = DEFAULT_PROJECT) -> Unary[pb.ScalingGroup]:
    request = pb.GetScalingGroupRequest(name=scaling_group_name(name, project))
    return Unary(_STUB, "GetScalingGroup", request, _Group)


def list_scaling_groups(
    project: str = DEFAULT_PROJECT, page_size: int | None = None
) -> Listing[pb.ScalingGroup]:
    request = pb.ListScalingGroupsRequest(parent=project_name(project), page_size=page_size or 0)
    return Listing(_STUB, "ListScalingGroups", request, "scaling_groups", _Group)


def update_scaling_group(
    name: str,
    project: str = DEFAULT_PROJECT,
    *,
    min_size: int | None = None,
    max_size: int | None = None,
    desired_size: int | None = None,
    template: pb.ServerTemplate | None = None,
    policies: Iterable[pb.ScalingPolicy] | None = None,
    scheduled_actions: Iterable[pb.ScheduledAction] | None = None,
    scale_in_rule: int | str | None = None,
    health_grace: float | None = None,
    protected_members: Iterable[str] | None = None,
    etag: str = "",
) -> Unary[pb.ScalingGroup]:
    """UpdateScalingGroup replacing the fields given (not None), and only those: the
    update_mask lists them. A list given empty (`policies=[]`) clears it."""
    group = _Group(name=scaling_group_name(name, project))
    project = project_of(group.name) or project  # members live in the group's project
    paths: list[str] = []
    sizes: dict[str, Any] = {"min_size": min_size, "max_size": max_size, "desired_size": desired_size}
    for field, value in sizes.items():
        if value is not None:
            setattr(group, field, value)
            paths.append(field)
    if template is not None:
        group.template.CopyFrom(template)
        paths.append("template")
    if policies is not None:
        group.policies.extend(policies)
        paths.append("policies")
    if scheduled_actions is not None:
        group.scheduled_actions.extend(scheduled_actions)
        paths.append("scheduled_actions")
    if scale_in_rule is not None:
        group.scale_in_rule = scale_in_rule_value(scale_in_rule)
        paths.append("scale_in_rule")
    grace = seconds(health_grace)
    if grace is not None:
        group.health_grace.CopyFrom(grace)
        paths.append("health_grace")
    if protected_members is not None:
        group.protected_members.extend(server_name(m, project) for m in protected_members)
        paths.append("protected_members")
    request = pb.UpdateScalingGroupRequest(
        scaling_group=group, update_mask=field_mask_pb2.FieldMask(paths=paths), etag=etag
    )
    return Unary(_STUB, "UpdateScalingGroup", request, _Group)


def delete_scaling_group(
    name: str, project: str = DEFAULT_PROJECT, *, keep_members: bool = False, etag: str = ""
) -> Unary[empty_pb2.Empty]:
    request = pb.DeleteScalingGroupRequest(
        name=scaling_group_name(name, project), etag=etag, keep_members=keep_members
    )
    return Unary(_STUB, "DeleteScalingGroup", request, empty_pb2.Empty)


def set_desired_size(name: str, desired_size: int, project: str = DEFAULT_PROJECT) -> Unary[pb.ScalingGroup]:
    request = pb.SetDesiredSizeRequest(name=scaling_group_name(name, project), desired_size=desired_size)
    return Unary(_STUB, "SetDesiredSize", request, _Group)


def record_group_metric(
    name: str, metric: str, value: float, member: str | None = None, project: str = DEFAULT_PROJECT
) -> Unary[empty_pb2.Empty]:
    group = scaling_group_name(name, project)
    request = pb.RecordGroupMetricRequest(
        name=group,
        metric=metric_name(metric),
        value=float(value),
        member=server_name(member, project_of(group) or project) if member else "",
    )
    return Unary(_STUB, "RecordGroupMetric", request, empty_pb2.Empty)


def list_scaling_activities(
    name: str, project: str = DEFAULT_PROJECT, page_size: int | None = None
) -> Listing[pb.ScalingActivity]:
    request = pb.ListScalingActivitiesRequest(
        name=scaling_group_name(name, project), page_size=page_size or 0
    )
    return Listing(_STUB, "ListScalingActivities", request, "activities", pb.ScalingActivity)
