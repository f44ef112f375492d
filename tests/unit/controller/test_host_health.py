"""The host health rules (controller.domain.host_health) on simulated fleets, clock injected.

`Monitor` plays the controller as services/hosts.py runs it: every interval a flush records
the hosts heard since the last one (stamped with the flush's wall time) and ticks the liveness
clock; a sweep then counts each zone's silent hosts against the clock's cutoff and marks DOWN
those the zone guard lets it. Which hosts the controller hears in an interval is the test's
say: all of them, a share of them in turn (a controller reading slowly), or none (frozen)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable

import pytest

from controller.domain.host_health import (
    MIN_PACE,
    HealthPolicy,
    LivenessClock,
    ZoneCount,
    ZoneGuard,
    scaled_interval,
)

POLICY = HealthPolicy(interval_s=1.0, down_after_s=3.0)


class Monitor:
    def __init__(self, zones: dict[str, int], policy: HealthPolicy = POLICY, t0: float = 1_000_000.0) -> None:
        self.policy = policy
        self.now = t0
        self.zone_of = {f"{z}-{n:05d}": z for z, count in zones.items() for n in range(count)}
        self.stamp = dict.fromkeys(self.zone_of, t0)  # registered at t0
        self.down: set[str] = set()
        self.clock = LivenessClock(policy.large_zone_size)
        self.guard = ZoneGuard(policy)
        self.down_events: list[str] = []
        self.warnings: list[str] = []  # zones announced as disrupted
        self.clock.tick(t0, (), self.zone_of.keys(), policy.interval_s, policy.down_after_s)

    @property
    def hosts(self) -> list[str]:
        return list(self.zone_of)

    def interval(self, heard: Iterable[str], took_s: float | None = None) -> None:
        """One interval (or `took_s` of wall time) in which the controller heard `heard`
        (hosts that came back are UP again), then a flush and a sweep."""
        self.now += self.policy.interval_s if took_s is None else took_s
        heard = set(heard)
        for h in heard:
            self.stamp[h] = self.now
        self.down -= heard
        self.clock.tick(
            self.now, heard, self.zone_of.keys(), self.policy.interval_s, self.policy.down_after_s
        )
        self.sweep()

    def sweep(self) -> None:
        window = self.policy.down_after_s
        if not self.clock.covers(window):
            return
        cutoff = self.clock.cutoff(window)
        counts: dict[str, Counter[str]] = {}
        for h, z in self.zone_of.items():
            c = counts.setdefault(z, Counter())
            c["hosts"] += 1
            if h in self.down:
                c["down"] += 1
                continue
            c["silent"] += self.stamp[h] <= cutoff
            c["unheard"] += self.stamp[h] < self.now - window  # on the wall clock
        zones = [
            ZoneCount(z, c["hosts"], c["down"], c["silent"], c["unheard"]) for z, c in sorted(counts.items())
        ]
        verdict = self.guard.judge(zones, self.clock.now, window)
        self.warnings += [z.zone for z in verdict.entered]
        for h, z in self.zone_of.items():
            if z in verdict.mark and h not in self.down and self.stamp[h] <= cutoff:
                self.down.add(h)
                self.down_events.append(h)


def in_turn(hosts: list[str], share: float) -> Iterable[list[str]]:
    """The hosts a controller reading `share` of its streams an interval hears, interval after
    interval: each host every 1/share intervals, whatever it sent meanwhile."""
    per = max(1, int(len(hosts) * share))
    cycle = itertools.cycle(hosts)
    while True:
        yield [next(cycle) for _ in range(per)]


def test_a_controller_reading_a_fifth_of_10000_streams_an_interval_marks_none_down() -> None:
    m = Monitor({"az1": 6000, "az2": 4000})
    heard = in_turn(m.hosts, 0.2)  # each host heard every 5 s: past the 3 s window on the wall clock
    for _ in range(120):
        m.interval(next(heard))
    assert m.down_events == [] and m.warnings == []
    assert m.clock.pace == pytest.approx(0.2 / 0.9)  # a fifth heard, where 90% keeps up


def test_a_controller_that_froze_for_a_minute_marks_none_down_when_it_resumes() -> None:
    m = Monitor({"az1": 10_000})
    for _ in range(10):
        m.interval(m.hosts)
    m.interval([], took_s=60.0)  # frozen: no reads, one flush a minute late
    m.interval([])  # resumed: its first interval reads nothing yet
    m.interval(m.hosts[:5000])  # then the backlog, in two intervals
    m.interval(m.hosts[5000:])
    for _ in range(10):
        m.interval(m.hosts)
    assert m.down_events == []
    assert m.warnings == ["az1"]  # every host unheard for a minute: held, one warning


def test_one_silent_host_among_10000_goes_down_after_the_window_and_not_before() -> None:
    m = Monitor({"az1": 5000, "az2": 5000})
    for _ in range(5):
        m.interval(m.hosts)
    silent = m.hosts[1234]
    alive = [h for h in m.hosts if h != silent]
    for _ in range(2):  # silent for 1 s and 2 s: still UP
        m.interval(alive)
    assert m.down_events == []
    m.interval(alive)  # 3 s: the window
    assert m.down_events == [silent]
    for _ in range(30):
        m.interval(alive)
    assert m.down_events == [silent]  # once


def test_one_silent_host_among_slowly_read_ones_goes_down_after_the_stretched_window() -> None:
    m = Monitor({"az1": 10_000})
    heard = in_turn(m.hosts, 0.25)  # every host heard every 4th interval
    for _ in range(20):
        last = next(heard)
        m.interval(last)
    silent = last[0]  # fails right after it was heard
    waited = 0
    while not m.down_events and waited < 40:
        m.interval(h for h in next(heard) if h != silent)
        waited += 1
    assert m.down_events == [silent]
    # 3 s of liveness at a quarter of the fleet heard an interval (pace 0.25 / 0.9): 10.8 s.
    assert 10 <= waited <= 12


def test_a_small_fleet_is_judged_host_by_host() -> None:
    m = Monitor({"az1": 3})
    for _ in range(5):
        m.interval(m.hosts)
    for _ in range(3):  # all three agents stopped: no zone hold, no pace inferred
        m.interval([])
    assert sorted(m.down_events) == sorted(m.hosts) and m.warnings == []


def test_most_of_a_zone_going_silent_is_held_with_one_warning_and_no_events() -> None:
    m = Monitor({"az1": 1000, "az2": 1000})
    for _ in range(5):
        m.interval(m.hosts)
    az1 = [h for h in m.hosts if m.zone_of[h] == "az1"]
    az2 = [h for h in m.hosts if m.zone_of[h] == "az2"]
    cut_off = set(az1[:600])  # 60% of az1 silent: its network, not 600 hosts
    for _ in range(60):
        m.interval([h for h in m.hosts if h not in cut_off])
    assert m.down_events == [] and m.warnings == ["az1"]
    # A host of the healthy zone that fails meanwhile still goes DOWN.
    for _ in range(4):
        m.interval([h for h in m.hosts if h not in cut_off and h != az2[7]])
    assert m.down_events == [az2[7]]


def test_a_zone_that_recovers_makes_no_storm_and_its_dead_hosts_go_down_one_window_later() -> None:
    m = Monitor({"az1": 1000})
    for _ in range(5):
        m.interval(m.hosts)
    dead = set(m.hosts[:20])  # will not come back
    cut_off = set(m.hosts[:700])
    for _ in range(30):
        m.interval([h for h in m.hosts if h not in cut_off])
    assert m.down_events == [] and m.warnings == ["az1"]
    back = [h for h in m.hosts if h not in dead]
    m.interval(back[:500])  # recovering over two intervals: 52% silent, below the threshold
    assert m.down_events == []
    m.interval(back)
    assert m.down_events == []  # the hosts held get a window to beat again
    for _ in range(3):
        m.interval(back)
    assert sorted(m.down_events) == sorted(dead)  # only those that never came back, once
    for _ in range(10):
        m.interval(back)
    assert len(m.down_events) == len(dead) and m.warnings == ["az1"]


FLEET = [f"h{n}" for n in range(1000)]


def test_the_clock_runs_at_wall_speed_for_a_fleet_heard_in_full() -> None:
    clock = LivenessClock(large_fleet=50)
    for t in range(11):
        clock.tick(100.0 + t, FLEET, FLEET, 1.0, 3.0)
    assert clock.now == pytest.approx(10.0) and clock.pace == 1.0
    assert clock.cutoff(3.0) == 107.0  # heard at 107 or before: silent for 3 s at 110
    assert clock.covers(10.0) and not clock.covers(10.5)


def test_the_clock_slows_to_the_share_heard_but_never_stops() -> None:
    clock = LivenessClock(large_fleet=50)
    for t in range(5):
        clock.tick(100.0 + t, FLEET, FLEET, 1.0, 3.0)
    clock.tick(105.0, FLEET[:450], FLEET, 1.0, 3.0)
    assert clock.pace == pytest.approx(0.5)  # 45% heard: half of what keeps up
    for t in range(6, 11):
        clock.tick(100.0 + t, [], FLEET, 1.0, 3.0)
    assert clock.pace == MIN_PACE and clock.now == pytest.approx(4.0 + 0.5 + 5 * MIN_PACE)


def test_hosts_silent_past_the_window_do_not_slow_the_clock() -> None:
    clock = LivenessClock(large_fleet=50)
    alive = FLEET[300:]  # 30% of the fleet failed at once
    for t in range(5):
        clock.tick(100.0 + t, FLEET, FLEET, 1.0, 3.0)
    paces = []
    for t in range(5, 15):
        clock.tick(100.0 + t, alive, FLEET, 1.0, 3.0)
        paces.append(clock.pace)
    assert paces[0] == pytest.approx(0.7 / 0.9)  # until they are past the window ...
    assert paces[-1] == 1.0  # ... then they are failed hosts, not a slow controller


def test_a_zone_is_judged_disrupted_on_the_wall_clock() -> None:
    guard = ZoneGuard(HealthPolicy(large_zone_size=50))
    # A controller that stopped hearing its fleet: its liveness clock marks none silent yet,
    # but none was heard for the window on the wall clock.
    verdict = guard.judge([ZoneCount("az1", 100, 0, 0, 100)], 0.0, 3.0)
    assert verdict.mark == [] and [z.zone for z in verdict.entered] == ["az1"]


def test_the_clock_extrapolates_at_wall_speed_before_its_first_tick() -> None:
    clock = LivenessClock()
    assert clock.cutoff(3.0) == float("-inf") and not clock.covers(0.0)
    clock.tick(100.0, (), (), 1.0, 3.0)
    clock.tick(101.0, (), (), 1.0, 3.0)
    assert clock.cutoff(3.0) == pytest.approx(98.0) and not clock.covers(3.0)


def test_the_clock_ignores_a_wall_clock_that_steps_back() -> None:
    clock = LivenessClock()
    clock.tick(100.0, (), (), 1.0, 3.0)
    clock.tick(101.0, (), (), 1.0, 3.0)
    clock.tick(50.0, (), (), 1.0, 3.0)
    assert clock.now == 1.0


def test_the_zone_guard_does_not_hold_small_zones() -> None:
    guard = ZoneGuard(HealthPolicy(large_zone_size=50))
    verdict = guard.judge([ZoneCount("az1", 49, 10, 39), ZoneCount("az2", 50, 10, 18)], 0.0, 3.0)
    assert verdict.mark == ["az1"] and [z.zone for z in verdict.held] == ["az2"]


def test_a_threshold_of_1_never_holds() -> None:
    guard = ZoneGuard(HealthPolicy(unhealthy_zone_threshold=1.0))
    assert guard.judge([ZoneCount("az1", 100, 0, 100)], 0.0, 3.0).mark == ["az1"]


@pytest.mark.parametrize(
    ("hosts", "current", "expected"),
    [
        (0, 1.0, 1.0),
        (1000, 1.0, 1.0),  # 1,000 a second: under 2,000
        (2000, 1.0, 1.0),
        (2001, 1.0, 2.0),
        (10_000, 1.0, 5.0),  # Nomad's rule: hosts / max_per_second, here in whole intervals
        (10_001, 5.0, 6.0),  # grows at once
        (10_000, 6.0, 6.0),  # a host gone: 5 s would be at the limit, not below its margin
        (9000, 6.0, 5.0),  # 1,800 a second at 5 s: shrinks
        (100, 6.0, 1.0),
    ],
)
def test_the_interval_grows_with_the_fleet(hosts: int, current: float, expected: float) -> None:
    assert scaled_interval(HealthPolicy(max_per_second=2000.0), hosts, current) == expected


def test_a_fixed_interval_never_scales_and_the_window_follows_the_interval() -> None:
    assert scaled_interval(HealthPolicy(max_per_second=0.0), 1_000_000, 1.0) == 1.0
    assert HealthPolicy(interval_s=0.5, down_after_s=2.0).down_after(2.0) == 8.0
