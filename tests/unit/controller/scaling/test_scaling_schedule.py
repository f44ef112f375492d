"""Scheduled actions: fire times in IANA time zones across the 2026 DST changes in Berlin (29
March: 02:00 CET -> 03:00 CEST; 25 October: 03:00 CEST -> 02:00 CET), each applied once, and
what a user reads about a bad schedule or zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.domain.scaling import schedule
from controller.domain.scaling.model import ScheduledAction

SHAPE = "a schedule has 5 fields: minute hour day-of-month month day-of-week, e.g. '0 8 * * 1-5'"
BAD_DOW = "is not valid: use numbers 0-7, '*', ranges 'a-b', lists 'a,b' and steps '*/n'"


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def berlin(name: str, cron: str, desired: int = 1) -> ScheduledAction:
    return ScheduledAction(name, cron, "Europe/Berlin", desired_size=desired)


def applied(
    actions: list[ScheduledAction], start: float, end: float, every: float = 60.0
) -> list[tuple[str, float]]:
    """Evaluate every `every` seconds from `start` to `end` as decide() does; what was applied."""
    last_fired: dict[str, float] = {}
    since, now, out = start, start, []
    while now <= end:
        for f in schedule.due(actions, last_fired, since, now):
            last_fired[f.action.name] = f.at
            out.append((f.action.name, f.at))
        since, now = now, now + every
    return out


def test_a_morning_action_follows_local_time_across_the_spring_change() -> None:
    morning = berlin("morning", "0 8 * * *")
    fires = applied([morning], utc(2026, 3, 27, 12), utc(2026, 3, 31, 12), every=300.0)
    assert [t for _, t in fires] == [
        utc(2026, 3, 28, 7),  # 08:00 CET
        utc(2026, 3, 29, 6),  # 08:00 CEST
        utc(2026, 3, 30, 6),
        utc(2026, 3, 31, 6),
    ]


def test_a_time_in_the_skipped_hour_fires_when_the_clocks_moved_on() -> None:
    fires = applied([berlin("x", "30 2 * * *")], utc(2026, 3, 28, 12), utc(2026, 3, 30, 12))
    assert [t for _, t in fires] == [
        utc(2026, 3, 29, 1),
        utc(2026, 3, 30, 0, 30),
    ]  # 03:00 CEST, then 02:30 CEST


def test_a_time_in_the_repeated_hour_fires_once() -> None:
    fires = applied([berlin("x", "30 2 * * *")], utc(2026, 10, 24, 12), utc(2026, 10, 26, 12))
    assert [t for _, t in fires] == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]  # CEST, then CET


def test_an_hourly_action_runs_every_real_hour_through_the_repeated_hour() -> None:
    fires = applied([berlin("x", "0 * * * *")], utc(2026, 10, 24, 22, 30), utc(2026, 10, 25, 2, 30))
    assert [t for _, t in fires] == [
        utc(2026, 10, 24, 23),
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 1),
        utc(2026, 10, 25, 2),
    ]


def test_of_several_fire_times_since_the_last_evaluation_only_the_latest_applies() -> None:
    every10 = ScheduledAction("x", "*/10 * * * *", desired_size=3)
    fired = schedule.due([every10], {}, utc(2026, 6, 1, 9), utc(2026, 6, 1, 10, 25))
    assert [(f.action.name, f.at) for f in fired] == [("x", utc(2026, 6, 1, 10, 20))]


def test_actions_that_fired_apply_in_the_order_they_fired() -> None:
    late = ScheduledAction("late", "30 9 * * *", desired_size=5)
    early = ScheduledAction("early", "0 9 * * *", desired_size=2)
    fired = schedule.due([late, early], {}, utc(2026, 6, 1, 8), utc(2026, 6, 1, 10))
    assert [f.action.name for f in fired] == ["early", "late"]


def test_a_fire_at_now_counts_and_one_at_the_last_evaluation_does_not() -> None:
    action = ScheduledAction("x", "0 9 * * *", desired_size=1)
    assert schedule.latest_fire(action, utc(2026, 6, 1, 8), utc(2026, 6, 1, 9)) == utc(2026, 6, 1, 9)
    assert schedule.latest_fire(action, utc(2026, 6, 1, 9), utc(2026, 6, 1, 9, 5)) is None
    assert schedule.latest_fire(action, utc(2026, 6, 1, 9), utc(2026, 6, 1, 9)) is None  # empty span


def test_a_fire_already_applied_is_not_applied_again() -> None:
    action = ScheduledAction("x", "0 9 * * *", desired_size=1)
    assert schedule.due([action], {"x": utc(2026, 6, 1, 9)}, utc(2026, 6, 1, 8), utc(2026, 6, 1, 9, 1)) == []


def test_an_action_long_overdue_applies_its_latest_fire() -> None:
    action = ScheduledAction("x", "0 0 1 1 *", time_zone="America/New_York", desired_size=1)
    assert schedule.latest_fire(action, utc(2020, 1, 1), utc(2026, 6, 1)) == utc(2026, 1, 1, 5)


def test_an_empty_time_zone_is_utc() -> None:
    action = ScheduledAction("x", "0 9 * * *", time_zone="", desired_size=1)
    assert schedule.latest_fire(action, utc(2026, 6, 1), utc(2026, 6, 2)) == utc(2026, 6, 1, 9)


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 25 * * *", "'0 25 * * *': hour 25 out of range 0-23"),
        ("60 * * * *", "'60 * * * *': minute 60 out of range 0-59"),
        ("0 0 0 * *", "'0 0 0 * *': day-of-month 0 out of range 1-31"),
        ("0 0 * 13 *", "'0 0 * 13 *': month 13 out of range 1-12"),
        ("0 0 * * 8", "'0 0 * * 8': day-of-week 8 out of range 0-7"),
        ("0 1,2,30 * * *", "'0 1,2,30 * * *': hour 30 out of range 0-23"),
        ("*/0 * * * *", "'*/0 * * * *': minute step 0: a step is 1 or more"),
        ("30-10 * * * *", "'30-10 * * * *': minute range 30-10 runs backwards"),
        ("0 0 31 2 *", "'0 0 31 2 *': day-of-month 31 never comes in month 2"),
        (
            "0 0 * * MON#6",
            "'0 0 * * MON#6': day-of-week MON#6: the n of 'day#n' (the nth such day of the month) is 1-5",
        ),
        (
            "0 8 * * mon-fry",
            f"'0 8 * * mon-fry': day-of-week 'mon-fry' {BAD_DOW}",
        ),
        (
            "0 8 * *",
            "'0 8 * *' has 4 fields; " + SHAPE,
        ),
        (
            "0 0 8 * * *",
            "'0 0 8 * * *' has 6 fields; " + SHAPE,
        ),
        (
            "",
            "'' has 0 fields; " + SHAPE,
        ),
    ],
)
def test_a_bad_schedule_says_what_to_fix(cron: str, message: str) -> None:
    assert schedule.check_schedule(cron) == message


@pytest.mark.parametrize(
    "cron", ["0 8 * * 1-5", "*/15 * * * *", "0 0 L * *", "0 9 * JAN-MAR SUN", "0 0 29 2 *", "0 22 * * 0,7"]
)
def test_good_schedules_pass(cron: str) -> None:
    assert schedule.check_schedule(cron) is None


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "../../etc/passwd", "europe/berlin", "CEST"])
def test_a_bad_time_zone_says_what_to_fix(zone: str) -> None:
    assert schedule.check_time_zone(zone) == (
        f"{zone!r} is not an IANA time zone (e.g. 'UTC', 'Europe/Berlin', 'America/New_York')"
    )


@pytest.mark.parametrize("zone", ["", "UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+3"])
def test_iana_time_zones_pass(zone: str) -> None:
    assert schedule.check_time_zone(zone) is None
