"""Target tracking as Kubernetes' HPA computes it. Each expected size is worked out by hand
from HPA's rules (replica_calculator.go, horizontal.go), written next to the case."""

from __future__ import annotations

import pytest
from scaling_testkit import T0, at_cpu, building, cpu_policy, member, obs

from controller.domain.model import TaskState
from controller.domain.scaling import hpa, metrics
from controller.domain.scaling.model import Policy, TargetTracking

CPU = "cpu_utilization"


def cpu_replicas(
    members: tuple[object, ...] | list[object], current: int, target: float = 50.0, tolerance: float = 0.1
) -> int | None:
    return hpa.member_replicas(metrics.samples(members, CPU), target, tolerance, current, cpu=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cpu", "expected"),
    [
        (54.0, 4),  # ratio 1.08: within 10 %
        (55.0, 4),  # ratio 1.10: on the edge, still within (HPA: <=)
        (55.9, 4),  # CPU in whole percent, truncated (55): within
        (56.0, 5),  # 1.12 * 4 = 4.48 -> 5
        (45.0, 4),  # 0.90: within
        (40.0, 4),  # 0.80 * 4 = 3.2 -> 4 (ceil)
        (35.0, 3),  # 0.70 * 4 = 2.8 -> 3
        (100.0, 8),  # 2.0 * 4
        (0.0, 0),  # idle: HPA goes to 0, the group's min_size holds it
    ],
)
def test_desired_is_ceil_of_current_times_ratio_outside_the_tolerance_band(cpu: float, expected: int) -> None:
    assert cpu_replicas(at_cpu(cpu, cpu, cpu, cpu), current=4) == expected


def test_a_zero_tolerance_reacts_to_any_change() -> None:
    assert cpu_replicas(at_cpu(52, 52, 52, 52), current=4, tolerance=0.0) == 5  # 1.04 * 4 = 4.16
    assert cpu_replicas(at_cpu(50, 50, 50, 50), current=4, tolerance=0.0) == 4


def test_no_ready_member_with_metrics_recommends_nothing() -> None:
    assert cpu_replicas(at_cpu(None, None), current=2) is None
    assert cpu_replicas([building(1), building(2)], current=2) is None


def test_missing_metrics_count_as_idle_on_a_scale_out() -> None:
    # 3 at 70 %: ratio 1.4 would give ceil(1.4 * 3) = 5; the silent member counts as 0 %:
    # (210 + 0) / 4 = 52.5 -> 52 %, ratio 1.04: within the band, no change.
    assert cpu_replicas(at_cpu(70, 70, 70, None), current=4) == 4
    # 3 at 90 %: (270 + 0) / 4 = 67.5 -> 67 %, 1.34 * 4 = 5.36 -> 6.
    assert cpu_replicas(at_cpu(90, 90, 90, None), current=4) == 6


def test_missing_cpu_counts_as_fully_busy_on_a_scale_in() -> None:
    # 3 at 10 %: ratio 0.2 would give ceil(0.2 * 3) = 1; the silent member counts as 100 %:
    # (30 + 100) / 4 = 32.5 -> 32 %, 0.64 * 4 = 2.56 -> 3.
    assert cpu_replicas(at_cpu(10, 10, 10, None), current=4) == 3


def test_missing_custom_values_count_as_the_target_on_a_scale_in() -> None:
    members = [member(i, custom={"custom/q": 1.0}) for i in (1, 2, 3)] + [member(4)]
    # 3 at 1.0 against 5.0: ratio 0.2; the silent member counts as 5.0: 8 / 4 = 2.0, 0.4 * 4 = 1.6 -> 2.
    got = hpa.member_replicas(metrics.samples(members, "custom/q"), 5.0, 0.1, 4, cpu=False)
    assert got == 2


def test_a_rebalanced_ratio_that_flips_direction_keeps_the_size() -> None:
    # 2 at 60 %: ratio 1.2 (scale out); with the 2 silent members at 0 %: 30 %, ratio 0.6 (in).
    assert cpu_replicas(at_cpu(60, 60, None, None), current=4) == 4


