"""Per-run isolation on the real services: a database and a bus prefix of the run's own."""

from __future__ import annotations

import asyncio
import os
import uuid

import aio_pika
import asyncpg

from daemon.bus_topology import Topology

PG_ADMIN_URL = os.environ.get("OVERCAST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("OVERCAST_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


def new_run_id() -> str:
    return uuid.uuid4().hex[:10]


def database_url(name: str, admin_url: str = PG_ADMIN_URL) -> str:
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


async def drop_database(name: str, admin_url: str = PG_ADMIN_URL) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def delete_bus(prefix: str, host_ids: list[str], amqp_url: str = AMQP_URL) -> None:
    """Remove what a run declared: its two exchanges and its host queues."""
    conn = await aio_pika.connect(amqp_url)
    try:
        ch = await conn.channel()
        topology = Topology(prefix)
        for host_id in host_ids:
            await ch.queue_delete(topology.host_queue(host_id))
        await ch.queue_delete(topology.dead_letters)
        for name in (topology.commands, topology.events, topology.dead_letters):
            await ch.exchange_delete(name)
    finally:
        await conn.close()


def cleanup(db_names: list[str], prefix: str, host_ids: list[str]) -> None:
    async def run() -> None:
        for name in db_names:
            await drop_database(name)
        await delete_bus(prefix, host_ids)

    asyncio.run(run())
