"""Scheduler benchmark on a simulated fleet: one real controller (PostgreSQL, RabbitMQ) and
`--hosts` simulated agents in one process (python -m devcluster.simulation: every host has its own
gRPC stream and command queue; its hypervisor and its load are simulation).

Phases, each printing progress on stderr:

1. Fleet up: controller, then the fleet; every host registered and UP (`fleet_up_s`).
2. Placement: `--instances` pending servers appear at once (one transaction; see below), the
   scheduler places them. `placements_per_s` = durable placements (a claim committed in
   PostgreSQL: task_state left SCHEDULING with a host) per second, from the commit that made
   them visible until the last one is placed; `placements_per_s_steady` over 10%..90%.
   `--profile` records the controller meanwhile with py-spy and prints its hot spots (and the
   controller and the fleet in the metrics windows, phase 4).
3. Spawn: every server ACTIVE on its simulated host (`active_after_s`: spawn commands through
   RabbitMQ, reports through the agents' streams), then every event published
   (`outbox_drained_after_s` later: the relay's backlog of instance.create.end events).
4. Metrics windows (`--metrics-seconds`), before placement (hosts without servers) and after
   every server is ACTIVE and its events are out (`*_with_servers`). What is counted: an agent
   sends one host sample per interval (one AgentGateway message: the host's CPU, memory, load
   averages), and it carries one instance sample for each server running on the host. The controller absorbs
   each into its load view and counts both; it logs the counters every persistence interval
   (`metrics.ingest`), and the bench takes the rate between two such lines:
   `metrics_host_samples_per_s`, `metrics_instance_samples_per_s`, and `metrics_samples_per_s`
   = their sum (before placement there are no instance samples). At 5,000 hosts and a 1 s
   interval the fleet offers 5,000 host samples per second; with 50,000 servers also 50,000
   instance samples.
   `view_age_p99_s`: age of the newest sample of each host in the controller's load view (now
   minus the time the agent took it), read with ListHosts snapshots every 2 s (what the
   scheduler reads), p99 over the hosts of all snapshots (`view_hosts_without_sample`: hosts
   a snapshot found with no sample at all). `controller_behind_max_s`: the most the controller
   logged it was behind its agents in the window: how much longer than the hosts' window it
   gave them for its own lag (it reads their messages that late, a sample waiting that long in
   the stream before it is absorbed; or it hears each host less often than it sends; or it
   records heartbeats late). It logs it when behind by more than a heartbeat interval. `watch_age_p99_s` and
   `watch_updates_per_host_s`: the same seen on a WatchHostMetrics stream of `--watch-hosts`
   hosts spread over the fleet (a watch of every host would cost the controller as much as
   the agents do). `fleet_host_samples_sent_per_s`: what the fleet wrote to its streams
   meanwhile (its stats file; a fleet short of CPU offers fewer than one per host per
   interval, and a stream the controller does not read blocks its writes). `controller_cores`,
   `fleet_cores`: CPU each process used in the window; `loadavg_1m`: the machine's (the fleet
   shares the machine with the controller).
   `--instances 0` skips placement: the metrics of hosts without servers only.
5. `controller_rss_mib` (VmRSS of the controller at the end; `controller_peak_rss_mib` VmHWM),
   and the same of its child processes: `scheduler_process_rss_mib`, `relay_process_rss_mib`
   (and `*_peak_rss_mib`). The controller's memory is the sum.
6. Host health over the whole run, from the controller's log: `host_down_events`, the hosts it
   marked DOWN (one host.down event each; no host fails here, so the goal is 0);
   `zone_disrupted_warnings`, its warnings that it held most of a zone UP instead;
   `heartbeat_interval_s`, the interval it last told its agents (it grows with the fleet,
   --max-heartbeats-per-second), and `controller_behind_max_s_run`, the most it said it was
   behind its agents at any time in the run.

`--quality` adds the placement quality of the same mixed synthetic load (flavors m1.tiny to
m1.xlarge; CPU load per server from metadata sim.cpu: mostly idle, some busy, a few hot) under
the spread strategy (this run) and the pack strategy (a second cluster): `cpu_cv_spread`, the
coefficient of variation of the hosts' CPU demand (sum of sim.cpu x vcpus / host vcpus) and
`hosts_used_pack`, each beside round-robin and random placement of the same input on the same
hosts with the same capacity rules, computed offline (and first-fit for pack).

How pending servers are made: one server is created through the API (CreateServer) as a
template; the others are copies of its row, made pending in one INSERT (columns other than
name, flavor, metadata and state copied from the template), so that placement alone is
measured, not CreateServer (bench/e2e.py measures that). Their instance.create.start events
are not written. The last line of stdout is one JSON object with every figure and `cores`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from client import AsyncClient
from devcluster import isolation
from devcluster.processes import Cluster
from overcast.v1 import common_pb2, host_pb2, host_pb2_grpc

FLAVOR_MIX = [
    ("m1.tiny", 0.20),
    ("m1.small", 0.30),
    ("m1.medium", 0.30),
    ("m1.large", 0.15),
    ("m1.xlarge", 0.05),
]
HOST_SHAPES = ["32:128:2000:0.6", "64:256:4000:0.3", "16:64:1000:0.1"]
ZONES = "az1,az2"
PREFIX = "sim"
PERSIST_INTERVAL_S = 5.0  # the controller's --metrics-persist-interval (it logs metrics.ingest then)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


# -- the synthetic load -------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    flavors: list[str]
    cpu: list[float]  # sim.cpu of each server, in creation order


def make_workload(n: int, seed: int) -> Workload:
    """Mixed flavors; CPU load mostly idle (50%), some busy (35%), a few hot (15%)."""
    rng = random.Random(seed)
    names, weights = zip(*FLAVOR_MIX, strict=True)
    flavors = rng.choices(list(names), weights=list(weights), k=n)
    cpu = []
    for _ in range(n):
        r = rng.random()
        lo, hi = (0.02, 0.15) if r < 0.5 else (0.3, 0.6) if r < 0.85 else (0.8, 1.0)
        cpu.append(round(rng.uniform(lo, hi), 3))
    return Workload(flavors, cpu)


# -- one cluster: a controller and the fleet ----------------------------------------------------


@dataclass
class Run:
    args: argparse.Namespace
    label: str
    strategy: str
    cluster: Cluster = field(init=False)
    db: str = field(init=False)
    workdir: Path = field(init=False)

    def __post_init__(self) -> None:
        run = isolation.new_run_id()
        self.db = f"overcast_bench_{run}"
        self.workdir = Path(tempfile.mkdtemp(prefix=f"overcast-bench-{self.label}-"))
        self.cluster = Cluster(
            self.workdir,
            isolation.database_url(self.db),
            f"overcast-bench-{run}",
            isolation.AMQP_URL,
            heartbeat_interval=self.args.heartbeat_interval,
            metrics_interval=self.args.metrics_interval,
            metrics_persist_interval=PERSIST_INTERVAL_S,
            host_queue_type="transient",
        )

    @property
    def database_url(self) -> str:
        return self.cluster.database_url

    @property
    def controller_log(self) -> Path:
        return self.workdir / "controller-1.log"

    @property
    def controller_pid(self) -> int:
        popen = self.cluster.controllers[0].popen
        assert popen is not None
        return popen.pid

    @property
    def fleet_pid(self) -> int:
        popen = self.cluster.fleets[0].popen
        assert popen is not None
        return popen.pid

    def up(self) -> float:
        a = self.args
        flags = [
            "--placement-strategy",
            self.strategy,
            "--log-format",
            "json",
            *shlex.split(a.controller_args),
        ]
        if a.scheduler_workers:
            flags += ["--scheduler-workers", str(a.scheduler_workers)]
        if a.scheduler_batch:
            flags += ["--scheduler-batch", str(a.scheduler_batch)]
        self.cluster.start_controller(*flags)
        self.cluster.wait_controller()
        shapes = [x for s in a.shape or HOST_SHAPES for x in ("--shape", s)]
        t0 = time.perf_counter()
        self.cluster.start_fleet(
            a.hosts,
            *shapes,
            "--zones",
            ZONES,
            "--metrics-interval",
            str(a.metrics_interval),
            "--op-delay",
            str(a.op_delay),
            *shlex.split(a.fleet_args),
            host_prefix=PREFIX,
        )
        # Polled through ListHosts, which converts every host: at 10,000 hosts once a second
        # took ~10% of a busy controller while its fleet registered. At load 10-19 on the
        # 2-core VM, 10,000 hosts took longer than 500 s to come up.
        self.cluster.wait_fleet_up(timeout=max(120.0, a.hosts / 10), poll=max(1.0, a.hosts / 2000))
        return time.perf_counter() - t0

    def down(self, keep: bool) -> None:
        unclean = self.cluster.stop()
        if unclean:
            log(f"{self.label}: processes did not exit cleanly: {unclean}")
        log(f"{self.label}: dropping the database and {len(self.cluster.fleet_hosts)} host queues")
        isolation.cleanup([self.db], self.cluster.bus_prefix, self.cluster.fleet_hosts)
        if keep:
            log(f"{self.label}: logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def fleet_stats(self) -> dict[str, Any]:
        try:
            stats: dict[str, Any] = json.loads((self.workdir / "fleet-1.json").read_text())
            return stats
        except (OSError, ValueError):
            return {}


def proc_status(pid: int, key: str) -> float:
    """A /proc/PID/status figure in MiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(f"{key}:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CHILD_MODULES = {
    "relay": b"controller.processes.relay_process",
    "scheduler": b"controller.processes.scheduler_process",
}


