"""The scheduler's transaction: lock a batch of pending instances, claim capacity for each."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from controller.domain.messages import OutboxMessage
from controller.domain.model import Host, Instance
from controller.storage import rows
from controller.storage.rows import HOST_COLUMNS, INSTANCE_COLUMNS

# The conditional UPDATE is the claim: it succeeds only while the host has room, so two
# workers racing for the last slot cannot both win (the CHECK constraints back it up).
CLAIM = """
UPDATE hosts SET vcpus_used = vcpus_used + $2, memory_mib_used = memory_mib_used + $3,
    disk_gib_used = disk_gib_used + $4, servers = servers + 1, version = version + 1
WHERE id = $1 AND enabled
  AND (SELECT state FROM host_status WHERE host_status.id = $1) = 'UP'
  AND vcpus_used + $2 <= vcpus * cpu_allocation_ratio
  AND memory_mib_used + $3 <= memory_mib * ram_allocation_ratio
  AND disk_gib_used + $4 <= disk_gib * disk_allocation_ratio
RETURNING id
"""


class PgSchedulingBatch:
    def __init__(self, conn: rows.Conn, pending: list[Instance], hosts: list[Host]):
        self._conn = conn
        self.pending = pending
        self.hosts = hosts

    async def claim(self, inst: Instance, host_id: str, messages: Sequence[OutboxMessage]) -> bool:
        async with self._conn.transaction():  # a savepoint: a failed claim undoes only itself
            got = await self._conn.fetchval(CLAIM, host_id, inst.vcpus, inst.memory_mib, inst.disk_gib)
            if got is None:
                return False
            await self._write(inst, messages)
        return True

    async def fail(self, inst: Instance, messages: Sequence[OutboxMessage]) -> None:
        await self._write(inst, messages)

    async def _write(self, new: Instance, messages: Sequence[OutboxMessage]) -> None:
        done = await self._conn.fetchval(
            rows.UPDATE_INSTANCE,
            new.uid,
            new.version - 1,
            *rows.instance_values(new),
        )
        if done is None:
            raise RuntimeError(f"{new.name} changed while locked for scheduling")
        await rows.insert_outbox(self._conn, messages)


class PgSchedulingStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def batch(self, limit: int) -> AsyncIterator[PgSchedulingBatch]:
        async with self._pool.acquire() as conn, conn.transaction():
            pending = await conn.fetch(
                f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE task_state = 'SCHEDULING'"
                " ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                limit,
            )
            hosts: list[asyncpg.Record] = []
            if pending:
                hosts = await conn.fetch(f"SELECT {HOST_COLUMNS} FROM hosts_view ORDER BY id")
            yield PgSchedulingBatch(conn, [rows.instance(r) for r in pending], [rows.host(r) for r in hosts])
