"""A server's serial console log, read from its host through the agent's stream.

The agent that hosts the server must be connected to this controller: the relay sends it a
query over that stream and waits for the reply with the same request id. Agents connected to
another replica are not reachable from here (the caller is told so and may retry elsewhere).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from controller.domain import names
from controller.domain.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    Unavailable,
)
from controller.services.ports import InstanceStore

REPLY_TIMEOUT_S = 10.0
MAX_TAIL_LINES = 100_000
# The reply goes to clients whose default receive limit is 4 MiB: keep well below.
MAX_TEXT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ConsoleQuery:
    request_id: str
    instance_uid: UUID
    tail_lines: int


@dataclass(frozen=True)
class ConsoleLog:
    text: str
    truncated: bool = False


@dataclass(frozen=True)
class ConsoleReply:
    request_id: str
    text: str
    truncated: bool
    error: str


Send = Callable[[ConsoleQuery], None]


class ConsoleRelay:
    """The agent streams connected to this controller, and the queries awaiting a reply."""

    def __init__(self, timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s
        self._streams: dict[str, tuple[object, Send]] = {}
        self._waiting: dict[str, tuple[object, asyncio.Future[ConsoleReply]]] = {}

    def attach(self, host_id: str, send: Send) -> object:
        """An agent stream opened; returns the token that detaches it (a newer stream of the
        same host replaces an older one that has not closed yet)."""
        token = object()
        self._streams[host_id] = (token, send)
        return token

    def detach(self, host_id: str, token: object) -> None:
        """The stream closed: queries sent on it will never be answered."""
        current = self._streams.get(host_id)
        if current is not None and current[0] is token:
            del self._streams[host_id]
        for request_id, (sent_on, future) in list(self._waiting.items()):
            if sent_on is token:
                del self._waiting[request_id]
                if not future.done():
                    future.set_exception(
                        Unavailable(f"the agent of hosts/{host_id} disconnected before it answered: retry")
                    )

    def connected(self, host_id: str) -> bool:
        return host_id in self._streams

    def reply(self, reply: ConsoleReply) -> None:
        waiting = self._waiting.pop(reply.request_id, None)
        if waiting is not None and not waiting[1].done():
            waiting[1].set_result(reply)

    async def query(self, host_id: str, instance_uid: UUID, tail_lines: int) -> ConsoleReply:
        stream = self._streams.get(host_id)
        if stream is None:
            raise Unavailable(
                f"the agent of hosts/{host_id} is not connected to this controller "
                "(it may be down, or connected to another controller replica): retry later"
            )
        request_id = uuid.uuid4().hex
        future: asyncio.Future[ConsoleReply] = asyncio.get_running_loop().create_future()
        token, send = stream
        self._waiting[request_id] = (token, future)
        try:
            send(ConsoleQuery(request_id, instance_uid, tail_lines))
            async with asyncio.timeout(self._timeout_s):
                return await future
        except TimeoutError as exc:
            raise DeadlineExceeded(
                f"the agent of hosts/{host_id} did not send the console log within "
                f"{self._timeout_s:g} s: retry"
            ) from exc
        finally:
            self._waiting.pop(request_id, None)


class ConsoleService:
    def __init__(self, instances: InstanceStore, relay: ConsoleRelay) -> None:
        self._instances = instances
        self._relay = relay

    async def get_console_log(self, name: str, tail_lines: int) -> ConsoleLog:
        project, server_id = names.parse_server(name)
        if not 0 <= tail_lines <= MAX_TAIL_LINES:
            raise InvalidArgument.single(
                "tail_lines", f"must be between 0 (everything kept) and {MAX_TAIL_LINES}, got {tail_lines}"
            )
        inst = await self._instances.get(project, server_id)
        if inst.host_id is None:
            raise FailedPrecondition(
                f"{inst.name} is not on a host yet ({inst.vm_state.value}): it has no console",
                reason="SERVER_NOT_PLACED",
            )
        reply = await self._relay.query(inst.host_id, inst.uid, tail_lines)
        if reply.error:
            raise FailedPrecondition(
                f"hosts/{inst.host_id} cannot read the console of {inst.name}: {reply.error}",
                reason="CONSOLE_LOG_UNAVAILABLE",
            )
        return _bounded(reply.text, reply.truncated)


def _bounded(text: str, truncated: bool) -> ConsoleLog:
    """Keep the end of an over-long log (the latest lines are the ones people look for)."""
    data = text.encode()
    if len(data) <= MAX_TEXT_BYTES:
        return ConsoleLog(text, truncated)
    tail = data[-MAX_TEXT_BYTES:].decode(errors="ignore")
    return ConsoleLog(tail.partition("\n")[2] or tail, truncated=True)
