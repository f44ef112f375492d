"""The load view: the latest metrics of every host and instance, smoothed, in memory.

Pure (no I/O, an injectable clock): agents' samples go in through `absorb` (cheap: the agent
gateway calls it for every sample, thousands per second in a large fleet), snapshots of other
controller replicas' hosts through `merge_remote`, and readers get immutable views.

For the scheduler: `LoadView.load_of(host_id) -> HostLoadView | None`. None means no metrics
were ever seen for the host; `view.stale` (or `not view.fresh`) means its metrics are older
than `stale_after_s` (3 metrics intervals by default): its load is unknown, score it by
allocation only. Otherwise `view.cpu_util_ewma` (0..1 of the host's CPUs) is the smoothed load.
`fresh_cpu_utils(ids)` reads the same for a whole batch's fleet at once (NaN: unknown).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

DEFAULT_ALPHA = 0.3  # weight of the newest sample: a time constant of ~3 samples
_SAME_TIME_S = 0.001


# Samples and views are NamedTuples: immutable, and several times cheaper to build than frozen
# dataclasses, which matters at thousands of samples (and tens of thousands of instance
# samples) per second, and for the scheduler reading thousands of hosts per batch.
class HostSample(NamedTuple):
    sampled_at: float  # the agent's clock, seconds since the epoch
    cpu_util: float  # 0..1 of all host CPUs
    memory_used_mib: int
    memory_free_mib: int
    load1: float
    load5: float
    load15: float
    simulated: bool


class InstanceSample(NamedTuple):
    uid: str  # canonical uuid text
    cpu_util: float  # 0..1 of the instance's vcpus
    memory_rss_mib: int
    disk_read_bytes: int
    disk_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int
    simulated: bool


class HostLoadView(NamedTuple):
    host_id: str
    sample: HostSample
    cpu_util_ewma: float
    received_at: float  # this controller's (or the persisting replica's) clock
    stale: bool

    @property
    def fresh(self) -> bool:
        return not self.stale

    @property
    def cpu_util(self) -> float:
        return self.sample.cpu_util


class InstanceLoadView(NamedTuple):
    host_id: str
    sample: InstanceSample
    cpu_util_ewma: float
    sampled_at: float
    received_at: float
    stale: bool


class HostUpdate(NamedTuple):
    """What one absorbed sample changed, for WatchHostMetrics."""

    host: HostLoadView
    instances: tuple[InstanceLoadView, ...]


Listener = Callable[[HostUpdate], None]


class _Host:
    __slots__ = ("ewma", "instances", "received_at", "remote", "sample")

    def __init__(self, sample: HostSample, ewma: float, received_at: float, remote: bool) -> None:
        self.sample = sample
        self.ewma = ewma
        self.received_at = received_at
        self.remote = remote
        self.instances: dict[str, _Instance] = {}


class _Instance:
    __slots__ = ("ewma", "sample")

    def __init__(self, sample: InstanceSample, ewma: float) -> None:
        self.sample = sample
        self.ewma = ewma


class LoadView:
    def __init__(
        self,
        *,
        stale_after_s: float = 3.0,
        alpha: float = DEFAULT_ALPHA,
        remote_grace_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`remote_grace_s`: how much older a snapshot persisted by another replica may be
        before it counts as stale (it is written only every persistence interval)."""
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.stale_after_s = stale_after_s
        self.alpha = alpha
        self.remote_grace_s = remote_grace_s
        self._clock = clock
        self._hosts: dict[str, _Host] = {}
        self._instance_host: dict[str, str] = {}
        self._dirty: set[str] = set()  # hosts with samples not yet persisted
        self._listeners: list[Listener] = []
        # Told each host's smoothed load and until when it is fresh, as it changes (the load
        # board a scheduler in another process reads): host id, CPU EWMA, fresh until.
        self.on_load: Callable[[str, float, float], None] | None = None
        self.absorbed = 0  # host samples taken in through `absorb`
        self.absorbed_instances = 0  # instance samples they carried

    # -- writing ------------------------------------------------------------------------------

    def absorb(self, host_id: str, sample: HostSample, instances: Sequence[InstanceSample]) -> None:
        """One sample from the host's agent (connected to this replica). Instances missing
        from it are no longer on the host (or no longer running) and are dropped."""
        now = self._clock()
        a = self.alpha
        entry = self._hosts.get(host_id)
        if entry is None:
            entry = self._hosts[host_id] = _Host(sample, sample.cpu_util, now, False)
        else:
            entry.ewma = a * sample.cpu_util + (1 - a) * entry.ewma
            entry.sample = sample
            entry.received_at = now
            entry.remote = False
        old = entry.instances
        new: dict[str, _Instance] = {}
        owners = self._instance_host
        for s in instances:
            prev = old.get(s.uid)
            if prev is None:
                new[s.uid] = _Instance(s, s.cpu_util)
                owners[s.uid] = host_id
            else:
                prev.ewma = a * s.cpu_util + (1 - a) * prev.ewma
                prev.sample = s
                new[s.uid] = prev
        for uid in old:
            if uid not in new and owners.get(uid) == host_id:
                del owners[uid]
        entry.instances = new
        self._dirty.add(host_id)
        if self.on_load is not None:
            self.on_load(host_id, entry.ewma, now + self.stale_after_s)
        self.absorbed += 1
        self.absorbed_instances += len(instances)
        if self._listeners:
            self._notify(host_id, entry, now)

    def merge_remote(self, host_id: str, sample: HostSample, ewma: float, received_at: float) -> None:
        """A host snapshot persisted by another replica: adopted when newer than what we have
        and we get no fresh samples of our own (our own snapshots come back here too; the
        database rounds times to microseconds, hence the margin)."""
        entry = self._hosts.get(host_id)
        if entry is not None:
            if received_at <= entry.received_at + _SAME_TIME_S:
                return
            if not entry.remote and not self._stale(entry, self._clock()):
                return
        if entry is None:
            entry = self._hosts[host_id] = _Host(sample, ewma, received_at, True)
        else:
            entry.sample, entry.ewma, entry.received_at, entry.remote = sample, ewma, received_at, True
            self._drop_instances(host_id, entry)
        if self.on_load is not None:
            self.on_load(host_id, ewma, received_at + self.stale_after_s + self.remote_grace_s)
        if self._listeners:
            self._notify(host_id, entry, self._clock())

    def _drop_instances(self, host_id: str, entry: _Host) -> None:
        for uid in entry.instances:
            if self._instance_host.get(uid) == host_id:
                del self._instance_host[uid]
        entry.instances = {}

    # -- reading ------------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def remote_stale(self, received_at: float) -> bool:
        """Whether a snapshot another replica persisted (received then) is too old."""
        return self._clock() - received_at > self.stale_after_s + self.remote_grace_s

    def _stale(self, entry: _Host, now: float) -> bool:
        limit = self.stale_after_s + (self.remote_grace_s if entry.remote else 0.0)
        return now - entry.received_at > limit

    def _host_view(self, host_id: str, entry: _Host, now: float) -> HostLoadView:
        return HostLoadView(host_id, entry.sample, entry.ewma, entry.received_at, self._stale(entry, now))

    def load_of(self, host_id: str) -> HostLoadView | None:
        """The host's latest load (see the module docstring); None if never seen."""
        entry = self._hosts.get(host_id)
        return None if entry is None else self._host_view(host_id, entry, self._clock())

    def fresh_cpu_utils(self, host_ids: Sequence[str]) -> list[float]:
        """For the scheduler, once per batch: each host's smoothed CPU utilisation, NaN where
        its load is unknown or stale (the same rule as `load_of(h).fresh`)."""
        now = self._clock()
        hosts = self._hosts
        local = self.stale_after_s
        remote = local + self.remote_grace_s
        out = []
        for h in host_ids:
            e = hosts.get(h)
            if e is None or now - e.received_at > (remote if e.remote else local):  # as _stale
                out.append(math.nan)
            else:
                out.append(e.ewma)
        return out

    def host_count(self) -> int:
        """Hosts with a sample in the view (fresh or stale, local or another replica's)."""
        return len(self._hosts)

    def loads(self) -> dict[str, HostLoadView]:
        now = self._clock()
        return {h: self._host_view(h, e, now) for h, e in self._hosts.items()}

    def instance_load(self, uid: str) -> InstanceLoadView | None:
        host_id = self._instance_host.get(uid)
        if host_id is None:
            return None
        entry = self._hosts[host_id]
        inst = entry.instances.get(uid)
        if inst is None:
            return None
        return InstanceLoadView(
            host_id,
            inst.sample,
            inst.ewma,
            entry.sample.sampled_at,
            entry.received_at,
            self._stale(entry, self._clock()),
        )

    # -- persistence and watchers ---------------------------------------------------------------

    def take_dirty_ids(self) -> list[str]:
        """The hosts sampled here since the last call, in id order (to persist: views_of)."""
        dirty, self._dirty = self._dirty, set()
        return sorted(dirty)

    def views_of(self, host_ids: Sequence[str]) -> list[tuple[HostLoadView, list[InstanceLoadView]]]:
        """Those hosts (sampled here) as they are now, with their instances."""
        now = self._clock()
        out = []
        for host_id in host_ids:
            entry = self._hosts.get(host_id)
            if entry is None or entry.remote:
                continue
            out.append((self._host_view(host_id, entry, now), self._instance_views(host_id, entry, now)))
        return out

    def _instance_views(self, host_id: str, entry: _Host, now: float) -> list[InstanceLoadView]:
        stale = self._stale(entry, now)
        at, received = entry.sample.sampled_at, entry.received_at
        return [
            InstanceLoadView(host_id, i.sample, i.ewma, at, received, stale) for i in entry.instances.values()
        ]

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, host_id: str, entry: _Host, now: float) -> None:
        update = HostUpdate(
            self._host_view(host_id, entry, now), tuple(self._instance_views(host_id, entry, now))
        )
        for listener in list(self._listeners):
            listener(update)
