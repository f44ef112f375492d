"""The host monitor against the real PostgreSQL: a controller that is behind on its agents
(reading their messages late, or frozen for a while) must not mark their hosts DOWN, while a
host whose agent really went silent still goes DOWN.

The agents' side is played by calling HostService.heartbeat as the gateway does for every
message it reads, with the time the agent sent it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import pytest

from controller.domain.messages import host_event
from controller.domain.model import HostInventory, HostState
from controller.services.hosts import AllocationRatios, HostService
from controller.services.servers import ServerService
from controller.storage.hosts import PgHostStore

INTERVAL_S = 0.25  # the heartbeat interval
DOWN_AFTER_S = 3 * INTERVAL_S  # missed heartbeats before a host is DOWN
LIVE, SILENT = "live-1", "silent-1"


@pytest.fixture
async def pool(pool: asyncpg.Pool) -> asyncpg.Pool:
    """The shared fresh database's pool, with two hosts registered (UP), as an agent's Register does."""
    for h in (LIVE, SILENT):
        inv = HostInventory(h, h, "x86_64", "test", "test:///default", "az1", 16, 32768, 100)
        await PgHostStore(pool).register(inv, (4.0, 1.0, 1.0), lambda host: host_event(host, "host.up"))
    return pool


@contextlib.asynccontextmanager
async def controller(pool: asyncpg.Pool) -> AsyncIterator[HostService]:
    """A HostService with its heartbeat flush and host monitor running, as app.py runs them
    (registration is not used here, so it gets no ServerService)."""
    hosts = HostService(PgHostStore(pool), cast(ServerService, None), AllocationRatios())
    loops = [
        asyncio.create_task(hosts.flush_heartbeats(INTERVAL_S)),
        asyncio.create_task(hosts.monitor(INTERVAL_S, DOWN_AFTER_S)),
    ]
    try:
        yield hosts
    finally:
        for t in loops:
            t.cancel()
        await asyncio.gather(*loops, return_exceptions=True)


async def states(hosts: HostService) -> dict[str, HostState]:
    return {h: (await hosts.get(f"hosts/{h}")).state for h in (LIVE, SILENT)}


async def down_events(pool: asyncpg.Pool, host: str) -> int:
    count: Any = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE routing_key = 'host.down' AND payload->>'name' = $1",
        f"hosts/{host}",
    )
    return int(count)


async def until_down(hosts: HostService, host: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while (await hosts.get(f"hosts/{host}")).state is not HostState.DOWN:
        assert time.monotonic() < deadline, f"{host} never went DOWN"
        await asyncio.sleep(INTERVAL_S / 2)


async def test_hosts_whose_messages_are_read_late_stay_up_and_a_silent_one_goes_down(
    pool: asyncpg.Pool,
) -> None:
    # The controller reads at a fraction of the rate its agents send: every message it gets
    # to was sent `late` seconds ago, and each agent's next one is read only `late` later,
    # longer than DOWN_AFTER_S. The live agent is alive all along; the silent one stopped.
    late = 5 * INTERVAL_S
    assert late > DOWN_AFTER_S
    async with controller(pool) as hosts:
        for _ in range(8):
            hosts.heartbeat(LIVE, time.time() - late)
            await asyncio.sleep(late)
            assert (await states(hosts))[LIVE] is HostState.UP
        await until_down(hosts, SILENT)
        assert (await states(hosts))[LIVE] is HostState.UP
    assert await down_events(pool, LIVE) == 0
    assert await down_events(pool, SILENT) == 1


async def test_a_frozen_controller_does_not_mark_its_hosts_down_when_it_resumes(
    pool: asyncpg.Pool,
) -> None:
    async with controller(pool) as hosts:
        for _ in range(4):
            hosts.heartbeat(LIVE, time.time())
            hosts.heartbeat(SILENT, time.time())
            await asyncio.sleep(INTERVAL_S)
        assert await states(hosts) == {LIVE: HostState.UP, SILENT: HostState.UP}
        # Frozen (a long GC pause, a stalled event loop): no reads, no flushes, no monitor.
        sent = time.time()
        time.sleep(4 * DOWN_AFTER_S)  # noqa: ASYNC251  (blocking the loop is the point)
        # Resumed: the live agent's messages sent meanwhile are read now, late.
        hosts.heartbeat(LIVE, sent)
        for _ in range(4):
            await asyncio.sleep(INTERVAL_S)
            hosts.heartbeat(LIVE, time.time())
            assert (await states(hosts))[LIVE] is HostState.UP
        # The silent agent sent nothing since before the freeze: it goes DOWN all the same.
        await until_down(hosts, SILENT)
        assert (await states(hosts))[LIVE] is HostState.UP
    assert await down_events(pool, LIVE) == 0


async def test_most_messages_read_late_count_even_if_a_few_are_read_on_time(pool: asyncpg.Pool) -> None:
    async with controller(pool) as hosts:
        for _ in range(3):  # three intervals of reads: 90% of the messages 5 s old
            now = time.time()
            for n in range(100):
                hosts.heartbeat(LIVE, now - (5.0 if n % 10 else 0.0))
            await asyncio.sleep(INTERVAL_S * 1.2)
        behind = hosts.behind_s(INTERVAL_S)
    assert 4.5 < behind < 7.0  # the typical lag, not the smallest one
