"""The agent's metrics source: measured numbers only. Each instance from libvirt's counters
(cpu.time deltas, balloon.rss, block and interface bytes), the host from /proc.

A domain without counters (libvirt's test driver gives none) is left out of the samples:
there is nothing to report for it, and nothing is made up here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import libvirt

from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.metrics.domstats import DomainStats, InstanceRates, collect_sync
from agent.metrics.model import HostMetrics
from agent.metrics.procfs import ProcSampler

_OWNERSHIP_CACHE_LIMIT = 100_000


class LibvirtStats:
    """getAllDomainStats (and, when asked, Overcast's domain metadata) over the agent's
    libvirt connection, for this agent's domains only."""

    def __init__(self, hypervisor: LibvirtHypervisor) -> None:
        self._hypervisor = hypervisor
        # Whether a domain is ours never changes: ask libvirt once per uid, not every sample.
        self._ours: dict[str, bool] = {}

    def _owns(self, dom: libvirt.virDomain) -> bool:  # on a libvirt thread
        uid = dom.UUIDString()
        ours = self._ours.get(uid)
        if ours is None:
            if len(self._ours) > _OWNERSHIP_CACHE_LIMIT:
                self._ours.clear()
            ours = self._ours[uid] = self._hypervisor.owns(dom)
        return ours

    async def domain_stats(
        self, read_metadata: Callable[[str], bool] | None = None
    ) -> tuple[float, list[DomainStats]]:
        """(monotonic read time, stats of every active domain of ours); metadata is filled
        for the uids `read_metadata` says yes to. Raises HypervisorError."""
        return await self._hypervisor.with_connection(
            lambda conn: collect_sync(conn, self._owns, read_metadata)
        )


class LibvirtMetrics:
    """The MetricsSource of a real hypervisor."""

    def __init__(
        self,
        stats: LibvirtStats,
        *,
        proc: ProcSampler | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stats = stats
        self._proc = proc or ProcSampler()
        self._rates = InstanceRates()
        self._clock = clock

    async def sample(self) -> HostMetrics:
        """Raises HypervisorError when libvirt cannot be read, ProcError when /proc cannot."""
        read_at, domains = await self._stats.domain_stats()
        measured = [m for d in domains if (m := self._rates.measure(d, read_at)) is not None]
        self._rates.retain({d.uid for d in domains})
        host = self._proc.sample()
        return HostMetrics(
            sampled_at=self._clock(),
            cpu_util=host.cpu_util,
            memory_used_mib=host.memory_used_mib,
            memory_free_mib=host.memory_free_mib,
            load1=host.load1,
            load5=host.load5,
            load15=host.load15,
            instances=tuple(measured),
            simulated=False,
        )

    def metadata_changed(self, instance_uid: str, metadata: Mapping[str, str]) -> None:
        """Measured numbers do not depend on an instance's metadata."""
