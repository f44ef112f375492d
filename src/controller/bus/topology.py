"""Exchange and queue names. A prefix per deployment (or per test run) keeps them apart."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustChannel

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
    name = topo.host_queue(host_id)
    arguments: dict[str, Any] = {"x-queue-type": "classic" if transient else topo.host_queue_type}
    if isinstance(channel, AbstractRobustChannel):
        # Not kept for re-declaration after a reconnect: a robust channel would hold an
        # object per host queue and binding (memory in a large fleet) and re-declare them
        # all at once. Durable queues outlive a broker restart; the agent, whose consumer
        # is robust, re-declares its own queue either way.
        robust = await channel.declare_queue(name, durable=not transient, arguments=arguments, robust=False)
        await robust.bind(commands, routing_key=host_id, robust=False)
        return
    queue = await channel.declare_queue(name, durable=not transient, arguments=arguments)
    await queue.bind(commands, routing_key=host_id)