def test_members_still_starting_count_as_idle_on_a_scale_out() -> None:
    # 2 at 100 %, 2 being built: not 2.0 * 4 = 8 but (200 + 0 + 0) / 4 = 50 %: within, 4.
    assert cpu_replicas([*at_cpu(100, 100), building(3), building(4)], current=4) == 4
    # 2 at 100 %, 1 being built: 200 / 3 = 66.7 -> 66 %, 1.32 * 3 = 3.96 -> 4.
    assert cpu_replicas([*at_cpu(100, 100), building(3)], current=3) == 4


def test_members_still_starting_are_left_out_of_a_scale_in() -> None:
    # 4 at 10 %, 2 being built: ratio 0.2 over the 4 ready ones: ceil(0.8) = 1.
    assert cpu_replicas([*at_cpu(10, 10, 10, 10), building(5), building(6)], current=6) == 1


def test_a_member_with_an_operation_in_flight_is_unready_for_cpu_but_counted_for_custom() -> None:
    rebooting = member(3, 100.0, task=TaskState.REBOOTING, custom={"custom/q": 100.0})
    ready = [member(i, 100.0, custom={"custom/q": 100.0}) for i in (1, 2)]
    # CPU: 2 ready at 100 %, the rebooting one counts as 0 %: 66 %, 1.32 * 3 = 3.96 -> 4.
    assert cpu_replicas([*ready, rebooting], current=3) == 4
    # custom: HPA ignores only pending pods, so all three count: 2.0 * 3 = 6.
    got = hpa.member_replicas(metrics.samples([*ready, rebooting], "custom/q"), 50.0, 0.1, 3, cpu=False)
    assert got == 6


def test_a_scale_in_never_recommends_more_than_the_current_size() -> None:
    # Desired already 2 with 5 members left: 4 at 20 % and one silent (100 %): 36 %, 0.72 * 5
    # = 3.6 -> 4, more than 2 while the ratio says "in": HPA keeps the current size.
    assert cpu_replicas(at_cpu(20, 20, 20, 20, None), current=2) == 2


def test_a_group_value_gives_ceil_of_value_over_target() -> None:
    assert hpa.group_replicas(90.0, members=3, target=10.0, tolerance=0.1, current=3) == 9
    assert hpa.group_replicas(31.0, members=3, target=10.0, tolerance=0.1, current=3) == 3  # 31/30: within
    assert hpa.group_replicas(25.0, members=0, target=10.0, tolerance=0.1, current=0) == 3  # from zero
    assert hpa.group_replicas(0.0, members=0, target=10.0, tolerance=0.1, current=0) == 0
    assert hpa.group_replicas(12.0, members=3, target=10.0, tolerance=0.1, current=3) == 2  # 0.4: in


def test_recommend_uses_the_group_value_when_no_member_reports_its_own() -> None:
    policy = Policy("q", TargetTracking(metric="custom/q", target=10.0))
    size, reading = hpa.recommend(policy, obs([member(1), member(2)], group_metrics={"custom/q": 60.0}), 2)
    assert size == 6 and reading.value == 30.0
    own = [member(1, custom={"custom/q": 10.0}), member(2, custom={"custom/q": 10.0})]
    size, _ = hpa.recommend(policy, obs(own, group_metrics={"custom/q": 60.0}), 2)
    assert size == 2  # the members' own values (at target) win over the group's


def test_stabilisation_holds_a_scale_in_at_the_highest_recent_recommendation() -> None:
    history = [(T0 - 290.0, 6), (T0 - 100.0, 5)]
    assert hpa.stabilise(2, 8, history, T0, 300.0) == 6
    assert hpa.stabilise(2, 8, history, T0 + 10.0, 300.0) == 5  # the 6 left the window
    assert hpa.stabilise(2, 8, history, T0 + 200.0, 300.0) == 2  # both left it
    assert hpa.stabilise(7, 8, history, T0, 300.0) == 7  # above every recommendation
    assert hpa.stabilise(2, 4, history, T0, 300.0) == 4  # never above the current size
    assert hpa.stabilise(9, 4, history, T0, 300.0) == 9  # a scale-out is not held


