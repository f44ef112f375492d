"""Faults under load: for each fault, a burst of mixed operations (creates with request ids,
deletes, starts, stops, reboots) at an offered rate, the fault injected in its middle, then
what a user would check (src/devcluster/faults). The faults (devcluster/faults/catalogue.py):
RabbitMQ stopped and started, PostgreSQL restarted or down 10 s (a PostgreSQL and a RabbitMQ
of the bench's own, never the machine's), the leading controller replica SIGKILLed, an agent
SIGSTOPped 20 s or SIGKILLed and restarted (on a simulated hypervisor whose domains outlive
it), every agent's link to the controller cut 10 s, the controller's relay or scheduler
child process SIGKILLed.

Prints progress to stderr and one JSON object on the last line of stdout: per fault `sent`,
`acknowledged`, `completed`, `failed`, `lost`, `duplicated`, `phantoms`,
`capacity_mismatches`, `events_missing`, `hosts_down`, `processes_down`, `codes` (every
answer, retries included), `recovery_s` (fault end → every host UP and a new server ACTIVE),
`fault_s`, `burst_s`, `settle_s`, and `findings` (what went wrong, one line each); then `ops`,
`rate`, `hosts`, `cores`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from devcluster.faults.run import FAULTS, FaultRun, RunSpec
from devcluster.faults.services import PrivateServices


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def one(services: PrivateServices, workdir: Path, fault: str, spec: RunSpec) -> dict[str, Any]:
    run = FaultRun(services, workdir, spec, fault)
    try:
        await asyncio.to_thread(run.start)
        result = await run.run(log)
    finally:
        unclean = await asyncio.to_thread(run.stop)
        await run.remove()
    figures = result.figures()
    figures["findings"] = result.verdict.findings + [f"exited uncleanly: {u}" for u in unclean]
    log(result.report())
    return figures


async def main(args: argparse.Namespace) -> dict[str, Any]:
    # Room for every create of the burst (3,072 servers of 1 vcpu, 64 MiB, no disk on three
    # hosts): a full fleet answering "No valid host" would hide what the faults do.
    spec = RunSpec(
        ops=args.ops,
        rate=args.rate,
        hosts=args.hosts,
        host_cpus=256,
        host_memory_gib=128,
        flavor="faults.nano",
        flavor_shape=(1, 64, 0),
    )
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        root = args.logs or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-faults-")))
        services = stack.enter_context(PrivateServices(keep_logs=args.logs))
        log(f"private PostgreSQL {services.postgres.admin_url}, RabbitMQ {services.rabbit.url}")
        for fault in args.faults:
            workdir = root / fault
            workdir.mkdir(parents=True)
            out[fault] = await one(services, workdir, fault, spec)
    return {**out, "ops": args.ops, "rate": args.rate, "hosts": args.hosts, "cores": os.cpu_count()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ops", type=int, default=3000, help="operations per burst")
    parser.add_argument("--rate", type=float, default=300.0, help="operations offered per second")
    parser.add_argument("--hosts", type=int, default=3, help="test-driver agents")
    parser.add_argument("--faults", nargs="+", default=list(FAULTS), choices=list(FAULTS))
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this directory (new)")
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
