"""End-to-end create throughput and latency: one controller and agents on libvirt's test
driver, N servers created with concurrency C through the async client.

Prints progress to stderr and one JSON object on the last line of stdout:
creates_per_s, p50_active_s, p99_active_s (CreateServer call to ACTIVE seen by the client
through WatchServers), servers, concurrency, agents, cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from client import AsyncClient
from devcluster import isolation
from devcluster.processes import Cluster
from overcast.v1 import common_pb2


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def measure(endpoint: str, n: int, concurrency: int) -> dict[str, float]:
    started: dict[str, float] = {}
    active: dict[str, float] = {}
    errors: list[str] = []
    all_active = asyncio.Event()

    async with AsyncClient(endpoint, timeout=60, max_concurrency=concurrency) as api:
        if not await api.list_images():
            await api.create_image("cirros", "qcow2")
        synced = asyncio.Event()

        async def watch() -> None:
            async for change in api.watch_servers():
                if change.kind == change.KIND_SYNCED:
                    synced.set()
                    continue
                s = change.server
                if s.name in started and s.name not in active:
                    if s.vm_state == common_pb2.VM_STATE_ACTIVE and not s.task_state:
                        active[s.name] = time.perf_counter()
                    elif s.vm_state == common_pb2.VM_STATE_ERROR:
                        errors.append(f"{s.name}: {s.fault}")
                        active[s.name] = float("nan")
                    if len(active) == n:
                        all_active.set()
                        return

        watcher = asyncio.create_task(watch())
        await synced.wait()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)

        async def creator() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                name = f"projects/demo/servers/bench-{i:06d}"
                started[name] = time.perf_counter()
                await api.create_server(f"bench-{i:06d}", flavor="m1.tiny", image="cirros")
                if i and i % max(1, n // 10) == 0:
                    log(f"  created {i}/{n}, active {len(active)}")

        t0 = time.perf_counter()
        await asyncio.gather(*[creator() for _ in range(concurrency)])
        await asyncio.wait_for(all_active.wait(), timeout=max(60.0, n * 0.5))
        elapsed = time.perf_counter() - t0
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if errors:
            raise SystemExit(f"{len(errors)} servers went to ERROR, e.g. {errors[:3]}")
        latencies = [active[k] - started[k] for k in started]
        log(f"  all {n} ACTIVE after {elapsed:.2f}s; deleting")
        names = list(started)
        for i in range(0, len(names), concurrency):
            await asyncio.gather(*[api.delete_server(x) for x in names[i : i + concurrency]])
        return {
            "creates_per_s": round(n / elapsed, 1),
            "p50_active_s": round(statistics.median(latencies), 4),
            "p99_active_s": round(percentile(latencies, 99), 4),
            "mean_active_s": round(statistics.fmean(latencies), 4),
            "elapsed_s": round(elapsed, 2),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--servers", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--agents", type=int, default=3)
    args = p.parse_args()

    run = isolation.new_run_id()
    db = f"overcast_bench_{run}"
    workdir = Path(tempfile.mkdtemp(prefix="overcast-bench-"))
    cluster = Cluster(workdir, isolation.database_url(db), f"overcast-bench-{run}", isolation.AMQP_URL)
    if True:
        try:
            log(f"starting a controller and {args.agents} agents (libvirt test driver)")
            cluster.start_controller()
            cluster.wait_controller()
            hosts = [f"bench-host-{i}" for i in range(1, args.agents + 1)]
            for h in hosts:
                cluster.start_agent(h, cpus=256, memory_gib=4096)
            cluster.wait_hosts_up(hosts)
            log(f"creating {args.servers} servers with concurrency {args.concurrency}")
            figures = asyncio.run(measure(cluster.endpoint, args.servers, args.concurrency))
        except BaseException:
            log(f"failed; process logs kept in {workdir}")
            raise
        else:
            shutil.rmtree(workdir)
        finally:
            cluster.stop()
            isolation.cleanup([db], cluster.bus_prefix, list(cluster.agents))
    print(
        json.dumps(
            {
                **figures,
                "servers": args.servers,
                "concurrency": args.concurrency,
                "agents": args.agents,
                "cores": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
