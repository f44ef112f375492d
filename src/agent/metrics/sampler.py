"""One metrics sample of the host and its instances.

Instances with numbers from the hypervisor (cpu.time) are measured; the others follow their
simulated load profile. The host is measured from /proc, except on a simulated hypervisor
(libvirt's test driver describes a host that is not this machine), where its totals are
derived from its instances.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Protocol

import libvirt
import structlog

from agent.hypervisor.base import HypervisorError
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.metrics.domstats import (
    DomainStats,
    InstanceRates,
    collect_sync,
    metadata_element_xml,
    store_metadata_sync,
)
from agent.metrics.model import HostMetrics, InstanceMetrics
from agent.metrics.procfs import ProcError, ProcSampler
from agent.metrics.simulation import LoadSimulator, SimulatedHost

log = structlog.get_logger("agent.metrics")

_OWNERSHIP_CACHE_LIMIT = 100_000


class StatsSource(Protocol):
    async def domain_stats(self, known: frozenset[str]) -> tuple[float, list[DomainStats]]:
        """(monotonic read time, stats of every active managed domain); metadata is filled
        for domains whose uid is not in `known`."""
        ...


class LibvirtStats:
    """getAllDomainStats and Overcast's domain metadata over the agent's libvirt connection."""

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

    async def domain_stats(self, known: frozenset[str]) -> tuple[float, list[DomainStats]]:
        return await self._hypervisor.with_connection(lambda conn: collect_sync(conn, known, self._owns))

    async def store_metadata(
        self, uid: str, instance_name: str, image: str, metadata: Mapping[str, str]
    ) -> bool:
        element = metadata_element_xml(uid, instance_name, image, metadata)
        return await self._hypervisor.with_connection(
            lambda conn: store_metadata_sync(conn, uid, element, self._hypervisor.owns)
        )


def _canonical(uid: str) -> str | None:
    try:
        return str(uuid.UUID(uid))
    except ValueError:
        return None


class InstanceProfiles:
    """What commands tell the metrics: a spawned instance's profile, a metadata update (also
    written into the domain's XML, so it outlives an agent restart), a deleted instance.
    Keys are canonical uuids, as libvirt's UUIDString gives them."""

    def __init__(self, simulator: LoadSimulator, stats: LibvirtStats | None = None) -> None:
        self._simulator = simulator
        self._stats = stats

    def spawning(self, uid: str, metadata: Mapping[str, str]) -> None:
        key = _canonical(uid)
        if key is not None:  # an invalid uid fails in the hypervisor with a clear reason
            self._simulator.set_metadata(key, metadata)

    async def update(self, uid: str, instance_name: str, image: str, metadata: Mapping[str, str]) -> None:
        """Raises HypervisorError when the domain exists but its XML could not be updated
        (the new profile applies from now on regardless)."""
        key = _canonical(uid)
        if key is None:
            raise HypervisorError(f"invalid instance uid {uid!r}")
        self._simulator.set_metadata(key, metadata)
        if self._stats is not None:
            await self._stats.store_metadata(key, instance_name, image, metadata)

    def deleted(self, uid: str) -> None:
        key = _canonical(uid)
        if key is not None:
            self._simulator.forget(key)


class MetricsSampler:
    def __init__(
        self,
        stats: StatsSource,
        simulator: LoadSimulator,
        *,
        host_vcpus: int,
        host_memory_mib: int,
        simulate_host: bool,
        proc: ProcSampler | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stats = stats
        self._simulator = simulator
        self._simulated_host = SimulatedHost(vcpus=host_vcpus, memory_mib=host_memory_mib)
        self._proc = None if simulate_host else (proc or ProcSampler())
        self._rates = InstanceRates()
        self._clock = clock

    async def sample(self) -> HostMetrics:
        """Raises HypervisorError when libvirt cannot be read."""
        read_at, domains = await self._stats.domain_stats(self._simulator.known())
        instances: list[tuple[InstanceMetrics, int]] = []
        for d in domains:
            if d.metadata is not None:
                self._simulator.adopt(d.uid, d.metadata)
            if d.cpu_time_ns is not None:
                measured = self._rates.measure(d, read_at)
                if measured is not None:
                    instances.append((measured, d.vcpus))
            else:
                simulated = self._simulator.instance(
                    d.uid, vcpus=d.vcpus, memory_mib=d.memory_mib, running=d.running
                )
                instances.append((simulated, d.vcpus))
        self._rates.retain({d.uid for d in domains})
        samples = tuple(m for m, _ in instances)
        if self._proc is not None:
            try:
                p = self._proc.sample()
                return HostMetrics(
                    sampled_at=self._clock(),
                    cpu_util=p.cpu_util,
                    memory_used_mib=p.memory_used_mib,
                    memory_free_mib=p.memory_free_mib,
                    load1=p.load1,
                    load5=p.load5,
                    load15=p.load15,
                    instances=samples,
                    simulated=False,
                )
            except ProcError as exc:
                log.warning("metrics.proc_unavailable", error=str(exc))
                self._proc = None  # from now on: derived from the instances, marked simulated
        t = self._simulated_host.totals(instances, read_at)
        return HostMetrics(
            sampled_at=self._clock(),
            cpu_util=t.cpu_util,
            memory_used_mib=t.memory_used_mib,
            memory_free_mib=t.memory_free_mib,
            load1=t.load1,
            load5=t.load5,
            load15=t.load15,
            instances=samples,
            simulated=True,
        )


class MetricsSink(Protocol):
    def publish_metrics(self, sample: HostMetrics) -> bool:
        """Best effort: False when it could not be sent (disconnected)."""
        ...


async def report_metrics(sampler: MetricsSampler, sink: MetricsSink, interval: float) -> None:
    """Sample every `interval` seconds on a fixed beat (a slow sample skips beats rather than
    piling up) and publish; a failing sample is logged and retried on the next beat."""
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    failing = False
    while True:
        try:
            sample = await sampler.sample()
        except Exception as exc:  # libvirt or /proc trouble must not end the metrics
            if not failing:
                log.warning("metrics.sample_failed", error=str(exc) or repr(exc))
            failing = True
        else:
            if failing:
                log.info("metrics.sample_recovered")
            failing = False
            sink.publish_metrics(sample)
        now = loop.time()
        next_at += interval
        if next_at < now:
            next_at = now + interval - (now - next_at) % interval
        await asyncio.sleep(next_at - now)
