"""The outbox relay against the real PostgreSQL and RabbitMQ: a command for a host whose queue
is missing (a transient queue after a broker restart, a queue deleted by hand) is not confirmed
away and deleted unsent: the relay declares the queue and the command waits there."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import aio_pika
import asyncpg

from controller.bus.relay import OutboxRelay
from controller.domain.messages import OutboxMessage
from controller.storage import rows
from daemon.bus_topology import Topology
from devcluster import isolation


def _spawn(host_id: str, n: int) -> OutboxMessage:
    payload = {
        "command_id": str(uuid.uuid4()),
        "op": "COMMAND_OP_SPAWN",
        "instance_uid": str(uuid.uuid4()),
        "vcpus": n,
    }
    return OutboxMessage("command", "command.SPAWN", host_id, payload, "p", f"vm-{n}")


async def _outbox_left(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox"))


async def test_commands_to_a_host_without_a_queue_wait_in_its_queue(db_url: str, pool: asyncpg.Pool) -> None:
    prefix = f"overcast-test-{isolation.new_run_id()}"
    topo = Topology(prefix, host_queue_type="transient")
    hosts = ["gone-1", "gone-2"]
    sent = [_spawn(hosts[n % 2], n) for n in range(6)]
    async with pool.acquire() as conn:
        await rows.insert_outbox(conn, sent)

    amqp = await aio_pika.connect_robust(isolation.AMQP_URL)
    relay = OutboxRelay(db_url, amqp, topo, "test", idle_poll_s=0.1)
    task = asyncio.create_task(relay.run())
    try:
        async with asyncio.timeout(20):
            while await _outbox_left(pool):
                await asyncio.sleep(0.1)
        channel = await amqp.channel()
        for host in hosts:
            queue = await channel.declare_queue(topo.host_queue(host), passive=True)
            got = []
            while (msg := await queue.get(fail=False, no_ack=True)) is not None:
                got.append(json.loads(msg.body)["commandId"])
            # Every command for the host, in the order they were written.
            assert got == [m.payload["command_id"] for m in sent if m.routing_key == host]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await amqp.close()
        await isolation.delete_bus(prefix, hosts)
