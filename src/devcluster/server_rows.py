"""A fleet of servers written straight into the tables (no API, no agents: simulated rows), for
list and watch tests and bench/listing.py: one INSERT … SELECT FROM generate_series.

Server i (from 0): id "web-%06d" (even i) or "db-%06d" (odd i); vm_state by i % 100: 0 ERROR,
1-2 BUILDING (unplaced, no host), 3-9 STOPPED, the rest ACTIVE; host "h%04d" (i % hosts), or
none at all with hosts=0 (rows beside a live cluster's: no agent reconciles them, no claim);
metadata env "prod" (i % 2 == 0) or "dev", tier "gold" when i % 100 == 50; every fifth server
in scaling group "asg-%02d" (i % 50); created a millisecond apart; flavor and image "fleet-sim"
(no such catalog entries: they hold no image in use).
"""

from __future__ import annotations

import asyncpg

_HOSTS = """
INSERT INTO hosts (id, hostname, arch, hypervisor_type, availability_zone, vcpus, memory_mib,
    disk_gib, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio)
SELECT 'h' || lpad(h::text, 4, '0'), 'h' || lpad(h::text, 4, '0'), 'x86_64', 'qemu', 'nova',
    1024, 4194304, 100000, 16, 1.5, 1
FROM generate_series(0, $1::int - 1) h
ON CONFLICT DO NOTHING
"""
_HOST_STATUS = """
INSERT INTO host_status (id, state, last_heartbeat)
SELECT 'h' || lpad(h::text, 4, '0'), 'DOWN', NULL FROM generate_series(0, $1::int - 1) h
ON CONFLICT DO NOTHING
"""

_SERVERS = """
INSERT INTO instances (uid, project, server_id, flavor_id, image_id, vcpus, memory_mib, disk_gib,
    vm_state, power_state, host_id, allocated, metadata, scaling_group, created_at, updated_at)
SELECT gen_random_uuid(), $1,
    CASE WHEN i % 2 = 0 THEN 'web-' ELSE 'db-' END || lpad(i::text, 6, '0'),
    'fleet-sim', 'fleet-sim', 1, 512, 1,
    CASE WHEN i % 100 = 0 THEN 'ERROR' WHEN i % 100 < 3 THEN 'BUILDING'
         WHEN i % 100 < 10 THEN 'STOPPED' ELSE 'ACTIVE' END,
    CASE WHEN i % 100 IN (1, 2) THEN 'POWER_STATE_UNSPECIFIED' WHEN i % 100 < 10 THEN 'SHUTDOWN'
         ELSE 'RUNNING' END,
    CASE WHEN i % 100 IN (1, 2) OR $3::int = 0 THEN NULL ELSE 'h' || lpad((i % $3::int)::text, 4, '0') END,
    i % 100 NOT IN (1, 2) AND $3::int > 0,
    jsonb_build_object('env', CASE WHEN i % 2 = 0 THEN 'prod' ELSE 'dev' END)
        || CASE WHEN i % 100 = 50 THEN '{"tier": "gold"}'::jsonb ELSE '{}'::jsonb END,
    CASE WHEN i % 5 = 0 THEN 'asg-' || lpad((i % 50)::text, 2, '0') ELSE '' END,
    now() - interval '1 day' + i * interval '1 millisecond',
    now()
FROM generate_series($4::int, $4::int + $2::int - 1) i
"""


async def insert_fleet(
    conn: asyncpg.Connection, project: str, servers: int, *, hosts: int = 1000, first: int = 0
) -> None:
    """`servers` servers of `project` (numbered from `first`) on `hosts` hosts, then VACUUM (ANALYZE)."""
    if hosts:
        await conn.execute(_HOSTS, hosts)
        await conn.execute(_HOST_STATUS, hosts)
    await conn.execute(_SERVERS, project, servers, hosts, first)
    await conn.execute("VACUUM (ANALYZE) instances")  # as upkeep would: merges the GIN pending list
