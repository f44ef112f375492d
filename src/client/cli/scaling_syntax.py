"""The one-line syntax `overcast group` takes for step and simple policies and for scheduled
actions, and the same syntax back for `group show` (what it prints, it accepts).

    --step     'cpu>=70:+1@0..20,+3@20..,cooldown=2m'   above 70: +1 up to 90, +3 beyond
    --step     'custom/queue<=10:-1'                     at or below 10: one member fewer
    --simple   'cpu>=85:+50%,cooldown=300,name=burst'    half as many again, then wait 5 min
    --schedule 'night=0 22 * * *@Europe/Paris:min=1,max=2'

An alarm is METRIC>=THRESHOLD or METRIC<=THRESHOLD ("cpu" or "custom/NAME"), then after the
colon its adjustments, comma-separated: +N / -N members, +N% of the current size, or =N (the
size itself); a step's bounds follow an "@" as LOW..HIGH, relative to the threshold (either
side may stay open). The options cooldown=DURATION (90, 90s, 5m, 1h) and name=NAME may follow.
A schedule is NAME=CRON (5 fields), then @TIME_ZONE (IANA; default UTC), then after the last
colon the sizes to set: min=N, max=N, desired=N (at least one).

Errors are `ValueError`s whose message says what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TypeVar

from google.protobuf import duration_pb2

from overcast.v1 import scaling_group_pb2 as pb

from ..errors import InvalidArgument
from ..scaling import CPU, default_policy_name, scheduled, simple, step

_ALARM = re.compile(
    r"^\s*(?P<metric>[^<>=:\s]+)\s*(?P<op>>=|<=)\s*(?P<threshold>[-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*:(?P<body>.*)$"
)
_ADJUSTMENT = re.compile(r"^(?P<sign>[-+=]?)(?P<n>\d+)(?P<percent>%?)$")
_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d*)?)\s*(?P<unit>s|m|h)?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, None: 1}
_OPTION = re.compile(r"^(?P<key>[a-z_]+)=(?P<value>.*)$")
_SIZE_KEYS = {"min": "min_size", "max": "max_size", "desired": "desired_size"}

ALARM_HELP = "METRIC>=THRESHOLD:... or METRIC<=THRESHOLD:..."
STEP_EXAMPLE = "cpu>=70:+1@0..20,+3@20.."
SIMPLE_EXAMPLE = "cpu>=85:+2,cooldown=5m"
SCHEDULE_EXAMPLE = "night=0 22 * * *@Europe/Paris:min=1,max=2"

T = TypeVar("T", pb.ScalingPolicy, pb.ScheduledAction)


def parse_duration(text: str) -> float:
    """ "90" or "90s" → 90.0, "5m" → 300.0, "1h" → 3600.0."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"expected a duration such as 90, 90s, 5m or 1h, got {text!r}")
    return float(match["n"]) * _UNITS[match["unit"]]


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {text!r}") from None


def _bounds(text: str | None) -> tuple[float | None, float | None]:
    if text is None:
        return None, None
    low, sep, high = text.partition("..")
    if not sep:
        raise ValueError(f"step bounds are LOW..HIGH (either may be left out: 20..), got {text!r}")
    lower = _number(low, "a step's lower bound") if low.strip() else None
    upper = _number(high, "a step's upper bound") if high.strip() else None
    if lower is not None and upper is not None and lower >= upper:
        raise ValueError(f"a step's lower bound must be below its upper bound, got {text!r}")
    return lower, upper


def _adjustment(text: str) -> tuple[str, int]:
    match = _ADJUSTMENT.match(text.strip())
    if match is None:
        raise ValueError(f"an adjustment is +N or -N (members), +N% or =N (the size), got {text!r}")
    n = int(match["n"])
    if match["sign"] == "=":
        if match["percent"]:
            raise ValueError(f"=N sets the size: it takes no %, got {text!r}")
        return "exact", n
    signed = -n if match["sign"] == "-" else n
    return ("percent" if match["percent"] else "change"), signed


