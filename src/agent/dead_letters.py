"""Commands the agent cannot read go to the dead-letter queue, not away.

A message on a host's command queue that is not a command (another content type than
proto3 JSON, decision 0001; not JSON; JSON that is not an AgentCommand) can never be carried
out, and retrying it would block nothing but waste a delivery each time. It is copied to
`<prefix>.dead-letter` (`daemon.bus_topology`) with the reason and where it came from in
its headers, then acknowledged, and the consumer goes on with the next message: one bad
message costs itself, never the consumer.

The agent publishes the copy itself rather than rejecting into a dead-letter exchange set on
the host queue (`x-dead-letter-exchange`): that argument cannot be added to queues that
already exist (RabbitMQ refuses the new declaration with PRECONDITION_FAILED), and a policy
needs an operator. The copy is confirmed by the broker before the original is acknowledged:
a crash between the two leaves a duplicate in the dead-letter queue, never a loss.
"""

from __future__ import annotations

import datetime
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

from daemon.bus_topology import Topology, declare_dead_letters

log = structlog.get_logger("agent.commands")

CONTENT_TYPE = "application/json"  # decision 0001: canonical proto3 JSON on the bus
REASON = "x-overcast-reason"
QUEUE = "x-overcast-queue"
HOST = "x-overcast-host"
AT = "x-overcast-dead-lettered-at"


def envelope_problem(message: AbstractIncomingMessage) -> str | None:
    """What makes `message` no command before its body is read, or None."""
    content_type = (message.content_type or "").split(";", 1)[0].strip().lower()
    if not content_type:
        return f"no content_type: commands are {CONTENT_TYPE} (proto3 JSON of overcast.agent.v1.AgentCommand)"
    if content_type != CONTENT_TYPE:
        return (
            f"content_type {message.content_type!r}: commands are {CONTENT_TYPE} "
            "(proto3 JSON of overcast.agent.v1.AgentCommand)"
        )
    return None


class DeadLetters:
    def __init__(self, topology: Topology, host_id: str) -> None:
        self._topology = topology
        self._host_id = host_id
        self._queue = topology.host_queue(host_id)
        self._exchange: AbstractExchange | None = None
        self.count = 0

    @property
    def name(self) -> str:
        return self._topology.dead_letters

    async def attach(self, channel: AbstractChannel) -> None:
        """Declare the exchange and queue on `channel` (publisher confirms on) and publish there."""
        self._exchange = await declare_dead_letters(channel, self._topology)

    async def put(self, message: AbstractIncomingMessage, reason: str) -> None:
        """Copy `message` to the dead-letter queue with `reason`, then acknowledge it. If the
        copy cannot be published the message is left unacknowledged (redelivered when the
        channel closes): never dropped."""
        headers: dict[str, Any] = dict(message.headers or {})
        headers.update(
            {
                REASON: reason[:1000],
                QUEUE: self._queue,
                HOST: self._host_id,
                AT: datetime.datetime.now(datetime.UTC).isoformat(),
            }
        )
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            type=message.type,
            app_id=message.app_id,
            timestamp=message.timestamp,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            if self._exchange is None:
                raise RuntimeError("the dead-letter exchange is not declared yet")
            await self._exchange.publish(copy, routing_key=self._queue)
            await message.ack()
        except Exception as exc:
            log.warning("command.dead_letter_failed", error=repr(exc), message_id=message.message_id)
            return
        self.count += 1
