"""Hosts in PostgreSQL: registration, heartbeats, up/down, enable/disable.

Inventory and usage live in `hosts` (claims lock those rows); liveness in `host_status`, so
heartbeats never wait on claims. Reads go through the `hosts_view` join of the two.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime

import asyncpg

from controller.domain.errors import EtagMismatch, NotFound
from controller.domain.host_health import ZoneCount
from controller.domain.messages import OutboxMessage
from controller.domain.model import Host, HostInventory
from controller.storage import rows
from controller.storage.rows import HOST_COLUMNS

HostEvent = Callable[[Host], OutboxMessage]


async def _read(conn: rows.Conn | asyncpg.Pool, ids: Sequence[str]) -> list[Host]:
    found = await conn.fetch(
        f"SELECT {HOST_COLUMNS} FROM hosts_view WHERE id = ANY($1::text[]) ORDER BY id", list(ids)
    )
    return [rows.host(r) for r in found]


class PgHostStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def register(
        self, inv: HostInventory, ratios: tuple[float, float, float], on_up: HostEvent
    ) -> Host:
        """Insert or refresh the host's inventory and mark it UP (ratios are only set on
        insert: an operator may have tuned them since)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO hosts (id, hostname, arch, hypervisor_type, hypervisor_uri,
                    availability_zone, vcpus, memory_mib, disk_gib, cpu_allocation_ratio,
                    ram_allocation_ratio, disk_allocation_ratio, domain_type)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                ON CONFLICT (id) DO UPDATE SET hostname = EXCLUDED.hostname,
                    arch = EXCLUDED.arch, hypervisor_type = EXCLUDED.hypervisor_type,
                    hypervisor_uri = EXCLUDED.hypervisor_uri,
                    availability_zone = EXCLUDED.availability_zone, vcpus = EXCLUDED.vcpus,
                    memory_mib = EXCLUDED.memory_mib, disk_gib = EXCLUDED.disk_gib,
                    domain_type = EXCLUDED.domain_type, version = hosts.version + 1""",
                inv.host_id,
                inv.hostname,
                inv.arch,
                inv.hypervisor_type,
                inv.hypervisor_uri,
                inv.availability_zone,
                inv.vcpus,
                inv.memory_mib,
                inv.disk_gib,
                *ratios,
                inv.domain_type,
            )
            was = await conn.fetchval(
                """INSERT INTO host_status AS s (id, state, last_heartbeat) VALUES ($1, 'UP', now())
                ON CONFLICT (id) DO UPDATE SET state = 'UP', last_heartbeat = now()
                RETURNING (SELECT state FROM host_status WHERE id = $1)""",
                inv.host_id,
            )
            (host,) = await _read(conn, [inv.host_id])
            if was != "UP":
                await rows.insert_outbox(conn, [on_up(host)])
            return host

    async def heartbeat(self, host_ids: Sequence[str], at: datetime, on_up: HostEvent) -> list[Host]:
        """Record heartbeats heard by `at` (a late flush never moves one back); returns the
        hosts that were DOWN and are UP again."""
        if not host_ids:
            return []
        async with self._pool.acquire() as conn, conn.transaction():
            came_up = await conn.fetch(
                """UPDATE host_status s SET last_heartbeat = GREATEST(s.last_heartbeat, $2), state = 'UP'
                FROM (SELECT id, state FROM host_status WHERE id = ANY($1::text[])
                      ORDER BY id FOR UPDATE) old
                WHERE s.id = old.id RETURNING s.id, old.state AS old_state""",
                list(host_ids),
                at,
            )
            up = await _read(conn, [r["id"] for r in came_up if r["old_state"] != "UP"])
            await rows.insert_outbox(conn, [on_up(h) for h in up])
            return up

    async def count_up(self) -> int:
        count: int = await self._pool.fetchval("SELECT count(*) FROM host_status WHERE state = 'UP'")
        return count

    async def zone_health(
        self, silent_since: datetime, unheard_since: datetime, heard: Collection[str] = ()
    ) -> list[ZoneCount]:
        """Each zone's hosts, those DOWN, and those UP whose last heartbeat is at or before
        `silent_since` (silent), or before `unheard_since` (unheard); neither for the hosts
        `heard` (heard, not recorded yet)."""
        # An anti-join on the unnested array (hashed): `<> ALL($3)` would compare each row
        # with every element once the plan is generic.
        found = await self._pool.fetch(
            """SELECT h.availability_zone AS zone, count(*) AS hosts,
                count(*) FILTER (WHERE s.state <> 'UP') AS down,
                count(*) FILTER (WHERE s.state = 'UP' AND heard.id IS NULL
                    AND (s.last_heartbeat IS NULL OR s.last_heartbeat <= $1)) AS silent,
                count(*) FILTER (WHERE s.state = 'UP' AND heard.id IS NULL
                    AND (s.last_heartbeat IS NULL OR s.last_heartbeat < $2)) AS unheard
            FROM hosts h JOIN host_status s USING (id)
                LEFT JOIN (SELECT DISTINCT unnest($3::text[]) AS id) heard ON heard.id = s.id
            GROUP BY h.availability_zone ORDER BY h.availability_zone""",
            silent_since,
            unheard_since,
            list(heard),
        )
        return [ZoneCount(r["zone"], r["hosts"], r["down"], r["silent"], r["unheard"]) for r in found]

    async def mark_down_silent(
        self,
        silent_since: datetime,
        zones: Sequence[str],
        on_down: HostEvent,
        heard: Collection[str] = (),
    ) -> list[Host]:
        """Mark DOWN the hosts of `zones` that are UP and whose last heartbeat is at or before
        `silent_since`, except the hosts `heard` (heard, not recorded yet)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # Rows locked in id order, as the heartbeat flush locks them: in any other order
            # the two deadlock once thousands of hosts beat (the condition is checked again
            # on each row once locked, so a host that just beat stays UP). Only host_status
            # rows: claims lock the hosts rows.
            ids = await conn.fetch(
                """UPDATE host_status s SET state = 'DOWN'
                FROM (SELECT s.id FROM host_status s JOIN hosts h USING (id)
                      WHERE s.state = 'UP' AND (s.last_heartbeat IS NULL OR s.last_heartbeat <= $1)
                        AND h.availability_zone = ANY($2::text[])
                        AND NOT EXISTS (SELECT FROM unnest($3::text[]) heard(id) WHERE heard.id = s.id)
                      ORDER BY s.id FOR UPDATE OF s) silent
                WHERE s.id = silent.id RETURNING s.id""",
                silent_since,
                list(zones),
                list(heard),
            )
            down = await _read(conn, [r["id"] for r in ids])
            await rows.insert_outbox(conn, [on_down(h) for h in down])
            return down

    async def get(self, host_id: str) -> Host:
        found = await _read(self._pool, [host_id])
        if not found:
            raise NotFound(f"hosts/{host_id}")
        return found[0]

    async def list(self, *, after: str | None, limit: int) -> list[Host]:
        found = await self._pool.fetch(
            f"SELECT {HOST_COLUMNS} FROM hosts_view WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
            after,
            limit,
        )
        return [rows.host(r) for r in found]

    async def set_enabled(
        self, host_id: str, enabled: bool, reason: str, etag: str, event: HostEvent
    ) -> Host:
        async with self._pool.acquire() as conn, conn.transaction():
            current = await conn.fetchrow(
                "SELECT version, enabled, disabled_reason FROM hosts WHERE id = $1 FOR UPDATE",
                host_id,
            )
            if current is None:
                raise NotFound(f"hosts/{host_id}")
            if etag and etag != str(current["version"]):
                raise EtagMismatch(f"hosts/{host_id}", etag, str(current["version"]))
            if current["enabled"] != enabled or current["disabled_reason"] != reason:
                await conn.execute(
                    "UPDATE hosts SET enabled = $2, disabled_reason = $3, version = version + 1"
                    " WHERE id = $1",
                    host_id,
                    enabled,
                    reason,
                )
                (host,) = await _read(conn, [host_id])
                await rows.insert_outbox(conn, [event(host)])
                return host
            (host,) = await _read(conn, [host_id])
            return host
