"""The outbox relay: publishes committed outbox rows to RabbitMQ with publisher confirms,
then deletes them. Runs on the leader replica only; wakes on LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aiormq.abc import DeliveredMessage

from controller.bus import codec
from controller.storage import outbox
from controller.storage.leadership import Role, lead
from daemon.bus_topology import Topology, declare_exchanges, declare_host_queue
from daemon.supervision import TransientError

log = structlog.get_logger(__name__)


class Unroutable(TransientError):
    """Commands the broker returned even after their host queues were declared: they stay in
    the outbox, and the relay tries again (daemon.supervision)."""


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
        # While the broker is away, wait for the robust connection to come back rather than
        # fail: failing, the loop's backoff grows (0.5, 1, 2, 4, 8 s...) and the relay resumed
        # up to 6 s after the broker did (tests/faults, a RabbitMQ stop and start).
        await self._amqp.connected.wait()
        channel = await self._amqp.channel(publisher_confirms=True)
        try:
            commands, events = await declare_exchanges(channel, self._topo)
            while True:
                self._wake.clear()
                rows = await outbox.fetch(conn, self._batch)
                if rows:
                    returned = await self._publish(rows, commands, events)
                    if returned:
                        await self._redeliver(channel, returned, commands)
                    await outbox.delete(conn, [r.id for r in rows])
                    self.published += len(rows)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle_poll_s)
        finally:
            await channel.close()

    async def _publish(
        self, rows: list[outbox.OutboxRow], commands: AbstractExchange, events: AbstractExchange
    ) -> list[outbox.OutboxRow]:
        """Publish the rows; returns the commands the broker returned (no queue bound for
        their host: confirmed all the same, so they would be deleted unsent)."""
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
        results = await asyncio.gather(*pending)
        return [r for r, res in zip(rows, results, strict=True) if isinstance(res, DeliveredMessage)]

    async def _redeliver(
        self, channel: AbstractChannel, returned: list[outbox.OutboxRow], commands: AbstractExchange
    ) -> None:
        """Commands to a host without a queue: the queue is declared (as the controller does
        when the agent registers; it is missing when the broker lost it, a transient queue
        after a restart, or was deleted by hand) and the commands published again, in order.
        Returned once more, they stay in the outbox (the relay retries)."""
        hosts = sorted({r.message.routing_key for r in returned})
        log.warning(
            "relay.commands_returned", commands=len(returned), hosts=hosts[:20], host_count=len(hosts)
        )
        for host in hosts:
            await declare_host_queue(channel, self._topo, host, restore=False)
        again = await self._publish(returned, commands, commands)
        if again:
            raise Unroutable(f"{len(again)} commands unroutable after declaring their host queues")
