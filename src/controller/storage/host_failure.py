"""What the host-failure sweep reads (services.host_failure): hosts DOWN past the grace, and
servers marked for a host that has come back. Its writes go through the instance store."""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

import asyncpg

from controller.domain.errors import NotFound


class PgHostFailureStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def failed_hosts(self, grace_s: float) -> builtins.list[tuple[str, datetime]]:
        """Hosts DOWN for longer than `grace_s` (by the database's clock), with since when."""
        found = await self._pool.fetch(
            "SELECT id, down_since FROM host_status WHERE state = 'DOWN'"
            " AND down_since < now() - make_interval(secs => $1) ORDER BY id",
            grace_s,
        )
        return [(r["id"], r["down_since"]) for r in found]

    async def usable_hosts(self) -> int:
        """Hosts UP and enabled: where evacuated servers could go."""
        count: int = await self._pool.fetchval(
            "SELECT count(*) FROM hosts h JOIN host_status s USING (id) WHERE s.state = 'UP' AND h.enabled"
        )
        return count

    async def marked_on_up_hosts(self, limit: int) -> builtins.list[UUID]:
        """Servers marked for their host's failure whose host is UP again."""
        found = await self._pool.fetch(
            "SELECT i.uid FROM instances i JOIN host_status s ON s.id = i.host_id"
            " WHERE i.host_down_at IS NOT NULL AND i.deleted_at IS NULL AND s.state = 'UP'"
            " ORDER BY i.uid LIMIT $1",
            limit,
        )
        return [r["uid"] for r in found]

    async def down_since(self, host_id: str) -> datetime | None:
        """When the host went DOWN; None while it is UP; NotFound for no such host."""
        row = await self._pool.fetchrow(
            "SELECT state, coalesce(down_since, now()) AS since FROM host_status WHERE id = $1", host_id
        )
        if row is None:
            raise NotFound(f"hosts/{host_id}")
        return row["since"] if row["state"] == "DOWN" else None