def children(pid: int) -> dict[str, int]:
    """The controller's child processes by role: {"relay": pid, "scheduler": pid} (the
    modules they run), whichever are running."""
    found: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            for role, module in CHILD_MODULES.items():
                if module in cmdline:
                    found[role] = int(child)
    return found


def controller_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of the controller and of each of its child processes."""
    out = {"controller": cpu_seconds(pid)}
    for role, child in children(pid).items():
        with contextlib.suppress(FileNotFoundError):
            out[role] = cpu_seconds(child)
    return out


# -- phase 2: pending servers and their placement -------------------------------------------------


async def make_template(endpoint: str) -> str:
    """One server through the API: the row the pending copies are made from."""
    async with AsyncClient(endpoint, timeout=60) as api:
        if not await api.list_images():
            await api.create_image("cirros", "qcow2")
        server = await api.create_server("bench-template", flavor="m1.tiny", image="cirros")
        done = await api.wait_for_server(
            server.name, until={common_pb2.VM_STATE_ACTIVE, common_pb2.VM_STATE_ERROR}, timeout=120
        )
        if done is None or done.vm_state != common_pb2.VM_STATE_ACTIVE:
            raise SystemExit(f"the template server did not become ACTIVE: {done}")
        return str(server.uid)


# Columns a pending copy sets itself; every other column is copied from the template.
OWN_COLUMNS = {
    "uid": "gen_random_uuid()",
    "server_id": "w.server_id",
    "flavor_id": "w.flavor_id",
    "vcpus": "f.vcpus",
    "memory_mib": "f.memory_mib",
    "disk_gib": "f.disk_gib",
    "metadata": "w.metadata",
    "vm_state": "'BUILDING'",
    "task_state": "'SCHEDULING'",
    "power_state": "'POWER_STATE_UNSPECIFIED'",
    "host_id": "NULL",
    "allocated": "false",
    "task_command": "NULL",
    "fault": "''",
    "request_id": "NULL",
    "version": "1",
    "created_at": "now() + w.n * interval '1 microsecond'",
    "updated_at": "now()",
    "deleted_at": "NULL",
}


async def insert_pending(database_url: str, template_uid: str, w: Workload) -> float:
    """Insert the pending servers in one transaction; returns when it committed (perf_counter)."""
    conn = await asyncpg.connect(database_url)
    try:
        columns = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = 'instances'"
                " ORDER BY ordinal_position"
            )
        ]
        values = ", ".join(OWN_COLUMNS.get(c, f"t.{c}") for c in columns)
        sql = f"""
            INSERT INTO instances ({", ".join(columns)})
            SELECT {values}
            FROM instances t,
                 unnest($2::int[], $3::text[], $4::text[], $5::jsonb[])
                     AS w(n, server_id, flavor_id, metadata)
                 JOIN flavors f ON f.id = w.flavor_id
            WHERE t.uid = $1::uuid"""
        n = len(w.flavors)
        async with conn.transaction():
            await conn.execute(
                sql,
                template_uid,
                list(range(n)),
                [f"bench-{i:06d}" for i in range(n)],
                w.flavors,
                [json.dumps({"sim.cpu": str(c)}) for c in w.cpu],
            )
        return time.perf_counter()
    finally:
        await conn.close()


async def watch_placement(database_url: str, n: int, t0: float, limit_s: float) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        samples: list[tuple[float, int]] = [(t0, 0)]
        last_log = 0.0
        while True:
            pending = await conn.fetchval("SELECT count(*) FROM instances WHERE task_state = 'SCHEDULING'")
            now = time.perf_counter()
            placed = n - pending
            if placed != samples[-1][1]:
                samples.append((now, placed))
            if pending == 0 or now - t0 > limit_s:
                break
            if now - last_log > 5:
                elapsed = now - t0
                log(f"  {placed}/{n} left pending after {elapsed:.1f}s ({placed / elapsed:.0f}/s)")
                last_log = now
            await asyncio.sleep(0.25)
        failed = await conn.fetchval(
            "SELECT count(*) FROM instances WHERE server_id LIKE 'bench-0%' AND vm_state = 'ERROR'"
        )
        faults = await conn.fetch(
            "SELECT fault, count(*) AS n FROM instances WHERE server_id LIKE 'bench-0%'"
            " AND vm_state = 'ERROR' GROUP BY fault ORDER BY n DESC LIMIT 3"
        )
    finally:
        await conn.close()
    end, done = samples[-1]
    elapsed = max(1e-9, end - t0)
    placed_ok = done - failed
    steady = _steady_rate(samples, n)
    return {
        "placements_per_s": round(placed_ok / elapsed, 1),
        "placements_per_s_steady": steady,
        "placement_s": round(elapsed, 2),
        "placed": placed_ok,
        "no_valid_host": failed,
        "placement_complete": done == n,
        "no_valid_host_reasons": [f"{r['n']}: {r['fault']}" for r in faults],
    }


def _steady_rate(samples: list[tuple[float, int]], n: int) -> float | None:
    """Placements per second between 10% and 90% of the servers placed."""
    lo = next((s for s in samples if s[1] >= 0.1 * n), None)
    hi = next((s for s in samples if s[1] >= 0.9 * n), None)
    if lo is None or hi is None or hi[0] <= lo[0]:
        return None
    return round((hi[1] - lo[1]) / (hi[0] - lo[0]), 1)


async def poll_count(
    database_url: str, query: str, done: Callable[[int], bool], limit_s: float, every_s: float, say: str
) -> tuple[int, float]:
    """Run `query` (a count) every `every_s` until `done(count)` or `limit_s`; the last count and
    how long it took. Every 10 s, `say` with {count} filled in on stderr."""
    conn = await asyncpg.connect(database_url)
    t0 = time.perf_counter()
    last_log = t0
    try:
        while True:
            count = await conn.fetchval(query)
            now = time.perf_counter()
            if done(count) or now - t0 > limit_s:
                return count, now - t0
            if now - last_log > 10:
                log(say.format(count=count))
                last_log = now
            await asyncio.sleep(every_s)
    finally:
        await conn.close()


async def wait_active(database_url: str, n: int, limit_s: float) -> tuple[int, float]:
    query = (
        "SELECT count(*) FROM instances WHERE server_id LIKE 'bench-0%'"
        " AND vm_state = 'ACTIVE' AND task_state IS NULL"
    )
    return await poll_count(database_url, query, lambda a: a >= n, limit_s, 1.0, f"  {{count}}/{n} ACTIVE")


async def wait_outbox_drained(database_url: str, limit_s: float) -> tuple[int, float]:
    """Until the relay has published every event and command (the outbox is empty): the
    metrics window with servers measures the fleet running, not the tail of its spawns."""
    query = "SELECT count(*) FROM outbox"
    say = "  {count} events and commands still to publish"
    return await poll_count(database_url, query, lambda left: left == 0, limit_s, 0.5, say)


# -- phase 4: metrics --------------------------------------------------------------------------


@dataclass(frozen=True)
class Ingest:
    """One `metrics.ingest` line of the controller: its load view's counters at `at`."""

    at: float
    host_samples: int
    instance_samples: int


