"""Exchange and queue names. A prefix per deployment (or per test run) keeps them apart."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

# Host command queues: durable quorum queues (the default), durable classic queues, or
# transient classic queues (no disk: a fleet simulation's thousands of hosts on one broker).
# Agents read the same setting (OVERCAST_HOST_QUEUE_TYPE): both sides must declare alike.
HOST_QUEUE_TYPES = ("quorum", "classic", "transient")


def host_queue_type_from_env() -> str:
    value = os.environ.get("OVERCAST_HOST_QUEUE_TYPE", "quorum").strip().lower() or "quorum"
    if value not in HOST_QUEUE_TYPES:
        choices = ", ".join(HOST_QUEUE_TYPES)
        raise ValueError(f"OVERCAST_HOST_QUEUE_TYPE must be one of {choices}, got {value!r}")
    return value


@dataclass(frozen=True)
class Topology:
    prefix: str = "overcast"
    host_queue_type: str = field(default_factory=host_queue_type_from_env)

    @property
    def commands(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    def host_queue(self, host_id: str) -> str:
        return f"{self.prefix}.host.{host_id}"


async def declare_exchanges(
    channel: AbstractChannel, topo: Topology
) -> tuple[AbstractExchange, AbstractExchange]:
    commands = await channel.declare_exchange(topo.commands, aio_pika.ExchangeType.DIRECT, durable=True)
    events = await channel.declare_exchange(topo.events, aio_pika.ExchangeType.TOPIC, durable=True)
    return commands, events


async def declare_host_queue(channel: AbstractChannel, topo: Topology, host_id: str) -> None:
    """The agent declares the same queue; declaring it here too means commands published
    before the agent first consumes are kept, not dropped as unroutable."""
    # Declared at startup (declare_exchanges): no passive check, one round trip less per host.
    commands = await channel.get_exchange(topo.commands, ensure=False)
    transient = topo.host_queue_type == "transient"
    queue = await channel.declare_queue(
        topo.host_queue(host_id),
        durable=not transient,
        arguments={"x-queue-type": "classic" if transient else topo.host_queue_type},
    )
    await queue.bind(commands, routing_key=host_id)
