"""Overload: a controller offered many times what it can serve sheds the excess and keeps
serving, then recovers at once when the storm ends.

One controller (its scheduler and relay children, a fresh database on the machine's
PostgreSQL, no agents: every create is answered, and scheduled to ERROR for want of a host)
with `--pool-size` database connections. First its capacity, after a 2 s warm-up: as many clients as it serves
at once (`--max-in-flight`, so that none is shed) creating servers back to back for
`--capacity-s` seconds. Then the storm: `--procs` client
processes send creates open loop (the next leaves on time whatever the others are doing) at
`--factor` times that capacity for `--storm-s` seconds, no retries; then, at once, plain creates
one after another until one is answered OK.

Prints progress on stderr and one JSON object on stdout: `capacity_per_s`, `offered_per_s`
(sent during the storm), `goodput_per_s` (answered OK), `shed_share` (answered
RESOURCE_EXHAUSTED), `other_codes` (anything else: must be empty), `p50_ms`/`p99_ms` of the
accepted calls, `recovery_s` (storm end → first create answered OK after it), the most
connections PostgreSQL held for the run's database and the replica's budget, the controller's
RSS before and after, `cores`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from client import AsyncClient, OvercastError
from controller.processes.connections import needed
from controller.settings import ControllerSettings
from devcluster import isolation
from devcluster.processes import Cluster


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _capacity(endpoint: str, clients: int, seconds: float, phase: str) -> float:
    done = 0
    end = time.monotonic() + seconds

    async def one(api: AsyncClient, k: int) -> None:
        nonlocal done
        i = 0
        while time.monotonic() < end:
            i += 1
            await api.create_server(f"{phase}-{k}-{i}", flavor="m1.tiny", image="cirros")
            done += 1

    async with AsyncClient(endpoint, timeout=30, overload_budget=600) as api:
        started = time.monotonic()
        await asyncio.gather(*[one(api, k) for k in range(clients)])
        return done / (time.monotonic() - started)


async def _storm(endpoint: str, proc: int, rate: float, seconds: float, channels: int) -> dict[str, Any]:
    """One client process: creates at `rate` a second, open loop, spread over `channels`."""
    codes: Counter[str] = Counter()
    latencies: list[float] = []
    apis = [
        AsyncClient(endpoint, timeout=30, max_concurrency=100_000, overload_budget=0) for _ in range(channels)
    ]

    async def one(i: int) -> None:
        t0 = time.monotonic()
        try:
            await apis[i % channels].create_server(f"s{proc}-{i}", flavor="m1.tiny", image="cirros")
        except OvercastError as err:
            codes[err.code_name] += 1
            return
        latencies.append(time.monotonic() - t0)
        codes["OK"] += 1

    tasks = []
    start = time.monotonic()
    i = 0
    while (now := time.monotonic()) - start < seconds:
        due = start + i / rate
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(one(i)))
        i += 1
    sent_s = time.monotonic() - start
    await asyncio.gather(*tasks)
    for api in apis:
        await api.close()
    return {"sent": i, "sent_s": sent_s, "codes": dict(codes), "latencies": latencies}


def _storm_proc(args: tuple[str, int, float, float, int]) -> dict[str, Any]:
    return uvloop.run(_storm(*args))


async def _most_connections(db: str, stop: asyncio.Event) -> int:
    conn = await asyncpg.connect(isolation.database_url("postgres"))
    most = 0
    try:
        while not stop.is_set():
            most = max(
                most, await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db)
            )
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return most


async def run(a: argparse.Namespace, cluster: Cluster) -> dict[str, Any]:
    flags = ["--database-pool-size", str(a.pool_size), "--log-level", "warning"]
    proc = cluster.start_controller(*flags)
    cluster.wait_controller()
    assert proc.popen is not None
    db = cluster.database_url.rsplit("/", 1)[1]
    async with AsyncClient(cluster.endpoint) as api:
        await api.create_image("cirros", "qcow2")
    clients = a.capacity_clients or ControllerSettings.load(flags).admission.max_in_flight
    await _capacity(cluster.endpoint, clients, 2.0, "warm")  # children started, caches full
    capacity = await _capacity(cluster.endpoint, clients, a.capacity_s, "cap")
    log(f"capacity {capacity:.0f} creates/s")
    rate = capacity * a.factor
    rss_before = rss_mib(proc.popen.pid)
    stop = asyncio.Event()
    watcher = asyncio.create_task(_most_connections(db, stop))
    log(f"storm: {rate:.0f}/s for {a.storm_s:g} s from {a.procs} processes")
    jobs = [(cluster.endpoint, k, rate / a.procs, a.storm_s, a.channels) for k in range(a.procs)]
    with multiprocessing.get_context("spawn").Pool(a.procs) as pool:
        parts = await asyncio.to_thread(pool.map, _storm_proc, jobs)
    storm_end = time.monotonic()
    rss_after = rss_mib(proc.popen.pid)
    recovery = None
    async with AsyncClient(cluster.endpoint, timeout=30, overload_budget=0) as api:
        i = 0
        while recovery is None and time.monotonic() - storm_end < 60:
            i += 1
            try:
                await api.create_server(f"after-{i}", flavor="m1.tiny", image="cirros")
                recovery = time.monotonic() - storm_end
            except OvercastError:
                await asyncio.sleep(0.01)
    stop.set()
    most = await watcher

    codes: Counter[str] = Counter()
    latencies: list[float] = []
    for p in parts:
        codes.update(p["codes"])
        latencies += p["latencies"]
    latencies.sort()
    sent = sum(p["sent"] for p in parts)
    sent_s = max(p["sent_s"] for p in parts)

    def pct(q: float) -> float | None:
        return (
            round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)
            if latencies
            else None
        )

    settings = ControllerSettings.load(flags)
    return {
        "pool_size": a.pool_size,
        "max_in_flight": settings.admission.max_in_flight,
        "max_queued": settings.admission.max_queued,
        "capacity_per_s": round(capacity, 1),
        "factor": a.factor,
        "offered_per_s": round(sent / sent_s, 1),
        "goodput_per_s": round(codes["OK"] / sent_s, 1),
        "shed_share": round(codes["RESOURCE_EXHAUSTED"] / sent, 3) if sent else None,
        "other_codes": {k: v for k, v in codes.items() if k not in ("OK", "RESOURCE_EXHAUSTED")},
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "recovery_s": None if recovery is None else round(recovery, 3),
        "db_connections_max": most,
        "db_connections_budget": sum(needed(settings).values()),
        "rss_mib_before": round(rss_before),
        "rss_mib_after": round(rss_after),
        "storm_s": a.storm_s,
        "procs": a.procs,
        "cores": os.cpu_count(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pool-size", type=int, default=20, help="the controller's --database-pool-size")
    p.add_argument("--factor", type=float, default=10.0, help="storm rate as a multiple of the capacity")
    p.add_argument("--storm-s", type=float, default=10.0)
    p.add_argument("--procs", type=int, default=2, help="client processes sending the storm")
    p.add_argument("--channels", type=int, default=4, help="gRPC channels per client process")
    p.add_argument(
        "--capacity-clients",
        type=int,
        default=None,
        help="default: the controller's --max-in-flight (none shed)",
    )
    p.add_argument("--capacity-s", type=float, default=5.0)
    a = p.parse_args()
    run_id = isolation.new_run_id()
    name = f"overcast_bench_{run_id}_overload"
    cluster = Cluster(
        workdir=Path(tempfile.mkdtemp(prefix="overcast-overload-")),
        database_url=isolation.database_url(name),
        bus_prefix=f"overcast-bench-{run_id}-overload",
        amqp_url=isolation.AMQP_URL,
    )
    try:
        out = uvloop.run(run(a, cluster))
    finally:
        cluster.stop()
        isolation.cleanup([name], cluster.bus_prefix, [])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
