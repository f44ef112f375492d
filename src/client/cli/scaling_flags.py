"""The options `group create` and `group update` share, and the policies, schedules and
durations they turn into (a malformed one is a usage error, exit 2, naming the option)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

import typer

from overcast.v1 import scaling_group_pb2 as pb

from ..build import server_group_policy_names
from ..errors import InvalidArgument
from ..scaling import scale_in_rule_names, target_tracking
from .scaling_syntax import (
    SCHEDULE_EXAMPLE,
    SIMPLE_EXAMPLE,
    STEP_EXAMPLE,
    duplicate_names,
    parse_duration,
    parse_schedule,
    parse_simple,
    parse_step,
)

T = TypeVar("T")

PLACEMENTS = ", ".join(n.lower().replace("_", "-") for n in server_group_policy_names())

MetadataOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--metadata", "--meta", "--property", "-m", help="Members' metadata KEY=VALUE (repeatable)."
    ),
]
ZoneOpt = Annotated[
    str | None,
    typer.Option("--zone", "--availability-zone", "--az", help="Members only on hosts of this zone."),
]
PlacementOpt = Annotated[
    str | None, typer.Option("--placement", help=f"Spread or pack the members: {PLACEMENTS}.")
]
DesiredOpt = Annotated[
    int | None, typer.Option("--desired", min=0, help="Members wanted now (default: --min).")
]
CpuTargetOpt = Annotated[
    float | None,
    typer.Option("--cpu-target", help="Target tracking: hold the members' average CPU at this percent."),
]
MetricOpt = Annotated[
    str | None,
    typer.Option("--metric", help="Target tracking on this metric (custom/NAME, or cpu) with --target."),
]
TargetOpt = Annotated[float | None, typer.Option("--target", help="The value per member --metric holds.")]
NoScaleInOpt = Annotated[
    bool, typer.Option("--no-scale-in", help="Target tracking only adds members, never removes.")
]
StepOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--step",
        help=f"Step policy, e.g. '{STEP_EXAMPLE}' (METRIC>=|<=THRESHOLD:ADJ[@LOW..HIGH],...; repeatable).",
    ),
]
SimpleOpt = Annotated[
    list[str] | None,
    typer.Option("--simple", help=f"Simple policy, e.g. '{SIMPLE_EXAMPLE}' (repeatable)."),
]
ScaleInOpt = Annotated[
    str | None,
    typer.Option(
        "--scale-in", help=f"Which members a scale-in removes first: {', '.join(scale_in_rule_names())}."
    ),
]
ScheduleOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--schedule",
        help=f"Sizes set on a schedule: NAME=CRON[@TZ]:min=N,max=N,desired=N, e.g. '{SCHEDULE_EXAMPLE}'"
        " (repeatable).",
    ),
]
ProtectOpt = Annotated[
    list[str] | None, typer.Option("--protect", help="A member a scale-in never removes (repeatable).")
]
HealthGraceOpt = Annotated[
    str | None,
    typer.Option("--health-grace", help="Replace a member whose host is DOWN this long (90, 90s, 5m)."),
]


def _parsed(values: Sequence[str] | None, option: str, parse: Callable[[str], T]) -> list[T]:
    parsed = []
    for value in values or ():
        try:
            parsed.append(parse(value))
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint=f"'{option}'") from None
    return parsed


def duration(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    return _parsed([value], option, parse_duration)[0]


@dataclass(frozen=True)
class PolicyFlags:
    cpu_target: float | None = None
    metric: str | None = None
    target: float | None = None
    no_scale_in: bool = False
    steps: Sequence[str] | None = None
    simples: Sequence[str] | None = None

    @property
    def given(self) -> bool:
        return any(
            (self.cpu_target is not None, self.metric, self.target is not None, self.steps, self.simples)
        )


def policies(flags: PolicyFlags) -> list[pb.ScalingPolicy]:
    """The policies the flags describe, in the order: --cpu-target, --metric, --step, --simple."""
    if (flags.metric is None) != (flags.target is None):
        given, missing = ("--metric", "--target") if flags.metric else ("--target", "--metric")
        raise typer.BadParameter(f"{given} needs {missing} too (e.g. --metric custom/rps --target 100)")
    built: list[pb.ScalingPolicy] = []
    try:
        if flags.cpu_target is not None:
            built.append(target_tracking("cpu", flags.cpu_target, disable_scale_in=flags.no_scale_in))
        if flags.metric is not None and flags.target is not None:
            built.append(target_tracking(flags.metric, flags.target, disable_scale_in=flags.no_scale_in))
    except InvalidArgument as err:
        raise typer.BadParameter(str(err), param_hint="'--metric'") from None
    built += _parsed(flags.steps, "--step", parse_step)
    built += _parsed(flags.simples, "--simple", parse_simple)
    _unique(built, "policy", "add name=NAME to a --step or --simple")
    return built


def schedules(values: Sequence[str] | None) -> list[pb.ScheduledAction]:
    built = _parsed(values, "--schedule", parse_schedule)
    _unique(built, "schedule", "give each its own NAME")
    return built


def _unique(items: Sequence[pb.ScalingPolicy] | Sequence[pb.ScheduledAction], what: str, fix: str) -> None:
    duplicates = duplicate_names(items)
    if duplicates:
        raise typer.BadParameter(f"two {what} entries are named {duplicates[0]!r}: {fix}")
