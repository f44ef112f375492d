"""How an agent's stream ends when the controller cannot do its part: the database or the
broker away is UNAVAILABLE naming it (the agent reconnects and reports again), a bug is
INTERNAL; either way one log line says how the stream ended, and never UNKNOWN."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiormq.exceptions
import asyncpg
import grpc
import pytest
from grpc._cython import cygrpc
from structlog.testing import capture_logs

from controller.api.agents import AgentGatewayApi
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc
from overcast.v1 import common_pb2


class Hosts:
    """The host service as the gateway uses it: registers, hears heartbeats, nothing fails."""

    heartbeat_interval_s = 1.0

    def on_interval_change(self, announce: Any) -> None:
        return None

    async def register(self, inv: Any, domains: Any, generations: Any = None) -> None:
        return None

    def heartbeat(self, host_id: str, sent_at: float = 0.0) -> None:
        return None

    def connected(self, host_id: str) -> None:
        return None

    def disconnected(self, host_id: str) -> None:
        return None


class Servers:
    """Fails `times` times with `failure` (None: every time), then applies."""

    def __init__(self, failure: BaseException, times: int | None = None) -> None:
        self.failure = failure
        self.times = times
        self.applied: list[Any] = []

    async def apply_result(self, host_id: str, result: Any) -> None:
        if self.times is None or self.times > 0:
            if self.times is not None:
                self.times -= 1
            raise self.failure
        self.applied.append(result)


async def no_queue(host_id: str) -> None:
    return None


@pytest.fixture
async def gateway() -> AsyncIterator[Callable[..., Any]]:
    servers: list[grpc.aio.Server] = []

    async def start(
        failure: BaseException, ensure_host_queue: Any = no_queue, times: int | None = None
    ) -> str:
        api = AgentGatewayApi(
            Hosts(),  # type: ignore[arg-type]
            Servers(failure, times),  # type: ignore[arg-type]
            "controller-1",
            ensure_host_queue,
            outage_retries_s=(0.01, 0.02, 0.04),
        )
        server = grpc.aio.server()
        agent_pb2_grpc.add_AgentGatewayServicer_to_server(api, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for s in servers:
        await s.stop(None)


REGISTER = agent_pb2.AgentMessage(
    seq=1,
    register=agent_pb2.Register(
        inventory=agent_pb2.HostInventory(host_id="host-1", vcpus=4, memory_mib=4096, disk_gib=10)
    ),
)
REPORT = agent_pb2.AgentMessage(
    seq=2,
    report=agent_pb2.CommandReport(
        command_id=str(uuid.uuid4()),
        op=agent_pb2.COMMAND_OP_SPAWN,
        instance_uid=str(uuid.uuid4()),
        ok=True,
        power_state=common_pb2.POWER_STATE_RUNNING,
    ),
)


async def stream_end(endpoint: str, *, report: bool = True) -> grpc.aio.AioRpcError:
    """Register, send one report, and return the status the stream ended with."""
    async with grpc.aio.insecure_channel(endpoint) as ch:
        call = agent_pb2_grpc.AgentGatewayStub(ch).Connect(timeout=10)
        await call.write(REGISTER)
        try:
            await call.read()  # Registered
            if report:
                await call.write(REPORT)
            while True:
                await call.read()
        except grpc.aio.AioRpcError as err:
            return err
        finally:
            call.cancel()


async def test_a_database_outage_while_applying_a_report_ends_the_stream_unavailable(
    gateway: Callable[..., Any],
) -> None:
    endpoint = await gateway(asyncpg.exceptions.AdminShutdownError("terminating connection"))
    with capture_logs() as logs:
        err = await stream_end(endpoint)
        await asyncio.sleep(0.1)  # the handler's last line
    assert err.code() is grpc.StatusCode.UNAVAILABLE
    assert "the database (PostgreSQL) is unreachable" in err.details()
    assert "ExceptionGroup" not in err.details()
    ends = [e for e in logs if e["event"] == "agent.disconnected"]
    assert len(ends) == 1 and ends[0]["host"] == "host-1"
    assert ends[0]["status"].startswith("UNAVAILABLE: ")


async def test_a_broker_outage_during_registration_ends_the_stream_unavailable(
    gateway: Callable[..., Any],
) -> None:
    async def broker_down(host_id: str) -> None:
        raise aiormq.exceptions.AMQPConnectionError("connection refused")

    endpoint = await gateway(RuntimeError("unused"), ensure_host_queue=broker_down)
    err = await stream_end(endpoint, report=False)
    assert err.code() is grpc.StatusCode.UNAVAILABLE
    assert "the message broker (RabbitMQ) is unreachable" in err.details()


async def test_a_bug_while_applying_a_report_ends_the_stream_internal_logged(
    gateway: Callable[..., Any],
) -> None:
    endpoint = await gateway(AttributeError("'NoneType' object has no attribute 'host_id'"))
    with capture_logs() as logs:
        err = await stream_end(endpoint)
        await asyncio.sleep(0.1)
    assert err.code() is grpc.StatusCode.INTERNAL
    (bug,) = [e for e in logs if e["event"] == "api.bug"]
    assert bug["method"] == "AgentGateway.Connect" and bug["host"] == "host-1"
    assert f"error_id={bug['error_id']}" in err.details()


async def test_a_database_restart_shorter_than_the_retries_keeps_the_stream(
    gateway: Callable[..., Any],
) -> None:
    """Two failures, then the database is back: the report is applied and accepted on the same
    stream, which stays open."""
    endpoint = await gateway(asyncpg.CannotConnectNowError("the database system is starting up"), times=2)
    async with grpc.aio.insecure_channel(endpoint) as ch:
        call = agent_pb2_grpc.AgentGatewayStub(ch).Connect(timeout=10)
        await call.write(REGISTER)
        await call.read()  # Registered
        await call.write(REPORT)
        reply = await asyncio.wait_for(call.read(), 5)
        assert reply.accepted.seq == REPORT.seq
        await call.done_writing()
        assert await call.read() is grpc.aio.EOF  # closed by us, not by the controller
        assert await call.code() is grpc.StatusCode.OK


async def test_an_agent_that_gives_up_before_its_register_is_read_is_no_bug(
    gateway: Callable[..., Any],
) -> None:
    """An agent whose registration the controller was too busy to read gives up and cancels
    its stream: the controller then reads the end of the stream, where its Register was. There
    is no one left to answer, and nothing went wrong in the controller (before, the answer to
    a stream gone logged api.bug, a traceback per agent while a busy controller's fleet came up)."""
    endpoint = await gateway(RuntimeError("unused"))
    with capture_logs() as logs:
        async with grpc.aio.insecure_channel(endpoint) as ch:
            call = agent_pb2_grpc.AgentGatewayStub(ch).Connect(timeout=10)
            await asyncio.sleep(0.3)  # the handler waits for the first message
            call.cancel()
        await asyncio.sleep(0.3)
    assert [e for e in logs if e["event"] == "api.bug"] == []


class GoneStream:
    """A stream whose agent left while the controller registered it: gRPC fails every batch
    on it (ExecuteBatchError), as the write of Registered met on a busy controller."""

    def __init__(self, first: agent_pb2.AgentMessage) -> None:
        self.first = first

    async def read(self) -> agent_pb2.AgentMessage:
        return self.first

    async def write(self, message: Any) -> None:
        raise cygrpc.ExecuteBatchError("Failed execute_batch")

    async def abort(self, *args: Any) -> None:
        raise cygrpc.ExecuteBatchError("Failed execute_batch")

    async def abort_with_status(self, status: Any) -> None:
        raise cygrpc.ExecuteBatchError("Failed execute_batch")


async def test_an_agent_that_gives_up_while_it_is_registered_is_no_bug() -> None:
    api = AgentGatewayApi(
        Hosts(),  # type: ignore[arg-type]
        Servers(RuntimeError("unused")),  # type: ignore[arg-type]
        "controller-1",
        no_queue,
    )
    with capture_logs() as logs:
        await api.Connect(None, GoneStream(REGISTER))  # type: ignore[arg-type]
    assert [e for e in logs if e["event"] == "api.bug"] == []
    ends = [e for e in logs if e["event"] == "agent.disconnected"]
    assert [(e["host"], e["status"]) for e in ends] == [("host-1", "gone: the agent left or its link broke")]
