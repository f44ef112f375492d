"""Scaling groups across the API edge: a group written out as the API's message and read back as
a request (api.scaling_convert, then the service's check_group) is the same group; unset
optional fields take the documented defaults; history entries and events name servers by
resource name."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from google.protobuf import duration_pb2, json_format

from controller.api import scaling_convert as sc
from controller.bus import codec
from controller.domain.lifecycle import event_catalogue
from controller.domain.scaling import model as m
from controller.domain.scaling.evaluation import Decision, MetricReading
from controller.domain.scaling.model import (
    AdjustmentType,
    Comparison,
    Policy,
    ScaleInRule,
    ScalingGroup,
    ScheduledAction,
    ServerTemplate,
    SimpleScaling,
    Step,
    StepScaling,
    TargetTracking,
)
from controller.domain.scaling.records import (
    MEMBER_REPLACED,
    Activity,
    GroupRecord,
    GroupStatus,
    decision_activity,
    member_activity,
    scaling_event,
)
from controller.domain.server_groups import GroupPolicy
from controller.services.scaling_checks import check_group
from controller.storage import scaling_json
from controller.storage.outbox import OutboxRow
from overcast.v1 import events_pb2, scaling_group_pb2, server_group_pb2

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def full_group() -> ScalingGroup:
    """A group using every kind of policy, step bound and scheduled action field."""
    return ScalingGroup(
        project="shop",
        id="web",
        template=ServerTemplate("m1.small", "cirros", {"role": "web"}, "az1", GroupPolicy.SOFT_ANTI_AFFINITY),
        min_size=2,
        max_size=12,
        desired_size=3,
        policies=(
            Policy("cpu", TargetTracking("cpu_utilization", 60.0, 0.05, 120.0, 50, 2, 30.0, True)),
            Policy(
                "queue",
                StepScaling(
                    "custom/queue_depth",
                    Comparison.GREATER_OR_EQUAL,
                    100.0,
                    (Step(None, 50.0, 1), Step(50.0, 200.0, 2), Step(200.0, None, 4)),
                    AdjustmentType.CHANGE_IN_CAPACITY,
                    90.0,
                ),
            ),
            Policy(
                "idle",
                SimpleScaling(
                    "custom/rps", Comparison.LESS_OR_EQUAL, 0.5, -20, AdjustmentType.PERCENT_CHANGE, 600.0
                ),
            ),
            Policy(
                "floor",
                SimpleScaling(
                    "cpu_utilization", Comparison.GREATER_OR_EQUAL, 95.0, 6, AdjustmentType.EXACT_CAPACITY
                ),
            ),
        ),
        scheduled_actions=(
            ScheduledAction("morning", "0 8 * * 1-5", "Europe/Paris", min_size=4, desired_size=6),
            ScheduledAction("night", "30 22 * * *", "UTC", max_size=5),
        ),
        scale_in_rule=ScaleInRule.LEAST_LOADED,
        health_grace_s=45.5,
        protected=frozenset({"web-aaaaa", "web-bbbbb"}),
    )


def test_a_group_written_out_and_read_back_as_a_request_is_the_same_group() -> None:
    group = full_group()
    message = sc.scaling_group(GroupRecord(group))
    again = check_group(sc.group_spec(message), "shop", "web")
    assert again == group


def test_the_stored_json_reads_back_as_the_same_configuration() -> None:
    group = full_group()
    assert (
        scaling_json.template(json.loads(json.dumps(scaling_json.template_json(group.template))))
        == group.template
    )
    stored = json.loads(json.dumps(scaling_json.policies_json(group.policies)))
    assert scaling_json.policies(stored) == group.policies
    actions = json.loads(json.dumps(scaling_json.scheduled_actions_json(group.scheduled_actions)))
    assert scaling_json.scheduled_actions(actions) == group.scheduled_actions


def test_a_minimal_request_gets_the_documented_defaults() -> None:
    request = scaling_group_pb2.ScalingGroup(
        template=scaling_group_pb2.ServerTemplate(flavor="flavors/m1.tiny", image="images/cirros"),
        min_size=1,
        max_size=4,
        policies=[
            scaling_group_pb2.ScalingPolicy(
                name="cpu",
                target_tracking=scaling_group_pb2.TargetTrackingPolicy(metric="cpu_utilization", target=70),
            ),
            scaling_group_pb2.ScalingPolicy(
                name="steps",
                step=scaling_group_pb2.StepPolicy(
                    metric="custom/q",
                    comparison=scaling_group_pb2.COMPARISON_GREATER_OR_EQUAL,
                    threshold=0,
                    steps=[scaling_group_pb2.ScalingStep(adjustment=1)],
                ),
            ),
        ],
        scheduled_actions=[scaling_group_pb2.ScheduledAction(name="n", schedule="0 0 * * *", desired_size=1)],
    )
    group = check_group(sc.group_spec(request), "p", "g")
    assert group.desired_size == 1  # min_size
    assert group.scale_in_rule is ScaleInRule.NEWEST_FIRST
    assert group.health_grace_s == m.DEFAULT_HEALTH_GRACE_S
    assert group.template.placement_policy is None and group.server_group_id == ""
    tt = group.policies[0].kind
    assert tt == TargetTracking("cpu_utilization", 70.0)  # every tuning at its default
    step = group.policies[1].kind
    assert isinstance(step, StepScaling)
    assert (
        step.adjustment_type is AdjustmentType.CHANGE_IN_CAPACITY and step.cooldown_s == m.DEFAULT_COOLDOWN_S
    )
    assert step.steps == (Step(None, None, 1),)
    assert group.scheduled_actions[0].time_zone == "UTC"
    # Read back, the defaults are explicit: what the group does is visible in GetScalingGroup.
    shown = sc.scaling_group(GroupRecord(group))
    assert shown.policies[0].target_tracking.tolerance == pytest.approx(m.DEFAULT_TOLERANCE)
    assert shown.policies[0].target_tracking.scale_down_stabilization == duration_pb2.Duration(seconds=300)
    assert shown.server_group == ""
    assert shown.template.placement_policy == server_group_pb2.SERVER_GROUP_POLICY_UNSPECIFIED


def test_the_message_shows_members_status_and_the_owned_server_group() -> None:
    record = GroupRecord(
        full_group(),
        status=GroupStatus(
            (MetricReading("cpu", "cpu_utilization", None, 60.0, 0),), "scale-out: cpu 90%", "no host"
        ),
        last_scale_at=NOW,
        members=("web-aaaaa", "web-ccccc"),
        current_size=1,
        active_size=1,
    )
    shown = sc.scaling_group(record)
    assert shown.name == "projects/shop/scalingGroups/web"
    assert shown.server_group == "projects/shop/serverGroups/web-members"
    assert list(shown.members) == ["projects/shop/servers/web-aaaaa", "projects/shop/servers/web-ccccc"]
    assert list(shown.protected_members) == [
        "projects/shop/servers/web-aaaaa",
        "projects/shop/servers/web-bbbbb",
    ]
    assert (shown.status.current_size, shown.status.active_size) == (1, 1)
    assert not shown.status.metrics[0].HasField("value")  # no member reports it
    assert shown.status.last_decision == "scale-out: cpu 90%" and shown.status.fault == "no host"
    assert shown.status.last_scale_time.ToDatetime(tzinfo=UTC) == NOW
    assert shown.etag == "1" and shown.scale_in_rule == scaling_group_pb2.SCALE_IN_RULE_LEAST_LOADED


def _decision() -> Decision:
    return Decision(
        current=3,
        previous_desired=3,
        desired=5,
        rule="target_tracking/cpu",
        metrics=(MetricReading("cpu", "cpu_utilization", 91.5, 60.0, 3),),
        clamped=("scale-up limit 2 per 30 s",),
    )


def test_an_activity_reads_back_from_its_json_and_names_servers_in_the_api() -> None:
    a = member_activity(MEMBER_REPLACED, _decision(), "web-aaaaa", reason="lost", replacement="web-ddddd")
    back = Activity.from_json(a.kind, json.loads(json.dumps(a.to_json())), id=7, occurred_at=NOW)
    assert back == Activity(**{**a.__dict__, "id": 7, "occurred_at": NOW})
    shown = sc.activity("shop", back)
    assert shown.kind == "scaling.member.replaced"
    assert shown.member == "projects/shop/servers/web-aaaaa"
    assert shown.replacement == "projects/shop/servers/web-ddddd"
    assert shown.time.ToDatetime(tzinfo=UTC) == NOW
    assert (shown.previous_desired, shown.desired_size, shown.current_size) == (3, 5, 3)


def test_a_scaling_event_is_encoded_in_the_scaling_payload() -> None:
    activity = decision_activity(_decision())
    message = scaling_event("shop", "web", activity)
    body = codec.encode(OutboxRow(1, message, NOW), "test-controller").body
    event = json_format.Parse(body, events_pb2.Event())
    assert event.WhichOneof("payload") == "scaling"
    assert event.event_type == "scaling.decision" and event.resource == "projects/shop/scalingGroups/web"
    assert event.project == "shop"
    p = event.scaling
    assert p.name == "projects/shop/scalingGroups/web"
    assert (p.current_size, p.previous_desired, p.desired_size, p.rule) == (3, 3, 5, "target_tracking/cpu")
    assert p.metrics[0].value == pytest.approx(91.5) and p.metrics[0].reporting_members == 3
    assert list(p.clamped) == ["scale-up limit 2 per 30 s"]
    # the same JSON json_format writes (overcast.protojson's promise for every bus message)
    assert json.loads(body) == json.loads(json_format.MessageToJson(event, indent=None))


def test_every_catalogued_event_type_has_a_payload_and_no_other_does() -> None:
    fields = {codec.payload_field(t) for t in event_catalogue()}
    assert fields == {"instance", "host", "scaling"}
    oneof = events_pb2.Event.DESCRIPTOR.oneofs_by_name["payload"]
    assert set(codec.PAYLOADS.values()) <= {f.name for f in oneof.fields}
    with pytest.raises(ValueError, match="no payload"):
        codec.payload_field("volume.attached")