class _Alarm:
    """An alarm line split into its parts: metric, side, threshold, adjustments and options."""

    def __init__(self, text: str, example: str) -> None:
        match = _ALARM.match(text)
        if match is None:
            raise ValueError(f"expected {ALARM_HELP} (e.g. '{example}'), got {text!r}")
        self.metric = match["metric"]
        above = match["op"] == ">="
        threshold = float(match["threshold"])
        self.above: float | None = threshold if above else None
        self.below: float | None = None if above else threshold
        self.adjustments: list[tuple[str, int, str | None]] = []  # kind, n, bounds text
        self.cooldown: float | None = None
        self.name: str | None = None
        for item in (i.strip() for i in match["body"].split(",") if i.strip()):
            option = _OPTION.match(item)
            if option is not None:
                self._option(option["key"], option["value"].strip())
                continue
            adjustment, _, bounds = item.partition("@")
            kind, n = _adjustment(adjustment)
            self.adjustments.append((kind, n, bounds if "@" in item else None))
        if not self.adjustments:
            raise ValueError(f"give an adjustment after the colon (e.g. '{example}'), got {text!r}")
        kinds = {kind for kind, _, _ in self.adjustments}
        if len(kinds) > 1:
            raise ValueError(f"one policy's adjustments are all +N, all +N% or all =N, got {text!r}")
        self.kind = kinds.pop()

    def _option(self, key: str, value: str) -> None:
        if key == "cooldown":
            self.cooldown = parse_duration(value)
        elif key == "name":
            if not value:
                raise ValueError("name= needs a name")
            self.name = value
        else:
            raise ValueError(f"unknown option {key}= (cooldown= or name=)")


def _policy(build: Callable[[], pb.ScalingPolicy]) -> pb.ScalingPolicy:
    """The helper's result, its InvalidArgument turned into the ValueError this module raises."""
    try:
        policy = build()
    except InvalidArgument as err:
        raise ValueError("; ".join(f"{f}: {d}" for f, d in err.field_violations) or err.message) from None
    return policy


def parse_step(text: str) -> pb.ScalingPolicy:
    """ "cpu>=70:+1@0..20,+3@20.." → a step policy (see the module's docstring)."""
    alarm = _Alarm(text, STEP_EXAMPLE)
    steps = [(*_bounds(bounds), n) for _, n, bounds in alarm.adjustments]
    return _policy(
        lambda: step(
            alarm.metric,
            above=alarm.above,
            below=alarm.below,
            steps=steps,
            adjustment_type=alarm.kind,
            cooldown=alarm.cooldown,
            name=alarm.name,
        )
    )


def parse_simple(text: str) -> pb.ScalingPolicy:
    """ "cpu>=85:+2,cooldown=5m" → a simple policy: one adjustment, no bounds."""
    alarm = _Alarm(text, SIMPLE_EXAMPLE)
    if len(alarm.adjustments) > 1 or alarm.adjustments[0][2] is not None:
        raise ValueError(f"a simple policy takes one adjustment and no @bounds (use --step), got {text!r}")
    _, n, _ = alarm.adjustments[0]
    return _policy(
        lambda: simple(
            alarm.metric,
            above=alarm.above,
            below=alarm.below,
            adjustment=n,
            adjustment_type=alarm.kind,
            cooldown=alarm.cooldown,
            name=alarm.name,
        )
    )


