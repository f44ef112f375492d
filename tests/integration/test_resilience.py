"""Several controllers, dead controllers, paused agents: nothing acknowledged is lost and
every event is published once."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter

import pytest

from client import AsyncClient, FailedPrecondition
from devcluster.events import EventTap
from overcast.v1 import common_pb2

from .agents import domains
from .helpers import short

ACTIVE = common_pb2.VM_STATE_ACTIVE


async def _ensure_image(api: AsyncClient) -> None:
    if not await api.list_images():
        await api.create_image("cirros", "qcow2")


async def test_two_controllers_on_one_empty_database(clusters) -> None:  # type: ignore[no-untyped-def]
    c = clusters("duo")
    c.start_controller()
    c.start_controller()  # at the same moment, on the same empty database
    c.wait_controller(0)
    c.wait_controller(1)
    c.start_agent("host-a", controller=0)
    c.start_agent("host-b", controller=1)
    c.wait_hosts_up(["host-a", "host-b"])

    async with (
        EventTap(c.amqp_url, c.bus_prefix) as tap,
        AsyncClient(c.endpoints[0]) as api1,
        AsyncClient(c.endpoints[1]) as api2,
    ):
        await _ensure_image(api1)
        names = [f"duo-{i}" for i in range(6)]
        await asyncio.gather(
            *[
                (api1 if i % 2 else api2).create_server(n, flavor="m1.tiny", image="cirros")
                for i, n in enumerate(names)
            ]
        )
        done = await asyncio.gather(*[api1.wait_for_server(n, timeout=60) for n in names])
        assert all(s is not None and s.vm_state == ACTIVE for s in done)
        assert {short(s.host) for s in done if s} == {"host-a", "host-b"}

        await tap.wait_for(lambda ev: len(_ends(ev)) >= len(names), timeout=30)
        await asyncio.sleep(1.0)  # a duplicate, if any, would arrive now
        ids = Counter(e["eventId"] for e in tap.events)
        assert [i for i, n in ids.items() if n > 1] == []
        creates = Counter(e["resource"] for e in _ends(tap.events))
        assert all(creates[f"projects/demo/servers/{n}"] == 1 for n in names)

        # One controller dies hard: its agent fails over to the other, which also takes
        # over the outbox relay if the dead one led it.
        c.controllers[0].kill()
        late = ["duo-late-1", "duo-late-2", "duo-late-3", "duo-late-4"]
        for n in late:
            await api2.create_server(n, flavor="m1.tiny", image="cirros")
        late_done = await asyncio.gather(*[api2.wait_for_server(n, timeout=60) for n in late])
        assert all(s is not None and s.vm_state == ACTIVE for s in late_done)
        await tap.wait_for(lambda ev: len(_ends(ev)) >= len(names) + len(late), timeout=30)
        # Rows the dead leader published but had not yet marked sent go out again
        # (at-least-once); they keep their event_id, which is what consumers dedupe on.
        by_id: dict[str, list[dict]] = {}  # type: ignore[type-arg]
        for e in tap.events:
            by_id.setdefault(e["eventId"], []).append(e)
        assert all(all(x == group[0] for x in group) for group in by_id.values())

        c.start_controller(replace=0)
        c.wait_controller(0)


async def test_an_agent_whose_controller_is_down_keeps_trying_and_comes_up_with_it(clusters) -> None:  # type: ignore[no-untyped-def]
    """The failure policy (daemon.supervision) at work: a controller that is away is an I/O
    failure for the agent, retried with growing delays, never a reason to exit."""
    c = clusters("late")
    c.start_controller()
    c.wait_controller()
    assert c.controllers[0].stop() == 0  # its address stays the cluster's; nobody listens there
    agent = c.start_agent("host-late")
    retries = re.compile(r"loop\.retrying .*attempt=(\d+).*loop=uplink")
    deadline = time.monotonic() + 30
    while True:
        attempts = [int(m.group(1)) for m in retries.finditer(agent.log_tail(200))]
        if attempts and max(attempts) >= 4:
            break
        assert agent.running, agent.log_tail()
        assert time.monotonic() < deadline, agent.log_tail()
        await asyncio.sleep(0.2)
    assert attempts == list(range(1, len(attempts) + 1))  # one line per failure, counted
    c.start_controller(replace=0)
    c.wait_controller(0)
    c.wait_hosts_up(["host-late"])  # within its backoff's cap (5 s) of the controller's start
    assert agent.running


def _ends(events: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    return [e for e in events if e["eventType"] == "instance.create.end"]


async def test_commands_for_a_paused_agent_are_carried_out_when_it_returns(clusters) -> None:  # type: ignore[no-untyped-def]
    c = clusters("pause")
    c.start_controller()
    c.wait_controller()
    agent = c.start_agent("host-p")
    c.wait_hosts_up(["host-p"])
    async with AsyncClient(c.endpoint) as api, EventTap(c.amqp_url, c.bus_prefix) as tap:
        await _ensure_image(api)
        for n in ("keep", "drop"):
            await api.create_server(n, flavor="m1.tiny", image="cirros")
        for n in ("keep", "drop"):
            s = await api.wait_for_server(n, timeout=30)
            assert s is not None and s.vm_state == ACTIVE

        agent.pause()
        try:
            await tap.wait_for(lambda ev: any(e["eventType"] == "host.down" for e in ev), 15)
            assert (await api.get_host("host-p")).state == common_pb2.HOST_STATE_DOWN
            await api.stop_server("keep")
            await api.delete_server("drop")
            with pytest.raises(FailedPrecondition, match="DELETING"):
                await api.start_server("drop")
            assert (await api.get_server("keep")).task_state == common_pb2.TASK_STATE_POWERING_OFF
        finally:
            agent.resume()

        kept = await api.wait_for_server("keep", until={common_pb2.VM_STATE_STOPPED}, timeout=30)
        assert kept is not None and kept.vm_state == common_pb2.VM_STATE_STOPPED
        assert await api.wait_for_server("drop", timeout=30) is None
        await tap.wait_for(
            lambda ev: [e["eventType"] for e in ev if e["eventType"].startswith("host.")][-1:] == ["host.up"],
            15,
        )


async def test_a_restarted_test_driver_host_reports_its_servers_lost(clusters) -> None:  # type: ignore[no-untyped-def]
    """libvirt's test driver keeps domains in memory only: after its agent restarts they are
    gone, and reconciliation says so instead of showing them ACTIVE."""
    c = clusters("lost")
    c.start_controller()
    c.wait_controller()
    agent = c.start_agent("host-l")
    c.wait_hosts_up(["host-l"])
    async with AsyncClient(c.endpoint) as api, EventTap(c.amqp_url, c.bus_prefix) as tap:
        await _ensure_image(api)
        await api.create_server("ghost", flavor="m1.tiny", image="cirros")
        s = await api.wait_for_server("ghost", timeout=30)
        assert s is not None and s.vm_state == ACTIVE
        agent.stop()
        c.start_agent("host-l")
        await tap.wait_for(lambda ev: any(e["eventType"] == "instance.lost" for e in ev), 30)
        ghost = await api.get_server("ghost")
        assert ghost.vm_state == common_pb2.VM_STATE_ERROR
        assert "domain missing on host-l" in ghost.fault
        await api.delete_server("ghost")
        assert await api.wait_for_server("ghost", until=set(), timeout=30) is None


async def test_a_power_action_queued_while_its_host_lost_its_domains_marks_the_server_lost(clusters) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, defect 2: a start, stop or reboot queued for an agent that is killed and
    restarted on the test driver (its domains gone) used to end as "stop failed on …: no
    domain", the server left STOPPED or ACTIVE with no domain anywhere. Now it is lost, as an
    idle server is: ERROR, the fault saying why, an instance.lost event, its claim kept until
    it is deleted."""
    c = clusters("phantom")
    c.start_controller()
    c.wait_controller()
    agent = c.start_agent("host-ph")
    c.wait_hosts_up(["host-ph"])
    names = {"ph-stop": "stop", "ph-start": "start", "ph-reboot": "reboot"}
    async with AsyncClient(c.endpoint) as api, EventTap(c.amqp_url, c.bus_prefix) as tap:
        await _ensure_image(api)
        for n in names:
            await api.create_server(n, flavor="m1.tiny", image="cirros")
        for n in names:
            s = await api.wait_for_server(n, timeout=30)
            assert s is not None and s.vm_state == ACTIVE
        await api.stop_server("ph-start")
        stopped = await api.wait_for_server("ph-start", until={common_pb2.VM_STATE_STOPPED}, timeout=30)
        assert stopped is not None and stopped.vm_state == common_pb2.VM_STATE_STOPPED

        agent.kill()  # the test driver's domains die with it
        await api.stop_server("ph-stop")
        await api.start_server("ph-start")
        await api.reboot_server("ph-reboot")  # all three queued for the dead agent
        for n in names:
            assert (await api.get_server(n)).task_state != common_pb2.TASK_STATE_UNSPECIFIED

        restarted = c.start_agent("host-ph")

        def lost(ev: list[dict]) -> set[str]:  # type: ignore[type-arg]
            return {short(e["resource"]) for e in ev if e["eventType"] == "instance.lost"}

        await tap.wait_for(lambda ev: lost(ev) >= set(names), 30)
        for n in names:
            s = await api.get_server(n)
            assert s.vm_state == common_pb2.VM_STATE_ERROR, (n, s)
            assert s.task_state == common_pb2.TASK_STATE_UNSPECIFIED
            assert s.power_state == common_pb2.POWER_STATE_UNSPECIFIED
            assert s.fault.startswith("domain missing on host-ph"), s.fault
        host = await api.get_host("host-ph")
        assert host.servers == len(names)  # lost servers keep their claim until deleted

        # The queued commands still reach the agent: it says the domain is missing, distinctly,
        # and the controller, which already marked the servers lost, changes nothing.
        missing = re.compile(r"command\.executed .*failure=DOMAIN_MISSING")
        deadline = time.monotonic() + 30
        while len(missing.findall(restarted.log_tail(400))) < len(names):
            assert time.monotonic() < deadline, restarted.log_tail()
            await asyncio.sleep(0.2)
        for n in names:
            assert (await api.get_server(n)).vm_state == common_pb2.VM_STATE_ERROR
        assert await domains(c.agent_admin["host-ph"]) == {}

        for n in names:
            await api.delete_server(n)
        for n in names:
            assert await api.wait_for_server(n, until=set(), timeout=30) is None
        assert (await api.get_host("host-ph")).servers == 0


