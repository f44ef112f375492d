"""Members: health replacements, scale-in victims by rule and protection, new member names."""

from __future__ import annotations

import random
import re

import pytest
from scaling_testkit import T0, building, member

from controller.domain.model import TaskState, VmState
from controller.domain.scaling import members
from controller.domain.scaling.evaluation import Replacement
from controller.domain.scaling.model import ScaleInRule


def test_error_lost_and_long_down_members_are_replaced_with_their_reason() -> None:
    group = [
        member(1),
        member(2, vm=VmState.ERROR, fault="NoValidHost: 0 of 3 hosts have 4 vcpus"),
        member(3, vm=VmState.ERROR),
        member(4, lost=True),
        member(5, host_down_since=T0 - 75.5),
        member(6, host_down_since=T0 - 60.0),  # exactly the grace: not yet
        member(7, vm=VmState.ERROR, task=TaskState.DELETING),  # already going
    ]
    assert members.replacements(group, T0, 60.0) == (
        Replacement("web-m0002", "ERROR: NoValidHost: 0 of 3 hosts have 4 vcpus"),
        Replacement("web-m0003", "ERROR"),
        Replacement("web-m0004", "lost"),
        Replacement("web-m0005", "host h1 DOWN for 75 s"),
    )


def test_a_member_on_a_down_host_is_replaced_once_the_grace_has_passed() -> None:
    down = [member(1, host_down_since=T0)]
    assert members.replacements(down, T0 + 60.0, 60.0) == ()
    assert members.replacements(down, T0 + 61.0, 60.0) == (Replacement("web-m0001", "host h1 DOWN for 61 s"),)
    assert members.replacements(down, T0 + 1.0, 0.0) == (Replacement("web-m0001", "host h1 DOWN for 1 s"),)


def test_live_members_leave_out_those_being_deleted() -> None:
    assert [m.server_id for m in members.live([member(1), member(2, task=TaskState.DELETING)])] == [
        "web-m0001"
    ]


# member(n) is created n minutes before T0: member 1 is the newest.
FOUR = [member(1, 30.0), member(2, 10.0), member(3, None), member(4, 20.0)]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (ScaleInRule.NEWEST_FIRST, ["web-m0001", "web-m0002", "web-m0003"]),
        (ScaleInRule.OLDEST_FIRST, ["web-m0004", "web-m0003", "web-m0002"]),
        (ScaleInRule.LEAST_LOADED, ["web-m0002", "web-m0004", "web-m0001"]),  # no figure: last
    ],
)
def test_victims_follow_the_rule(rule: ScaleInRule, expected: list[str]) -> None:
    assert list(members.victims(FOUR, 3, rule, protected=())) == expected


def test_least_loaded_ties_go_to_the_newest() -> None:
    tie = [member(3, 10.0), member(1, 10.0), member(2, 5.0)]
    assert members.victims(tie, 3, ScaleInRule.LEAST_LOADED, ()) == ("web-m0002", "web-m0001", "web-m0003")


def test_a_member_without_cpu_goes_only_when_no_other_is_left() -> None:
    assert members.victims(FOUR, 4, ScaleInRule.LEAST_LOADED, ())[-1] == "web-m0003"


def test_protected_members_are_never_removed() -> None:
    got = members.victims(FOUR, 4, ScaleInRule.NEWEST_FIRST, protected={"web-m0001", "web-m0003"})
    assert got == ("web-m0002", "web-m0004")  # fewer than asked


def test_unhealthy_then_not_ready_members_go_first() -> None:
    group = [
        member(1),
        building(2),
        member(3, vm=VmState.ERROR),
        member(4),
        member(5, task=TaskState.REBOOTING),
    ]
    got = members.victims(group, 4, ScaleInRule.OLDEST_FIRST, (), unhealthy_ids={"web-m0003"})
    assert got == ("web-m0003", "web-m0005", "web-m0002", "web-m0004")


def test_members_being_deleted_are_not_victims_again() -> None:
    group = [member(1, task=TaskState.DELETING), member(2)]
    assert members.victims(group, 2, ScaleInRule.NEWEST_FIRST, ()) == ("web-m0002",)
    assert members.victims(group, 0, ScaleInRule.NEWEST_FIRST, ()) == ()
    assert members.victims(group, -1, ScaleInRule.NEWEST_FIRST, ()) == ()


def test_member_ids_are_the_group_and_five_random_characters() -> None:
    rng = random.Random(7)
    ids = {members.member_id("web", rng.randrange) for _ in range(200)}
    assert all(re.fullmatch(r"web-[a-z0-9]{5}", i) for i in ids)
    assert len(ids) == 200
    assert members.member_id("web", lambda n: n - 1) == "web-99999"
    assert members.member_id("web", lambda n: 0) == "web-aaaaa"


def test_new_member_ids_skip_taken_ones() -> None:
    draws = iter([0] * 5 + [0] * 5 + [1] * 5 + [0] * 5 + [2] * 5)  # aaaaa, aaaaa, bbbbb, aaaaa, ccccc
    got = members.new_member_ids("web", 2, taken={"web-bbbbb"}, rand=lambda n: next(draws))
    assert got == ["web-aaaaa", "web-ccccc"]
