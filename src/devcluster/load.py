"""Simulated load, for hosts that give no numbers: the fleet simulation's SimulatedHypervisor
and a development cluster's agents on libvirt's test driver (devcluster.agent).

Each instance follows a load profile read from its server metadata:

- `sim.cpu`: fraction of its vcpus it keeps busy (default 0),
- `sim.mem`: fraction of its memory resident (default 0.25),

plus a little gaussian noise, so a dashboard shows something alive. A simulated host's totals
are derived from its instances: CPU = busy vcpus / host vcpus, memory used = resident memory
of its instances, load averages = busy vcpus smoothed like the kernel's (1, 5, 15 minutes).
Every number made here is marked `simulated`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.metrics.model import HostMetrics, InstanceMetrics

SIM_CPU = "sim.cpu"
SIM_MEM = "sim.mem"
DEFAULT_CPU = 0.0
DEFAULT_MEM = 0.25
DEFAULT_NOISE = 0.02
_LOAD_PERIODS_S = (60.0, 300.0, 900.0)


@dataclass(frozen=True, slots=True)
class LoadProfile:
    cpu: float = DEFAULT_CPU
    mem: float = DEFAULT_MEM


def _fraction(value: str | None, default: float) -> float:
    """A number in 0..1 (clamped); anything unreadable falls back to the default."""
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        return default
    if math.isnan(number):
        return default
    return min(1.0, max(0.0, number))


def profile_from_metadata(metadata: Mapping[str, str]) -> LoadProfile:
    return LoadProfile(
        cpu=_fraction(metadata.get(SIM_CPU), DEFAULT_CPU),
        mem=_fraction(metadata.get(SIM_MEM), DEFAULT_MEM),
    )


_DEFAULT_PROFILE = LoadProfile()


def _clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


class LoadSimulator:
    """The load profiles of this host's instances, and samples drawn from them.

    Profiles come from commands (spawn, update_metadata) with `set_metadata`, and from the
    metadata stored in a domain's XML (after an agent restart) with `adopt`, which never
    overrides a profile a command already set.
    """

    def __init__(self, *, noise: float = DEFAULT_NOISE, rng: random.Random | None = None) -> None:
        self._noise = noise
        self._rng = rng or random.Random()
        self._profiles: dict[str, LoadProfile] = {}

    def set_metadata(self, uid: str, metadata: Mapping[str, str]) -> LoadProfile:
        profile = profile_from_metadata(metadata)
        self._profiles[uid] = profile
        return profile

    def adopt(self, uid: str, metadata: Mapping[str, str]) -> bool:
        if uid in self._profiles:
            return False
        self._profiles[uid] = profile_from_metadata(metadata)
        return True

    def forget(self, uid: str) -> None:
        self._profiles.pop(uid, None)

    def retain(self, uids: set[str]) -> None:
        """Forget every profile but these (the domains still there)."""
        for uid in [u for u in self._profiles if u not in uids]:
            del self._profiles[uid]

    def profile(self, uid: str) -> LoadProfile:
        return self._profiles.get(uid, _DEFAULT_PROFILE)

    def known(self) -> frozenset[str]:
        return frozenset(self._profiles)

    def instance(self, uid: str, *, vcpus: int, memory_mib: int, running: bool = True) -> InstanceMetrics:
        """One simulated sample; a paused instance burns no CPU but keeps its memory."""
        # Each number plus gaussian noise, clamped to 0..1; written out inline: a fleet
        # simulation draws tens of thousands of these per second.
        profile = self._profiles.get(uid, _DEFAULT_PROFILE)
        noise = self._noise
        cpu, mem = (profile.cpu if running else 0.0), profile.mem
        if noise > 0:
            gauss = self._rng.gauss
            if running:
                cpu += gauss(0.0, noise)
                cpu = 0.0 if cpu < 0.0 else 1.0 if cpu > 1.0 else cpu
            mem += gauss(0.0, noise)
            mem = 0.0 if mem < 0.0 else 1.0 if mem > 1.0 else mem
        rss = round(memory_mib * mem) if memory_mib > 0 else 0
        return InstanceMetrics(uid, cpu, rss, 0, 0, 0, 0, True)


@dataclass(frozen=True, slots=True)
class HostTotals:
    cpu_util: float
    memory_used_mib: int
    memory_free_mib: int
    load1: float
    load5: float
    load15: float


class SimulatedHost:
    """A host's totals derived from its simulated instances."""

    def __init__(self, *, vcpus: int, memory_mib: int) -> None:
        self._vcpus = max(1, vcpus)
        self._memory_mib = max(0, memory_mib)
        self._loads: list[float] | None = None
        self._last_at: float | None = None

    def totals(self, instances: Iterable[tuple[InstanceMetrics, int]], now: float) -> HostTotals:
        """`instances`: (sample, vcpus) pairs; `now`: a monotonic clock, for the load decay."""
        busy_vcpus = 0.0
        used = 0
        for sample, vcpus in instances:
            busy_vcpus += sample.cpu_util * max(0, vcpus)
            used += sample.memory_rss_mib
        used = min(used, self._memory_mib)
        if self._loads is None or self._last_at is None:
            # Start at the current demand: a fresh agent would otherwise show no load for minutes.
            self._loads = [busy_vcpus] * len(_LOAD_PERIODS_S)
        else:
            elapsed = max(0.0, now - self._last_at)
            for i, period in enumerate(_LOAD_PERIODS_S):
                decay = math.exp(-elapsed / period)
                self._loads[i] = self._loads[i] * decay + busy_vcpus * (1 - decay)
        self._last_at = now
        load1, load5, load15 = self._loads
        return HostTotals(
            cpu_util=_clamp01(busy_vcpus / self._vcpus),
            memory_used_mib=used,
            memory_free_mib=self._memory_mib - used,
            load1=load1,
            load5=load5,
            load15=load15,
        )

    def sample(
        self,
        instances: list[tuple[InstanceMetrics, int]],
        now: float,
        *,
        sampled_at: float,
        with_instances: bool = True,
    ) -> HostMetrics:
        """A simulated host sample: the totals of `instances` (see `totals`) and, unless told
        otherwise, the instances' own samples."""
        totals = self.totals(instances, now)
        return HostMetrics(
            sampled_at=sampled_at,
            cpu_util=totals.cpu_util,
            memory_used_mib=totals.memory_used_mib,
            memory_free_mib=totals.memory_free_mib,
            load1=totals.load1,
            load5=totals.load5,
            load15=totals.load15,
            instances=tuple(m for m, _ in instances) if with_instances else (),
            simulated=True,
        )
