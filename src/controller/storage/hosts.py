"""Hosts in PostgreSQL: registration, heartbeats, up/down, enable/disable."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from controller.domain.errors import EtagMismatch, NotFound
from controller.domain.messages import OutboxMessage
from controller.domain.model import Host, HostInventory
from controller.storage import rows
from controller.storage.rows import HOST_COLUMNS

HostEvent = Callable[[Host], OutboxMessage]


class PgHostStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def register(
        self, inv: HostInventory, ratios: tuple[float, float, float], on_up: HostEvent
    ) -> Host:
        """Insert or refresh the host's inventory and mark it UP (ratios only set on insert:
        an operator may have tuned them since)."""
        async with self._pool.acquire() as conn, conn.transaction():
            was = await conn.fetchval("SELECT state FROM hosts WHERE id = $1 FOR UPDATE", inv.host_id)
            row = await conn.fetchrow(
                f"""INSERT INTO hosts (id, hostname, arch, hypervisor_type, hypervisor_uri,
                    availability_zone, vcpus, memory_mib, disk_gib, cpu_allocation_ratio,
                    ram_allocation_ratio, disk_allocation_ratio, state, last_heartbeat)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'UP', now())
                ON CONFLICT (id) DO UPDATE SET hostname = EXCLUDED.hostname,
                    arch = EXCLUDED.arch, hypervisor_type = EXCLUDED.hypervisor_type,
                    hypervisor_uri = EXCLUDED.hypervisor_uri,
                    availability_zone = EXCLUDED.availability_zone, vcpus = EXCLUDED.vcpus,
                    memory_mib = EXCLUDED.memory_mib, disk_gib = EXCLUDED.disk_gib,
                    state = 'UP', last_heartbeat = now(), version = hosts.version + 1
                RETURNING {HOST_COLUMNS}""",
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
            )
            host = rows.host(row)
            if was != "UP":
                await rows.insert_outbox(conn, [on_up(host)])
            return host

    async def heartbeat(self, host_ids: Sequence[str], on_up: HostEvent) -> list[Host]:
        """Record heartbeats; returns the hosts that were DOWN and are UP again."""
        if not host_ids:
            return []
        async with self._pool.acquire() as conn, conn.transaction():
            came_up = await conn.fetch(
                """UPDATE hosts h SET last_heartbeat = now(), state = 'UP',
                    version = h.version + (CASE WHEN h.state = 'UP' THEN 0 ELSE 1 END)
                FROM (SELECT id, state AS old_state FROM hosts WHERE id = ANY($1::text[])
                      ORDER BY id FOR UPDATE) old
                WHERE h.id = old.id
                RETURNING old.old_state, h.*""",
                list(host_ids),
            )
            up = [rows.host(r) for r in came_up if r["old_state"] != "UP"]
            await rows.insert_outbox(conn, [on_up(h) for h in up])
            return up

    async def mark_down_stale(self, older_than: datetime, on_down: HostEvent) -> list[Host]:
        async with self._pool.acquire() as conn, conn.transaction():
            found = await conn.fetch(
                f"""UPDATE hosts SET state = 'DOWN', version = version + 1
                WHERE state = 'UP' AND (last_heartbeat IS NULL OR last_heartbeat < $1)
                RETURNING {HOST_COLUMNS}""",
                older_than,
            )
            down = [rows.host(r) for r in found]
            await rows.insert_outbox(conn, [on_down(h) for h in down])
            return down

    async def get(self, host_id: str) -> Host:
        row = await self._pool.fetchrow(f"SELECT {HOST_COLUMNS} FROM hosts WHERE id = $1", host_id)
        if row is None:
            raise NotFound(f"hosts/{host_id}")
        return rows.host(row)

    async def list(self, *, after: str | None, limit: int) -> list[Host]:
        found = await self._pool.fetch(
            f"SELECT {HOST_COLUMNS} FROM hosts WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
            after,
            limit,
        )
        return [rows.host(r) for r in found]

    async def set_enabled(
        self, host_id: str, enabled: bool, reason: str, etag: str, event: HostEvent
    ) -> Host:
        async with self._pool.acquire() as conn, conn.transaction():
            current = await conn.fetchrow(
                f"SELECT {HOST_COLUMNS} FROM hosts WHERE id = $1 FOR UPDATE", host_id
            )
            if current is None:
                raise NotFound(f"hosts/{host_id}")
            if etag and etag != str(current["version"]):
                raise EtagMismatch(f"hosts/{host_id}", etag, str(current["version"]))
            if current["enabled"] == enabled and current["disabled_reason"] == reason:
                return rows.host(current)
            row = await conn.fetchrow(
                f"UPDATE hosts SET enabled = $2, disabled_reason = $3, version = version + 1"
                f" WHERE id = $1 RETURNING {HOST_COLUMNS}",
                host_id,
                enabled,
                reason,
            )
            host = rows.host(row)
            await rows.insert_outbox(conn, [event(host)])
            return host
