"""Does this replica fit in PostgreSQL's max_connections? Checked once at startup.

Clients never open database connections: every call goes through the replica's pool (bounded by
`--database-pool-size`) or one of a few dedicated connections (the listener, one per leader
role, the children's). So what a replica can ever open is known from its settings, and a storm
of clients can never take PostgreSQL past `max_connections` as long as the replicas' sums fit.
This module compares that sum with what the server allows, less its reserved connections and
those already open (other replicas, other programs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
import structlog

log = structlog.get_logger(__name__)


class DoesNotFit(Exception):
    pass


@dataclass(frozen=True)
class ServerRoom:
    max_connections: int
    reserved: int  # superuser_reserved_connections (+ reserved_connections, PostgreSQL 16)
    open: int  # connections open now, every database (they all count against the limit)

    @property
    def usable(self) -> int:
        return self.max_connections - self.reserved


async def read_room(conn: asyncpg.Connection) -> ServerRoom:
    row = await conn.fetchrow(
        "SELECT current_setting('max_connections')::int AS max,"
        " current_setting('superuser_reserved_connections')::int"
        " + coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved,"
        " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS open"
    )
    assert row is not None
    return ServerRoom(row["max"], row["reserved"], row["open"])


def judge(needed: Mapping[str, int], room: ServerRoom, *, before_pool: int = 1) -> tuple[str, str] | None:
    """None when `needed` fits; else ("refuse", why) when it can never fit (more than the server
    allows at all), or ("warn", why) when it does not fit beside the connections open now
    (`before_pool` of them are this replica's own, the one asking)."""
    total = sum(needed.values())
    parts = ", ".join(f"{name} {n}" for name, n in needed.items() if n)
    if total > room.usable:
        return (
            "refuse",
            f"this controller opens up to {total} database connections ({parts}) but PostgreSQL"
            f" allows {room.usable} (max_connections {room.max_connections} less {room.reserved}"
            " reserved): lower --database-pool-size or raise max_connections",
        )
    others = room.open - before_pool
    if total + others > room.usable:
        return (
            "warn",
            f"this controller opens up to {total} database connections ({parts}) and {others} are"
            f" open already, beyond the {room.usable} PostgreSQL allows (max_connections"
            f" {room.max_connections} less {room.reserved} reserved): under load some will be"
            " refused; lower --database-pool-size on the replicas or raise max_connections",
        )
    return None


async def check(url: str, needed: Mapping[str, int], mode: str) -> None:
    """Log `database.connections` with the figures; raise DoesNotFit when `mode` is "refuse" and
    the replica can never fit; warn otherwise."""
    if mode == "off":
        return
    conn = await asyncpg.connect(url)
    try:
        room = await read_room(conn)
    finally:
        await conn.close()
    verdict = judge(needed, room)
    log.info(
        "database.connections",
        needed=sum(needed.values()),
        max_connections=room.max_connections,
        reserved=room.reserved,
        open=room.open,
    )
    if verdict is None:
        return
    kind, why = verdict
    if kind == "refuse" and mode == "refuse":
        raise DoesNotFit(why)
    log.warning("database.connections_short", why=why)
