"""One metrics sample as plain data (the uplink turns it into agent.proto's HostMetricsSample)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InstanceMetrics:
    instance_uid: str
    cpu_util: float  # 0..1 of the instance's vcpus
    memory_rss_mib: int
    disk_read_bytes: int = 0  # cumulative counters, as libvirt reports them
    disk_write_bytes: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0
    simulated: bool = False


@dataclass(frozen=True, slots=True)
class HostMetrics:
    sampled_at: float  # seconds since the epoch
    cpu_util: float  # 0..1 of all host CPUs
    memory_used_mib: int
    memory_free_mib: int
    load1: float
    load5: float
    load15: float
    instances: tuple[InstanceMetrics, ...] = ()
    simulated: bool = False
