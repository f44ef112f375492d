"""Concurrent scheduler workers against the real PostgreSQL: several SchedulerWorkers, each on
its own pool (as several controller replicas would be), race to place hundreds of pending
servers of random sizes on a few hosts. Whatever the interleaving: no host is committed beyond
its allocation ratios, every host's usage is exactly the sum of what was placed on it, every
server is either placed (with its spawn command in the outbox) or failed with NoValidHost, and
hard server-group rules hold."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict

import asyncpg
import pytest
from scheduler_testkit import pending

from controller.domain.messages import instance_event
from controller.domain.server_groups import GroupPolicy, ServerGroup
from controller.scheduler.policy import SchedulerPolicy, Strategy, build_scheduler
from controller.services.scheduling import SchedulerWorkers
from controller.storage import database
from controller.storage.instances import PgInstanceStore
from controller.storage.scheduling import PgSchedulingStore
from controller.storage.server_groups import PgServerGroupStore

HOSTS = [  # id, vcpus, memory MiB, disk GiB, cpu ratio, ram ratio, disk ratio
    ("h1", 16, 65536, 600, 4.0, 1.0, 1.0),
    ("h2", 32, 65536, 800, 2.0, 1.5, 1.0),
    ("h3", 8, 32768, 300, 8.0, 1.0, 2.0),
    ("h4", 64, 131072, 1600, 1.0, 1.0, 1.0),
]


async def add_hosts(conn: asyncpg.Connection) -> None:
    for h, vcpus, mem, disk, rv, rm, rd in HOSTS:
        await conn.execute(
            "INSERT INTO hosts (id, hostname, arch, hypervisor_type, availability_zone, vcpus,"
            " memory_mib, disk_gib, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio)"
            " VALUES ($1, $1, 'x86_64', 'test', 'az1', $2, $3, $4, $5, $6, $7)",
            h,
            vcpus,
            mem,
            disk,
            rv,
            rm,
            rd,
        )
        await conn.execute("INSERT INTO host_status (id, state, last_heartbeat) VALUES ($1, 'UP', now())", h)


async def add_pending(pool: asyncpg.Pool, rng: random.Random, count: int) -> dict[str, str]:
    """`count` pending servers; a few belong to server groups. Returns server id → group id."""
    groups = PgServerGroupStore(pool)
    for gid, policy in (("apart", GroupPolicy.ANTI_AFFINITY), ("together", GroupPolicy.AFFINITY)):
        await groups.create(ServerGroup("demo", gid, policy), None)
    store = PgInstanceStore(pool)
    membership: dict[str, str] = {}
    for n in range(count):
        group = "apart" if n % 40 == 0 else "together" if n % 50 == 7 else ""
        inst = pending(
            n,
            flavor_id="any",
            image_id="any",
            vcpus=rng.choice([1, 1, 2, 4]),
            memory_mib=rng.choice([256, 512, 1024, 2048]),
            disk_gib=rng.choice([1, 5, 10, 20]),
            server_group=group,
        )
        await store.create(inst, [instance_event(inst, "instance.create.start")])
        if group:
            membership[inst.server_id] = group
    return membership


async def place_all(pools: list[asyncpg.Pool], seed: int) -> list[SchedulerWorkers]:
    rng = random.Random(seed)
    replicas = [
        SchedulerWorkers(
            PgSchedulingStore(pool),
            build_scheduler(
                SchedulerPolicy(strategy=rng.choice(list(Strategy)), host_subset_size=rng.choice([1, 2])),
                random.Random(rng.random()),
            ),
            workers=2,
            batch_size=rng.choice([3, 7, 16]),
            heartbeat_window_s=lambda: 3600.0,
            idle_poll_s=0.02,
            # Always read, sometimes, or only when a batch finds no room: the in-memory snapshot
            # with other workers' and replicas' claims behind its back.
            fleet_refresh_s=rng.choice([0.001, 0.2, 3600.0]),
        )
        for pool in pools
    ]
    tasks = [asyncio.create_task(r.run()) for r in replicas]
    try:
        async with asyncio.timeout(60):
            while await pools[0].fetchval("SELECT count(*) FROM instances WHERE task_state = 'SCHEDULING'"):
                await asyncio.sleep(0.05)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
    return replicas


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_concurrent_workers_never_overcommit_and_settle_every_server(db_url: str, seed: int) -> None:
    rng = random.Random(seed)
    pools = [await database.open_pool(db_url, min_size=1, max_size=3) for _ in range(4)]
    try:
        async with pools[0].acquire() as conn:
            await add_hosts(conn)
        membership = await add_pending(pools[0], rng, 400)
        replicas = await place_all(pools, seed)
        hosts = await pools[0].fetch("SELECT * FROM hosts ORDER BY id")
        servers = await pools[0].fetch("SELECT * FROM instances")
        outbox = await pools[0].fetch("SELECT message_type, routing_key, resource FROM outbox")
    finally:
        for pool in pools:
            await pool.close()

    used: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    on_host: dict[str, set[str]] = defaultdict(set)
    placed = failed = 0
    for s in servers:
        if s["task_state"] == "SPAWNING":
            assert s["host_id"] and s["allocated"] and s["vm_state"] == "BUILDING", dict(s)
            u = used[s["host_id"]]
            u[0] += s["vcpus"]
            u[1] += s["memory_mib"]
            u[2] += s["disk_gib"]
            u[3] += 1
            placed += 1
            if s["server_id"] in membership:
                on_host[membership[s["server_id"]]].add(s["host_id"])
        else:
            assert s["vm_state"] == "ERROR" and s["task_state"] is None, dict(s)
            assert s["fault"].startswith("No valid host: "), s["fault"]
            assert s["host_id"] is None and not s["allocated"]
            failed += 1
    for h in hosts:
        assert h["vcpus_used"] <= h["vcpus"] * h["cpu_allocation_ratio"], dict(h)
        assert h["memory_mib_used"] <= h["memory_mib"] * h["ram_allocation_ratio"], dict(h)
        assert h["disk_gib_used"] <= h["disk_gib"] * h["disk_allocation_ratio"], dict(h)
        # Usage is exactly what was placed: no claim lost, none counted twice.
        assert [h["vcpus_used"], h["memory_mib_used"], h["disk_gib_used"], h["servers"]] == used[h["id"]]
    assert placed + failed == 400 and placed > 100 and failed > 0  # the fleet filled up
    assert sum(r.placed for r in replicas) == placed
    assert len(on_host["together"]) <= 1
    apart = [s for s in servers if membership.get(s["server_id"]) == "apart" and s["host_id"]]
    assert len({s["host_id"] for s in apart}) == len(apart)  # never two members on one host
    spawns = [m for m in outbox if m["message_type"] == "command.spawn"]
    assert len(spawns) == placed
    assert len({m["resource"] for m in spawns}) == placed  # one spawn per placed server
    by_name = {f"projects/demo/servers/{s['server_id']}": s["host_id"] for s in servers}
    assert all(by_name[m["resource"]] == m["routing_key"] for m in spawns)
    errors = [m for m in outbox if m["message_type"] == "instance.create.error"]
    assert len(errors) == failed
