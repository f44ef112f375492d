"""A metric's value per member, as a policy compares it and as the group's status shows it."""

from __future__ import annotations

import pytest
from scaling_testkit import building, member, obs

from controller.domain.model import TaskState, VmState
from controller.domain.scaling import metrics
from controller.domain.scaling.evaluation import MetricReading


def test_cpu_is_the_average_of_the_members_that_report_it() -> None:
    reading = metrics.read(
        "p", "cpu_utilization", 60.0, obs([member(1, 30.0), member(2, 90.0), member(3, None)])
    )
    assert reading == MetricReading("p", "cpu_utilization", 60.0, 60.0, 2)


def test_nobody_reporting_gives_no_value() -> None:
    reading = metrics.read("p", "cpu_utilization", 50.0, obs([member(1, None), building(2)]))
    assert reading.value is None and reading.reporting_members == 0
    assert "value" not in reading.as_dict()


def test_members_being_deleted_or_failed_are_not_measured() -> None:
    members = [
        member(1, 20.0),
        member(2, 100.0, task=TaskState.DELETING),
        member(3, 100.0, vm=VmState.ERROR),
        member(4, 100.0, lost=True),
    ]
    reading = metrics.read("p", "cpu_utilization", 50.0, obs(members))
    assert (reading.value, reading.reporting_members) == (20.0, 1)
    assert [s.server_id for s in metrics.samples(members, "cpu_utilization")] == ["web-m0001"]


def test_a_custom_metric_averages_the_members_own_values() -> None:
    members = [member(1, custom={"custom/queue": 4.0}), member(2, custom={"custom/queue": 8.0}), member(3)]
    reading = metrics.read("q", "custom/queue", 5.0, obs(members, group_metrics={"custom/queue": 1000.0}))
    assert (reading.value, reading.reporting_members) == (6.0, 2)  # the group value is not used


def test_a_group_value_is_divided_by_the_members_counted() -> None:
    members = [member(1), member(2), member(3), member(4, task=TaskState.DELETING)]
    o = obs(members, group_metrics={"custom/queue": 90.0})
    reading = metrics.read("q", "custom/queue", 10.0, o)
    assert (reading.value, reading.reporting_members) == (30.0, 3)
    assert metrics.group_value(o, "custom/queue") == 90.0


def test_a_group_value_with_no_member_has_no_value_per_member() -> None:
    reading = metrics.read("q", "custom/queue", 10.0, obs([], group_metrics={"custom/queue": 90.0}))
    assert reading.value is None and reading.reporting_members == 0


def test_cpu_has_no_group_value() -> None:
    assert (
        metrics.group_value(
            obs([member(1, None)], group_metrics={"cpu_utilization": 80.0}), "cpu_utilization"
        )
        is None
    )


@pytest.mark.parametrize(
    ("m", "pending", "ready"),
    [
        (building(1), True, False),
        (member(1, 40.0), False, True),
        (member(1, 40.0, task=TaskState.REBOOTING), False, False),
    ],
)
def test_samples_say_whether_a_member_is_still_building_or_ready(
    m: object, pending: bool, ready: bool
) -> None:
    (sample,) = metrics.samples([m], "cpu_utilization")  # type: ignore[list-item]
    assert (sample.pending, sample.ready) == (pending, ready)
