"""The AMQP topology, declared alike by the controller, the agent and the development tooling.

Per deployment (or test run) a prefix keeps everything apart:
- `<prefix>.commands`: a durable direct exchange; the controller's outbox relay publishes each
  host's commands there with the host id as routing key;
- `<prefix>.events`: a durable topic exchange for the events of the event catalogue;
- `<prefix>.dead-letter`: a durable fanout exchange and a durable queue of that name bound to
  it, where an agent puts a command it cannot read (not JSON, not an AgentCommand, another
  content type), with the reason in its headers (`agent.dead_letters`, docs/operations.md);
- `<prefix>.host.<host id>`: each host's command queue, bound to the commands exchange with
  its host id. Its kind (`host_queue_type`) is a durable quorum queue (the default), a durable
  classic queue, or a transient classic queue (no disk at all, gone when the broker restarts:
  for fleet simulations, where one broker holds thousands of host queues).

Whoever declares a queue or exchange first creates it, and RabbitMQ refuses a second declaration
with other arguments (PRECONDITION_FAILED), so every side declares from here: the controller
declares a host's queue when its agent registers (commands published before the agent first
consumes are kept, not dropped as unroutable), the agent when it starts consuming.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from daemon.settings import HostQueueType

HOST_QUEUE_TYPES: tuple[str, ...] = get_args(HostQueueType)  # one list: the settings' type


def check_host_queue_type(value: str, what: str = "host queue type") -> None:
    if value not in HOST_QUEUE_TYPES:
        raise ValueError(f"{what} must be one of {', '.join(HOST_QUEUE_TYPES)}, got {value!r}")


@dataclass(frozen=True)
class Topology:
    prefix: str = "overcast"
    host_queue_type: str = "quorum"  # the controller and its agents must agree (settings: bus)

    def __post_init__(self) -> None:
        check_host_queue_type(self.host_queue_type)

    @property
    def commands(self) -> str:
        return f"{self.prefix}.commands"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def dead_letters(self) -> str:
        """The dead-letter exchange, and the queue bound to it."""
        return f"{self.prefix}.dead-letter"

    def host_queue(self, host_id: str) -> str:
        return f"{self.prefix}.host.{host_id}"

    @property
    def host_queue_durable(self) -> bool:
        return self.host_queue_type != "transient"

    @property
    def host_queue_arguments(self) -> dict[str, Any]:
        return {"x-queue-type": "classic" if self.host_queue_type == "transient" else self.host_queue_type}


async def declare_commands_exchange(channel: AbstractChannel, topo: Topology) -> AbstractExchange:
    return await channel.declare_exchange(topo.commands, aio_pika.ExchangeType.DIRECT, durable=True)


async def declare_events_exchange(channel: AbstractChannel, topo: Topology) -> AbstractExchange:
    return await channel.declare_exchange(topo.events, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_dead_letters(channel: AbstractChannel, topo: Topology) -> AbstractExchange:
    """The dead-letter exchange and its queue (durable, classic: a trickle of messages an
    operator reads, whatever the host queues' kind). New names, so declaring them on an
    existing deployment changes no queue that exists (no PRECONDITION_FAILED)."""
    exchange = await channel.declare_exchange(topo.dead_letters, aio_pika.ExchangeType.FANOUT, durable=True)
    queue = await channel.declare_queue(
        topo.dead_letters, durable=True, arguments={"x-queue-type": "classic"}
    )
    await queue.bind(exchange)
    return exchange


async def declare_exchanges(
    channel: AbstractChannel, topo: Topology
) -> tuple[AbstractExchange, AbstractExchange]:
    return await declare_commands_exchange(channel, topo), await declare_events_exchange(channel, topo)


async def declare_host_queue(
    channel: AbstractChannel, topo: Topology, host_id: str, *, restore: bool = True
) -> AbstractQueue:
    """Declare `host_id`'s command queue and bind it to the commands exchange (declared
    already). On a robust channel the queue and its binding are declared again after a
    reconnect unless `restore` is False."""
    name = topo.host_queue(host_id)
    durable, arguments = topo.host_queue_durable, topo.host_queue_arguments
    if not restore and isinstance(channel, AbstractRobustChannel):
        # Not kept for re-declaration after a reconnect: a robust channel would hold an object
        # per host queue and binding (memory, for a controller of a large fleet) and re-declare
        # them all at once.
        kept = await channel.declare_queue(name, durable=durable, arguments=arguments, robust=False)
        await kept.bind(topo.commands, routing_key=host_id, robust=False)
        return kept
    queue = await channel.declare_queue(name, durable=durable, arguments=arguments)
    await queue.bind(topo.commands, routing_key=host_id)
    return queue


# aio-pika's robust connection tries again every 5 s by default: after a RabbitMQ restart,
# commands and events waited up to 5 s longer than the broker was away (tests/faults: 6.4 s
# from the broker answering again to a new server ACTIVE). One attempt a second costs nothing
# while the broker is down.
RECONNECT_INTERVAL_S = 1.0


async def connect(url: str, **kwargs: Any) -> AbstractRobustConnection:
    """A robust connection to the broker, as both daemons open it."""
    connection: AbstractRobustConnection = await aio_pika.connect_robust(
        url, reconnect_interval=RECONNECT_INTERVAL_S, **kwargs
    )
    return connection