def ingest_lines(log_path: Path) -> list[Ingest]:
    """The controller's `metrics.ingest` lines (it logs JSON: --log-format json)."""
    found = []
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        if '"metrics.ingest"' not in line:
            continue
        try:
            e = json.loads(line)
            found.append(Ingest(float(e["at"]), int(e["host_samples"]), int(e["instance_samples"])))
        except (ValueError, KeyError, TypeError):
            continue
    return found


def log_events(log_path: Path) -> list[dict[str, Any]]:
    """The controller's log lines (JSON: --log-format json)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            e = json.loads(line)
            if isinstance(e, dict):
                found.append(e)
    return found


def host_health(log_path: Path, base_interval_s: float) -> dict[str, Any]:
    """Host health over the whole run, from the controller's log (see the docstring, 6)."""
    lines = log_events(log_path)
    kinds = Counter(str(e.get("event")) for e in lines)
    scaled = [float(e["interval_s"]) for e in lines if e.get("event") == "heartbeats.interval_scaled"]
    behind = [float(e["seconds"]) for e in lines if e.get("event") == "host_monitor.controller_behind"]
    return {
        "host_down_events": kinds["host.down"],
        "zone_disrupted_warnings": kinds["host_monitor.zone_disrupted"],
        "heartbeat_interval_s": scaled[-1] if scaled else base_interval_s,
        "controller_behind_max_s_run": max(behind, default=0.0),
    }


