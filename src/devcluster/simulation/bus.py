"""The simulated fleet's command queues: one queue per host, as real agents have, but all of
them consumed over a few AMQP connections (a real agent holds one connection of its own;
thousands of connections would measure the broker's connection handling, not Overcast).

Each host's deliveries go to its own CommandProcessor, which executes, reports over the
host's stream and acknowledges only after ReportAccepted: exactly the real agent's path.
"""

from __future__ import annotations

import asyncio
import contextlib

import aio_pika
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustConnection

from agent.commands import CommandProcessor
from daemon.bus_topology import Topology, declare_commands_exchange, declare_host_queue

log = structlog.get_logger("devcluster.simulation.bus")


class FleetCommandBus:
    def __init__(
        self,
        *,
        amqp_url: str,
        prefix: str,
        queue_type: str,
        connections: int = 2,
        consumers_per_channel: int = 200,
        prefetch: int = 16,
    ) -> None:
        self._url = amqp_url
        self._topology = Topology(prefix, host_queue_type=queue_type)
        self._connection_count = connections
        self._per_channel = consumers_per_channel
        self._prefetch = prefetch
        self._connections: list[AbstractRobustConnection] = []
        self._channels: dict[int, AbstractRobustChannel] = {}
        self._channel_locks: dict[int, asyncio.Lock] = {}
        self._slots = 0
        self.consuming = 0

    async def open(self) -> None:
        for _ in range(self._connection_count):
            self._connections.append(await aio_pika.connect_robust(self._url))
        channel = await self._connections[0].channel()
        await declare_commands_exchange(channel, self._topology)
        await channel.close()

    async def _channel(self, slot: int) -> AbstractRobustChannel:
        index = slot // self._per_channel
        lock = self._channel_locks.setdefault(index, asyncio.Lock())
        async with lock:
            channel = self._channels.get(index)
            if channel is None:
                connection = self._connections[index % len(self._connections)]
                channel = await connection.channel()
                assert channel is not None
                await channel.set_qos(prefetch_count=self._prefetch)  # per consumer
                self._channels[index] = channel
            return channel

    async def attach(self, host_id: str, processor: CommandProcessor) -> None:
        """Declare the host's queue (as its controller does) and consume it into `processor`."""
        slot = self._slots
        self._slots += 1
        channel = await self._channel(slot)
        queue = await declare_host_queue(channel, self._topology, host_id)

        async def on_message(message: AbstractIncomingMessage) -> None:
            # No await before submit: deliveries are submitted in arrival order.
            processor.submit(
                message.body,
                ack=message.ack,
                reject=lambda: message.reject(requeue=False),
            )

        await queue.consume(on_message)
        self.consuming += 1

    async def close(self) -> None:
        for connection in self._connections:
            with contextlib.suppress(Exception):
                await connection.close()
        self._connections.clear()
        self._channels.clear()