async def test_a_command_for_a_down_host_expires_and_its_agent_does_not_carry_it_out(clusters) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: a command queued for a DOWN host used to wait for ever. After
    --command-expiry it fails its server's task saying so; the agent, back, finds the command
    too old and leaves the server as the controller says it is."""
    c = clusters("expiry")
    c.start_controller("--command-expiry", "2")
    c.wait_controller()
    agent = c.start_agent("host-x")
    c.wait_hosts_up(["host-x"])
    async with AsyncClient(c.endpoint) as api, EventTap(c.amqp_url, c.bus_prefix) as tap:
        await _ensure_image(api)
        await api.create_server("waits", flavor="m1.tiny", image="cirros")
        s = await api.wait_for_server("waits", timeout=30)
        assert s is not None and s.vm_state == ACTIVE

        agent.pause()
        try:
            await tap.wait_for(lambda ev: any(e["eventType"] == "host.down" for e in ev), 15)
            await api.stop_server("waits")
            await tap.wait_for(lambda ev: any(e["eventType"] == "instance.power_off.error" for e in ev), 30)
            expired = await api.get_server("waits")
            assert expired.task_state == common_pb2.TASK_STATE_UNSPECIFIED
            assert expired.vm_state == ACTIVE  # a stop that did not happen leaves it as it was
            assert expired.fault.startswith("stop expired on host-x: host-x was DOWN"), expired.fault
            assert "commands expire after 2 s" in expired.fault
        finally:
            agent.resume()

        # The agent gets the stop now, too old: it does not carry it out.
        deadline = time.monotonic() + 30
        while "command.expired" not in agent.log_tail(200):
            assert time.monotonic() < deadline, agent.log_tail()
            await asyncio.sleep(0.2)
        assert "failure=EXPIRED" in agent.log_tail(200)
        uid = (await api.get_server("waits")).uid
        assert (await domains(c.agent_admin["host-x"]))[uid] == "RUNNING"
        after = await api.get_server("waits")
        assert (after.vm_state, after.power_state) == (ACTIVE, common_pb2.POWER_STATE_RUNNING)
        assert not any(e["eventType"] == "instance.power_off.end" for e in tap.events)

        # The host is back: a stop now is carried out.
        c.wait_hosts_up(["host-x"])
        await api.stop_server("waits")
        stopped = await api.wait_for_server("waits", until={common_pb2.VM_STATE_STOPPED}, timeout=30)
        assert stopped is not None and stopped.vm_state == common_pb2.VM_STATE_STOPPED
        await api.delete_server("waits")
        assert await api.wait_for_server("waits", until=set(), timeout=30) is None
