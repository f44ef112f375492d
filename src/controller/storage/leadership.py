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
    COMMAND_EXPIRY = 0x0C_0A57_0103
    AUTOSCALER = 0x0C_0A57_0104
    HOST_FAILURE = 0x0C_0A57_0105


async def try_lead(conn: asyncpg.Connection, role: Role) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", int(role)))


async def lead(
    db_url: str,
    role: Role,
    work: Callable[[asyncpg.Connection], Awaitable[None]],
    *,
    poll_s: float = 1.0,
) -> None:
    """Wait until this replica holds `role`'s lock, then run `work` on the lock's own
    connection, and return when it does.

    When that connection is lost, the work is cancelled (another replica may lead by then) and
    ConnectionError is raised; what the work raises is raised too. Run under
    daemon.supervision, which tries again after I/O failures and ends the process on a bug.
    """
    conn = await database.connect(db_url)
    lost = asyncio.Event()
    conn.add_termination_listener(lambda _c: lost.set())
    try:
        while not await try_lead(conn, role):
            await asyncio.sleep(poll_s)
        log.info("leadership.acquired", role=role.name)
        worker = asyncio.ensure_future(work(conn))
        watcher = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({worker, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            worker.cancel()
            watcher.cancel()
            await asyncio.gather(worker, watcher, return_exceptions=True)
        if not worker.cancelled():
            error = worker.exception()
            if error is not None:
                raise error
            return
        raise ConnectionError(f"lost the connection holding the {role.name} lock")
    finally:
        if not conn.is_closed():
            await conn.close()