def test_the_window_keeps_only_what_can_still_win() -> None:
    kept = hpa.remember([(T0 - 400.0, 9), (T0 - 200.0, 4), (T0 - 100.0, 7), (T0 - 50.0, 3)], T0, 300.0, 5)
    assert kept == [(T0 - 100.0, 7), (T0, 5)]  # 9 too old; 4 and 3 below a newer 5


@pytest.mark.parametrize(
    ("current", "added", "expected"),
    [
        (4, 0, 8),  # max(4 + 4, 4 * 2)
        (10, 0, 20),  # 100 % wins over 4 members
        (1, 0, 5),  # 4 members win over 100 %
        (8, 4, 8),  # 4 added within the period: from 4, at most 8, so none more now
        (0, 0, 4),
    ],
)
def test_scale_up_limit(current: int, added: int, expected: int) -> None:
    tt = TargetTracking(metric=CPU, target=50.0)
    ups = [(T0 - 10.0, added)] if added else []
    assert hpa.scale_up_limit(current, ups, T0, tt) == expected


def test_scale_ups_older_than_the_period_do_not_count() -> None:
    tt = TargetTracking(metric=CPU, target=50.0)
    assert hpa.scale_up_limit(8, [(T0 - 15.0, 4)], T0, tt) == 16  # exactly one period ago: gone
    assert hpa.scale_up_limit(8, [(T0 - 14.0, 4)], T0, tt) == 8
    custom = TargetTracking(
        metric=CPU, target=50.0, scale_up_percent=50, scale_up_members=1, scale_up_period_s=60
    )
    assert hpa.scale_up_limit(10, [(T0 - 59.0, 2)], T0, custom) == 12  # from 8: 8 * 1.5 = 12


def test_target_tracking_limits_a_scale_out_and_says_so() -> None:
    out = hpa.target_tracking([cpu_policy()], obs(at_cpu(100, 100, 100, 100)), 4, [], [])
    # HPA wants 8 (2.0 * 4), the limit from 4 is 8: allowed.
    assert out.desired == 8 and out.clamped == ()
    out = hpa.target_tracking([cpu_policy(10.0)], obs(at_cpu(100, 100, 100, 100)), 4, [], [])
    assert out.desired == 8  # 10.0 * 4 = 40, limited to 8
    assert out.clamped == ("scale-up limit 8 per 15 s (wanted 40)",)


def test_first_evaluation_holds_a_scale_in_for_the_window() -> None:
    # recordInitialRecommendation: the size the autoscaler starts from counts as a recommendation.
    out = hpa.target_tracking([cpu_policy()], obs(at_cpu(10, 10, 10, 10)), 4, [], [])
    assert out.desired == 4
    assert out.clamped == ("scale-down stabilisation 300 s: 4 (wanted 1)",)
    assert out.recommendations == [(T0, 4), (T0, 1)]


def test_disable_scale_in_keeps_the_size_but_not_a_scale_out() -> None:
    policy = cpu_policy(disable_scale_in=True)
    out = hpa.target_tracking([policy], obs(at_cpu(10, 10, 10, 10)), 4, [(T0 - 1000.0, 4)], [])
    assert out.desired == 4
    assert out.clamped == ("scale-in disabled by cpu: 4 (wanted 1)",)
    assert hpa.target_tracking([policy], obs(at_cpu(80, 80, 80, 80)), 4, [], []).desired == 7  # 1.6 * 4 = 6.4


def test_the_highest_of_several_target_tracking_policies_wins() -> None:
    members = [member(i, 80.0, custom={"custom/q": 1.0}) for i in (1, 2, 3, 4)]
    queue = Policy("queue", TargetTracking(metric="custom/q", target=1.0))
    out = hpa.target_tracking([queue, cpu_policy()], obs(members), 4, [], [])
    assert (out.desired, out.policy) == (7, "cpu")  # cpu 1.6 * 4 = 6.4 -> 7; queue at target: 4
    assert [r.policy for r in out.readings] == ["queue", "cpu"]


def test_no_metrics_recommends_nothing_but_keeps_the_window() -> None:
    out = hpa.target_tracking([cpu_policy()], obs(at_cpu(None, None)), 2, [(T0 - 10.0, 5)], [])
    assert out.desired is None
    assert out.recommendations == [(T0 - 10.0, 5)]