def behind_in(log_path: Path, t0: float, t1: float) -> float:
    """The most the controller said it was behind its agents (host_monitor.controller_behind:
    reading their messages late or flushing heartbeats late) between t0 and t1; 0 if it never
    said so (it does when behind by more than an interval)."""
    worst = 0.0
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return worst
    for line in text.splitlines():
        if '"host_monitor.controller_behind"' not in line:
            continue
        try:
            e = json.loads(line)
            at = datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
            if t0 <= at <= t1:
                worst = max(worst, float(e["seconds"]))
        except (ValueError, KeyError, TypeError):
            continue
    return worst


async def ingest_rates(log_path: Path, t0: float, t1: float, wait_s: float) -> dict[str, Any]:
    """Samples the controller absorbed per second between t0 and t1 (wall clock), from its own
    counters: the two `metrics.ingest` lines furthest apart inside the window, or if there are
    not two, the last line before it and the first after it."""
    deadline = time.monotonic() + wait_s
    lines = ingest_lines(log_path)
    while not any(x.at >= t1 for x in lines) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        lines = ingest_lines(log_path)
    inside = [x for x in lines if t0 <= x.at <= t1]
    if len(inside) >= 2:
        a, b = inside[0], inside[-1]
    else:
        before = [x for x in lines if x.at <= t0]
        after = [x for x in lines if x.at >= t1]
        if not before or not after:
            return {"metrics_samples_per_s": None, "metrics_counted_over_s": None}
        a, b = before[-1], after[0]
    span = max(1e-9, b.at - a.at)
    host_rate = (b.host_samples - a.host_samples) / span
    instance_rate = (b.instance_samples - a.instance_samples) / span
    return {
        "metrics_samples_per_s": round(host_rate + instance_rate, 1),
        "metrics_host_samples_per_s": round(host_rate, 1),
        "metrics_instance_samples_per_s": round(instance_rate, 1),
        "metrics_counted_over_s": round(span, 2),
    }


