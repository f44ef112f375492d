"""The whole agent: in-process with a fake controller and the real RabbitMQ, and as a process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import aio_pika
import grpc
import pytest
from agent_testkit import AMQP_URL, FakeGateway, body, wait_for

from agent.app import run
from agent.hypervisor.testdriver import uri_for
from agent.settings import AgentSettings
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc
from overcast.v1 import common_pb2

SRC = str(Path(__file__).resolve().parents[3] / "src")


async def list_domains(port: int) -> agent_pb2.ListDomainsResponse:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = agent_pb2_grpc.AgentAdminStub(channel)
        response: agent_pb2.ListDomainsResponse = await stub.ListDomains(
            agent_pb2.ListDomainsRequest(), timeout=5
        )
        return response


async def test_agent_runs_a_command_end_to_end(
    gateway: FakeGateway, node_file: Path, bus_prefix: str, unused_tcp_port: int
) -> None:
    try:
        amqp = await aio_pika.connect(AMQP_URL, timeout=3)
    except Exception as exc:  # pragma: no cover - depends on the machine
        # The suite uses the real broker (make test checks it first): a skip would hide failures.
        pytest.fail(f"RabbitMQ not reachable at {AMQP_URL}: {exc!r} (is it running?)")
    host_id = f"host-{uuid.uuid4().hex[:6]}"
    settings = AgentSettings.load(
        [
            "--host-id",
            host_id,
            "--controller",
            f"127.0.0.1:{gateway.port}",
            "--amqp-url",
            AMQP_URL,
            "--bus-prefix",
            bus_prefix,
            "--libvirt-uri",
            uri_for(node_file),
            "--admin-listen",
            f"127.0.0.1:{unused_tcp_port}",
            "--heartbeat-interval",
            "0.1",
            "--stop-timeout",
            "0.5",
        ],
        env={},
    )
    stop = asyncio.Event()
    agent = asyncio.create_task(run(settings, stop=stop))
    channel = await amqp.channel()
    try:
        # Declared exactly as the agent (and the controller) declare them.
        exchange = await channel.declare_exchange(
            f"{bus_prefix}.commands", aio_pika.ExchangeType.DIRECT, durable=True
        )
        queue = await channel.declare_queue(
            f"{bus_prefix}.host.{host_id}", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key=host_id)
        await wait_for(lambda: bool(gateway.of_kind("register")), within=10)

        uid = str(uuid.uuid4())
        await exchange.publish(
            aio_pika.Message(body(agent_pb2.COMMAND_OP_SPAWN, uid, "cmd-1"), content_type="application/json"),
            routing_key=host_id,
        )
        await wait_for(lambda: bool(gateway.of_kind("report")), within=10)
        report = gateway.of_kind("report")[0].report
        assert (report.command_id, report.ok, report.power_state) == (
            "cmd-1",
            True,
            common_pb2.POWER_STATE_RUNNING,
        )
        listing = await list_domains(unused_tcp_port)
        assert listing.hypervisor_uri == uri_for(node_file)
        assert [(d.uuid, d.name, d.power_state, d.vcpus, d.memory_mib) for d in listing.domains] == [
            (uid, f"oc-{uid}", common_pb2.POWER_STATE_RUNNING, 1, 256)
        ]
        # The libvirt lifecycle events of the spawn reach the controller too.
        await wait_for(lambda: bool(gateway.of_kind("domain_event")), within=5)
        await wait_for(lambda: bool(gateway.of_kind("heartbeat")), within=5)
    finally:
        stop.set()
        assert await asyncio.wait_for(agent, 20) == 0
        try:
            depth = await channel.declare_queue(f"{bus_prefix}.host.{host_id}", passive=True)
            assert depth.declaration_result.message_count == 0
        finally:
            await channel.queue_delete(f"{bus_prefix}.host.{host_id}")
            await channel.exchange_delete(f"{bus_prefix}.commands")
            await amqp.close()


async def _agent_process(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent",
        *args,
        env={**os.environ, "PYTHONPATH": SRC},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_bad_flags_exit_2_without_traceback() -> None:
    proc = await _agent_process("--disk-gib", "lots")
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"--disk-gib" in err
    assert b"Traceback" not in err


async def test_unopenable_libvirt_uri_exits_1_with_a_clear_message() -> None:
    proc = await _agent_process("--libvirt-uri", "test:///no/such/host.xml", "--log-format", "json")
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert b"agent.libvirt_unavailable" in err
    assert b"Traceback" not in err


async def test_sigterm_stops_the_agent_cleanly(node_file: Path, unused_tcp_port: int) -> None:
    # No controller and no broker: the agent keeps retrying until told to stop.
    proc = await _agent_process(
        "--libvirt-uri",
        uri_for(node_file),
        "--controller",
        f"127.0.0.1:{unused_tcp_port}",
        "--amqp-url",
        "amqp://guest:guest@127.0.0.1:1/",
        "--log-format",
        "json",
    )
    assert proc.stderr is not None
    line = b""
    while not (b'"loop.retrying"' in line and b'"loop": "uplink"' in line):
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, "agent exited early"
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert b"agent.stopped" in err


async def test_admin_address_in_use_exits_1(node_file: Path) -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        proc = await _agent_process(
            "--libvirt-uri", uri_for(node_file), "--admin-listen", f"127.0.0.1:{port}"
        )
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        blocker.close()
        await blocker.wait_closed()
    assert proc.returncode == 1, err
    assert b"agent.admin_unavailable" in err
    assert b"Traceback" not in err
