"""Filtered, ordered pages of servers and the changes since a snapshot, in PostgreSQL.

A filter (domain.server_filter) becomes a WHERE clause whose values are all bound parameters:
the SQL text is built from the tree's shape and a fixed vocabulary of columns, never from a
value. Each supported filter and order has an index (migration 0014); EXPLAIN in
tests/unit/controller/test_server_listing_sql.py shows which one serves a page.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from controller.domain.model import Instance
from controller.domain.server_filter import AllOf, Compare, Expr, Not, Order
from controller.storage import rows
from controller.storage.rows import INSTANCE_COLUMNS

_COLUMNS = {
    "vm_state": "vm_state",
    "host": "host_id",
    "server_group": "server_group",
    "scaling_group": "scaling_group",
}


class Sql:
    """A WHERE clause under construction: its parameters, numbered from `first`."""

    def __init__(self, first: int = 1) -> None:
        self.params: list[Any] = []
        self._first = first

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return f"${self._first + len(self.params) - 1}"

    def where(self, e: Expr) -> str:
        if isinstance(e, Compare):
            return self._compare(e)
        if isinstance(e, Not):
            # IS NOT TRUE: a NULL (host_id of an unplaced server) is false, as in Python.
            return f"({self.where(e.item)}) IS NOT TRUE"
        if not e.items:
            return "true" if isinstance(e, AllOf) else "false"
        joiner = " AND " if isinstance(e, AllOf) else " OR "
        return "(" + joiner.join(self.where(i) for i in e.items) + ")"

    def _compare(self, c: Compare) -> str:
        if c.field in _COLUMNS:
            return f"{_COLUMNS[c.field]} = {self.bind(c.value)}"
        if c.field == "name":
            if c.op == "=":
                return f"server_id = {self.bind(c.value)}"
            if not c.value:
                return "true"
            # Every id starting with the prefix, as an index range (server_id is COLLATE "C").
            upper = c.value[:-1] + chr(ord(c.value[-1]) + 1)
            return f"(server_id >= {self.bind(c.value)} AND server_id < {self.bind(upper)})"
        if c.op == "has":
            return f"metadata ? {self.bind(c.key)}"
        # text, then jsonb: the pool's jsonb codec would encode a str as a JSON string.
        return f"metadata @> {self.bind(json.dumps({c.key: c.value}))}::text::jsonb"


_ORDER_BY = {
    ("name", False): "server_id",
    ("name", True): "server_id DESC",
    ("create_time", False): "created_at, server_id",
    ("create_time", True): "created_at DESC, server_id DESC",
}

_SNAPSHOT = "SELECT pg_current_snapshot()::text AS snapshot"


def page_sql(
    project: str, where: Expr, order: Order, after: tuple[str, datetime | None] | None, limit: int
) -> tuple[str, list[Any]]:
    """One page's statement and its parameters: the keyset (after the last row of the previous
    page) and the filter's values all bound. The first page also reads its snapshot (one
    statement, one snapshot: a LEFT JOIN LATERAL keeps the snapshot row when no server matches)."""
    sql = Sql()
    conds = [f"project = {sql.bind(project)}", "deleted_at IS NULL", sql.where(where)]
    if after is not None:
        op = "<" if order.descending else ">"
        last_id, last_time = after
        if order.key == "name":
            conds.append(f"server_id {op} {sql.bind(last_id)}")
        else:
            conds.append(
                f"(created_at, server_id) {op} ({sql.bind(last_time)}::timestamptz, {sql.bind(last_id)})"
            )
    inner = (
        f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE {' AND '.join(conds)}"
        f" ORDER BY {_ORDER_BY[(order.key, order.descending)]} LIMIT {sql.bind(limit)}"
    )
    if after is None:
        return (
            f"SELECT s.snapshot, i.* FROM ({_SNAPSHOT}) s LEFT JOIN LATERAL ({inner}) i ON true",
            sql.params,
        )
    return inner, sql.params


# Rows changed since a snapshot ($2), in pages by (change_xid, uid). Each page is a statement of
# its own (no transaction held open while a slow client reads them: that would hold back every
# snapshot's xmin, and VACUUM); the first also reads its snapshot, which is the resume point
# after them all. A row changed again between two pages may come in a later page, newer than
# that snapshot (sent twice, never missed: the feed's next read from the snapshot has it too);
# one rewritten by a transaction older than the page cursor is missed here and has it there.
_CHANGED = f"""
SELECT {INSTANCE_COLUMNS}, change_xid::text AS change_key FROM instances
WHERE project = $1 AND change_xid >= pg_snapshot_xmin($2::text::pg_snapshot)
  AND NOT pg_visible_in_snapshot(change_xid, $2::text::pg_snapshot)
  AND ($3::text IS NULL OR (change_xid, uid) > ($3::text::xid8, $4::uuid))
ORDER BY instances.change_xid, uid LIMIT $5
"""
_FIRST_CHANGED = f"""
SELECT s.snapshot, s.future, i.* FROM (
    SELECT pg_current_snapshot()::text AS snapshot,
        pg_snapshot_xmax($2::text::pg_snapshot) > pg_snapshot_xmax(pg_current_snapshot()) AS future
) s LEFT JOIN LATERAL ({_CHANGED}) i ON true
"""


class Changes:
    """What changed since a snapshot: `snapshot` is the one the first page was read at (the
    resume point after them all); `future` when the given snapshot is ahead of this database
    (not one of its tokens)."""

    def __init__(self, snapshot: str, future: bool, pages: AsyncIterator[list[Instance]]) -> None:
        self.snapshot = snapshot
        self.future = future
        self.pages = pages


class PgServerListing:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(
        self,
        project: str,
        where: Expr,
        order: Order,
        after: tuple[str, datetime | None] | None,
        limit: int,
    ) -> tuple[list[Instance], str | None]:
        """A page, and for the first page (after=None) the snapshot it was read at."""
        text, params = page_sql(project, where, order, after, limit)
        found = await self._pool.fetch(text, *params)
        if after is not None:
            return [rows.instance(r) for r in found], None
        return [rows.instance(r) for r in found if r["uid"] is not None], found[0]["snapshot"]

    async def snapshot(self) -> str:
        snap: str = await self._pool.fetchval(_SNAPSHOT)
        return snap

    @asynccontextmanager
    async def changes_since(self, project: str, snapshot: str, page: int = 2000) -> AsyncIterator[Changes]:
        """The servers of `project` whose last change `snapshot` does not see, in pages."""
        first = await self._pool.fetch(_FIRST_CHANGED, project, snapshot, None, None, page)

        async def pages() -> AsyncIterator[list[Instance]]:
            found: Sequence[asyncpg.Record] = [r for r in first if r["uid"] is not None]
            while True:
                if found:
                    yield [rows.instance(r) for r in found]
                if len(found) < page:
                    return
                last = (found[-1]["change_key"], found[-1]["uid"])
                found = await self._pool.fetch(_CHANGED, project, snapshot, *last, page)

        yield Changes(first[0]["snapshot"], first[0]["future"], pages())
