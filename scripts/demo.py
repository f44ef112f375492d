"""`make demo`: a controller and three agents on libvirt's test driver, driven by the CLI.

Shows servers being created, placed, started as libvirt domains and reported ACTIVE, a few
power operations, an honest NoValidHost, and the events that were published.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from devcluster import demo_runs, isolation
from devcluster.events import EventTap
from devcluster.processes import REPO, Cluster

CLI = str(Path(sys.executable).with_name("overcast"))
DEMOS = REPO / ".demo" / "test-driver"  # one directory per demo run
HOSTS = {"host-1": (16, 32), "host-2": (16, 32), "host-3": (16, 32)}  # vcpus, GiB


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def run_cli(endpoint: str, *args: str, check: bool = True) -> int:
    print(f"$ overcast {shlex.join(args)}", flush=True)
    env = {**os.environ, "OVERCAST_ENDPOINT": endpoint}
    code = subprocess.run([CLI, *args], env=env, check=False).returncode
    if check and code != 0:
        raise SystemExit(f"demo: 'overcast {shlex.join(args)}' failed with exit code {code}")
    return code


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def demo(args: argparse.Namespace) -> None:
    for old in demo_runs.abandoned(DEMOS):  # what killed demos left; never a running one's
        await old.remove(list(HOSTS))
    run = demo_runs.start(DEMOS)  # a database and bus prefix of its own: demos run side by side
    workdir = run.workdir
    cluster = Cluster(workdir, run.database_url, run.bus_prefix, isolation.AMQP_URL)
    port = 50051 if port_free(50051) else 0
    say("Starting the controller (PostgreSQL schema migrations run at startup)")
    cluster.start_controller(*(["--listen", f"127.0.0.1:{port}"] if port else []))
    try:
        if port:  # the user's CLI default works as it is
            cluster.endpoints[0] = f"127.0.0.1:{port}"
        cluster.wait_controller()
        endpoint = cluster.endpoint
        print(f"controller serving on {endpoint}; logs in {workdir}/")
        async with EventTap(cluster.amqp_url, cluster.bus_prefix) as tap:
            hosts = list(HOSTS)[: args.agents]
            say(f"Starting {len(hosts)} agents, each with its own libvirt test-driver host")
            for h in hosts:
                cpus, gib = HOSTS[h]
                cluster.start_agent(h, cpus=cpus, memory_gib=gib)
            cluster.wait_hosts_up(hosts)
            run_cli(endpoint, "host", "list")

            say("The catalog: default flavors, and an image (metadata only for now)")
            run_cli(endpoint, "flavor", "list")
            run_cli(endpoint, "image", "create", "cirros", "--disk-format", "qcow2")

            say("Create one server and watch it go from SCHEDULING to ACTIVE")
            run_cli(
                endpoint, "server", "create", "web-1", "--flavor", "m1.small", "--image", "cirros", "--wait"
            )

            say(f"Create {args.servers - 1} more; the free-RAM weigher spreads them over the hosts")
            for i in range(2, args.servers + 1):
                run_cli(
                    endpoint, "server", "create", f"web-{i}", "--flavor", "m1.medium", "--image", "cirros"
                )
            await _wait_all_active(endpoint, [f"web-{i}" for i in range(2, args.servers + 1)])
            run_cli(endpoint, "server", "list")

            say("Power operations, each carried out by the agent on libvirt")
            run_cli(endpoint, "server", "stop", "web-2", "--wait")
            run_cli(endpoint, "server", "reboot", "web-3", "--wait")
            run_cli(endpoint, "server", "delete", f"web-{args.servers}", "--wait")

            say("A request no host can take fails with a reason a person can act on")
            run_cli(
                endpoint,
                "flavor",
                "create",
                "m1.huge",
                "--vcpus",
                "64",
                "--memory",
                str(512 * 1024),
                "--disk",
                "100",
            )
            run_cli(
                endpoint,
                "server",
                "create",
                "too-big",
                "--flavor",
                "m1.huge",
                "--image",
                "cirros",
                "--wait",
                check=False,
            )

            say("Where everything landed, and what each host has left")
            run_cli(endpoint, "server", "list")
            run_cli(endpoint, "host", "list")

            await asyncio.sleep(0.5)
            say(f"Events published on the topic exchange {cluster.bus_prefix}.events")
            for e in tap.events:
                payload = e.get("instance") or e.get("host") or {}
                state = payload.get("vmState") or payload.get("state") or ""
                print(f"{e['occurredAt'][11:23]}  {e['eventType']:<26} {e['resource']:<32} {state}")

        if args.keep:
            say("The cluster keeps running. In another terminal:")
            print(f"  export OVERCAST_ENDPOINT={endpoint}")
            print("  .venv/bin/overcast server list")
            print("  .venv/bin/overcast server create db-1 --flavor m1.small --image cirros --wait")
            print(f"Logs: {workdir}/*.log    Stop with Ctrl-C.")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
    finally:
        say("Stopping agents and controller")
        unclean = cluster.stop()
        await run.release(list(HOSTS))
        print("stopped cleanly" if not unclean else f"not clean: {unclean}")
        print(f"logs in {workdir}/ until the next demo")


async def _wait_all_active(endpoint: str, names: list[str]) -> None:
    from client import AsyncClient  # the demo's own client, for waiting quietly

    async with AsyncClient(endpoint) as api:
        for n in names:
            await api.wait_for_server(n, timeout=60)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--keep", action="store_true", help="leave the cluster running")
    p.add_argument("--agents", type=int, default=3, choices=(1, 2, 3))
    p.add_argument("--servers", type=int, default=6)
    args = p.parse_args()
    started = time.monotonic()
    asyncio.run(demo(args))
    print(f"demo finished in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
