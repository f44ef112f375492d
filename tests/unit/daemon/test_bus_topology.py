"""The one AMQP topology against the real RabbitMQ: the names and arguments every side
declares (written out here by hand: a change to them breaks controllers and agents of
different versions on one broker)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import aiormq.exceptions
import pytest

from daemon.bus_topology import Topology, declare_exchanges, declare_host_queue
from devcluster import isolation

WIRE = {  # host queue type: (durable, arguments)
    "quorum": (True, {"x-queue-type": "quorum"}),
    "classic": (True, {"x-queue-type": "classic"}),
    "transient": (False, {"x-queue-type": "classic"}),
}


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = f"overcast-test-{isolation.new_run_id()}"
    yield name
    await isolation.delete_bus(name, ["h1"])


def test_names_come_from_the_prefix() -> None:
    topo = Topology("oc-7", host_queue_type="quorum")
    names = (topo.commands, topo.events, topo.host_queue("h1"))
    assert names == ("oc-7.commands", "oc-7.events", "oc-7.host.h1")


def test_an_unknown_queue_type_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="must be one of quorum, classic, transient, got 'lazy'"):
        Topology("oc", host_queue_type="lazy")


@pytest.mark.parametrize("queue_type", sorted(WIRE))
@pytest.mark.parametrize("restore", [True, False])
async def test_declarations_match_the_wire_and_route_commands(
    prefix: str, queue_type: str, restore: bool
) -> None:
    topo = Topology(prefix, host_queue_type=queue_type)
    connection = await aio_pika.connect_robust(isolation.AMQP_URL)
    try:
        channel = await connection.channel()
        commands, _ = await declare_exchanges(channel, topo)
        queue = await declare_host_queue(channel, topo, "h1", restore=restore)
        assert queue.name == f"{prefix}.host.h1"

        # Declared by hand as an older controller or agent would: accepted only if identical.
        durable, arguments = WIRE[queue_type]
        await channel.declare_exchange(f"{prefix}.commands", aio_pika.ExchangeType.DIRECT, durable=True)
        await channel.declare_exchange(f"{prefix}.events", aio_pika.ExchangeType.TOPIC, durable=True)
        await channel.declare_queue(f"{prefix}.host.h1", durable=durable, arguments=arguments)

        await commands.publish(aio_pika.Message(b"spawn"), routing_key="h1")
        message = await queue.get(timeout=5, no_ack=True)
        assert message is not None and message.body == b"spawn"

        other = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
            await other.declare_queue(f"{prefix}.host.h1", durable=not durable, arguments=arguments)
    finally:
        await connection.close()