def spread_sample(hosts: list[str], n: int) -> list[str]:
    """Up to n hosts spread evenly over the fleet."""
    if len(hosts) <= n:
        return list(hosts)
    step = len(hosts) / n
    return [hosts[int(k * step)] for k in range(n)]


async def measure_metrics(run: Run, seconds: float, watched: int, profile: str = "") -> dict[str, Any]:
    """Samples absorbed per second (the controller's own counters, see `ingest_rates`), the age
    of its load view (ListHosts snapshots: each host's newest sample, as the scheduler reads
    it) and, on a watch of `watched` hosts spread over the fleet (WatchHostMetrics), the age
    of each update as it arrives and the updates per host and second. `profile` (a name):
    py-spy the controller and the fleet through the window too."""
    hosts = run.cluster.fleet_hosts
    watch_hosts = spread_sample(hosts, watched)
    watch_ages: list[float] = []
    watch_updates = 0
    view_ages: list[float] = []
    unsampled: list[int] = []

    async with grpc.aio.insecure_channel(
        run.cluster.endpoint, options=[("grpc.max_receive_message_length", 64 << 20)]
    ) as ch:
        stub = host_pb2_grpc.HostServiceStub(ch)
        request = host_pb2.WatchHostMetricsRequest(hosts=[f"hosts/{h}" for h in watch_hosts])
        call = stub.WatchHostMetrics(request)
        counting = False

        async def watch() -> None:
            nonlocal watch_updates
            async for u in call:
                if counting:
                    watch_updates += 1
                    at = u.load.sampled_at.seconds + u.load.sampled_at.nanos / 1e9
                    watch_ages.append(time.time() - at)

        async def snapshot_once() -> None:
            request = host_pb2.ListHostsRequest(page_size=1000)
            ages = []
            missing = 0
            while True:
                page = await stub.ListHosts(request, timeout=60)
                now = time.time()
                for h in page.hosts:
                    if not h.name.startswith(f"hosts/{PREFIX}-"):
                        continue
                    if h.HasField("load") and h.load.sampled_at.seconds:
                        ages.append(now - (h.load.sampled_at.seconds + h.load.sampled_at.nanos / 1e9))
                    else:
                        missing += 1
                if not page.next_page_token:
                    break
                request.page_token = page.next_page_token
            view_ages.extend(ages)
            unsampled.append(missing)

        async def snapshot_view() -> None:
            while True:
                await asyncio.sleep(2.0)
                try:
                    await snapshot_once()
                except grpc.aio.AioRpcError as exc:
                    log(f"  ListHosts failed: {exc.code().name}")

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(2.0)  # let the stream settle in
        counting = True
        t0, m0 = time.time(), time.perf_counter()
        cpu0 = cpu_seconds(run.controller_pid), cpu_seconds(run.fleet_pid)
        sent0 = run.fleet_stats()
        side = asyncio.create_task(snapshot_view())
        spies: dict[str, tuple[Path, asyncio.subprocess.Process]] = {}
        if profile:
            for who, pid in (("controller", run.controller_pid), ("fleet", run.fleet_pid)):
                path = run.workdir / f"{profile}-{who}-profile.txt"
                spies[who] = (path, await py_spy(pid, max(1, int(seconds) - 1), path))
        await asyncio.sleep(seconds)
        counting = False
        t1, elapsed = time.time(), time.perf_counter() - m0
        cpu1 = cpu_seconds(run.controller_pid), cpu_seconds(run.fleet_pid)
        sent1 = run.fleet_stats()
        load = os.getloadavg()[0]
        for t in (side, watcher):
            t.cancel()
        await asyncio.gather(side, watcher, return_exceptions=True)
        if not unsampled:  # a controller too busy to answer one snapshot in the window
            log("  no load view snapshot completed in the window: one more after it")
            await snapshot_once()
    rates = await ingest_rates(run.controller_log, t0, t1, wait_s=PERSIST_INTERVAL_S + 10)
    profiles: dict[str, Any] = {}
    for who, (path, spy) in spies.items():
        await spy.wait()
        if path.exists():
            profiles[f"{who}_profile"] = profile_summary(path)
            for key, lines in profiles[f"{who}_profile"].items():
                head = f"{run.label}: {who} hot spots in the metrics window ({key}):"
                log(head + "\n    " + "\n    ".join(lines))
    # What the fleet wrote to its streams meanwhile (its stats file, every few seconds).
    sent_span = sent1.get("uptime_s", 0) - sent0.get("uptime_s", 0)
    sent = sent1.get("metrics_sent", 0) - sent0.get("metrics_sent", 0)
    return {
        **rates,
        "fleet_host_samples_sent_per_s": round(sent / sent_span, 1) if sent_span > 0 else None,
        **profiles,
        "view_age_p50_s": round(percentile(view_ages, 50), 3),
        "view_age_p99_s": round(percentile(view_ages, 99), 3),
        "view_hosts_without_sample": max(unsampled, default=None),
        "view_snapshots": len(unsampled),
        "controller_behind_max_s": round(behind_in(run.controller_log, t0, t1), 2),
        "watch_age_p99_s": round(percentile(watch_ages, 99), 3),
        "watch_updates_per_host_s": round(watch_updates / max(1, len(watch_hosts)) / elapsed, 3),
        "controller_cores": round((cpu1[0] - cpu0[0]) / elapsed, 2),
        "fleet_cores": round((cpu1[1] - cpu0[1]) / elapsed, 2),
        "loadavg_1m": round(load, 2),
    }


