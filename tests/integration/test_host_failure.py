"""Host failure (issue 14): a host that stays DOWN past --host-failure-grace has its servers
marked, those whose policy says so rebuilt elsewhere; when the host comes back, its copies of
the servers that moved are removed, never started, and no server runs twice.

The agent is SIGSTOPped: its libvirt test driver lives in the agent's process, so its domains
keep "running" through the pause and are there when it resumes, as a real host's would be
after a network partition."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from client import AsyncClient
from devcluster.events import EventTap
from devcluster.processes import Cluster
from overcast.v1 import common_pb2, server_pb2

from .agents import domains
from .helpers import short

ACTIVE = common_pb2.VM_STATE_ACTIVE
GRACE_S = 5  # a pause detected and ended well within it even at load average 20
CLI = str(Path(sys.executable).with_name("overcast"))


def _of(events: list[dict], event_type: str) -> Counter[str]:  # type: ignore[type-arg]
    return Counter(short(e["resource"]) for e in events if e["eventType"] == event_type)


async def _placement(c: Cluster, hosts: list[str]) -> dict[str, list[str]]:
    """Every host's domains (uuids), read from each agent's libvirt."""
    return {h: sorted(await domains(c.agent_admin[h])) for h in hosts}


async def _capacity_exact(api: AsyncClient, hosts: list[str]) -> None:
    """Each host's claims are exactly the servers placed on it (flavor m1.tiny: 1 vcpu)."""
    servers = list(await api.list_servers())
    for h in hosts:
        host = await api.get_host(h)
        on_it = [s for s in servers if s.host == f"hosts/{h}"]
        assert host.servers == len(on_it), (h, host, on_it)
        assert host.vcpus_used == sum(s.vcpus for s in on_it), (h, host)


