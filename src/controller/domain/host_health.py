"""Host health: telling hosts that stopped beating from a controller that fell behind.

A host is DOWN once no heartbeat of its has been recorded for a window (`down_after`). Judged
on the wall clock, an overloaded controller takes its whole fleet DOWN: it reads its agents'
streams late, hears each host less often than the host sends, and records what it heard late;
every host looks silent, and the host.down and host.up events of each flap feed the overload
behind the next one (bench/scheduler.py at 10,000 hosts: 10,000 host samples read a second
before placement, 600-3,600 during it, and 144,217 host.down in eight minutes). Three rules here, pure
and clock-injected; the host monitor (services/hosts.py) applies them:

- `LivenessClock`: silence is measured on a clock that runs only as fast as the controller
  hears its fleet. Each heartbeat flush advances it by the wall time it covers, at most one
  interval (a controller frozen for a minute lost that minute, its hosts did not), times the
  share of its hosts the controller heard in that time: of those it heard within the window,
  so that hosts silent for longer (failed) do not count as slowly read. Reading a third of its
  streams an interval, it hears each host every third interval: that is its pace, not theirs.
  A fleet smaller than `large_zone_size` is read in full whatever the load, so no pace is
  inferred there: one silent host among three is one silent host.
- `ZoneGuard`: when more than `unhealthy_zone_threshold` of a large zone's hosts are DOWN or
  not heard for the window on the wall clock (as Kubernetes marks nodes NotReady), a failed
  network or control plane is likelier than that many failed hosts: the silent ones are held
  (left UP, no events; the scheduler still skips them, their heartbeats being old) and the
  monitor warns once for the zone. After it recovers, hosts it held get a whole window to beat
  again before any is judged. Kubernetes' node lifecycle controller does the same with
  evictions (--unhealthy-zone-threshold, --large-cluster-size-threshold, and fresh probe
  timestamps on leaving a disruption).
- `scaled_interval`: the heartbeat interval grows with the fleet, so that the controllers
  record at most `max_per_second` heartbeats a second (Nomad's max_heartbeats_per_second); the
  window grows with it (`HealthPolicy.down_after`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

# The slowest the liveness clock runs, in liveness seconds per wall second: a controller that
# hears almost none of its fleet still judges it in the end, giving each host at most a hundred
# windows (the scheduler's freshness rule uses the same window, so it must stay bounded). At a
# tenth, a controller starved of CPU (bench/scheduler.py at 10,000 hosts and a 1 s interval, on
# a shared machine: 0-200 host samples read a second) still took 18,518 hosts DOWN.
MIN_PACE = 0.01
# Hearing this share of the hosts it heard within the window in one interval, a controller
# keeps up with its fleet (beats land either side of a flush; the rest are the hosts' doing).
FULL_PACE_SHARE = 0.9
KEEP_WINDOWS = 10  # liveness time kept, in windows (the window grows when the interval does)
# A smaller interval is taken back only when it would leave this much of max_per_second spare:
# a fleet at a boundary does not make the controllers announce a new interval to every agent
# each time one host comes or goes.
SHRINK_MARGIN = 0.9


@dataclass(frozen=True)
class HealthPolicy:
    interval_s: float = 1.0  # the configured heartbeat interval (a small fleet's)
    down_after_s: float = 3.0  # the window at that interval
    max_per_second: float = 0.0  # heartbeats recorded a second, at most; 0: the interval is fixed
    unhealthy_zone_threshold: float = 0.55  # 1: never hold
    large_zone_size: int = 50

    def down_after(self, interval_s: float) -> float:
        """The window at a scaled interval: as many intervals as at the configured one."""
        return self.down_after_s * interval_s / self.interval_s


def scaled_interval(policy: HealthPolicy, hosts: int, current_s: float) -> float:
    """The heartbeat interval for a fleet of `hosts`: the configured one, or the smallest whole
    multiple of it at which the fleet's heartbeats come at most `max_per_second` a second. It grows
    at once; it shrinks only with a margin (SHRINK_MARGIN)."""
    base = policy.interval_s
    if policy.max_per_second <= 0 or hosts <= 0:
        return base
    ideal = base * max(1, math.ceil(hosts / (policy.max_per_second * base) - 1e-9))
    if ideal >= current_s or hosts / ideal <= SHRINK_MARGIN * policy.max_per_second:
        return ideal
    return current_s


class LivenessClock:
    """Time as the controller has heard its fleet (see the module docstring). `tick` once per
    committed heartbeat flush, with the wall time at which the flush took its heartbeats."""

    def __init__(self, large_fleet: int = 50) -> None:
        self._large_fleet = large_fleet
        self._ticks: deque[tuple[float, float]] = deque()  # (wall time, liveness time), oldest first
        self._heard: dict[str, float] = {}  # liveness time each host was last heard
        self.pace = 1.0  # of the last tick: liveness seconds per wall second

    @property
    def now(self) -> float:
        """Liveness time at the last tick (0 before the first)."""
        return self._ticks[-1][1] if self._ticks else 0.0

    def tick(
        self,
        wall: float,
        heard: Collection[str],
        streams: Collection[str],
        interval_s: float,
        window_s: float,
    ) -> None:
        """A flush that recorded the heartbeats of the hosts `heard` since the last one;
        `streams`: the hosts streaming to this controller; `window_s`: the hosts' window."""
        if not self._ticks:
            self._ticks.append((wall, 0.0))
            self._note(heard, 0.0, streams, window_s)
            return
        last_wall, last = self._ticks[-1]
        if wall <= last_wall:
            return  # the wall clock stepped back: this flush covers no time
        self.pace = self._pace(heard, streams, last - window_s)
        now = last + min(wall - last_wall, interval_s) * self.pace
        self._ticks.append((wall, now))
        self._note(heard, now, streams, window_s)
        while len(self._ticks) > 2 and self._ticks[1][1] <= now - KEEP_WINDOWS * window_s:
            self._ticks.popleft()

    def _pace(self, heard: Collection[str], streams: Collection[str], since: float) -> float:
        """The share of its fleet the controller heard: of the hosts it heard within the
        window (a host silent longer is silent, not slowly read), those it heard this time,
        over FULL_PACE_SHARE (so much heard is keeping up; the rest is the hosts' own doing)."""
        if len(streams) < self._large_fleet or not heard:
            return 1.0 if len(streams) < self._large_fleet else MIN_PACE
        last_heard = self._heard.get
        if self._ticks[0][1] > since:  # heard for less than a window: every host is expected
            recent = len(streams) + sum(1 for h in heard if h not in streams)
        else:
            recent = sum(1 for h in streams if last_heard(h, -math.inf) >= since)
            recent += sum(1 for h in heard if not (h in streams and last_heard(h, -math.inf) >= since))
        return max(MIN_PACE, min(1.0, len(heard) / recent / FULL_PACE_SHARE))

    def _note(self, heard: Collection[str], now: float, streams: Collection[str], window_s: float) -> None:
        for h in heard:
            self._heard[h] = now
        if len(self._heard) > len(streams) + 1000:  # hosts gone elsewhere: forget them
            since = now - KEEP_WINDOWS * window_s
            self._heard = {h: at for h, at in self._heard.items() if at >= since}

    def covers(self, window_s: float) -> bool:
        """Whether the clock has run for `window_s` yet (hosts are judged only after that:
        a controller that just started gives its agents a whole window to reach it)."""
        return bool(self._ticks) and self._ticks[0][1] <= self.now - window_s

    def cutoff(self, window_s: float) -> float:
        """The wall time at or before which a host's last recorded heartbeat means it has been
        silent for `window_s` of liveness: the newest tick at least that long before the last
        one. Before the first tick (or what is kept), wall time counts in full."""
        if not self._ticks:
            return -math.inf
        target = self.now - window_s
        first_wall, first = self._ticks[0]
        if target < first:
            return first_wall - (first - target)
        for wall, at in reversed(self._ticks):
            if at <= target + 1e-9:
                return wall
        return first_wall  # unreachable: the first tick is at or before the target


