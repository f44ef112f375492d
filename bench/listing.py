"""ListServers pages and WatchServers resumes over a large fleet, through the real gRPC API.

One controller (no agents) on a fresh database of its own; `--servers` servers (100,000) on
1,000 hosts written straight into the tables (devcluster.server_rows: simulated rows, the same
spread of states, hosts, metadata and groups as the tests use). Then:

- list_page_ms: every page of `--page-size` (1,000) of several filters and orders (up to
  `--pages` pages each), one ListServers call per page, timed at the client;
- watch_resume_ms: a ListServers resume_token taken, `--changes` (1,000) servers changed
  (metadata rewritten by SQL in transactions of 100: simulated changes, no agent), then a
  WatchServers resumed from that token, timed from the call to its SYNCED (every change
  received), `--resumes` times, unfiltered and filtered.

Each filter's plan (EXPLAIN of its first page) is reported by the index it starts from.
Prints progress to stderr and one JSON object on the last line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import grpc

from controller.domain import server_filter
from controller.storage.server_listing import page_sql
from devcluster import isolation
from devcluster.processes import Cluster
from devcluster.server_rows import insert_fleet
from overcast.v1 import server_pb2, server_pb2_grpc

PROJECT = "demo"
# name → (filter, order_by); the share of the fleet each matches is in the comment.
QUERIES = {
    "all": ("", ""),  # 100%
    "active": ("vm_state = ACTIVE", ""),  # 90%
    "error": ("vm_state = ERROR", ""),  # 1%: one page
    "prod": ("metadata.env = prod", ""),  # 50%
    "gold": ("metadata.tier = gold", ""),  # 1%
    "web_prefix": ('name = "web-*"', ""),  # 50%
    "host": ("host = h0007", ""),  # 0.1%
    "scaling_group": ("scaling_group = asg-10", ""),  # 2%
    "active_prod": ("vm_state = ACTIVE AND metadata.env = prod", ""),  # 45%
    "stopped_newest": ("vm_state = STOPPED", "create_time desc"),  # 7%
    "all_name_desc": ("", "name desc"),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a backend that ended
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by the controller, the database's backends serving this bench's
    database and this process: on a busy machine the latencies say how long each call waited
    for a core as much as what it cost, the CPU says what it cost."""

    def __init__(self, controller_pid: int, db_url: str) -> None:
        self._controller = controller_pid
        self._db_url = db_url

    async def read(self) -> dict[str, float]:
        conn = await asyncpg.connect(self._db_url)
        try:
            pids = [
                r["pid"]
                for r in await conn.fetch(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
        finally:
            await conn.close()
        return {
            "controller": cpu_seconds(self._controller),
            "postgres": sum(cpu_seconds(p) for p in pids),
            "client": time.process_time(),
        }


def cpu_per(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    return {k: ms((after[k] - before[k]) / n) for k in before}


async def plans(db_url: str) -> dict[str, str]:
    """The index each query's first page starts from (EXPLAIN), or what else it does."""
    out = {}
    conn = await asyncpg.connect(db_url)
    try:
        for name, (text, order_by) in QUERIES.items():
            where = server_filter.parse(text, project=PROJECT)
            sql, params = page_sql(PROJECT, where, server_filter.parse_order(order_by), None, 1001)
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *params))
            used = re.findall(r"Scan(?: Backward)? using (\w+)|Bitmap Index Scan on (\w+)", plan)
            used = ["".join(u) for u in used]
            out[name] = ", ".join(dict.fromkeys(used)) or ("SEQ SCAN" if "Seq Scan" in plan else plan)
    finally:
        await conn.close()
    return out


async def list_pages(
    stub: server_pb2_grpc.ServerServiceStub, page_size: int, max_pages: int
) -> dict[str, list[float]]:
    took: dict[str, list[float]] = {}
    for name, (text, order_by) in QUERIES.items():
        token = ""
        took[name] = []
        for _ in range(max_pages):
            req = server_pb2.ListServersRequest(
                parent=f"projects/{PROJECT}",
                page_size=page_size,
                page_token=token,
                filter=text,
                order_by=order_by,
            )
            started = time.perf_counter()
            resp = await stub.ListServers(req, timeout=30)
            took[name].append(time.perf_counter() - started)
            token = resp.next_page_token
            if not token:
                break
        log(f"  {name}: {len(took[name])} pages, p50 {ms(statistics.median(took[name]))} ms")
    return took


async def change(db_url: str, n: int, round_: int) -> None:
    """`n` servers' metadata rewritten, 100 per transaction (simulated changes)."""
    conn = await asyncpg.connect(db_url)
    try:
        for start in range(0, n, 100):
            await conn.execute(
                "UPDATE instances SET metadata = metadata || jsonb_build_object('bench', $1::text),"
                " version = version + 1, updated_at = now()"
                " WHERE project = $2 AND server_id = ANY($3::text[])",
                str(round_),
                PROJECT,
                [f"web-{2 * i:06d}" for i in range(start, min(n, start + 100))],
            )
    finally:
        await conn.close()


async def resume(stub: server_pb2_grpc.ServerServiceStub, token: str, text: str) -> tuple[float, int]:
    started = time.perf_counter()
    changed = 0
    call = stub.WatchServers(
        server_pb2.WatchServersRequest(parent=f"projects/{PROJECT}", filter=text, resume_token=token)
    )
    async for c in call:
        if c.kind == server_pb2.ServerChange.KIND_SYNCED:
            took = time.perf_counter() - started
            call.cancel()
            return took, changed
        changed += 1
    raise RuntimeError("the watch ended before SYNCED")


async def measure(
    endpoint: str, db_url: str, controller_pid: int, args: argparse.Namespace
) -> dict[str, object]:
    cpu = CpuMeter(controller_pid, db_url)
    async with grpc.aio.insecure_channel(endpoint) as channel:
        stub = server_pb2_grpc.ServerServiceStub(channel)
        log(f"listing pages of {args.page_size}")
        before = await cpu.read()
        took = await list_pages(stub, args.page_size, args.pages)
        list_cpu = cpu_per(before, await cpu.read(), sum(len(v) for v in took.values()))
        resumes: dict[str, list[float]] = {}
        received: dict[str, int] = {}
        for label, text in (("all", ""), ("active", "vm_state = ACTIVE")):
            first = await stub.ListServers(
                server_pb2.ListServersRequest(parent=f"projects/{PROJECT}", page_size=1, filter=text)
            )
            await change(db_url, args.changes, len(resumes))
            log(f"resuming a watch ({label}) after {args.changes} changes, {args.resumes} times")
            resumes[label] = []
            before = await cpu.read()
            for _ in range(args.resumes):
                t, received[label] = await resume(stub, first.resume_token, text)
                resumes[label].append(t)
            resume_cpu = cpu_per(before, await cpu.read(), args.resumes)
    every = [t for ts in took.values() for t in ts]
    all_resumes = [t for ts in resumes.values() for t in ts]
    return {
        "list_page_ms_p50": ms(statistics.median(every)),
        "list_page_ms_p99": ms(percentile(every, 99)),
        "list_page_ms_max": ms(max(every)),
        "pages": len(every),
        "list_page_ms_by_query": {
            k: {"p50": ms(statistics.median(v)), "p99": ms(percentile(v, 99)), "pages": len(v)}
            for k, v in took.items()
        },
        "list_page_cpu_ms": list_cpu,
        "watch_resume_ms_p50": ms(statistics.median(all_resumes)),
        "watch_resume_ms_p99": ms(percentile(all_resumes, 99)),
        "watch_resume_ms_by_filter": {k: ms(statistics.median(v)) for k, v in resumes.items()},
        "watch_resume_changes_received": received,
        "watch_resume_cpu_ms": resume_cpu,  # the last (filtered) resumes'
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--servers", type=int, default=100_000)
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--pages", type=int, default=20, help="at most this many pages per query")
    p.add_argument("--changes", type=int, default=1000)
    p.add_argument("--resumes", type=int, default=10)
    args = p.parse_args()

    run = isolation.new_run_id()
    db = f"overcast_bench_{run}"
    db_url = isolation.database_url(db)
    workdir = Path(tempfile.mkdtemp(prefix="overcast-bench-"))
    cluster = Cluster(workdir, db_url, f"overcast-bench-{run}", isolation.AMQP_URL)
    try:
        log("starting a controller")
        cluster.start_controller()
        cluster.wait_controller()
        log(f"writing {args.servers} servers on 1000 hosts")

        async def fill() -> None:
            conn = await asyncpg.connect(db_url)
            try:
                await insert_fleet(conn, PROJECT, args.servers, hosts=1000)
            finally:
                await conn.close()

        started = time.perf_counter()
        asyncio.run(fill())
        log(f"  {time.perf_counter() - started:.1f} s")
        controller = cluster.controllers[0].popen
        assert controller is not None
        figures = asyncio.run(measure(cluster.endpoint, db_url, controller.pid, args))
        figures["plans"] = asyncio.run(plans(db_url))
    except BaseException:
        log(f"failed; process logs kept in {workdir}")
        raise
    else:
        shutil.rmtree(workdir)
    finally:
        cluster.stop()
        isolation.cleanup([db], cluster.bus_prefix, [])
    load = os.getloadavg()
    print(
        json.dumps(
            {
                **figures,
                "servers": args.servers,
                "page_size": args.page_size,
                "changes": args.changes,
                "cores": os.cpu_count(),
                "load_avg_1m": round(load[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
