"""The SQL a filter becomes selects exactly what `server_filter.matches` selects, in the page
order asked for; pages come off an index (EXPLAIN); a watch resumed from a snapshot gets every
change the snapshot did not see, a late-committing one too."""

from __future__ import annotations

import asyncpg

from controller.domain import server_filter
from controller.domain.server_filter import Order
from controller.storage import rows
from controller.storage.server_listing import PgServerListing, page_sql
from devcluster.server_rows import insert_fleet

FILTERS = [
    "",
    "vm_state = ACTIVE",
    "vm_state = ERROR",
    "vm_state != ACTIVE",
    "host = h0007",
    "NOT host = h0007",  # unplaced servers (no host) match, as in Python
    'name = "web-*"',
    "name = db-00001*",
    "name = web-000010",
    "metadata.env = prod",
    "metadata.tier = gold OR vm_state = ERROR",
    "metadata:tier",
    "-metadata.tier:*",
    "scaling_group = asg-10 AND vm_state = ACTIVE",
    "(vm_state = STOPPED OR vm_state = BUILDING) AND metadata.env = dev",
    'metadata.env = "it\'s \\"quoted\\""',
]
ORDERS = ["name", "name desc", "create_time", "create_time desc"]


def _sort_key(order: Order):  # type: ignore[no-untyped-def]
    if order.key == "name":
        return lambda i: i.server_id
    return lambda i: (i.created_at, i.server_id)


async def test_filters_select_what_python_matches(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await insert_fleet(conn, "demo", 1200, hosts=40)
        await insert_fleet(conn, "other", 50, hosts=40)
        everything = [
            rows.instance(r) for r in await conn.fetch(f"SELECT {rows.INSTANCE_COLUMNS} FROM instances")
        ]
    store = PgServerListing(pool)
    for order_by, text in ((o, f) for o in ORDERS for f in FILTERS):
        order = server_filter.parse_order(order_by)
        where = server_filter.parse(text, project="demo")
        want = sorted(
            (i for i in everything if i.project == "demo" and server_filter.matches(where, i)),
            key=_sort_key(order),
            reverse=order.descending,
        )
        got, after = [], None
        while True:
            page, _ = await store.page("demo", where, order, after, 250)
            got.extend(page)
            if len(page) < 250:
                break
            after = (page[-1].server_id, page[-1].created_at)
        assert [i.server_id for i in got] == [i.server_id for i in want], (text, order_by)


async def _plan(conn: asyncpg.Connection, text: str, order_by: str = "name") -> str:
    where = server_filter.parse(text, project="demo")
    sql, params = page_sql("demo", where, server_filter.parse_order(order_by), None, 1001)
    plan = await conn.fetch(f"EXPLAIN {sql}", *params)
    return "\n".join(r[0] for r in plan)


async def test_filtered_pages_come_off_an_index(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await insert_fleet(conn, "demo", 20_000, hosts=200)
        for text, order_by in [
            ("", "name"),
            ("vm_state = ERROR", "name"),
            ("vm_state = ACTIVE", "name"),
            ("host = h0007", "name"),
            ('name = "db-0001*"', "name"),
            ("metadata.tier = gold", "name"),
            ("scaling_group = asg-10", "name"),
            ("", "create_time desc"),
        ]:
            plan = await _plan(conn, text, order_by)
            assert "Seq Scan on instances" not in plan, (text, plan)
            assert "Index" in plan, (text, plan)


async def test_changes_since_a_snapshot_include_late_commits(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await insert_fleet(conn, "demo", 100, hosts=4)
    store = PgServerListing(pool)
    async with pool.acquire() as early, pool.acquire() as late:
        # A transaction that writes before the snapshot is taken and commits after it.
        early_tx = early.transaction()
        await early_tx.start()
        await early.execute("UPDATE instances SET metadata = '{\"x\": \"1\"}' WHERE server_id = 'web-000000'")
        snapshot = await store.snapshot()
        await late.execute("UPDATE instances SET metadata = '{\"x\": \"2\"}' WHERE server_id = 'db-000001'")
        await early_tx.commit()
    async with store.changes_since("demo", snapshot) as changes:
        changed = [i.server_id async for page in changes.pages for i in page]
        assert not changes.future
    assert sorted(changed) == ["db-000001", "web-000000"]
    async with store.changes_since("demo", snapshot, page=1) as one_by_one:
        assert sorted([i.server_id async for page in one_by_one.pages for i in page]) == sorted(changed)
    async with store.changes_since("demo", changes.snapshot) as later:
        assert [i async for page in later.pages for i in page] == []