# -- quality --------------------------------------------------------------------------------------


@dataclass
class HostCap:
    id: str
    vcpus: int
    cpu_cap: float
    mem_cap: float
    disk_cap: float


async def load_placements(
    database_url: str,
) -> tuple[list[HostCap], list[tuple[str, str, int, int, int, float]]]:
    """The simulated hosts (capacity rules as the claim has them) and the bench servers in
    creation order: (server_id, host_id, vcpus, memory_mib, disk_gib, sim.cpu)."""
    conn = await asyncpg.connect(database_url)
    try:
        hosts = [
            HostCap(
                r["id"],
                r["vcpus"],
                r["vcpus"] * r["cpu_allocation_ratio"],
                r["memory_mib"] * r["ram_allocation_ratio"],
                r["disk_gib"] * r["disk_allocation_ratio"],
            )
            for r in await conn.fetch(
                "SELECT id, vcpus, memory_mib, disk_gib, cpu_allocation_ratio, ram_allocation_ratio,"
                " disk_allocation_ratio FROM hosts WHERE id LIKE $1 ORDER BY id",
                f"{PREFIX}-%",
            )
        ]
        rows = await conn.fetch(
            "SELECT server_id, host_id, vcpus, memory_mib, disk_gib, metadata->>'sim.cpu' AS cpu"
            " FROM instances WHERE server_id LIKE 'bench-0%' ORDER BY created_at"
        )
        servers = [
            (r["server_id"], r["host_id"], r["vcpus"], r["memory_mib"], r["disk_gib"], float(r["cpu"] or 0))
            for r in rows
        ]
        return hosts, servers
    finally:
        await conn.close()


def cv(values: list[float]) -> float:
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / mean if mean else float("nan")


def demand(hosts: list[HostCap], placement: dict[str, list[tuple[int, float]]]) -> list[float]:
    """CPU demand of each host: sum of sim.cpu x vcpus of its servers / its vcpus."""
    return [sum(c * v for v, c in placement.get(h.id, [])) / h.vcpus for h in hosts]


def offline(
    hosts: list[HostCap], servers: list[tuple[str, str, int, int, int, float]], how: str, seed: int
) -> dict[str, list[tuple[int, float]]]:
    """Place the same servers, in the same order, on the same hosts with the same capacity
    rules: round-robin (next host with room), random (a random host with room) or first-fit
    (the first host in id order with room)."""
    used = {h.id: [0.0, 0.0, 0.0] for h in hosts}
    out: dict[str, list[tuple[int, float]]] = {}
    rng = random.Random(seed)
    cursor = 0
    n = len(hosts)

    def fits(h: HostCap, v: int, m: int, d: int) -> bool:
        u = used[h.id]
        return u[0] + v <= h.cpu_cap and u[1] + m <= h.mem_cap and u[2] + d <= h.disk_cap

    for _, _, v, m, d, c in servers:
        chosen = None
        if how == "round_robin":
            for k in range(n):
                h = hosts[(cursor + k) % n]
                if fits(h, v, m, d):
                    chosen, cursor = h, (cursor + k + 1) % n
                    break
        elif how == "random":
            for _ in range(32):
                h = hosts[rng.randrange(n)]
                if fits(h, v, m, d):
                    chosen = h
                    break
            else:
                room = [h for h in hosts if fits(h, v, m, d)]
                chosen = rng.choice(room) if room else None
        else:  # first fit
            chosen = next((h for h in hosts if fits(h, v, m, d)), None)
        if chosen is None:
            continue
        u = used[chosen.id]
        u[0], u[1], u[2] = u[0] + v, u[1] + m, u[2] + d
        out.setdefault(chosen.id, []).append((v, c))
    return out