async def _until(check, within: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_a_failed_host_is_evacuated_and_fenced_when_it_returns(clusters) -> None:  # type: ignore[no-untyped-def]
    c = clusters("evacuate")
    c.start_controller("--host-failure-grace", str(GRACE_S))
    c.wait_controller()
    old = c.start_agent("host-fa")
    c.start_agent("host-fb")
    hosts = ["host-fa", "host-fb"]
    c.wait_hosts_up(hosts)
    async with AsyncClient(c.endpoint) as api, EventTap(c.amqp_url, c.bus_prefix) as tap:
        if not await api.list_images():
            await api.create_image("cirros", "qcow2")
        await api.disable_host("host-fb", "both servers go to host-fa")
        await api.create_server("mover", flavor="m1.tiny", image="cirros", host_failure_policy="evacuate")
        await api.create_server("stayer", flavor="m1.tiny", image="cirros")
        for n in ("mover", "stayer"):
            s = await api.wait_for_server(n, timeout=30)
            assert s is not None and s.vm_state == ACTIVE and s.host == "hosts/host-fa", s
        mover = await api.get_server("mover")
        assert mover.host_failure_policy == server_pb2.HOST_FAILURE_POLICY_EVACUATE
        assert mover.generation == 1
        await api.enable_host("host-fb")

        # 1. Back before the grace: nothing changes.
        old.pause()
        try:

            async def down() -> bool:  # read from the API: the bus may lag behind
                return (await api.get_host("host-fa")).state == common_pb2.HOST_STATE_DOWN

            await _until(down, 60, "host-fa never went DOWN")
        finally:
            old.resume()
        await tap.wait_for(
            lambda ev: [e["eventType"] for e in ev if e["eventType"].startswith("host.")][-1:] == ["host.up"],
            60,
        )
        # UP again: down_since is cleared, so no sweep can mark them now; give one its chance.
        await asyncio.sleep(1.5)
        assert not _of(tap.events, "instance.host_down"), tap.events
        for n in ("mover", "stayer"):
            s = await api.get_server(n)
            assert (s.vm_state, s.power_state, s.fault, s.host) == (
                ACTIVE,
                common_pb2.POWER_STATE_RUNNING,
                "",
                "hosts/host-fa",
            ), s

        # 2. DOWN past the grace: both marked once, the mover rebuilt on host-fb.
        old.pause()
        try:
            await tap.wait_for(lambda ev: _of(ev, "instance.host_down").keys() >= {"mover", "stayer"}, 60)
            await tap.wait_for(lambda ev: _of(ev, "instance.create.end")["mover"] >= 2, 60)
            moved = await api.get_server("mover")
            assert (moved.vm_state, moved.host, moved.generation) == (ACTIVE, "hosts/host-fb", 2), moved
            assert moved.power_state == common_pb2.POWER_STATE_RUNNING and moved.fault == ""
            assert moved.uid == mover.uid and moved.name == mover.name
            stayer = await api.get_server("stayer")
            assert stayer.vm_state == ACTIVE and stayer.host == "hosts/host-fa"
            assert stayer.power_state == common_pb2.POWER_STATE_UNSPECIFIED
            assert stayer.fault.startswith("host host-fa DOWN since "), stayer.fault
            assert _of(tap.events, "instance.evacuate.start") == Counter({"mover": 1})
            assert await domains(c.agent_admin["host-fb"]) == {mover.uid: "RUNNING"}
            await _capacity_exact(api, hosts)
            await asyncio.sleep(1)  # more sweeps: still one mark each
            assert _of(tap.events, "instance.host_down") == Counter({"mover": 1, "stayer": 1})
        finally:
            old.resume()

        # 3. Back: its copy of the mover is removed (the queued fencing delete), never started;
        # the stayer's mark is cleared and its power state restored.
        async def fenced() -> bool:
            return mover.uid not in await domains(c.agent_admin["host-fa"])

        await _until(fenced, 60, "host-fa still has the evacuated server's domain")
        await tap.wait_for(lambda ev: _of(ev, "instance.host_up")["stayer"] == 1, 60)
        stayer = await api.get_server("stayer")
        assert (stayer.vm_state, stayer.power_state, stayer.fault) == (
            ACTIVE,
            common_pb2.POWER_STATE_RUNNING,
            "",
        )
        placed = await _placement(c, hosts)
        assert placed == {"host-fa": [stayer.uid], "host-fb": [mover.uid]}, placed  # none twice
        assert (await api.get_server("mover")).host == "hosts/host-fb"
        await _capacity_exact(api, hosts)
        # Removed by the delete queued at the evacuation, of the old generation.
        assert f"instance_uid={mover.uid} ok=True op=DELETE" in old.log_tail(400), old.log_tail(400)

        # 4. An operator evacuates the host, the CLI following the servers.
        old.pause()
        try:
            await tap.wait_for(
                lambda ev: (
                    [e["eventType"] for e in ev if e["eventType"].startswith("host.")][-1:] == ["host.down"]
                ),
                60,
            )
            env = {**os.environ, "OVERCAST_ENDPOINT": c.endpoint}
            run = await asyncio.to_thread(
                subprocess.run,
                [CLI, "host", "evacuate", "host-fa", "--wait", "--wait-timeout", "60"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, run.stdout + run.stderr
            assert "evacuating stayer" in run.stdout and "ACTIVE" in run.stdout, run.stdout
            stayer = await api.get_server("stayer")
            assert (stayer.vm_state, stayer.host, stayer.generation) == (ACTIVE, "hosts/host-fb", 2)
        finally:
            old.resume()

        async def emptied() -> bool:
            return await domains(c.agent_admin["host-fa"]) == {}

        await _until(emptied, 60, "host-fa kept an evacuated server's domain")
        placed = await _placement(c, hosts)
        assert placed == {"host-fa": [], "host-fb": sorted([mover.uid, stayer.uid])}, placed
        await _capacity_exact(api, hosts)
        for n in ("mover", "stayer"):
            await api.delete_server(n)
        for n in ("mover", "stayer"):
            assert await api.wait_for_server(n, until=set(), timeout=30) is None
        assert await domains(c.agent_admin["host-fb"]) == {}
