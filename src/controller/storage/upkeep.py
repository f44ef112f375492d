"""Table upkeep: VACUUM the controller's busiest tables when their dead rows pile up, and
forget request ids past their retention (request_ids.purge).

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

from controller.storage import request_ids

log = structlog.get_logger(__name__)

PURGE_INTERVAL_S = 60.0  # between purges of request ids when no vacuum rounds are run
TABLES = ("outbox", "host_status", "hosts", "host_metrics", "instance_metrics", "instances")


@dataclass(frozen=True)
class Vacuumed:
    table: str
    dead_rows: int  # as the statistics counted them before the VACUUM
    analyzed: bool
    took_s: float


@dataclass(frozen=True)
class TableStats:
    dead: int
    live: int
    changed: int  # rows inserted, updated or deleted since the table was last analyzed


async def table_stats(conn: asyncpg.Connection, tables: Sequence[str] = TABLES) -> dict[str, TableStats]:
    """Each table's rows, as PostgreSQL's statistics count them."""
    found = await conn.fetch(
        "SELECT relname, n_dead_tup, n_live_tup, n_mod_since_analyze FROM pg_stat_user_tables"
        " WHERE schemaname = current_schema() AND relname = ANY($1::text[])",
        list(tables),
    )
    return {
        r["relname"]: TableStats(r["n_dead_tup"], r["n_live_tup"], r["n_mod_since_analyze"]) for r in found
    }


async def vacuum_round(
    conn: asyncpg.Connection,
    tables: Sequence[str] = TABLES,
    *,
    min_dead: int = 1000,
    dead_ratio: float = 0.2,
) -> list[Vacuumed]:
    """VACUUM each table with more than `min_dead + dead_ratio * live` dead rows, and ANALYZE
    it too when more than a tenth of it changed since it was last analyzed (autovacuum's
    rules for both, with a larger floor for VACUUM)."""
    done = []
    for table, t in (await table_stats(conn, tables)).items():
        if t.dead <= min_dead + dead_ratio * t.live:
            continue
        analyze = t.changed > 50 + 0.1 * t.live
        started = time.perf_counter()
        # The name comes from TABLES (or a caller's list of our own tables), never from input.
        await conn.execute(f'VACUUM {"(ANALYZE) " if analyze else ""}"{table}"')
        done.append(Vacuumed(table, t.dead, analyze, round(time.perf_counter() - started, 3)))
    return done


async def keep_tables(
    conn: asyncpg.Connection,
    interval_s: float,
    *,
    vacuum: bool = True,
    request_id_retention_s: float | None = None,
) -> None:
    """A round every `interval_s`, for as long as this replica leads: VACUUM (unless `vacuum`
    is off: PostgreSQL's autovacuum's job then), and forget the request ids whose resource was
    deleted more than `request_id_retention_s` ago (an indexed DELETE of what is due)."""
    while True:
        if vacuum:
            try:
                for v in await vacuum_round(conn):
                    log.info(
                        "upkeep.vacuumed",
                        table=v.table,
                        dead_rows=v.dead_rows,
                        analyzed=v.analyzed,
                        took_s=v.took_s,
                    )
            except asyncpg.PostgresError as exc:  # e.g. not the tables' owner: say so, go on
                log.warning("upkeep.vacuum_failed", error=str(exc))
        if request_id_retention_s is not None:
            purged = await request_ids.purge(conn, request_id_retention_s)
            if purged:
                log.info("upkeep.request_ids_forgotten", count=purged, retention_s=request_id_retention_s)
        await asyncio.sleep(interval_s)
