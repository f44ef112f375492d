"""Leadership for work that must run once across controller replicas: a PostgreSQL session
advisory lock held on a dedicated connection. If the leader dies, its connection closes,
the lock is released and another replica takes over."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

from controller.storage import database

log = structlog.get_logger(__name__)


class Role(enum.IntEnum):
    OUTBOX_RELAY = 0x0C_0A57_0100
    HOST_MONITOR = 0x0C_0A57_0101
    TABLE_UPKEEP = 0x0C_0A57_0102


async def try_lead(conn: asyncpg.Connection, role: Role) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", int(role)))


async def lead(
    db_url: str,
    role: Role,
    work: Callable[[asyncpg.Connection], Awaitable[None]],
    *,
    retry_s: float = 1.0,
) -> None:
    """Run `work` whenever this replica holds `role`'s lock, on the lock's own connection.

    The work is cancelled when that connection is lost (another replica may lead by then).
    """
    while True:
        try:
            conn = await database.connect(db_url)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("leadership.connect_failed", role=role.name, error=str(exc))
            await asyncio.sleep(retry_s)
            continue
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c, lost=lost: lost.set())
        try:
            while not await try_lead(conn, role):
                await asyncio.sleep(retry_s)
            log.info("leadership.acquired", role=role.name)
            worker = asyncio.ensure_future(work(conn))
            watcher = asyncio.ensure_future(lost.wait())
            try:
                await asyncio.wait({worker, watcher}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                worker.cancel()
                watcher.cancel()
                await asyncio.gather(worker, watcher, return_exceptions=True)
            if worker.done() and not worker.cancelled() and worker.exception():
                log.warning("leadership.work_failed", role=role.name, error=str(worker.exception()))
            log.warning("leadership.lost", role=role.name)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("leadership.error", role=role.name, error=str(exc))
        finally:
            if not conn.is_closed():
                await conn.close()
        await asyncio.sleep(retry_s)