def actual(servers: list[tuple[str, str, int, int, int, float]]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for _, host, v, _, _, c in servers:
        if host:
            out.setdefault(host, []).append((v, c))
    return out


def over_capacity(hosts: list[HostCap], servers: list[tuple[str, str, int, int, int, float]]) -> int:
    use: dict[str, list[float]] = {}
    for _, host, v, m, d, _ in servers:
        if host:
            u = use.setdefault(host, [0.0, 0.0, 0.0])
            u[0], u[1], u[2] = u[0] + v, u[1] + m, u[2] + d
    caps = {h.id: h for h in hosts}
    return sum(
        1
        for h, u in use.items()
        if h in caps and (u[0] > caps[h].cpu_cap or u[1] > caps[h].mem_cap or u[2] > caps[h].disk_cap)
    )


# -- driving it ----------------------------------------------------------------------------------


def profile_summary(path: Path, top: int = 12) -> dict[str, list[str]]:
    """py-spy's raw (collapsed) stacks → the hottest frames, own time and inclusive."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for f in {f.rsplit(":", 1)[0] for f in frames}:
            incl[f] += n
    if not total:
        return {}
    skip = ("_run_module_as_main", "_run_code", "<module>", "main (", "run (uvloop", "Runner.run (")
    return {
        "own": [f"{100 * n / total:.1f}% {f}" for f, n in own.most_common(top)],
        "inclusive": [
            f"{100 * n / total:.1f}% {f}" for f, n in incl.most_common(top + 8) if not f.startswith(skip)
        ][:top],
    }


async def py_spy(pid: int, seconds: int, path: Path) -> asyncio.subprocess.Process:
    """py-spy record of a process (raw collapsed stacks), running in the background."""
    return await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid), "-d", str(seconds),
        "-f", "raw", "-o", str(path), "--nonblocking", "--subprocesses",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def measure(run: Run, args: argparse.Namespace, w: Workload, *, main_run: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if main_run and args.metrics_seconds > 0:
        # Host totals only so far (no servers yet): one host sample per host per interval.
        log(f"{run.label}: metrics window of {args.metrics_seconds}s (hosts without servers)")
        profile = "metrics" if args.profile else ""
        out.update(await measure_metrics(run, args.metrics_seconds, args.watch_hosts, profile))
        log(f"{run.label}: metrics {_metrics_line(out)}")
    if w.flavors:
        out.update(await place_and_spawn(run, args, w, main_run=main_run))
    else:
        out["_quality_input"] = ([], [])
    if main_run and args.metrics_seconds > 0 and w.flavors:
        # Again with every server running: each host sample carries its servers' samples.
        log(f"{run.label}: metrics window of {args.metrics_seconds}s (hosts with their servers)")
        profile = "metrics-with-servers" if args.profile else ""
        loaded = await measure_metrics(run, args.metrics_seconds, args.watch_hosts, profile)
        out.update({f"{k}_with_servers": v for k, v in loaded.items()})
        log(f"{run.label}: metrics with servers {_metrics_line(loaded)}")
    stats = run.fleet_stats()
    out["fleet_metrics_sent_total"] = stats.get("metrics_sent")
    out["controller_rss_mib"] = proc_status(run.controller_pid, "VmRSS")
    out["controller_peak_rss_mib"] = proc_status(run.controller_pid, "VmHWM")
    for role, child in children(run.controller_pid).items():  # its relay and scheduler processes
        out[f"{role}_process_rss_mib"] = proc_status(child, "VmRSS")
        out[f"{role}_process_peak_rss_mib"] = proc_status(child, "VmHWM")
    out["fleet_rss_mib"] = stats.get("rss_mib")
    out["fleet_domains"] = stats.get("domains")
    health = host_health(run.controller_log, args.heartbeat_interval)
    log(f"{run.label}: host health {health}")
    out.update(health)
    return out


def _metrics_line(m: dict[str, Any]) -> str:
    return (
        f"{m['metrics_samples_per_s']}/s ({m.get('metrics_host_samples_per_s')} host +"
        f" {m.get('metrics_instance_samples_per_s')} instance samples/s), view age p50"
        f" {m['view_age_p50_s']}s p99 {m['view_age_p99_s']}s"
    )


async def place_and_spawn(
    run: Run, args: argparse.Namespace, w: Workload, *, main_run: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    c = run.cluster
    log(f"{run.label}: creating the template server through the API")
    template = await make_template(c.endpoint)
    spy: asyncio.subprocess.Process | None = None
    profile_path = run.workdir / "placement-profile.txt"
    n = len(w.flavors)
    cpu_before = controller_cpu(run.controller_pid)
    log(f"{run.label}: inserting {n} pending servers (one transaction) and watching them placed")
    t0 = await insert_pending(run.database_url, template, w)
    if args.profile and main_run:
        spy = await py_spy(run.controller_pid, args.profile_seconds, profile_path)
    placement = await watch_placement(run.database_url, n, t0, args.timeout)
    # Cores used while placing: the controller's own process, and its scheduler and relay
    # processes (the scheduler places from a child process unless --scheduler inline).
    for role, seconds in controller_cpu(run.controller_pid).items():
        if role in cpu_before:
            placement[f"{role}_cpu_during_placement"] = round(
                (seconds - cpu_before[role]) / max(1e-9, placement["placement_s"]), 2
            )
    out.update(placement)
    log(f"{run.label}: {placement}")
    if spy is not None:
        await spy.wait()
        if profile_path.exists():
            out["controller_profile"] = profile_summary(profile_path)
            for key, lines in out["controller_profile"].items():
                log(f"{run.label}: controller hot spots ({key}):\n    " + "\n    ".join(lines))
    log(f"{run.label}: waiting for the servers to be ACTIVE on their simulated hosts")
    spawn_profile = run.workdir / "spawn-profile.txt"
    spy = None
    if args.profile and main_run:
        spy = await py_spy(run.controller_pid, args.profile_seconds, spawn_profile)
    active, took = await wait_active(run.database_url, placement["placed"], args.active_timeout)
    out["active"] = active
    out["active_after_s"] = round(took, 1)  # after the last placement
    out["active_per_s"] = round(active / max(1e-9, took), 1) if active else 0.0
    if spy is not None:
        await spy.wait()
        if spawn_profile.exists():
            out["controller_profile_spawn"] = profile_summary(spawn_profile)
            for key, lines in out["controller_profile_spawn"].items():
                log(f"{run.label}: controller hot spots while spawning ({key}):\n    " + "\n    ".join(lines))
    hosts, servers = await load_placements(run.database_url)
    out["hosts_over_capacity"] = over_capacity(hosts, servers)
    out["_quality_input"] = (hosts, servers)
    left, took = await wait_outbox_drained(run.database_url, args.active_timeout)
    out["outbox_drained_after_s"] = round(took, 1)  # after every server was ACTIVE
    out["outbox_left"] = left
    return out


def quality_spread(hosts: list[HostCap], servers: list[Any], seed: int) -> dict[str, Any]:
    return {
        "cpu_cv_spread": round(cv(demand(hosts, actual(servers))), 4),
        "hosts_used_spread": len(actual(servers)),
        "cpu_cv_round_robin": round(cv(demand(hosts, offline(hosts, servers, "round_robin", seed))), 4),
        "cpu_cv_random": round(cv(demand(hosts, offline(hosts, servers, "random", seed))), 4),
        "cpu_demand_mean": round(statistics.fmean(demand(hosts, actual(servers))), 4),
        "cpu_demand_max_spread": round(max(demand(hosts, actual(servers))), 4),
    }


def quality_pack(hosts: list[HostCap], servers: list[Any], seed: int) -> dict[str, Any]:
    return {
        "hosts_used_pack": len(actual(servers)),
        "hosts_used_round_robin": len(offline(hosts, servers, "round_robin", seed)),
        "hosts_used_random": len(offline(hosts, servers, "random", seed)),
        "hosts_used_first_fit": len(offline(hosts, servers, "first_fit", seed)),
    }


def one_run(
    args: argparse.Namespace, w: Workload, label: str, strategy: str, main_run: bool
) -> dict[str, Any]:
    run = Run(args, label, strategy)
    ok = False
    try:
        log(f"{label}: starting a controller ({strategy}) and {args.hosts} simulated hosts")
        fleet_up = run.up()
        log(f"{label}: {args.hosts} hosts UP after {fleet_up:.1f}s")
        figures = asyncio.run(measure(run, args, w, main_run=main_run))
        figures["fleet_up_s"] = round(fleet_up, 1)
        ok = True
        return figures
    finally:
        run.down(keep=args.keep or not ok)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=5000)
    p.add_argument("--instances", type=int, default=50_000, help="0: no placement, metrics only")
    p.add_argument("--quality", action="store_true", help="also run the pack strategy; quality figures")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--shape", action="append", help=f"fleet host shapes (default {' '.join(HOST_SHAPES)})")
    p.add_argument("--metrics-interval", type=float, default=1.0, help="the agents' metrics interval")
    p.add_argument("--heartbeat-interval", type=float, default=1.0)
    p.add_argument("--metrics-seconds", type=float, default=20.0, help="metrics window; 0 skips it")
    p.add_argument(
        "--watch-hosts", type=int, default=200, help="hosts followed on WatchHostMetrics in a window"
    )
    p.add_argument(
        "--op-delay", type=float, default=0.0, help="seconds a simulated hypervisor operation takes"
    )
    p.add_argument("--scheduler-workers", type=int, default=0, help="controller flag (default: its own)")
    p.add_argument("--scheduler-batch", type=int, default=0, help="controller flag (default: its own)")
    p.add_argument("--controller-args", default="", help="more controller flags, one string")
    p.add_argument("--fleet-args", default="", help="more fleet simulation flags, one string")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds placement may take")
    p.add_argument("--active-timeout", type=float, default=600.0)
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the controller while it places, and it and the fleet in the metrics windows",
    )
    p.add_argument("--profile-seconds", type=int, default=20)
    p.add_argument("--keep", action="store_true", help="keep the process logs")
    args = p.parse_args()

    w = make_workload(args.instances, args.seed)
    load_before = os.getloadavg()
    figures = one_run(args, w, "spread", "spread", main_run=True)
    hosts, servers = figures.pop("_quality_input")
    result: dict[str, Any] = {**figures}
    if args.quality and args.instances:
        result.update(quality_spread(hosts, servers, args.seed))
        pack = one_run(args, w, "pack", "pack", main_run=False)
        p_hosts, p_servers = pack.pop("_quality_input")
        result.update(quality_pack(p_hosts, p_servers, args.seed))
        result["placements_per_s_pack"] = pack["placements_per_s"]
        result["hosts_over_capacity_pack"] = pack["hosts_over_capacity"]
    print(
        json.dumps(
            {
                **result,
                "hosts": args.hosts,
                "instances": args.instances,
                "metrics_interval_s": args.metrics_interval,
                "loadavg_before": [round(x, 2) for x in load_before],
                "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                "cores": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
