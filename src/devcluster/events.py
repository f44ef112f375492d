"""A tap on the events exchange: an exclusive queue bound to every routing key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from daemon.bus_topology import Topology, declare_events_exchange


class EventTap:
    def __init__(self, amqp_url: str, prefix: str) -> None:
        self._amqp_url = amqp_url
        self._topology = Topology(prefix)
        self.events: list[dict[str, Any]] = []
        self.raw: list[AbstractIncomingMessage] = []
        self._changed = asyncio.Event()
        self._conn: aio_pika.abc.AbstractConnection | None = None

    async def __aenter__(self) -> EventTap:
        self._conn = await aio_pika.connect(self._amqp_url)
        ch = await self._conn.channel()
        exchange = await declare_events_exchange(ch, self._topology)
        queue = await ch.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def _on_message(self, msg: AbstractIncomingMessage) -> None:
        self.raw.append(msg)
        self.events.append(json.loads(msg.body))
        self._changed.set()

    def of(self, resource: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("resource") == resource]

    # A built-in default deadline (ASYNC109): no test can forget one and hang on a lost event.
    async def wait_for(
        self,
        predicate: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 30.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while not predicate(self.events):
                self._changed.clear()
                await self._changed.wait()
        return self.events


class DurableTap:
    """A durable quorum queue bound to every event of a run, as a consumer who must not miss
    any would declare it: unlike `EventTap`'s exclusive queue it outlives the broker's restart,
    so what was published before, during and after is all there to count (`drain`)."""

    def __init__(self, amqp_url: str, prefix: str, name: str = "tap") -> None:
        self._amqp_url = amqp_url
        self._topology = Topology(prefix)
        self.queue = f"{prefix}.{name}"

    async def declare(self) -> None:
        conn = await aio_pika.connect(self._amqp_url)
        try:
            ch = await conn.channel()
            exchange = await declare_events_exchange(ch, self._topology)
            queue = await ch.declare_queue(self.queue, durable=True, arguments={"x-queue-type": "quorum"})
            await queue.bind(exchange, routing_key="#")
        finally:
            await conn.close()

    async def drain(self, quiet_s: float = 1.0) -> list[dict[str, Any]]:
        """Every event on the queue (taken off it), until none came for `quiet_s`. Consumed
        with a wide prefetch, not fetched one basic.get at a time: a round trip each took 15 s
        for a fault run's ~3,000 events on a busy machine."""
        events: list[dict[str, Any]] = []
        arrived = asyncio.Event()

        async def take(msg: AbstractIncomingMessage) -> None:
            events.append(json.loads(msg.body))
            arrived.set()

        conn = await aio_pika.connect(self._amqp_url)
        try:
            ch = await conn.channel()
            await ch.set_qos(prefetch_count=1000)
            queue = await ch.get_queue(self.queue)
            await queue.consume(take, no_ack=True)
            while True:
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), quiet_s)
                except TimeoutError:
                    return events
        finally:
            await conn.close()

    async def delete(self) -> None:
        conn = await aio_pika.connect(self._amqp_url)
        try:
            ch = await conn.channel()
            await ch.queue_delete(self.queue)
        finally:
            await conn.close()
