"""The scheduler alone: `SchedulerWorkers` against a real PostgreSQL, in this process.

A component benchmark beside bench/scheduler.py (which runs the whole system: a controller
process, a simulated fleet with its metrics streams, the outbox relay, RabbitMQ, the spawns).
Here nothing else shares the CPU: `--hosts` hosts are rows in a fresh database (UP, with
heartbeats that stay recent for the run; nothing sends them: there are no agents), `--instances`
pending servers of a mixed flavor set (m1.tiny to m1.xlarge, as in bench/scheduler.py) are
inserted in one transaction, and the controller's own scheduler code (the same classes, policy,
uvloop event loop and garbage-collector settings as the controller's scheduler process) places
them: filter, weigh, claim durably (hosts updated, servers placed, spawn commands and events
written to the outbox). Nothing is published: no relay runs.

Prints progress on stderr and one JSON object on stdout: `placements_per_s` (durable
placements per second, from the first batch until none is pending), the worker settings, and
`over_capacity` (hosts beyond their allocation ratios after the run: must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time

import uvloop

from controller.processes.runtime import tune_gc
from controller.scheduler.policy import SchedulerPolicy, Strategy, build_scheduler
from controller.services.scheduling import SchedulerWorkers
from controller.storage import database
from controller.storage.scheduling import PgSchedulingStore
from daemon import logs
from devcluster import isolation

FLAVOR_MIX = {"m1.tiny": 0.20, "m1.small": 0.30, "m1.medium": 0.30, "m1.large": 0.15, "m1.xlarge": 0.05}
# vcpus, memory GiB, disk GiB, share of the fleet (as bench/scheduler.py's default shapes)
HOST_SHAPES = [(32, 128, 2000, 0.6), (64, 256, 4000, 0.3), (16, 64, 1000, 0.1)]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


async def prepare(url: str, hosts: int, instances: int, seed: int) -> None:
    rng = random.Random(seed)
    shapes = rng.choices(HOST_SHAPES, weights=[s[3] for s in HOST_SHAPES], k=hosts)
    flavors = rng.choices(list(FLAVOR_MIX), weights=list(FLAVOR_MIX.values()), k=instances)
    conn = await database.connect(url)
    try:
        await conn.execute(
            """INSERT INTO hosts (id, hostname, arch, hypervisor_type, availability_zone, vcpus,
                   memory_mib, disk_gib, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio)
               SELECT id, id, 'x86_64', 'test', 'az' || (1 + n % 2), v, m * 1024, d, 4.0, 1.0, 1.0
               FROM unnest($1::text[], $2::int[], $3::int[], $4::int[])
                   WITH ORDINALITY AS t(id, v, m, d, n)""",
            [f"sim-{i:05d}" for i in range(hosts)],
            [s[0] for s in shapes],
            [s[1] for s in shapes],
            [s[2] for s in shapes],
        )
        # Heartbeats an hour ahead: there are no agents, and the hosts must stay UP meanwhile.
        await conn.execute("INSERT INTO host_status SELECT id, 'UP', now() + interval '1 hour' FROM hosts")
        await conn.execute(
            """INSERT INTO instances (uid, project, server_id, flavor_id, image_id, vcpus, memory_mib,
                   disk_gib, vm_state, task_state, metadata)
               SELECT gen_random_uuid(), 'bench', 'bench-' || n, f.id, 'cirros', f.vcpus, f.memory_mib,
                   f.disk_gib, 'BUILDING', 'SCHEDULING', '{}'
               FROM unnest($1::text[]) WITH ORDINALITY AS w(flavor, n) JOIN flavors f ON f.id = w.flavor""",
            flavors,
        )
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    name = f"overcast_bench_{isolation.new_run_id()}_placement"
    url = isolation.database_url(name)
    await database.ensure_database(url)
    await database.migrate(url)
    try:
        log(f"{args.hosts} hosts, {args.instances} pending servers")
        await prepare(url, args.hosts, args.instances, args.seed)
        pool = await database.open_pool(url, max_size=args.workers + 2)
        policy = SchedulerPolicy(strategy=Strategy(args.strategy), host_subset_size=args.host_subset_size)
        w = SchedulerWorkers(
            PgSchedulingStore(pool),
            build_scheduler(policy, random.Random(args.seed)),
            workers=args.workers,
            batch_size=args.batch,
            fleet_refresh_s=args.fleet_refresh,
        )

        async def worker() -> None:
            while await w.place_batch():
                pass

        async def progress() -> None:
            while True:
                await asyncio.sleep(2.0)
                log(f"placed {w.placed}, no valid host {w.no_valid_host}")

        ticker = asyncio.create_task(progress())
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.workers)))
        took = time.perf_counter() - t0
        ticker.cancel()
        over = await pool.fetchval(
            """SELECT count(*) FROM hosts WHERE vcpus_used > vcpus * cpu_allocation_ratio
               OR memory_mib_used > memory_mib * ram_allocation_ratio
               OR disk_gib_used > disk_gib * disk_allocation_ratio"""
        )
        pending = await pool.fetchval("SELECT count(*) FROM instances WHERE task_state = 'SCHEDULING'")
        await pool.close()
        return {
            "benchmark": "placement (scheduler alone, real PostgreSQL, in-process)",
            "hosts": args.hosts,
            "instances": args.instances,
            "placed": w.placed,
            "no_valid_host": w.no_valid_host,
            "left_pending": pending,
            "placement_s": round(took, 2),
            "placements_per_s": round(w.placed / took, 1),
            "workers": args.workers,
            "batch": args.batch,
            "fleet_reads": w.live.reads,
            "redecided_batches": w.redecided,
            "lost_races": w.lost_races,
            "over_capacity": over,
            "strategy": args.strategy,
            "cores": os.cpu_count(),
        }
    finally:
        await isolation.drop_database(name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=5000)
    p.add_argument("--instances", type=int, default=50_000)
    p.add_argument("--workers", type=int, default=2, help="as the controller's --scheduler-workers")
    p.add_argument("--batch", type=int, default=1000, help="as the controller's --scheduler-batch")
    p.add_argument("--fleet-refresh", type=float, default=1.0, help="as --scheduler-fleet-refresh")
    p.add_argument("--strategy", choices=[s.value for s in Strategy], default="spread")
    p.add_argument("--host-subset-size", type=int, default=1)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    logs.configure("console")  # to stderr: stdout is the one JSON object
    tune_gc()  # as every controller process does (controller.processes.runtime)
    print(json.dumps(uvloop.run(run(args))))


if __name__ == "__main__":
    main()
