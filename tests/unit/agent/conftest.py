"""Fixtures for agent unit tests: real libvirt test driver, a fake AgentGateway, RabbitMQ."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.hypervisor.testdriver import uri_for, write_node_file
from overcast.v1 import agent_pb2, agent_pb2_grpc

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until predicate() is true (for state owned by other tasks or processes)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
async def no_leftovers() -> AsyncIterator[None]:
    """Every test must leave no task and no libvirt worker thread behind."""
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()

    def leftovers() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]

    for _ in range(100):
        if not leftovers():
            break
        await asyncio.sleep(0.01)
    assert not leftovers(), f"tasks left behind: {leftovers()}"
    threads = [t.name for t in threading.enumerate() if t.name.startswith("libvirt")]
    assert not threads, f"libvirt threads left behind: {threads}"


@pytest.fixture
def node_file(tmp_path: Path) -> Path:
    return write_node_file(tmp_path / "host-1.xml", cpus=32, memory_gib=64)


@pytest.fixture
async def hypervisor(node_file: Path) -> AsyncIterator[LibvirtHypervisor]:
    hv = await LibvirtHypervisor.open(uri_for(node_file), stop_timeout=0.5, stop_poll_interval=0.05)
    try:
        yield hv
    finally:
        await hv.close()


@pytest.fixture
def new_uid() -> Callable[[], str]:
    return lambda: str(uuid.uuid4())


class FakeGateway(agent_pb2_grpc.AgentGatewayServicer):  # type: ignore[misc]
    """A controller stand-in: answers Register, records everything, accepts reports on demand."""

    def __init__(self, *, accepting: bool = True, heartbeat_interval_ms: int = 0) -> None:
        self.accepting = accepting
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.messages: list[agent_pb2.AgentMessage] = []
        self.streams = 0
        self._server: grpc.aio.Server | None = None
        self.port = 0

    def of_kind(self, kind: str) -> list[agent_pb2.AgentMessage]:
        return [m for m in self.messages if m.WhichOneof("kind") == kind]

    async def Connect(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:
        first = await context.read()
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "register":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "Register first")
        self.messages.append(first)
        self.streams += 1
        await context.write(
            agent_pb2.ControllerMessage(
                registered=agent_pb2.Registered(
                    controller_id="fake", heartbeat_interval_ms=self.heartbeat_interval_ms
                )
            )
        )
        while True:
            message = await context.read()
            if message is grpc.aio.EOF:
                return
            self.messages.append(message)
            if message.WhichOneof("kind") == "report" and self.accepting:
                await context.write(
                    agent_pb2.ControllerMessage(
                        accepted=agent_pb2.ReportAccepted(seq=message.seq)
                    )
                )

    async def start(self, port: int = 0) -> int:
        self._server = grpc.aio.server()
        agent_pb2_grpc.add_AgentGatewayServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        await self._server.start()
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    fake = FakeGateway()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def bus_prefix() -> str:
    return f"test-agent-{uuid.uuid4().hex[:10]}"
