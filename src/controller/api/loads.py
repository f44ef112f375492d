"""Metrics ↔ protobuf: agents' samples in, HostLoad / InstanceLoad / HostMetricsUpdate out.

`samples` runs for every sample an agent sends (thousands per second in a large fleet): it
only copies and sanity-checks numbers, so one bad agent cannot poison the smoothed values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from google.protobuf import timestamp_pb2

from controller.services.load_view import (
    HostLoadView,
    HostSample,
    HostUpdate,
    InstanceLoadView,
    InstanceSample,
)
from overcast.agent.v1 import agent_pb2
from overcast.v1 import host_pb2, server_pb2

MAX_INSTANCES_PER_SAMPLE = 10_000
_UUID_TEXT_LENGTH = 36


def _fraction(value: float) -> float:
    if 0.0 <= value <= 1.0:
        return value
    return 1.0 if value > 1.0 else 0.0  # also NaN → 0.0


def _amount(value: float) -> float:
    return value if 0.0 <= value < math.inf else 0.0


def _seconds(ts: timestamp_pb2.Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def _count(value: int) -> int:
    return value if value >= 0 else 0


def samples(m: agent_pb2.HostMetricsSample) -> tuple[HostSample, list[InstanceSample]]:
    # Positional arguments and plain conditionals: this is the per-sample hot path.
    host = HostSample(
        _seconds(m.sampled_at),
        _fraction(m.cpu_util),
        _count(m.memory_used_mib),
        _count(m.memory_free_mib),
        _amount(m.load1),
        _amount(m.load5),
        _amount(m.load15),
        m.simulated,
    )
    instances = []
    for i in m.instances[:MAX_INSTANCES_PER_SAMPLE]:
        uid = i.instance_uid
        if len(uid) != _UUID_TEXT_LENGTH:
            continue
        cpu = i.cpu_util
        if not 0.0 <= cpu <= 1.0:
            cpu = _fraction(cpu)
        rss, rd, wr = i.memory_rss_mib, i.disk_read_bytes, i.disk_write_bytes
        rx, tx = i.net_rx_bytes, i.net_tx_bytes
        if rss < 0 or rd < 0 or wr < 0 or rx < 0 or tx < 0:
            rss, rd, wr, rx, tx = _count(rss), _count(rd), _count(wr), _count(rx), _count(tx)
        instances.append(InstanceSample(uid, cpu, rss, rd, wr, rx, tx, i.simulated))
    return host, instances


def _ts(seconds: float) -> timestamp_pb2.Timestamp:
    whole = int(seconds)
    nanos = min(999_999_999, max(0, round((seconds - whole) * 1e9)))
    return timestamp_pb2.Timestamp(seconds=whole, nanos=nanos)


def host_load(v: HostLoadView) -> host_pb2.HostLoad:
    s = v.sample
    return host_pb2.HostLoad(
        cpu_util=s.cpu_util,
        cpu_util_ewma=v.cpu_util_ewma,
        memory_used_mib=s.memory_used_mib,
        memory_free_mib=s.memory_free_mib,
        load1=s.load1,
        load5=s.load5,
        load15=s.load15,
        sampled_at=_ts(s.sampled_at),
        stale=v.stale,
        simulated=s.simulated,
    )


def instance_load(v: InstanceLoadView) -> server_pb2.InstanceLoad:
    s = v.sample
    return server_pb2.InstanceLoad(
        cpu_util=s.cpu_util,
        cpu_util_ewma=v.cpu_util_ewma,
        memory_rss_mib=s.memory_rss_mib,
        disk_read_bytes=s.disk_read_bytes,
        disk_write_bytes=s.disk_write_bytes,
        net_rx_bytes=s.net_rx_bytes,
        net_tx_bytes=s.net_tx_bytes,
        sampled_at=_ts(v.sampled_at),
        simulated=s.simulated,
        stale=v.stale,
    )


def host_update(u: HostUpdate, names: Mapping[str, str] | None) -> host_pb2.HostMetricsUpdate:
    """`names` (uid → server name) given: with the host's instances; None: host only."""
    update = host_pb2.HostMetricsUpdate(host=f"hosts/{u.host.host_id}", load=host_load(u.host))
    if names is not None:
        update.instances.extend(
            host_pb2.InstanceMetrics(
                server=names.get(i.sample.uid, ""), uid=i.sample.uid, load=instance_load(i)
            )
            for i in u.instances
        )
    return update
