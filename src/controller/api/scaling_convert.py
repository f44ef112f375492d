"""Scaling groups between the API's protobuf and the services: a request's ScalingGroup → the
GroupSpec the service checks (enums as domain values, unset optional fields as None), and the
stored group and its history → ScalingGroup and ScalingActivity."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf import duration_pb2

from controller.api import enums
from controller.api.convert import ts
from controller.domain.names import server_name
from controller.domain.scaling.evaluation import MetricReading
from controller.domain.scaling.model import (
    Policy,
    ScheduledAction,
    ServerTemplate,
    SimpleScaling,
    StepScaling,
    TargetTracking,
)
from controller.domain.scaling.records import Activity, GroupRecord
from controller.domain.server_groups import server_group_name
from controller.services.scaling_spec import (
    GroupSpec,
    PolicySpec,
    ScheduledActionSpec,
    SimplePolicySpec,
    StepPolicySpec,
    StepSpec,
    TargetTrackingSpec,
    TemplateSpec,
)
from overcast.v1 import scaling_group_pb2 as pb
from overcast.v1 import server_group_pb2

# --- requests → specs -------------------------------------------------------------------------


def _seconds(d: duration_pb2.Duration) -> float:
    return d.seconds + d.nanos / 1e9


def group_spec(g: pb.ScalingGroup) -> GroupSpec:
    return GroupSpec(
        template=_template_spec(g.template) if g.HasField("template") else None,
        min_size=g.min_size,
        max_size=g.max_size,
        desired_size=g.desired_size,
        policies=tuple(_policy_spec(p) for p in g.policies),
        scheduled_actions=tuple(_action_spec(a) for a in g.scheduled_actions),
        scale_in_rule=enums.domain_value(enums.SCALE_IN_RULE_OF, g.scale_in_rule),
        health_grace_s=_seconds(g.health_grace) if g.HasField("health_grace") else None,
        protected_members=tuple(g.protected_members),
    )


def _template_spec(t: pb.ServerTemplate) -> TemplateSpec:
    return TemplateSpec(
        flavor=t.flavor,
        image=t.image,
        metadata=dict(t.metadata),
        availability_zone=t.availability_zone,
        placement_policy=enums.domain_value(enums.GROUP_POLICY_OF, t.placement_policy),
    )


def _policy_spec(p: pb.ScalingPolicy) -> PolicySpec:
    kind = p.WhichOneof("kind")
    if kind == "target_tracking":
        t = p.target_tracking
        return PolicySpec(
            p.name,
            TargetTrackingSpec(
                metric=t.metric,
                target=t.target,
                tolerance=t.tolerance if t.HasField("tolerance") else None,
                scale_down_stabilization_s=(
                    _seconds(t.scale_down_stabilization) if t.HasField("scale_down_stabilization") else None
                ),
                scale_up_percent=t.scale_up_percent if t.HasField("scale_up_percent") else None,
                scale_up_members=t.scale_up_members if t.HasField("scale_up_members") else None,
                scale_up_period_s=_seconds(t.scale_up_period) if t.HasField("scale_up_period") else None,
                disable_scale_in=t.disable_scale_in,
                warmup_s=_seconds(t.warmup) if t.HasField("warmup") else None,
            ),
        )
    if kind == "step":
        s = p.step
        return PolicySpec(
            p.name,
            StepPolicySpec(
                metric=s.metric,
                comparison=enums.domain_value(enums.COMPARISON_OF, s.comparison),
                threshold=s.threshold,
                steps=tuple(
                    StepSpec(
                        lower=x.lower_bound if x.HasField("lower_bound") else None,
                        upper=x.upper_bound if x.HasField("upper_bound") else None,
                        adjustment=x.adjustment,
                    )
                    for x in s.steps
                ),
                adjustment_type=enums.domain_value(enums.ADJUSTMENT_TYPE_OF, s.adjustment_type),
                cooldown_s=_seconds(s.cooldown) if s.HasField("cooldown") else None,
            ),
        )
    if kind == "simple":
        m = p.simple
        return PolicySpec(
            p.name,
            SimplePolicySpec(
                metric=m.metric,
                comparison=enums.domain_value(enums.COMPARISON_OF, m.comparison),
                threshold=m.threshold,
                adjustment=m.adjustment,
                adjustment_type=enums.domain_value(enums.ADJUSTMENT_TYPE_OF, m.adjustment_type),
                cooldown_s=_seconds(m.cooldown) if m.HasField("cooldown") else None,
            ),
        )
    return PolicySpec(p.name, None)


def _action_spec(a: pb.ScheduledAction) -> ScheduledActionSpec:
    return ScheduledActionSpec(
        name=a.name,
        schedule=a.schedule,
        time_zone=a.time_zone,
        min_size=a.min_size if a.HasField("min_size") else None,
        max_size=a.max_size if a.HasField("max_size") else None,
        desired_size=a.desired_size if a.HasField("desired_size") else None,
    )


# --- stored groups → messages -----------------------------------------------------------------


def _duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromTimedelta(timedelta(seconds=seconds))
    return d


def scaling_group(r: GroupRecord) -> pb.ScalingGroup:
    g = r.group
    owned = g.server_group_id
    return pb.ScalingGroup(
        name=g.name,
        template=_template(g.template),
        min_size=g.min_size,
        max_size=g.max_size,
        desired_size=g.desired_size,
        policies=[_policy(p) for p in g.policies],
        scheduled_actions=[_action(a) for a in g.scheduled_actions],
        scale_in_rule=enums.SCALE_IN_RULES[g.scale_in_rule],
        health_grace=_duration(g.health_grace_s),
        protected_members=[server_name(g.project, s) for s in sorted(g.protected)],
        members=[server_name(g.project, s) for s in r.members],
        server_group=server_group_name(g.project, owned) if owned else "",
        status=pb.ScalingGroupStatus(
            current_size=r.current_size,
            active_size=r.active_size,
            metrics=[metric_status(m) for m in r.status.metrics],
            last_decision=r.status.last_decision,
            last_scale_time=ts(r.last_scale_at),
            fault=r.status.fault,
        ),
        create_time=ts(g.created_at),
        update_time=ts(g.updated_at),
        etag=str(g.version),
    )


def _template(t: ServerTemplate) -> pb.ServerTemplate:
    return pb.ServerTemplate(
        flavor=f"flavors/{t.flavor_id}",
        image=f"images/{t.image_id}",
        metadata=dict(t.metadata),
        availability_zone=t.availability_zone,
        placement_policy=(
            enums.GROUP_POLICIES[t.placement_policy]
            if t.placement_policy
            else server_group_pb2.SERVER_GROUP_POLICY_UNSPECIFIED
        ),
    )


def _policy(p: Policy) -> pb.ScalingPolicy:
    k = p.kind
    if isinstance(k, TargetTracking):
        return pb.ScalingPolicy(
            name=p.name,
            target_tracking=pb.TargetTrackingPolicy(
                metric=k.metric,
                target=k.target,
                tolerance=k.tolerance,
                scale_down_stabilization=_duration(k.scale_down_stabilization_s),
                scale_up_percent=k.scale_up_percent,
                scale_up_members=k.scale_up_members,
                scale_up_period=_duration(k.scale_up_period_s),
                disable_scale_in=k.disable_scale_in,
                warmup=_duration(k.warmup_s),
            ),
        )
    if isinstance(k, StepScaling):
        return pb.ScalingPolicy(
            name=p.name,
            step=pb.StepPolicy(
                metric=k.metric,
                comparison=enums.COMPARISONS[k.comparison],
                threshold=k.threshold,
                adjustment_type=enums.ADJUSTMENT_TYPES[k.adjustment_type],
                steps=[
                    pb.ScalingStep(lower_bound=s.lower, upper_bound=s.upper, adjustment=s.adjustment)
                    for s in k.steps
                ],
                cooldown=_duration(k.cooldown_s),
            ),
        )
    assert isinstance(k, SimpleScaling)
    return pb.ScalingPolicy(
        name=p.name,
        simple=pb.SimplePolicy(
            metric=k.metric,
            comparison=enums.COMPARISONS[k.comparison],
            threshold=k.threshold,
            adjustment_type=enums.ADJUSTMENT_TYPES[k.adjustment_type],
            adjustment=k.adjustment,
            cooldown=_duration(k.cooldown_s),
        ),
    )


def _action(a: ScheduledAction) -> pb.ScheduledAction:
    return pb.ScheduledAction(
        name=a.name,
        schedule=a.schedule,
        time_zone=a.time_zone,
        min_size=a.min_size,
        max_size=a.max_size,
        desired_size=a.desired_size,
    )


def metric_status(m: MetricReading) -> pb.MetricStatus:
    return pb.MetricStatus(
        policy=m.policy,
        metric=m.metric,
        value=m.value,
        target=m.target,
        reporting_members=m.reporting_members,
    )


def activity(project: str, a: Activity) -> pb.ScalingActivity:
    return pb.ScalingActivity(
        kind=a.kind,
        time=ts(a.occurred_at),
        current_size=a.current_size,
        previous_desired=a.previous_desired,
        desired_size=a.desired_size,
        rule=a.rule,
        metrics=[metric_status(m) for m in a.metrics],
        clamped=list(a.clamped),
        member=server_name(project, a.member) if a.member else "",
        reason=a.reason,
        replacement=server_name(project, a.replacement) if a.replacement else "",
    )