@dataclass(frozen=True)
class ZoneCount:
    """One availability zone as the monitor reads it at a sweep."""

    zone: str
    hosts: int  # every host of the zone
    down: int  # DOWN already
    silent: int  # UP, and silent for the window on the liveness clock: to be marked DOWN
    unheard: int = -1  # UP, and not heard for the window on the wall clock (-1: as silent)

    @property
    def unhealthy(self) -> float:
        """The share of the zone DOWN or not heard. On the wall clock: a zone whose hosts all
        fall silent (or a controller that stops hearing them) shows at once, while the liveness
        clock slows down and marks none of them."""
        unheard = self.silent if self.unheard < 0 else max(self.silent, self.unheard)
        return (self.down + unheard) / self.hosts if self.hosts else 0.0


@dataclass(frozen=True)
class ZoneVerdict:
    """What one sweep may do: mark DOWN the silent hosts of `mark`; hold those of `held`."""

    mark: list[str] = field(default_factory=list)
    held: list[ZoneCount] = field(default_factory=list)
    entered: list[ZoneCount] = field(default_factory=list)  # zones newly disrupted
    left: list[str] = field(default_factory=list)  # zones judged host by host again


class ZoneGuard:
    """Which zones are disrupted, from one sweep to the next (see the module docstring)."""

    def __init__(self, policy: HealthPolicy) -> None:
        self._policy = policy
        # Zones held: None while disrupted, then the liveness time their hold ends.
        self._held: dict[str, float | None] = {}

    def disrupted(self, z: ZoneCount) -> bool:
        p = self._policy
        return z.hosts >= p.large_zone_size and z.unhealthy > p.unhealthy_zone_threshold

    def judge(self, zones: Iterable[ZoneCount], now: float, window_s: float) -> ZoneVerdict:
        """`now`: liveness time (LivenessClock.now); `window_s`: the hosts' window."""
        verdict = ZoneVerdict()
        seen = set()
        for z in zones:
            seen.add(z.zone)
            held = z.zone in self._held
            if self.disrupted(z):
                if not held:
                    verdict.entered.append(z)
                self._held[z.zone] = None
            elif held:
                until = self._held[z.zone]
                if until is None:  # recovered: its hosts get a window to beat again
                    self._held[z.zone] = until = now + window_s
                if now >= until:
                    del self._held[z.zone]
                    verdict.left.append(z.zone)
            if z.zone in self._held:
                verdict.held.append(z)
            elif z.silent:
                verdict.mark.append(z.zone)
        for gone in self._held.keys() - seen:  # no hosts left in it
            del self._held[gone]
            verdict.left.append(gone)
        return verdict
