"""Scheduled actions: when a 5-field cron schedule fires in its IANA time zone, and the checks
that tell a user what is wrong with a schedule or a zone.

Cron is cronsim's (healthchecks.io's parser, written to match Debian's cron), with zoneinfo:
across a DST change a job at a fixed local time that falls into the skipped hour runs when the
clocks have moved on (02:30 on the last Sunday of March in Europe/Berlin fires at 03:00 CEST),
and one in the repeated hour runs once; a job with `*` in its minute or hour field runs by the
UTC clock, as Debian's cron does. 6-field expressions (cronsim reads a seconds field) are
refused: a schedule has the five fields of crontab(5).

Each fire time applies once: those after the last evaluation (GroupState.evaluated_at, or the
group's creation) and after the action's last applied fire (GroupState.last_fired) up to now;
of several fire times in that span only the latest applies, and actions that fired apply in the
order they fired (a later one overrides an earlier one's sizes).
"""

from __future__ import annotations

import functools
import math
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

from controller.domain.scaling.model import ScheduledAction

# crontab(5)'s fields: (name, lowest, highest); day-of-week 7 is Sunday too.
FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
_NAMES = re.compile(r"^(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT)$")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_SHAPE = "5 fields: minute hour day-of-month month day-of-week, e.g. '0 8 * * 1-5'"


@functools.cache
def _zones() -> frozenset[str]:
    # "localtime" (on Debian, a link to /etc/localtime) would be the controller's own zone.
    return frozenset(zoneinfo.available_timezones()) - {"localtime"}


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The action's time zone; empty means UTC."""
    return zoneinfo.ZoneInfo(name or "UTC")


def check_time_zone(name: str) -> str | None:
    """None when `name` is an IANA time zone (or empty: UTC), else what to fix."""
    if not name or name in _zones():
        return None
    return f"{name!r} is not an IANA time zone (e.g. 'UTC', 'Europe/Berlin', 'America/New_York')"


def check_schedule(expr: str) -> str | None:
    """None when `expr` is a 5-field cron schedule that fires, else what to fix."""
    fields = expr.split()
    if len(fields) != len(FIELDS):
        return f"{expr!r} has {len(fields)} fields; a schedule has {_SHAPE}"
    try:
        next(CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC)))
    except CronSimError as exc:
        return f"{expr!r}: {_explain(fields, str(exc))}"
    except StopIteration:
        return f"{expr!r} never fires"
    return None


def _explain(fields: Sequence[str], message: str) -> str:
    """cronsim says which field ("Bad hour"); say what in it is wrong."""
    names = [name for name, _, _ in FIELDS]
    bad = message.removeprefix("Bad ")
    if bad not in names:
        return f"{message.lower()}; a schedule has {_SHAPE}"
    index = names.index(bad)
    name, low, high = FIELDS[index]
    text = fields[index].upper()
    for term in text.split(","):
        base, _, step = term.partition("/")
        if step.isdigit() and int(step) == 0:
            return f"{name} step 0: a step is 1 or more"
        _, hash_, nth = base.partition("#")
        if hash_ and not (nth.isdigit() and 1 <= int(nth) <= 5):
            return f"{name} {term}: the n of 'day#n' (the nth such day of the month) is 1-5"
        bounds = [b for b in re.split(r"[-#]", base.removesuffix("L")) if b.isdigit()]
        for b in bounds:
            if not low <= int(b) <= high:
                return f"{name} {b} out of range {low}-{high}"
        if "-" in base and len(bounds) == 2 and int(bounds[0]) > int(bounds[1]):
            return f"{name} range {bounds[0]}-{bounds[1]} runs backwards"
    if name == "day-of-month" and all(_NAMES.match(t) or t.isdigit() for t in re.split(r"[-,/]", text) if t):
        return f"day-of-month {fields[index]} never comes in month {fields[3]}"
    return (
        f"{name} {fields[index]!r} is not valid: use numbers {low}-{high}, '*', "
        "ranges 'a-b', lists 'a,b' and steps '*/n'"
    )


def latest_fire(action: ScheduledAction, after: float, now: float) -> float | None:
    """The latest fire time t of the action with after < t <= now, if any."""
    if now <= after:
        return None
    tz = zone(action.time_zone)
    # Walk back from one second past now (so a fire at exactly `now` counts) to the previous
    # fire: few steps, however long ago `after` is.
    try:
        back = next(CronSim(action.schedule, datetime.fromtimestamp(math.floor(now) + 1, tz), reverse=True))
    except StopIteration:
        return None
    # Backwards, cronsim follows the wall clock, which in the hour repeated at the end of DST
    # can land on yesterday's fire; forwards from there finds today's (a handful of fires).
    latest = None
    for fire in CronSim(action.schedule, datetime.fromtimestamp(max(after, back.timestamp() - 1), tz)):
        t = fire.timestamp()
        if t > now:
            break
        latest = t if t > after else latest
    return latest


@dataclass(frozen=True)
class Fired:
    action: ScheduledAction
    at: float  # the fire time applied


def due(
    actions: Sequence[ScheduledAction],
    last_fired: Mapping[str, float],
    since: float,
    now: float,
) -> list[Fired]:
    """The actions to apply now, in the order they fired; `since` is the last evaluation (or
    the group's creation)."""
    fired = []
    for action in actions:
        t = latest_fire(action, max(since, last_fired.get(action.name, -math.inf)), now)
        if t is not None:
            fired.append(Fired(action, t))
    return sorted(fired, key=lambda f: f.at)
