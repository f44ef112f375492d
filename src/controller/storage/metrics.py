"""Metrics snapshots in PostgreSQL: the latest sample per host and per instance.

Written at a low rate (one upsert statement per table per persistence interval, whatever the
number of hosts), read by other replicas for hosts whose agents are not connected to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from controller.services.load_view import HostLoadView, HostSample, InstanceLoadView, InstanceSample

_UPSERT_HOSTS = """
INSERT INTO host_metrics AS m (host_id, sampled_at, received_at, cpu_util, cpu_util_ewma,
    memory_used_mib, memory_free_mib, load1, load5, load15, simulated)
SELECT h, to_timestamp(s), to_timestamp(r), c, e, mu, mf, l1, l5, l15, sim
FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::int8[],
            $7::int8[], $8::float8[], $9::float8[], $10::float8[], $11::bool[])
     AS t(h, s, r, c, e, mu, mf, l1, l5, l15, sim)
ON CONFLICT (host_id) DO UPDATE SET sampled_at = EXCLUDED.sampled_at,
    received_at = EXCLUDED.received_at, cpu_util = EXCLUDED.cpu_util,
    cpu_util_ewma = EXCLUDED.cpu_util_ewma, memory_used_mib = EXCLUDED.memory_used_mib,
    memory_free_mib = EXCLUDED.memory_free_mib, load1 = EXCLUDED.load1, load5 = EXCLUDED.load5,
    load15 = EXCLUDED.load15, simulated = EXCLUDED.simulated
WHERE m.received_at <= EXCLUDED.received_at
"""

_UPSERT_INSTANCES = """
INSERT INTO instance_metrics AS m (uid, host_id, sampled_at, received_at, cpu_util,
    cpu_util_ewma, memory_rss_mib, disk_read_bytes, disk_write_bytes, net_rx_bytes,
    net_tx_bytes, simulated)
SELECT u, h, to_timestamp(s), to_timestamp(r), c, e, rss, dr, dw, nr, nt, sim
FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::float8[], $6::float8[],
            $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::bool[])
     AS t(u, h, s, r, c, e, rss, dr, dw, nr, nt, sim)
ON CONFLICT (uid) DO UPDATE SET host_id = EXCLUDED.host_id, sampled_at = EXCLUDED.sampled_at,
    received_at = EXCLUDED.received_at, cpu_util = EXCLUDED.cpu_util,
    cpu_util_ewma = EXCLUDED.cpu_util_ewma, memory_rss_mib = EXCLUDED.memory_rss_mib,
    disk_read_bytes = EXCLUDED.disk_read_bytes, disk_write_bytes = EXCLUDED.disk_write_bytes,
    net_rx_bytes = EXCLUDED.net_rx_bytes, net_tx_bytes = EXCLUDED.net_tx_bytes,
    simulated = EXCLUDED.simulated
WHERE m.received_at <= EXCLUDED.received_at
"""

_HOST_COLUMNS = (
    "host_id, extract(epoch FROM sampled_at) AS sampled_at,"
    " extract(epoch FROM received_at) AS received_at, cpu_util, cpu_util_ewma, memory_used_mib,"
    " memory_free_mib, load1, load5, load15, simulated"
)
_INSTANCE_COLUMNS = (
    "uid, host_id, extract(epoch FROM sampled_at) AS sampled_at,"
    " extract(epoch FROM received_at) AS received_at, cpu_util, cpu_util_ewma, memory_rss_mib,"
    " disk_read_bytes, disk_write_bytes, net_rx_bytes, net_tx_bytes, simulated"
)


def _host(r: asyncpg.Record) -> HostLoadView:
    sample = HostSample(
        sampled_at=float(r["sampled_at"]),
        cpu_util=r["cpu_util"],
        memory_used_mib=r["memory_used_mib"],
        memory_free_mib=r["memory_free_mib"],
        load1=r["load1"],
        load5=r["load5"],
        load15=r["load15"],
        simulated=r["simulated"],
    )
    # `stale` is the reader's judgement (it knows the clock and thresholds), not stored.
    return HostLoadView(r["host_id"], sample, r["cpu_util_ewma"], float(r["received_at"]), stale=False)


def _instance(r: asyncpg.Record) -> InstanceLoadView:
    sample = InstanceSample(
        uid=r["uid"],
        cpu_util=r["cpu_util"],
        memory_rss_mib=r["memory_rss_mib"],
        disk_read_bytes=r["disk_read_bytes"],
        disk_write_bytes=r["disk_write_bytes"],
        net_rx_bytes=r["net_rx_bytes"],
        net_tx_bytes=r["net_tx_bytes"],
        simulated=r["simulated"],
    )
    return InstanceLoadView(
        r["host_id"],
        sample,
        r["cpu_util_ewma"],
        float(r["sampled_at"]),
        float(r["received_at"]),
        stale=False,
    )


class PgMetricsStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def save(self, hosts: Sequence[HostLoadView], instances: Sequence[InstanceLoadView]) -> None:
        if not hosts and not instances:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            if hosts:
                s = [h.sample for h in hosts]
                await conn.execute(
                    _UPSERT_HOSTS,
                    [h.host_id for h in hosts],
                    [x.sampled_at for x in s],
                    [h.received_at for h in hosts],
                    [x.cpu_util for x in s],
                    [h.cpu_util_ewma for h in hosts],
                    [x.memory_used_mib for x in s],
                    [x.memory_free_mib for x in s],
                    [x.load1 for x in s],
                    [x.load5 for x in s],
                    [x.load15 for x in s],
                    [x.simulated for x in s],
                )
            if instances:
                i = [v.sample for v in instances]
                await conn.execute(
                    _UPSERT_INSTANCES,
                    [x.uid for x in i],
                    [v.host_id for v in instances],
                    [v.sampled_at for v in instances],
                    [v.received_at for v in instances],
                    [x.cpu_util for x in i],
                    [v.cpu_util_ewma for v in instances],
                    [x.memory_rss_mib for x in i],
                    [x.disk_read_bytes for x in i],
                    [x.disk_write_bytes for x in i],
                    [x.net_rx_bytes for x in i],
                    [x.net_tx_bytes for x in i],
                    [x.simulated for x in i],
                )

    async def hosts(self) -> list[HostLoadView]:
        return [_host(r) for r in await self._pool.fetch(f"SELECT {_HOST_COLUMNS} FROM host_metrics")]

    async def instances(self, uids: Sequence[str]) -> list[InstanceLoadView]:
        found = await self._pool.fetch(
            f"SELECT {_INSTANCE_COLUMNS} FROM instance_metrics WHERE uid = ANY($1::text[])", list(uids)
        )
        return [_instance(r) for r in found]

    async def prune(self, older_than: datetime) -> int:
        """Drop instance rows nobody has reported since `older_than`."""
        status = await self._pool.execute("DELETE FROM instance_metrics WHERE received_at < $1", older_than)
        return int(status.rsplit(" ", 1)[-1])
