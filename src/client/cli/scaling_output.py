"""Rows and detail lines for `overcast group`: groups, their metrics against the targets,
their members with state and load, and their history."""

from __future__ import annotations

from collections.abc import Collection

from google.protobuf import duration_pb2

from overcast.v1 import common_pb2, server_group_pb2, server_pb2
from overcast.v1 import scaling_group_pb2 as pb

from .output import EMPTY, Row, enum_label, percent, short, text, timestamp_text
from .scaling_syntax import format_policy, format_schedule

GROUP_COLUMNS = ("NAME", "CURRENT", "DESIRED", "MIN", "MAX", "ACTIVE", "POLICIES", "FLAVOR", "IMAGE", "FAULT")


def _names(names: Collection[str]) -> str:
    return ", ".join(short(n) for n in names) or EMPTY


def group_row(g: pb.ScalingGroup) -> Row:
    return (
        short(g.name),
        str(g.status.current_size),
        str(g.desired_size),
        str(g.min_size),
        str(g.max_size),
        str(g.status.active_size),
        ",".join(p.name for p in g.policies) or EMPTY,
        short(g.template.flavor),
        short(g.template.image),
        text(g.status.fault),
    )


def scale_in_label(rule: int) -> str:
    """The rule's short name; unspecified is the controller's default, newest first."""
    return enum_label(pb.ScaleInRule, rule or pb.SCALE_IN_RULE_NEWEST_FIRST)


def duration_text(duration: duration_pb2.Duration) -> str:
    return f"{duration.ToNanoseconds() / 1e9:g}s"


def group_details(g: pb.ScalingGroup) -> list[tuple[str, str]]:
    """(field, value) rows for `group show`: what the group is, then how it is doing."""
    t = g.template
    rows = [
        ("name", g.name),
        ("flavor", short(t.flavor)),
        ("image", short(t.image)),
        ("metadata", ", ".join(f"{k}={v}" for k, v in sorted(t.metadata.items())) or EMPTY),
        ("availability_zone", text(t.availability_zone)),
        ("placement_policy", enum_label(server_group_pb2.ServerGroupPolicy, t.placement_policy)),
        ("server_group", short(g.server_group)),
        ("min_size", str(g.min_size)),
        ("max_size", str(g.max_size)),
        ("desired_size", str(g.desired_size)),
        ("current_size", str(g.status.current_size)),
        ("active_size", str(g.status.active_size)),
        ("scale_in_rule", scale_in_label(g.scale_in_rule)),
        ("health_grace", duration_text(g.health_grace) if g.HasField("health_grace") else EMPTY),
    ]
    # One word per label ("policy/cpu"), so `awk '$1 == "policy/cpu"'` finds the row.
    rows += [(f"policy/{p.name}", format_policy(p)) for p in g.policies] or [("policies", EMPTY)]
    rows += [(f"schedule/{a.name}", format_schedule(a)) for a in g.scheduled_actions]
    rows += [
        ("protected_members", _names(g.protected_members)),
        ("members", _names(g.members)),
        ("last_decision", text(g.status.last_decision)),
        ("last_scale_time", timestamp_text(g.status.last_scale_time)),
        ("fault", text(g.status.fault)),
        ("create_time", timestamp_text(g.create_time)),
        ("etag", text(g.etag)),
    ]
    return rows


METRIC_COLUMNS = ("POLICY", "METRIC", "VALUE", "TARGET", "REPORTING")


def metric_value(m: pb.MetricStatus) -> str:
    return f"{m.value:.1f}" if m.HasField("value") else EMPTY


def metric_row(m: pb.MetricStatus) -> Row:
    return (m.policy, m.metric, metric_value(m), f"{m.target:g}", str(m.reporting_members))


MEMBER_COLUMNS = ("NAME", "STATE", "TASK", "POWER", "HOST", "CPU%", "CPU% EWMA", "PROTECTED")


def member_row(s: server_pb2.Server, protected: Collection[str] = ()) -> Row:
    load = s.load if s.HasField("load") and not s.load.stale else None
    return (
        short(s.name),
        enum_label(common_pb2.VmState, s.vm_state),
        enum_label(common_pb2.TaskState, s.task_state),
        enum_label(common_pb2.PowerState, s.power_state),
        short(s.host),
        percent(load.cpu_util) if load else EMPTY,
        percent(load.cpu_util_ewma) if load else EMPTY,
        "yes" if s.name in protected else "no",
    )


ACTIVITY_COLUMNS = ("TIME", "KIND", "SIZE", "RULE", "CLAMPED", "MEMBER", "DETAIL")


def activity_row(a: pb.ScalingActivity) -> Row:
    """SIZE is "current→desired"; DETAIL why a member went, or what replaced it."""
    detail = [a.reason] if a.reason else []
    if a.replacement:
        detail.append(f"replaced by {short(a.replacement)}")
    return (
        timestamp_text(a.time),
        a.kind.removeprefix("scaling."),
        f"{a.current_size}→{a.desired_size}",
        text(a.rule),
        "; ".join(a.clamped) or EMPTY,
        short(a.member),
        "; ".join(detail) or EMPTY,
    )
