"""Per-instance numbers from libvirt's getAllDomainStats and, for a caller that asks, the
instance metadata Overcast keeps in each domain's XML.

The `*_sync` functions run on the hypervisor's libvirt thread pool (through
`LibvirtHypervisor.with_connection`); the rest is pure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import libvirt

from agent.hypervisor.base import is_managed_name
from agent.hypervisor.domain_xml import METADATA_NAMESPACE, metadata_from_xml
from agent.metrics.model import InstanceMetrics

_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)
_RUNNING = {libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED}
_KIB_PER_MIB = 1024
_NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class DomainStats:
    """One active managed domain. Counters are None where the hypervisor gives no number."""

    uid: str
    running: bool  # else paused or suspended: active but not computing
    vcpus: int
    memory_mib: int
    cpu_time_ns: int | None = None
    rss_kib: int | None = None
    disk_read_bytes: int = 0
    disk_write_bytes: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0
    metadata: Mapping[str, str] | None = None  # read only for the domains asked about


def _int(raw: Mapping[str, object], key: str) -> int | None:
    value = raw.get(key)
    return int(value) if isinstance(value, int | float) else None


def _sum(raw: Mapping[str, object], group: str, counter: str) -> int:
    count = _int(raw, f"{group}.count") or 0
    return sum(_int(raw, f"{group}.{i}.{counter}") or 0 for i in range(count))


def parse_stats(
    uid: str,
    raw: Mapping[str, object],
    *,
    vcpus: int,
    memory_mib: int,
    metadata: Mapping[str, str] | None = None,
) -> DomainStats:
    state = _int(raw, "state.state")
    return DomainStats(
        uid=uid,
        running=state in _RUNNING,
        vcpus=vcpus,
        memory_mib=memory_mib,
        cpu_time_ns=_int(raw, "cpu.time"),
        rss_kib=_int(raw, "balloon.rss"),
        disk_read_bytes=_sum(raw, "block", "rd.bytes"),
        disk_write_bytes=_sum(raw, "block", "wr.bytes"),
        net_rx_bytes=_sum(raw, "net", "rx.bytes"),
        net_tx_bytes=_sum(raw, "net", "tx.bytes"),
        metadata=metadata,
    )


def _code(error: libvirt.libvirtError) -> int:
    return int(error.get_error_code() or 0)


def _read_metadata(dom: libvirt.virDomain) -> dict[str, str]:
    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NAMESPACE, 0)
    except libvirt.libvirtError as exc:
        if _code(exc) in (libvirt.VIR_ERR_NO_DOMAIN_METADATA, libvirt.VIR_ERR_NO_DOMAIN):
            return {}
        raise
    return metadata_from_xml(text)


Owns = Callable[[libvirt.virDomain], bool]


def collect_sync(
    conn: libvirt.virConnect, owns: Owns | None = None, read_metadata: Callable[[str], bool] | None = None
) -> tuple[float, list[DomainStats]]:
    """Stats of every active managed domain (of ours, when `owns` says which are), and the
    monotonic time they were read at. Metadata is read (one more call per domain) only for
    the uids `read_metadata` says yes to."""
    found = conn.getAllDomainStats(_GROUPS, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
    read_at = time.monotonic()
    domains: list[DomainStats] = []
    for dom, raw in found:
        try:
            if not is_managed_name(dom.name()) or (owns is not None and not owns(dom)):
                continue
            uid = dom.UUIDString()
            vcpus = _int(raw, "vcpu.current")
            max_kib = _int(raw, "balloon.maximum")
            if vcpus is None or max_kib is None:  # the test driver reports state.* only
                _state, info_max_kib, _mem, info_vcpus, _cpu = dom.info()
                vcpus = int(info_vcpus) if vcpus is None else vcpus
                max_kib = int(info_max_kib) if max_kib is None else max_kib
            metadata = _read_metadata(dom) if read_metadata is not None and read_metadata(uid) else None
        except libvirt.libvirtError as exc:
            if _code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
                continue  # gone since the listing
            raise
        domains.append(
            parse_stats(uid, raw, vcpus=vcpus, memory_mib=max_kib // _KIB_PER_MIB, metadata=metadata)
        )
    return read_at, domains


class InstanceRates:
    """CPU utilisation from cpu.time deltas: Δcpu_time / (Δwall * vcpus)."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, float]] = {}

    def measure(self, stats: DomainStats, now: float) -> InstanceMetrics | None:
        """A measured sample, or None on the first reading of a domain (no rate yet)."""
        if stats.cpu_time_ns is None:
            return None
        previous = self._last.get(stats.uid)
        self._last[stats.uid] = (stats.cpu_time_ns, now)
        if previous is None:
            return None
        elapsed = now - previous[1]
        used = stats.cpu_time_ns - previous[0]
        if elapsed <= 0 or used < 0 or stats.vcpus <= 0:
            util = 0.0  # a restarted domain resets its counter
        else:
            util = min(1.0, used / (elapsed * _NS_PER_S * stats.vcpus))
        return InstanceMetrics(
            instance_uid=stats.uid,
            cpu_util=util,
            memory_rss_mib=(stats.rss_kib or 0) // _KIB_PER_MIB,
            disk_read_bytes=stats.disk_read_bytes,
            disk_write_bytes=stats.disk_write_bytes,
            net_rx_bytes=stats.net_rx_bytes,
            net_tx_bytes=stats.net_tx_bytes,
            simulated=False,
        )

    def retain(self, uids: set[str]) -> None:
        for uid in [u for u in self._last if u not in uids]:
            del self._last[uid]
