"""Controller memory per connected agent and per server: one real controller (PostgreSQL,
RabbitMQ) and a fleet simulation of `--hosts` agents (each its own gRPC stream), as
bench/scheduler.py starts them.

VmRSS of the controller is read idle, after every host is UP (and `--settle` seconds), and,
with `--instances`, after that many servers are placed and ACTIVE on the simulated hosts
(made as bench/scheduler.py makes them). `per_host_kib` = (hosts - idle) / hosts,
`per_instance_kib` = (instances - hosts) / instances. Each reading also splits the
controller's anonymous memory by where it lives (/proc/PID/smaps): `heap` (the main
thread's malloc heap: Python objects over 512 bytes, C extensions called from the event
loop), `thread_arenas` (malloc arenas of other threads: gRPC core's, so per-stream HTTP/2
and call state) and `other_anon` (pymalloc's arenas, that is most Python objects, and large
mmaps). Run with more than 1,000 hosts under `flock /tmp/overcast-bench.lock`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from typing import Any

from scheduler import (
    HOST_SHAPES,
    ZONES,
    Run,
    insert_pending,
    log,
    make_template,
    make_workload,
    proc_status,
    wait_active,
    watch_placement,
)


def anon_split(pid: int) -> dict[str, float]:
    """Resident anonymous memory (MiB): main heap, other threads' malloc arenas (their heaps
    are 64 MiB-aligned mappings), and the rest."""
    out = {"heap": 0, "thread_arenas": 0, "other_anon": 0}
    current: str | None = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$", line)
            if m:
                start, perm, name = int(m.group(1), 16), m.group(2), m.group(3).strip()
                if name == "[heap]":
                    current = "heap"
                elif name:
                    current = None
                elif perm == "rw-p" and start % (64 << 20) == 0:
                    current = "thread_arenas"
                else:
                    current = "other_anon"
            elif line.startswith("Rss:") and current is not None:
                out[current] += int(line.split()[1])
    return {k: round(v / 1024, 1) for k, v in out.items()}


def reading(pid: int) -> dict[str, Any]:
    return {"rss_mib": proc_status(pid, "VmRSS"), **anon_split(pid)}


async def place(run: Run, n: int, seed: int, limit_s: float) -> dict[str, Any]:
    w = make_workload(n, seed)
    template = await make_template(run.cluster.endpoint)
    t0 = await insert_pending(run.database_url, template, w)
    placed = await watch_placement(run.database_url, n, t0, limit_s)
    log(f"placed {placed['placed']} in {placed['placement_s']}s; waiting for them ACTIVE")
    active, took = await wait_active(run.database_url, placed["placed"], limit_s)
    return {"placed": placed["placed"], "active": active, "active_after_s": round(took, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--instances", type=int, default=0, help="servers to place and run; 0: hosts only")
    p.add_argument("--settle", type=float, default=20.0, help="seconds before each reading")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds placement, then spawn, may take")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--metrics-interval", type=float, default=1.0)
    p.add_argument("--controller-args", default="")
    p.add_argument("--fleet-args", default="")
    p.add_argument("--keep", action="store_true", help="keep the process logs")
    # What Run reads from bench/scheduler.py's flags.
    p.set_defaults(
        heartbeat_interval=1.0, op_delay=0.0, shape=HOST_SHAPES, scheduler_workers=0, scheduler_batch=0
    )
    args = p.parse_args()
    load_before = os.getloadavg()
    run = Run(args, "memory", "spread")
    out: dict[str, Any] = {"hosts": args.hosts, "instances": args.instances}
    ok = False
    try:
        run.cluster.start_controller("--placement-strategy", "spread", *args.controller_args.split())
        run.cluster.wait_controller()
        time.sleep(3)
        pid = run.controller_pid
        out["idle"] = reading(pid)
        log(f"idle: {out['idle']}; starting {args.hosts} simulated hosts")
        shapes = [x for s in args.shape for x in ("--shape", s)]
        run.cluster.start_fleet(
            args.hosts, *shapes, "--zones", ZONES, "--metrics-interval", str(args.metrics_interval),
            *args.fleet_args.split(), host_prefix="sim",
        )  # fmt: skip
        run.cluster.wait_fleet_up(timeout=max(120.0, args.hosts / 20), poll=1.0)
        time.sleep(args.settle)
        out["with_hosts"] = reading(pid)
        log(f"{args.hosts} hosts: {out['with_hosts']}")
        out["per_host_kib"] = round(
            (out["with_hosts"]["rss_mib"] - out["idle"]["rss_mib"]) * 1024 / args.hosts, 1
        )
        if args.instances:
            out.update(asyncio.run(place(run, args.instances, args.seed, args.timeout)))
            time.sleep(args.settle)
            out["with_instances"] = reading(pid)
            log(f"{out['active']} servers ACTIVE: {out['with_instances']}")
            grown = out["with_instances"]["rss_mib"] - out["with_hosts"]["rss_mib"]
            out["per_instance_kib"] = round(grown * 1024 / max(1, out["active"]), 2)
        out["controller_peak_rss_mib"] = proc_status(pid, "VmHWM")
        ok = True
    finally:
        run.down(keep=args.keep or not ok)
    print(json.dumps({**out, "loadavg_before": [round(x, 2) for x in load_before], "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
