"""Table upkeep: VACUUM the controller's busiest tables when their dead rows pile up.

The outbox is a queue (every row inserted, then deleted), host_status is rewritten at every
heartbeat flush, the metrics tables at every persistence round, instances and hosts at every
claim. PostgreSQL's autovacuum may be off (it is on the machines this project is built on) or
too slow for tables churned thousands of times a second at its defaults (it looks once a minute
and waits for 20% of a table to be dead): dead rows then slow every scan and every update
(5,000 hosts, five minutes, no vacuum: ten dead rows per live one in host_status, 45 MB of
dead instance_metrics rows). Run by one replica (leadership), on its own connection: VACUUM
cannot run inside a transaction and takes no lock that blocks readers or writers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog

log = structlog.get_logger(__name__)

TABLES = ("outbox", "host_status", "hosts", "host_metrics", "instance_metrics", "instances")


@dataclass(frozen=True)
class Vacuumed:
    table: str
    dead_rows: int  # as the statistics counted them before the VACUUM
    took_s: float


async def dead_rows(conn: asyncpg.Connection, tables: Sequence[str] = TABLES) -> dict[str, tuple[int, int]]:
    """(dead, live) rows of each table, as PostgreSQL's statistics count them."""
    found = await conn.fetch(
        "SELECT relname, n_dead_tup, n_live_tup FROM pg_stat_user_tables"
        " WHERE schemaname = current_schema() AND relname = ANY($1::text[])",
        list(tables),
    )
    return {r["relname"]: (r["n_dead_tup"], r["n_live_tup"]) for r in found}


async def vacuum_round(
    conn: asyncpg.Connection,
    tables: Sequence[str] = TABLES,
    *,
    min_dead: int = 1000,
    dead_ratio: float = 0.2,
) -> list[Vacuumed]:
    """VACUUM (and ANALYZE: autovacuum would have) each table with more than
    `min_dead + dead_ratio * live` dead rows."""
    done = []
    for table, (dead, live) in (await dead_rows(conn, tables)).items():
        if dead <= min_dead + dead_ratio * live:
            continue
        started = time.perf_counter()
        # The name comes from TABLES (or a caller's list of our own tables), never from input.
        await conn.execute(f'VACUUM (ANALYZE) "{table}"')
        done.append(Vacuumed(table, dead, round(time.perf_counter() - started, 3)))
    return done


async def keep_tables(conn: asyncpg.Connection, interval_s: float) -> None:
    """A vacuum round every `interval_s`, for as long as this replica leads."""
    while True:
        try:
            for v in await vacuum_round(conn):
                log.info("upkeep.vacuumed", table=v.table, dead_rows=v.dead_rows, took_s=v.took_s)
        except asyncpg.PostgresError as exc:  # e.g. not the tables' owner: say so, go on
            log.warning("upkeep.vacuum_failed", error=str(exc))
        await asyncio.sleep(interval_s)
