"""The scheduler and the outbox relay run in child processes of the controller. Killed, each is
restarted and what waited meanwhile (a pending server, a spawn command in the outbox) goes
through; the controller killed, neither outlives it. The scheduler places by the hosts' live
load, which only the controller's load view has (it reaches the child through the shared
load board)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from client import AsyncClient
from overcast.v1 import common_pb2

from .helpers import alive, child_running, short

SCHEDULER = "controller.processes.scheduler_process"


async def _active_on(api: AsyncClient, name: str, metadata: dict[str, str]) -> str:
    await api.create_server(name, flavor="m1.large", image="cirros", metadata=metadata)
    server = await api.wait_for_server(name, timeout=60)
    assert server is not None and server.vm_state == common_pb2.VM_STATE_ACTIVE, server
    return short(server.host)


@pytest.mark.parametrize("where", ["process", "inline"])
async def test_the_scheduler_places_by_live_load(clusters, where: str) -> None:  # type: ignore[no-untyped-def]
    c = clusters(f"schedload{where}")
    ctl = c.start_controller("--scheduler", where)
    c.wait_controller()
    c.start_agent("host-a")
    c.wait_hosts_up(["host-a"])
    assert ctl.popen is not None
    if where == "process":
        child_running(ctl.popen.pid, SCHEDULER)

    async with AsyncClient(c.endpoint, timeout=15) as api:
        await api.create_image("cirros", "qcow2")
        # The busy server is alone with host-a; then host-b comes up and gets an idle one of the
        # same flavor: the two hosts have the same allocation, only their live load differs.
        busy = await _active_on(api, "busy", {"sim.cpu": "1.0"})
        assert busy == "host-a"
        c.start_agent("host-b")
        c.wait_hosts_up(["host-b"])
        await asyncio.sleep(1.5)  # the scheduler reads the fleet anew every second at most
        assert await _active_on(api, "idle", {"sim.cpu": "0.0"}) == "host-b"

        deadline = time.monotonic() + 20
        while True:  # the busy host's smoothed load shows (samples every 0.2 s)
            a, b = await api.get_host("host-a"), await api.get_host("host-b")
            if (
                a.HasField("load")
                and b.HasField("load")
                and a.load.cpu_util_ewma > b.load.cpu_util_ewma + 0.1
            ):
                break
            assert time.monotonic() < deadline, (a.load, b.load)
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # the scheduler's next fleet read sees them
        # Equal allocation: the live-load weigher decides (the load read from the shared board
        # in the scheduler's process, or from the load view itself inline).
        assert await _active_on(api, "next", {"sim.cpu": "0.0"}) == "host-b"


@pytest.mark.parametrize(
    ("module", "waits"),
    [
        (SCHEDULER, "the server waits, pending, for the next scheduler"),
        ("controller.processes.relay_process", "the spawn command waits in the outbox"),
    ],
)
async def test_a_killed_child_is_restarted_and_a_dead_controller_leaves_none(  # type: ignore[no-untyped-def]
    clusters, module: str, waits: str
) -> None:
    c = clusters("child" + module.rsplit(".", 1)[1].split("_")[0])
    ctl = c.start_controller()
    c.wait_controller()
    c.start_agent("host-c")
    c.wait_hosts_up(["host-c"])
    assert ctl.popen is not None
    first = child_running(ctl.popen.pid, module)

    async with AsyncClient(c.endpoint) as api:
        await api.create_image("cirros", "qcow2")
        os.kill(first, signal.SIGKILL)
        # Created while the child is down (`waits` says where it waits meanwhile).
        await api.create_server("child-1", flavor="m1.tiny", image="cirros")
        second = child_running(ctl.popen.pid, module, other_than=first)
        server = await api.wait_for_server("child-1", timeout=60)
        assert server is not None and server.vm_state == common_pb2.VM_STATE_ACTIVE, waits
        assert short(server.host) == "host-c"

    ctl.kill()  # SIGKILL: no chance to stop its children
    deadline = time.monotonic() + 15
    while alive(second) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not alive(second), f"{module} outlived its controller"
