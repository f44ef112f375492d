"""Helpers shared by the agent tests (a uniquely named module: "conftest" is ambiguous
when several test folders have one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
from google.protobuf import json_format

from agent.model import CommandResult
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def wait_for(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll until predicate() is true (for state owned by other tasks or processes)."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class FakeGateway(agent_pb2_grpc.AgentGatewayServicer):  # type: ignore[misc]
    """A controller stand-in: answers Register, records everything, accepts reports on demand."""

    def __init__(
        self,
        *,
        accepting: bool = True,
        heartbeat_interval_ms: int = 0,
        command_expiry_ms: int = 0,
        end_after: int | None = None,
        register_delay_s: float = 0.0,
    ) -> None:
        self.accepting = accepting
        self.register_delay_s = register_delay_s  # before Registered is written (a busy controller)
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.command_expiry_ms = command_expiry_ms
        self.end_after = end_after  # messages after Register, then UNAVAILABLE (its database away)
        self.messages: list[agent_pb2.AgentMessage] = []
        self.streams = 0
        self._open: list[grpc.aio.ServicerContext] = []  # streams, to announce an interval on
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
        await asyncio.sleep(self.register_delay_s)
        await context.write(
            agent_pb2.ControllerMessage(
                registered=agent_pb2.Registered(
                    controller_id="fake",
                    heartbeat_interval_ms=self.heartbeat_interval_ms,
                    command_expiry_ms=self.command_expiry_ms,
                )
            )
        )
        received = 0
        self._open.append(context)
        while True:
            message = await context.read()
            if message is grpc.aio.EOF:
                self._open.remove(context)
                return
            self.messages.append(message)
            received += 1
            if self.end_after is not None and received >= self.end_after:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "the database (PostgreSQL) is unreachable")
            if message.WhichOneof("kind") == "report" and self.accepting:
                await context.write(
                    agent_pb2.ControllerMessage(accepted=agent_pb2.ReportAccepted(seq=message.seq))
                )

    async def announce_interval(self, heartbeat_interval_ms: int) -> None:
        """A new heartbeat interval on every open stream, as the controller sends one when its
        fleet grows."""
        self.heartbeat_interval_ms = heartbeat_interval_ms
        message = agent_pb2.ControllerMessage(
            registered=agent_pb2.Registered(controller_id="fake", heartbeat_interval_ms=heartbeat_interval_ms)
        )
        for context in list(self._open):
            await context.write(message)

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


def body(op: int, uid: str, command_id: str, **extra: object) -> bytes:
    command = agent_pb2.AgentCommand(
        command_id=command_id,
        op=op,  # type: ignore[arg-type]
        instance_uid=uid,
        instance_name="projects/p/servers/s",
        vcpus=1,
        memory_mib=256,
        **extra,  # type: ignore[arg-type]
    )
    return json_format.MessageToJson(command).encode()


class RecordingSink:
    """Accepts every report (optionally after a gate opens) and records the order."""

    def __init__(self) -> None:
        self.results: list[CommandResult] = []
        self.events: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def deliver(self, result: CommandResult) -> None:
        await self.gate.wait()
        self.results.append(result)
        self.events.append(f"accepted:{result.command_id}")


class Settlements:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def ack(self, command_id: str) -> Callable[[], asyncio.Future[None]]:
        async def ack() -> None:
            self.events.append(f"ack:{command_id}")

        return ack  # type: ignore[return-value]

    def reject(self, tag: str) -> Callable[[], asyncio.Future[None]]:
        async def reject() -> None:
            self.events.append(f"reject:{tag}")

        return reject  # type: ignore[return-value]
