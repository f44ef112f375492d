"""A storm of clients at many times what a controller can serve: it sheds the excess with
RESOURCE_EXHAUSTED and RetryInfo before its database pool or its memory runs out, its agents
stay UP, PostgreSQL never sees more connections than the replica's pools, and it serves again
at once when the storm ends. The client library, sending shed calls again, gets every create
done once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import asyncpg
import grpc

from client import AsyncClient, OvercastError
from controller.processes.connections import needed
from controller.settings import ControllerSettings
from devcluster import isolation
from overcast.v1 import common_pb2

POOL = [
    "--database-pool-size",
    "4",
    "--max-queued",
    "4",
    "--shed-retry-after",
    "0.25",
]  # 2 calls in flight, 4 waiting
STORM = 200  # creates, all sent at once over a few channels
CHANNELS = 4


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def watch_connections(db: str, stop: asyncio.Event) -> int:
    """The most connections PostgreSQL held for `db` while the storm lasted."""
    conn = await asyncpg.connect(isolation.database_url("postgres"))
    most = 0
    try:
        while not stop.is_set():
            n = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db)
            most = max(most, n)
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    return most


async def test_a_storm_is_shed_with_retry_info_and_served_again_after(clusters) -> None:  # type: ignore[no-untyped-def]
    c = clusters("overload")
    proc = c.start_controller(*POOL)
    c.wait_controller()
    c.start_agent("host-o")
    c.wait_hosts_up(["host-o"])
    db = c.database_url.rsplit("/", 1)[1]
    budget = sum(needed(ControllerSettings.load(POOL)).values())

    clients = [
        AsyncClient(c.endpoint, timeout=30, max_concurrency=STORM, overload_budget=0) for _ in range(CHANNELS)
    ]
    try:
        await clients[0].create_image("cirros", "qcow2")
        await clients[0].create_server("warm", flavor="m1.tiny", image="cirros")
        rss_before = rss_mib(proc.popen.pid)
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_connections(db, stop))

        async def create(i: int) -> str:
            try:
                await clients[i % CHANNELS].create_server(
                    f"storm-{i}", flavor="m1.tiny", image="cirros", request_id=f"storm-{i}"
                )
                return "OK"
            except OvercastError as err:
                if err.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    assert err.reason == "OVERLOADED" and err.retry_delay == 0.25, err
                    assert "Nothing was done for this call" in err.message
                return err.code_name

        started = time.monotonic()
        codes = Counter(await asyncio.gather(*[create(i) for i in range(STORM)]))
        storm_s = time.monotonic() - started
        rss_after = rss_mib(proc.popen.pid)

        # Served again at once: a plain create right after the storm.
        t0 = time.monotonic()
        await clients[0].create_server("after", flavor="m1.tiny", image="cirros")
        after_s = time.monotonic() - t0
        stop.set()
        most_connections = await watcher
        placed = await clients[0].wait_for_server("after", timeout=60)  # the scheduler and agent too

        host = await clients[0].get_host("host-o")
    finally:
        for cl in clients:
            await cl.close()

    assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"}, codes  # never UNKNOWN, INTERNAL, UNAVAILABLE...
    assert codes["RESOURCE_EXHAUSTED"] >= STORM // 4, codes
    assert codes["OK"] >= 6, codes  # the 2 in flight and the 4 waiting at least
    assert most_connections <= budget, (most_connections, budget)
    assert rss_after - rss_before < 100, (rss_before, rss_after)
    assert after_s < 1.0, after_s
    assert host.state == common_pb2.HOST_STATE_UP  # the agent's stream was never shed
    assert proc.running
    assert placed is not None and placed.vm_state == common_pb2.VM_STATE_ACTIVE, placed
    log = proc.log_path.read_text()
    assert not [w for w in ("api.bug", "crashed", "ChildExited", "[error") if w in log], proc.log_tail()
    print(
        f"storm {storm_s:.1f} s: {dict(codes)}; connections {most_connections}/{budget}; "
        f"RSS {rss_before:.0f}->{rss_after:.0f} MiB; create after {after_s * 1000:.0f} ms"
    )

    # The client library sends shed calls again: every create done, each once.
    t0 = time.monotonic()
    async with AsyncClient(c.endpoint, timeout=30, max_concurrency=STORM, overload_budget=120) as api:
        made = await asyncio.gather(
            *[
                api.create_server(f"storm-{i}", flavor="m1.tiny", image="cirros", request_id=f"storm-{i}")
                for i in range(STORM)
            ]
        )
        again = await api.create_server("storm-7", flavor="m1.tiny", image="cirros", request_id="storm-7")
        names = [s.name async for s in _all_servers(api)]
    print(f"with retries: {time.monotonic() - t0:.1f} s")
    assert len({s.uid for s in made}) == STORM
    assert again.uid == made[7].uid
    assert sorted(n for n in names if "/storm-" in n) == sorted(s.name for s in made)


async def _all_servers(api: AsyncClient):  # type: ignore[no-untyped-def]
    async for s in api.list_servers():
        yield s


def test_a_replica_whose_pool_can_never_fit_refuses_to_start(clusters) -> None:  # type: ignore[no-untyped-def]
    c = clusters("toolarge")
    proc = c.start_controller("--database-pool-size", "100000")
    assert proc.popen is not None
    assert proc.popen.wait(60) == 1
    log = proc.log_tail()
    assert "opens up to" in log and "max_connections" in log and "--database-pool-size" in log, log
