"""The uplink against an in-test fake AgentGateway: register, heartbeat, reports, reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from agent_testkit import FakeGateway, wait_for
from structlog.testing import capture_logs

from agent import uplink as uplink_module
from agent.hypervisor.base import DomainChange, DomainSpec, PowerState
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.model import CommandResult, Op
from agent.uplink import Uplink
from daemon.supervision import Backoff
from overcast.agent.v1 import agent_pb2
from overcast.v1 import common_pb2

NewUid = Callable[[], str]
FAST = Backoff(initial=0.05, maximum=0.2)


def result(command_id: str, uid: str = "") -> CommandResult:
    return CommandResult(command_id, Op.SPAWN, uid, True, "", PowerState.RUNNING)


@pytest.fixture
async def uplink_for(
    hypervisor: LibvirtHypervisor,
) -> AsyncIterator[Callable[[int], Uplink]]:
    tasks: list[tuple[Uplink, asyncio.Task[None]]] = []

    def make(port: int, heartbeat_interval: float = 0.05) -> Uplink:
        uplink = Uplink(
            target=f"127.0.0.1:{port}",
            host_id="host-1",
            availability_zone="az9",
            disk_gib=500,
            hypervisor=hypervisor,
            heartbeat_interval=heartbeat_interval,
            backoff=FAST,
        )
        tasks.append((uplink, asyncio.create_task(uplink.run())))
        return uplink

    yield make
    for uplink, task in tasks:
        await uplink.close()
        assert task.done()


async def test_register_carries_inventory_and_managed_domains(
    gateway: FakeGateway,
    hypervisor: LibvirtHypervisor,
    uplink_for: Callable[[int], Uplink],
    new_uid: NewUid,
) -> None:
    uid = new_uid()
    await hypervisor.spawn(DomainSpec(uid, "projects/p/servers/s", 1, 128))
    uplink = uplink_for(gateway.port)
    await asyncio.wait_for(uplink.registered.wait(), 5)
    register = gateway.of_kind("register")[0]
    inventory = register.register.inventory
    assert inventory.host_id == "host-1"
    assert inventory.availability_zone == "az9"
    assert (inventory.vcpus, inventory.memory_mib, inventory.disk_gib) == (32, 65536, 500)
    assert (inventory.arch, inventory.hypervisor_type) == ("x86_64", "test")
    assert inventory.hypervisor_uri == hypervisor.uri
    assert list(register.register.domains) == [
        agent_pb2.DomainStatus(instance_uid=uid, power_state=common_pb2.POWER_STATE_RUNNING)
    ]
    assert register.register.agent_version
    assert uplink.controller_id == "fake"
    # Heartbeats follow, with increasing seqs.
    await wait_for(lambda: len(gateway.of_kind("heartbeat")) >= 3)
    seqs = [m.seq for m in gateway.messages]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)


async def test_controller_heartbeat_interval_overrides_the_setting(
    hypervisor: LibvirtHypervisor, uplink_for: Callable[..., Uplink]
) -> None:
    fake = FakeGateway(heartbeat_interval_ms=20)
    port = await fake.start()
    try:
        uplink_for(port, heartbeat_interval=30.0)
        await wait_for(lambda: len(fake.of_kind("heartbeat")) >= 3, within=2)
    finally:
        await fake.stop()


async def test_the_controller_says_how_long_commands_may_wait(
    hypervisor: LibvirtHypervisor, uplink_for: Callable[..., Uplink]
) -> None:
    fake = FakeGateway(command_expiry_ms=90_500)
    port = await fake.start()
    try:
        uplink = uplink_for(port)
        assert uplink.command_expiry_s == 0  # until a controller says otherwise: no limit
        await asyncio.wait_for(uplink.registered.wait(), 5)
        assert uplink.command_expiry_s == 90.5
    finally:
        await fake.stop()


async def test_a_new_interval_announced_on_an_open_stream_is_taken(
    hypervisor: LibvirtHypervisor, uplink_for: Callable[..., Uplink]
) -> None:
    fake = FakeGateway(heartbeat_interval_ms=1000)
    port = await fake.start()
    try:
        uplink = uplink_for(port, heartbeat_interval=0.02)
        await asyncio.wait_for(uplink.registered.wait(), 5)
        await asyncio.sleep(0.5)
        assert fake.of_kind("heartbeat") == []  # a second apart, as the controller said
        await fake.announce_interval(20)  # taken after the beat under way
        await wait_for(lambda: len(fake.of_kind("heartbeat")) >= 10, within=3)
        assert fake.streams == 1  # on the same stream
    finally:
        await fake.stop()


async def test_deliver_returns_when_accepted(
    gateway: FakeGateway, uplink_for: Callable[[int], Uplink]
) -> None:
    uplink = uplink_for(gateway.port)
    await asyncio.wait_for(uplink.deliver(result("c1", "u1")), 5)
    (report,) = gateway.of_kind("report")
    assert report.report == agent_pb2.CommandReport(
        command_id="c1",
        op=agent_pb2.COMMAND_OP_SPAWN,
        instance_uid="u1",
        ok=True,
        power_state=common_pb2.POWER_STATE_RUNNING,
    )
    assert uplink.pending_reports == 0


async def test_domain_events_are_sent_when_connected_and_dropped_otherwise(
    gateway: FakeGateway, uplink_for: Callable[[int], Uplink]
) -> None:
    uplink = uplink_for(gateway.port)
    await asyncio.wait_for(uplink.registered.wait(), 5)
    assert uplink.publish_change(DomainChange("u1", PowerState.MISSING, gone=True))
    await wait_for(lambda: len(gateway.of_kind("domain_event")) == 1)
    event = gateway.of_kind("domain_event")[0].domain_event
    assert (event.domain.instance_uid, event.domain.power_state, event.gone) == (
        "u1",
        common_pb2.POWER_STATE_UNSPECIFIED,
        True,
    )
    await gateway.stop()
    await wait_for(lambda: not uplink.connected)
    assert not uplink.publish_change(DomainChange("u1", PowerState.RUNNING, gone=False))


async def test_reports_survive_a_controller_restart_and_are_resent(
    hypervisor: LibvirtHypervisor, uplink_for: Callable[[int], Uplink]
) -> None:
    first = FakeGateway(accepting=False)
    port = await first.start()
    uplink = uplink_for(port)
    await asyncio.wait_for(uplink.registered.wait(), 5)
    delivery = asyncio.create_task(uplink.deliver(result("c1", "u1")))
    await wait_for(lambda: len(first.of_kind("report")) == 1)
    await asyncio.sleep(0.1)
    assert not delivery.done(), "delivered without ReportAccepted"

    await first.stop()
    await wait_for(lambda: not uplink.connected)
    # A report made while disconnected waits too.
    queued = asyncio.create_task(uplink.deliver(result("c2", "u2")))
    await asyncio.sleep(0.3)
    assert not delivery.done() and not queued.done()

    second = FakeGateway(accepting=True)
    await second.start(port)
    try:
        await asyncio.wait_for(asyncio.gather(delivery, queued), 10)
        kinds = [m.WhichOneof("kind") for m in second.messages]
        assert kinds[0] == "register"
        reports = second.of_kind("report")
        assert [r.report.command_id for r in reports] == ["c1", "c2"]
        assert reports[0].seq > second.messages[0].seq
        assert uplink.pending_reports == 0
        assert uplink.sessions == 2
    finally:
        await second.stop()


async def test_agent_waits_for_a_controller_that_is_not_up_yet(
    hypervisor: LibvirtHypervisor, uplink_for: Callable[[int], Uplink], unused_tcp_port: int
) -> None:
    uplink = uplink_for(unused_tcp_port)
    delivery = asyncio.create_task(uplink.deliver(result("c1")))
    await asyncio.sleep(0.3)
    assert not uplink.registered.is_set()
    late = FakeGateway()
    await late.start(unused_tcp_port)
    try:
        await asyncio.wait_for(delivery, 10)
        assert uplink.registered.is_set()
    finally:
        await late.stop()


async def test_cancelled_delivery_is_not_resent(
    hypervisor: LibvirtHypervisor, uplink_for: Callable[[int], Uplink], unused_tcp_port: int
) -> None:
    uplink = uplink_for(unused_tcp_port)
    delivery = asyncio.create_task(uplink.deliver(result("c1")))
    await asyncio.sleep(0.05)
    delivery.cancel()
    await asyncio.gather(delivery, return_exceptions=True)
    assert uplink.pending_reports == 0


async def test_fails_over_between_controller_replicas(
    gateway: FakeGateway, hypervisor: LibvirtHypervisor, unused_tcp_port: int
) -> None:
    uplink = Uplink(
        target=f"127.0.0.1:{unused_tcp_port}, 127.0.0.1:{gateway.port}",
        host_id="host-1",
        availability_zone="az1",
        disk_gib=1,
        hypervisor=hypervisor,
        heartbeat_interval=1.0,
        backoff=FAST,
    )
    task = asyncio.create_task(uplink.run())
    try:
        await asyncio.wait_for(uplink.deliver(result("c1")), 10)
        assert uplink.target == f"127.0.0.1:{gateway.port}"
    finally:
        await uplink.close()
    assert task.done()


async def test_a_stream_the_controller_ends_unavailable_while_the_agent_writes_is_reconnected(
    uplink_for: Callable[..., Uplink],
) -> None:
    """The controller ends the stream (its database went away) while heartbeats are being
    written: a write then fails with "RPC already finished" rather than the status, and the
    agent must take it as the stream's end and reconnect, not exit (issue 14)."""
    fake = FakeGateway(heartbeat_interval_ms=1, end_after=2)
    port = await fake.start()
    try:
        uplink = uplink_for(port, heartbeat_interval=0.001)
        await wait_for(lambda: uplink.sessions >= 30, within=20)  # a crashed uplink stops at 1
    finally:
        await fake.stop()


async def test_an_agent_waits_longer_for_a_controller_slow_to_answer_its_registration(
    hypervisor: LibvirtHypervisor, uplink_for: Callable[..., Uplink], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each wait for Registered that runs out makes the next one longer, so that an agent does
    not register again and again with a controller that is busy doing its registration."""
    monkeypatch.setattr(uplink_module, "_REGISTER_TIMEOUTS_S", (0.3, 0.6, 5.0))
    fake = FakeGateway(register_delay_s=1.0)
    port = await fake.start()
    try:
        with capture_logs() as logs:
            uplink = uplink_for(port)
            await asyncio.wait_for(uplink.registered.wait(), 10)
        assert fake.streams == 3
        errors = [e["error"] for e in logs if e["event"] == "loop.retrying"]
        assert [e.split(" (")[0] for e in errors] == [
            "SessionError: no Registered from the controller in 0.3 s",
            "SessionError: no Registered from the controller in 0.6 s",
        ]
    finally:
        await fake.stop()
