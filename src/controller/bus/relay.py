"""The outbox relay: publishes committed outbox rows to RabbitMQ with publisher confirms,
then deletes them. Runs on the leader replica only; wakes on LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from aio_pika.abc import AbstractExchange, AbstractRobustConnection

from controller.bus import codec
from controller.bus.topology import Topology, declare_exchanges
from controller.storage import outbox
from controller.storage.leadership import Role, lead

log = structlog.get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        db_url: str,
        amqp: AbstractRobustConnection,
        topo: Topology,
        publisher: str,
        *,
        batch: int = 500,
        idle_poll_s: float = 1.0,
    ) -> None:
        self._db_url = db_url
        self._amqp = amqp
        self._topo = topo
        self._publisher = publisher
        self._batch = batch
        self._idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()
        self.published = 0

    async def run(self) -> None:
        await lead(self._db_url, Role.OUTBOX_RELAY, self._relay)

    async def _relay(self, conn: asyncpg.Connection) -> None:
        await conn.add_listener(outbox.CHANNEL, lambda *_: self._wake.set())
        channel = await self._amqp.channel(publisher_confirms=True)
        try:
            commands, events = await declare_exchanges(channel, self._topo)
            while True:
                self._wake.clear()
                rows = await outbox.fetch(conn, self._batch)
                if rows:
                    await self._publish(rows, commands, events)
                    await outbox.delete(conn, [r.id for r in rows])
                    self.published += len(rows)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle_poll_s)
        finally:
            await channel.close()

    async def _publish(
        self, rows: list[outbox.OutboxRow], commands: AbstractExchange, events: AbstractExchange
    ) -> None:
        # Publishes are issued in id order on one channel (aiormq serialises them behind a
        # FIFO lock), so RabbitMQ receives them in commit order; the confirms are awaited
        # together. A crash before the delete republishes (at-least-once): consumers dedupe
        # on message_id.
        # Events are not mandatory: an event nobody subscribed to is dropped by the broker, not
        # returned to us with its body (with aio-pika's default, RabbitMQ sent every event back
        # when no consumer had bound a queue: twice the traffic for nothing).
        pending = [
            asyncio.ensure_future(
                events.publish(codec.encode(r, self._publisher), r.message.routing_key, mandatory=False)
                if r.message.kind == "event"
                else commands.publish(codec.encode(r, self._publisher), r.message.routing_key)
            )
            for r in rows
        ]
        await asyncio.gather(*pending)
