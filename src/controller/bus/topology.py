"""Exchange and queue names. A prefix per deployment (or per test run) keeps them apart."""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange


@dataclass(frozen=True)
class Topology:
    prefix: str = "overcast"

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
    commands = await channel.get_exchange(topo.commands)
    queue = await channel.declare_queue(
        topo.host_queue(host_id), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await queue.bind(commands, routing_key=host_id)