def parse_schedule(text: str) -> pb.ScheduledAction:
    """ "night=0 22 * * *@Europe/Paris:min=1,max=2" → a scheduled action."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name or " " in name:
        raise ValueError(
            f"a schedule is NAME=CRON[@TIME_ZONE]:SIZES (e.g. '{SCHEDULE_EXAMPLE}'), got {text!r}"
        )
    spec, sep, sizes_text = rest.rpartition(":")
    if not sep:
        raise ValueError(f"end the schedule with the sizes to set, e.g. ':min=1,max=2', got {text!r}")
    cron, _, time_zone = spec.partition("@")
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(
            f"the cron schedule takes 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(fields)}: {cron.strip()!r}"
        )
    sizes: dict[str, int] = {}
    for item in (i.strip() for i in sizes_text.split(",") if i.strip()):
        key, _, value = item.partition("=")
        field = _SIZE_KEYS.get(key.strip())
        if field is None or not value.strip().isdigit():
            raise ValueError(f"sizes are min=N, max=N and desired=N, got {item!r}")
        sizes[field] = int(value)
    if not sizes:
        raise ValueError(f"give at least one of min=N, max=N, desired=N after the colon, got {text!r}")
    return scheduled(name, " ".join(fields), time_zone=time_zone.strip(), **sizes)


# --- the same syntax back ----------------------------------------------------------------------


def _seconds(duration: duration_pb2.Duration) -> str:
    return f"{duration.ToNanoseconds() / 1e9:g}s"


def _alarm_text(policy: pb.StepPolicy | pb.SimplePolicy) -> str:
    op = ">=" if policy.comparison == pb.COMPARISON_GREATER_OR_EQUAL else "<="
    metric = "cpu" if policy.metric == CPU else policy.metric
    return f"{metric}{op}{policy.threshold:g}"


def _adjustment_text(adjustment_type: int, n: int) -> str:
    if adjustment_type == pb.ADJUSTMENT_TYPE_EXACT_CAPACITY:
        return f"={n}"
    if adjustment_type == pb.ADJUSTMENT_TYPE_PERCENT_CHANGE:
        return f"{n:+d}%"
    return f"{n:+d}"


def _bound(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _options(policy: pb.ScalingPolicy, alarm: pb.StepPolicy | pb.SimplePolicy) -> str:
    side = "high" if alarm.comparison == pb.COMPARISON_GREATER_OR_EQUAL else "low"
    options = []
    if alarm.HasField("cooldown"):
        options.append(f"cooldown={_seconds(alarm.cooldown)}")
    if policy.name != f"{default_policy_name(alarm.metric)}-{side}":
        options.append(f"name={policy.name}")
    return "".join("," + o for o in options)


def format_step(policy: pb.ScalingPolicy) -> str:
    """A step policy as parse_step reads it."""
    p = policy.step
    steps = []
    for s in p.steps:
        lower = s.lower_bound if s.HasField("lower_bound") else None
        upper = s.upper_bound if s.HasField("upper_bound") else None
        bounds = "" if lower is None and upper is None else f"@{_bound(lower)}..{_bound(upper)}"
        steps.append(_adjustment_text(p.adjustment_type, s.adjustment) + bounds)
    return f"{_alarm_text(p)}:{','.join(steps)}{_options(policy, p)}"


def format_simple(policy: pb.ScalingPolicy) -> str:
    """A simple policy as parse_simple reads it."""
    p = policy.simple
    return f"{_alarm_text(p)}:{_adjustment_text(p.adjustment_type, p.adjustment)}{_options(policy, p)}"


def format_target_tracking(policy: pb.ScalingPolicy) -> str:
    p = policy.target_tracking
    parts = [f"{p.metric} at {p.target:g} per member"]
    if p.HasField("tolerance"):
        parts.append(f"tolerance {p.tolerance:g}")
    if p.HasField("scale_down_stabilization"):
        parts.append(f"scale-down window {_seconds(p.scale_down_stabilization)}")
    if p.disable_scale_in:
        parts.append("no scale-in")
    return ", ".join(parts)


def format_policy(policy: pb.ScalingPolicy) -> str:
    """ "target tracking: cpu_utilization at 60 per member", "step: cpu>=70:+1@0..20,+3@20..",
    "simple: cpu<=10:-1,cooldown=300s"."""
    kind = policy.WhichOneof("kind")
    if kind == "step":
        return f"step: {format_step(policy)}"
    if kind == "simple":
        return f"simple: {format_simple(policy)}"
    if kind == "target_tracking":
        return f"target tracking: {format_target_tracking(policy)}"
    return "(a kind of policy this client does not know)"


def format_schedule(action: pb.ScheduledAction) -> str:
    """A scheduled action as parse_schedule reads it."""
    sizes = [
        f"{short}={getattr(action, field)}" for short, field in _SIZE_KEYS.items() if action.HasField(field)
    ]
    zone = f"@{action.time_zone}" if action.time_zone else ""
    return f"{action.name}={action.schedule}{zone}:{','.join(sizes)}"


# --- combining what is given with what the group has ---------------------------------------------


def duplicate_names(items: Iterable[pb.ScalingPolicy | pb.ScheduledAction]) -> list[str]:
    """The names given more than once (each policy and each action needs its own)."""
    seen: set[str] = set()
    duplicates: list[str] = []
    for item in items:
        if item.name in seen and item.name not in duplicates:
            duplicates.append(item.name)
        seen.add(item.name)
    return duplicates


def merge_by_name(current: Sequence[T], given: Sequence[T], remove: Collection[str] = ()) -> list[T]:
    """`current` with each of `given` replacing the one of the same name (in its place) or
    added at the end, and those named in `remove` left out."""
    by_name = {item.name: item for item in given}
    merged = [by_name.pop(item.name, item) for item in current if item.name not in remove]
    return merged + [item for item in given if item.name in by_name]
