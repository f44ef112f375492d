"""decide(): scheduled actions, SetDesiredSize and policies combined, clamped and explained; the
state it keeps across evaluations, restarts and leader failovers; the members it adds, removes
and replaces."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

from scaling_testkit import T0, at_cpu, building, cpu_policy, group, member, obs, restart

from controller.domain.model import TaskState, VmState
from controller.domain.scaling.decide import decide
from controller.domain.scaling.evaluation import Decision, GroupState, Member, Replacement
from controller.domain.scaling.model import (
    AdjustmentType,
    Comparison,
    Policy,
    ScaleInRule,
    ScalingGroup,
    ScheduledAction,
    SimpleScaling,
    Step,
    StepScaling,
)

GE, LE = Comparison.GREATER_OR_EQUAL, Comparison.LESS_OR_EQUAL
STEP_OUT = Policy("out", StepScaling("cpu_utilization", GE, 70.0, (Step(0.0, None, 3),), cooldown_s=300.0))
STEP_IN = Policy("in", StepScaling("cpu_utilization", LE, 30.0, (Step(0.0, None, -1),), cooldown_s=300.0))


def applied(g: ScalingGroup, d: Decision) -> ScalingGroup:
    """The group as the autoscaler stores it after the decision."""
    return replace(
        g,
        desired_size=d.desired,
        min_size=g.min_size if d.min_size is None else d.min_size,
        max_size=g.max_size if d.max_size is None else d.max_size,
    )


def test_without_policies_the_desired_size_stays_and_members_follow_it() -> None:
    d, state = decide(group(desired=4), GroupState(), obs(at_cpu(99, 99)))
    assert (d.desired, d.rule, d.add, d.remove, d.changed) == (4, "none", 2, (), True)
    assert state.evaluated_at == T0
    d, _ = decide(group(desired=2), GroupState(), obs(at_cpu(0, 0, 0, 0)))
    assert (d.desired, d.remove) == (2, ("web-m0001", "web-m0002"))  # the newest two


def test_a_steady_group_decides_nothing() -> None:
    d, _ = decide(group(desired=2, policies=(cpu_policy(),)), GroupState(), obs(at_cpu(50, 50)))
    assert (d.rule, d.changed, d.clamped) == ("none", False, ())
    assert [(m.policy, m.value, m.target, m.reporting_members) for m in d.metrics] == [("cpu", 50.0, 50.0, 2)]


def test_set_desired_size_applies_and_is_explained() -> None:
    d, _ = decide(group(desired=2), GroupState(), obs(at_cpu(50, 50), manual=5))
    assert (d.previous_desired, d.desired, d.rule, d.add) == (2, 5, "manual", 3)


def test_sizes_outside_the_bounds_are_clamped_and_explained() -> None:
    d, _ = decide(group(desired=12, max_size=10), GroupState(), obs(at_cpu(*[50.0] * 12)))
    assert (d.desired, d.rule, d.clamped) == (10, "max_size", ("max_size 10 (wanted 12)",))
    d, _ = decide(group(desired=1, min_size=3), GroupState(), obs(at_cpu(50)))
    assert (d.desired, d.rule, d.clamped, d.add) == (3, "min_size", ("min_size 3 (wanted 1)",), 2)
    d, _ = decide(group(desired=4, max_size=6), GroupState(), obs(at_cpu(50, 50, 50, 50), manual=9))
    assert (d.desired, d.rule, d.clamped) == (6, "manual", ("max_size 6 (wanted 9)",))


def test_a_policy_beyond_max_size_is_clamped_and_explained() -> None:
    g = group(desired=8, max_size=10, policies=(cpu_policy(),))
    d, _ = decide(g, GroupState(), obs(at_cpu(*[90.0] * 8)))
    # 1.8 * 8 = 14.4 -> 15; the rate limit from 8 is 16; max_size 10.
    assert (d.desired, d.rule, d.clamped) == (10, "target_tracking/cpu", ("max_size 10 (wanted 15)",))


def test_scale_in_waits_for_the_stabilisation_window_and_the_highest_wins() -> None:
    g, state = group(desired=6, policies=(cpu_policy(),)), GroupState()
    seen = []
    # Load falls: 40 % (HPA: 0.8 * 6 = 4.8 -> 5), then 20 % (0.4 * 6 = 2.4 -> 3) from T0 + 100.
    for t in range(0, 520, 20):
        cpu = 40.0 if t < 100 else 20.0
        d, state = decide(g, state, obs(at_cpu(*[cpu] * g.desired_size), now=T0 + t))
        g = applied(g, d)
        seen.append((t, d.desired))
        state = restart(state)
        assert len(state.recommendations) <= 3  # only what can still win is kept
    sizes = dict(seen)
    assert sizes[0] == sizes[280] == 6  # the first evaluation recorded 6 (HPA's initial recommendation)
    assert sizes[300] == 5  # 300 s on, the 6 left the window; the 5 of t=80 is the highest
    assert sizes[360] == 5
    assert sizes[380] == 3  # the 5 of t=80 left too; the highest is the 3 of t=300 (20 % of 6)
    assert g.desired_size == 3  # 20 % of 3 members asks for 2, but the 3 of t=300 holds until t=600


def test_a_stabilised_scale_in_says_what_holds_it() -> None:
    g = group(desired=6, policies=(cpu_policy(),))
    d, _ = decide(g, GroupState(recommendations=[(T0 - 100.0, 5)]), obs(at_cpu(*[10.0] * 6)))
    assert (d.desired, d.rule) == (5, "target_tracking/cpu")
    assert d.clamped == ("scale-down stabilisation 300 s: 5 (wanted 2)",)


def test_a_scale_out_is_rate_limited_per_period() -> None:
    g = group(desired=2, max_size=100, policies=(cpu_policy(10.0),))
    d, state = decide(g, GroupState(), obs(at_cpu(100, 100)))
    # HPA wants 10 * 2 = 20; from 2 at most max(2 + 4, 2 * 2) = 6.
    assert (d.desired, d.add, d.clamped) == (6, 4, ("scale-up limit 6 per 15 s (wanted 20)",))
    assert state.scale_ups == [(T0, 4)]
    g = applied(g, d)
    d, state = decide(g, restart(state), obs(at_cpu(*[100.0] * 6), now=T0 + 10))
    # 4 added 10 s ago: the period started at 2, so still at most 6.
    assert (d.desired, d.rule, d.clamped) == (6, "none", ("scale-up limit 6 per 15 s (wanted 60)",))
    d, state = decide(g, state, obs(at_cpu(*[100.0] * 6), now=T0 + 15))
    assert (d.desired, d.clamped) == (12, ("scale-up limit 12 per 15 s (wanted 60)",))
    assert state.scale_ups == [(T0 + 15, 6)]  # the first one left the period and the state


def test_missing_metrics_and_starting_members_hold_the_size() -> None:
    g = group(desired=4, policies=(cpu_policy(),))
    # Scale-out: two busy members, two still building: counted as idle, 50 %: no change.
    d, _ = decide(g, GroupState(), obs([*at_cpu(100, 100), building(3), building(4)]))
    assert (d.desired, d.rule) == (4, "none")
    # Scale-in: three idle members and one silent, taken as 100 %: (30 + 100) / 4 = 32 %,
    # 0.64 * 4 = 2.56 -> 3 (without the silent one it would be 0.2 * 3 = 0.6 -> 1).
    d, _ = decide(g, GroupState(recommendations=[(T0 - 10.0, 1)]), obs(at_cpu(10, 10, 10, None)))
    assert (d.desired, d.rule) == (3, "target_tracking/cpu")


def test_a_step_policy_in_cooldown_waits_even_across_a_leader_failover() -> None:
    g = group(desired=2, max_size=20, policies=(STEP_OUT,))
    d, state = decide(g, GroupState(), obs(at_cpu(90, 90)))
    assert (d.desired, d.rule) == (5, "step/out")
    assert state.cooldown_until == {"out": T0 + 300.0}
    g = applied(g, d)

    # The leader dies; another reads the state back 100 s later: still in cooldown.
    d, state = decide(g, restart(state), obs(at_cpu(*[90.0] * 5), now=T0 + 100))
    assert (d.desired, d.rule) == (5, "none")
    assert d.clamped == ("cooldown of step/out: 200 s left (wanted 8)",)
    d, state = decide(g, restart(state), obs(at_cpu(*[90.0] * 5), now=T0 + 300))
    assert (d.desired, d.rule) == (8, "step/out")
    assert state.cooldown_until == {"out": T0 + 600.0}


def test_a_cooldown_starts_only_when_the_policy_changed_the_size() -> None:
    at_max = group(desired=5, max_size=5, policies=(STEP_OUT,))
    d, state = decide(at_max, GroupState(), obs(at_cpu(*[90.0] * 5)))
    assert (d.desired, d.clamped, state.cooldown_until) == (5, ("max_size 5 (wanted 8)",), {})


def test_the_largest_recommendation_wins_across_policies() -> None:
    g = group(desired=4, max_size=20, policies=(cpu_policy(), STEP_OUT))
    d, _ = decide(g, GroupState(), obs(at_cpu(75, 75, 75, 75)))
    # cpu: 1.5 * 4 = 6; step: 75 % >= 70 %: 4 + 3 = 7.
    assert (d.desired, d.rule) == (7, "step/out")
    assert [m.policy for m in d.metrics] == ["cpu", "out"]


def test_a_scale_in_needs_every_policy_to_agree() -> None:
    g = group(desired=4, policies=(cpu_policy(), STEP_IN))
    # 28 %: the step policy would remove one, target tracking (0.56 * 4 = 2.24 -> 3, held by
    # its window at 4) keeps 4: the larger wins.
    d, state = decide(g, GroupState(recommendations=[(T0 - 10.0, 4)]), obs(at_cpu(28, 28, 28, 28)))
    assert (d.desired, d.rule) == (4, "none")
    assert state.cooldown_until == {}
    d, _ = decide(group(desired=4, policies=(STEP_IN,)), GroupState(), obs(at_cpu(28, 28, 28, 28)))
    assert (d.desired, d.rule, d.remove) == (3, "step/in", ("web-m0001",))


def test_a_simple_policy_on_a_group_metric() -> None:
    queue = Policy("queue", SimpleScaling("custom/jobs", GE, 100.0, 50, AdjustmentType.PERCENT_CHANGE, 60.0))
    g = group(desired=3, policies=(queue,))
    # 330 jobs over 3 members: 110 each, >= 100: add 50 % of 3 = 1.5 -> 1.
    d, state = decide(g, GroupState(), obs(at_cpu(1, 1, 1), group_metrics={"custom/jobs": 330.0}))
    assert (d.desired, d.rule, state.cooldown_until) == (4, "simple/queue", {"queue": T0 + 60.0})


def test_manual_size_is_not_undone_by_a_policy_before_the_window_passes() -> None:
    g = group(desired=2, policies=(cpu_policy(),))
    d, state = decide(g, GroupState(), obs(at_cpu(10, 10), manual=8))
    assert (d.desired, d.rule) == (8, "manual")
    g = applied(g, d)
    d, state = decide(g, state, obs(at_cpu(*[10.0] * 8), now=T0 + 290))
    assert d.desired == 8
    d, state = decide(g, state, obs(at_cpu(*[10.0] * 8), now=T0 + 300))
    assert (d.desired, d.rule) == (2, "target_tracking/cpu")  # 0.2 * 8 = 1.6 -> 2


def test_a_scheduled_action_applies_once_across_a_restart() -> None:
    morning = ScheduledAction("morning", "0 8 * * *", "Europe/Berlin", desired_size=6)
    created = datetime(2026, 3, 27, tzinfo=UTC)
    g = group(desired=2, actions=(morning,), created_at=created)
    # Sunday 29 March 2026: 08:00 in Berlin is 06:00 UTC (CEST since 02:00).
    before = datetime(2026, 3, 29, 5, 59, 50, tzinfo=UTC).timestamp()
    d, state = decide(g, GroupState(evaluated_at=before - 15), obs(at_cpu(50, 50), now=before))
    assert (d.rule, d.desired) == ("none", 2)  # 07:59:50 CEST
    g = applied(g, d)
    d, state = decide(g, restart(state), obs(at_cpu(*[50.0] * g.desired_size), now=before + 15))
    assert (d.rule, d.desired, d.add) == ("scheduled/morning", 6, 4)
    assert state.last_fired == {"morning": datetime(2026, 3, 29, 6, tzinfo=UTC).timestamp()}
    g = applied(g, d)
    # Someone sets 3 by hand; the leader restarts; the 08:00 action is not applied again.
    d, state = decide(g, restart(state), obs(at_cpu(*[50.0] * 6), now=before + 30, manual=3))
    g = applied(g, d)
    for later in (45, 600, 3600):
        d, state = decide(g, restart(state), obs(at_cpu(50, 50, 50), now=before + later))
        assert (d.rule, d.desired) == ("none", 3)


def test_a_new_group_does_not_apply_fires_from_before_it_existed() -> None:
    nightly = ScheduledAction("nightly", "0 22 * * *", desired_size=1)
    created = datetime(2026, 6, 1, 23, tzinfo=UTC)
    g = group(desired=4, actions=(nightly,), created_at=created)
    d, state = decide(g, GroupState(), obs(at_cpu(50, 50, 50, 50), now=created.timestamp() + 5))
    assert d.rule == "none" and state.last_fired == {}
    d, _ = decide(g, GroupState(), obs(at_cpu(50, 50, 50, 50), now=created.timestamp() + 23 * 3600))
    assert (d.rule, d.desired) == ("scheduled/nightly", 1)


def test_scheduled_bounds_are_carried_in_the_decision() -> None:
    weekday = ScheduledAction("weekday", "0 7 * * 1-5", min_size=5, max_size=20)
    monday_7 = datetime(2026, 6, 1, 7, tzinfo=UTC).timestamp()
    g = group(desired=2, min_size=1, max_size=10, actions=(weekday,))
    d, _ = decide(g, GroupState(evaluated_at=monday_7 - 15), obs(at_cpu(50, 50), now=monday_7))
    assert (d.min_size, d.max_size, d.desired, d.rule) == (5, 20, 5, "scheduled/weekday")
    assert d.clamped == ("min_size 5 (wanted 2)",)
    assert d.changed


def test_a_scheduled_min_above_the_max_raises_the_max() -> None:
    big = ScheduledAction("big", "0 7 * * *", min_size=15)
    small = ScheduledAction("small", "0 7 * * *", max_size=0)
    t = datetime(2026, 6, 1, 7, tzinfo=UTC).timestamp()
    d, _ = decide(
        group(desired=2, max_size=10, actions=(big,)), GroupState(evaluated_at=t - 15), obs([], now=t)
    )
    assert (d.min_size, d.max_size, d.desired) == (15, 15, 15)
    assert d.clamped == ("max_size 15 (raised to scheduled/big's min_size)", "min_size 15 (wanted 2)")
    d, _ = decide(
        group(desired=2, min_size=1, actions=(small,)), GroupState(evaluated_at=t - 15), obs([], now=t)
    )
    assert (d.min_size, d.max_size, d.desired) == (0, 0, 0)


def test_unhealthy_members_are_replaced_or_removed_first_on_a_scale_in() -> None:
    members = [member(1), member(2, vm=VmState.ERROR, fault="disk"), member(3), member(4, lost=True)]
    d, _ = decide(group(desired=4), GroupState(), obs(members))
    assert (d.add, d.remove) == (0, ())
    assert d.replace == (Replacement("web-m0002", "ERROR: disk"), Replacement("web-m0004", "lost"))
    d, _ = decide(group(desired=3), GroupState(), obs(members))
    assert d.remove == ("web-m0002",)
    assert d.replace == (Replacement("web-m0004", "lost"),)


def test_health_grace_is_the_groups() -> None:
    members = [member(1, host_down_since=T0 - 90), member(2)]
    d, _ = decide(group(desired=2, health_grace_s=120.0), GroupState(), obs(members))
    assert d.replace == ()
    d, _ = decide(group(desired=2), GroupState(), obs(members))
    assert d.replace == (Replacement("web-m0001", "host h1 DOWN for 90 s"),)


def test_members_being_deleted_are_neither_counted_nor_replaced() -> None:
    members = [member(1), member(2, vm=VmState.ERROR, task=TaskState.DELETING), member(3)]
    d, _ = decide(group(desired=3), GroupState(), obs(members))
    assert (d.current, d.add, d.replace) == (2, 1, ())


def test_protected_members_stay_and_the_decision_says_so() -> None:
    g = group(
        desired=1, scale_in_rule=ScaleInRule.OLDEST_FIRST, protected=frozenset({"web-m0003", "web-m0002"})
    )
    d, _ = decide(g, GroupState(), obs([member(1), member(2), member(3)]))
    assert d.remove == ("web-m0001",)
    assert d.clamped == ("protected members: removing 1 (wanted 2)",)


def test_state_forgets_what_no_longer_matters() -> None:
    old = GroupState(
        recommendations=[(T0 - 1000.0, 9)],
        scale_ups=[(T0 - 100.0, 3)],
        cooldown_until={"out": T0 - 1.0, "gone": T0 + 100.0, "in": T0 + 50.0},
        last_fired={"removed": T0 - 10.0},
        evaluated_at=T0 - 15.0,
    )
    g = group(desired=2, policies=(STEP_IN,))
    _, state = decide(g, old, obs(at_cpu(50, 50)))
    assert state == GroupState(cooldown_until={"in": T0 + 50.0}, evaluated_at=T0)


def test_invariants_over_random_groups() -> None:
    """Whatever the inputs: the size is within its bounds, members follow it unless protected,
    nothing is both removed and replaced, and members being deleted are left alone. (No
    hypothesis in the environment: a seeded sweep instead.)"""
    rng = random.Random(13)
    for _ in range(400):
        low = rng.randint(0, 4)
        high = rng.randint(max(low, 1), 12)
        members = [_random_member(rng, i) for i in range(rng.randint(0, 12))]
        protected = frozenset(m.server_id for m in members if rng.random() < 0.2)
        policies = rng.choice([(), (cpu_policy(),), (STEP_OUT, STEP_IN), (cpu_policy(30.0), STEP_OUT)])
        g = group(
            desired=rng.randint(low, high),
            min_size=low,
            max_size=high,
            policies=policies,
            protected=protected,
        )
        manual = rng.choice([None, rng.randint(low, high)])
        d, state = decide(g, GroupState(), obs(members, manual=manual))
        live = [m for m in members if m.task_state is not TaskState.DELETING]
        assert low <= d.desired <= high
        assert d.current == len(live)
        removable = len([m for m in live if m.server_id not in protected])
        assert len(live) - len(d.remove) + d.add == max(d.desired, len(live) - removable)
        assert not set(d.remove) & protected
        assert not set(d.remove) & {r.server_id for r in d.replace}
        assert {*d.remove, *(r.server_id for r in d.replace)} <= {m.server_id for m in live}
        assert restart(state) == state


def _random_member(rng: random.Random, i: int) -> Member:
    kind = rng.random()
    if kind < 0.1:
        return building(i)
    if kind < 0.2:
        return member(i, rng.choice([None, 50.0]), vm=VmState.ERROR)
    if kind < 0.3:
        return member(i, 50.0, task=TaskState.DELETING)
    return member(i, rng.choice([None, rng.uniform(0, 100)]), host_down_since=rng.choice([None, T0 - 500]))
