"""CommandConsumer against the real RabbitMQ on 127.0.0.1:5672 (unique prefix per test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import pytest
from agent_testkit import AMQP_URL, RecordingSink, body, wait_for

from agent.commands import CommandConsumer, CommandProcessor
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from daemon.supervision import Backoff
from overcast.agent.v1 import agent_pb2

NewUid = Callable[[], str]
HOST = "host-amqp"


@pytest.fixture
async def broker(bus_prefix: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=3)
    except Exception as exc:  # pragma: no cover - depends on the machine
        # The suite uses the real broker (make test checks it first): a skip would hide failures.
        pytest.fail(f"RabbitMQ not reachable at {AMQP_URL}: {exc!r} (is it running?)")
    try:
        channel = await connection.channel()
        yield channel
        cleanup = await connection.channel()
        await cleanup.queue_delete(f"{bus_prefix}.host.{HOST}")
        await cleanup.queue_delete(f"{bus_prefix}.dead-letter")
        await cleanup.exchange_delete(f"{bus_prefix}.commands")
        await cleanup.exchange_delete(f"{bus_prefix}.dead-letter")
    finally:
        await connection.close()


async def queue_depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    return int(queue.declaration_result.message_count or 0)


async def wait_until_depth(
    channel: aio_pika.abc.AbstractChannel, name: str, depth: int, within: float = 5.0
) -> None:
    # The broker requeues a closed channel's unacked messages asynchronously.
    deadline = asyncio.get_running_loop().time() + within
    while (current := await queue_depth(channel, name)) != depth:
        assert asyncio.get_running_loop().time() < deadline, f"queue depth {current} != {depth}"
        await asyncio.sleep(0.05)


async def publish(
    channel: aio_pika.abc.AbstractChannel,
    prefix: str,
    payload: bytes,
    content_type: str | None = "application/json",
    **properties: Any,
) -> None:
    exchange = await channel.get_exchange(f"{prefix}.commands")
    message = aio_pika.Message(payload, content_type=content_type, **properties)
    await exchange.publish(message, routing_key=HOST)


async def start_consumer(
    prefix: str, processor: CommandProcessor
) -> tuple[CommandConsumer, asyncio.Task[None]]:
    consumer = CommandConsumer(
        amqp_url=AMQP_URL, prefix=prefix, host_id=HOST, processor=processor, prefetch=16
    )
    ready = asyncio.Event()
    ready.set()
    task = asyncio.create_task(consumer.run(ready))
    await asyncio.wait_for(consumer.consuming.wait(), 10)
    return consumer, task


async def test_commands_run_in_order_per_instance_and_are_acked(
    broker: aio_pika.abc.AbstractChannel,
    bus_prefix: str,
    hypervisor: LibvirtHypervisor,
    new_uid: NewUid,
) -> None:
    sink = RecordingSink()
    processor = CommandProcessor(hypervisor, sink)
    consumer, task = await start_consumer(bus_prefix, processor)
    try:
        uids = [new_uid() for _ in range(5)]
        ops = [
            agent_pb2.COMMAND_OP_SPAWN,
            agent_pb2.COMMAND_OP_STOP,
            agent_pb2.COMMAND_OP_START,
            agent_pb2.COMMAND_OP_DELETE,
            agent_pb2.COMMAND_OP_SPAWN,
        ]
        for i, op in enumerate(ops):
            for uid in uids:
                await publish(broker, bus_prefix, body(op, uid, f"{uid}:{i}"))
        await publish(broker, bus_prefix, b"this is not json")
        await wait_for(lambda: len(sink.results) == len(ops) * len(uids), within=20)
        for uid in uids:
            mine = [r.command_id for r in sink.results if r.instance_uid == uid]
            assert mine == [f"{uid}:{i}" for i in range(len(ops))]
        assert all(r.ok for r in sink.results)
        assert sorted(d.uuid for d in await hypervisor.list_domains()) == sorted(uids)
        await wait_until_depth(broker, f"{bus_prefix}.dead-letter", 1)
    finally:
        await consumer.stop_consuming()
        await processor.close(grace=5)
        await consumer.close()
        await task
    # Everything was acked and the malformed message went to the dead-letter queue, not back.
    await wait_until_depth(broker, consumer.queue_name, 0)


GARBAGE: list[tuple[bytes, str | None, str]] = [
    (b"\x00\xff garbage", "application/json", "not an AgentCommand"),
    (b'{"op": "COMMAND_OP_SPAWN", "command_id": 7}', "application/json", "command_id"),
    (b'{"hello": "world"}', "application/json", "command_id is missing"),
    (b'{"commandId": "c1", "op": "COMMAND_OP_SPAWN"}', "text/plain", "content_type 'text/plain'"),
    (b"\x08\x01\x12\x02c1", "application/x-protobuf", "content_type 'application/x-protobuf'"),
    (b'{"commandId": "c1", "op": "COMMAND_OP_SPAWN"}', None, "no content_type"),
]


async def test_malformed_commands_are_dead_lettered_and_the_consumer_goes_on(
    broker: aio_pika.abc.AbstractChannel,
    bus_prefix: str,
    hypervisor: LibvirtHypervisor,
    new_uid: NewUid,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Garbage, another content type, JSON of another shape, no content type: each is copied
    to <prefix>.dead-letter with its reason and where it came from, logged once, acked; the
    valid command behind them runs."""
    sink = RecordingSink()
    processor = CommandProcessor(hypervisor, sink)
    consumer, task = await start_consumer(bus_prefix, processor)
    uid = new_uid()
    try:
        for i, (payload, content_type, _) in enumerate(GARBAGE):
            await publish(broker, bus_prefix, payload, content_type, message_id=f"bad-{i}", type="spawn")
        await publish(broker, bus_prefix, body(agent_pb2.COMMAND_OP_SPAWN, uid, "good"))
        await wait_for(lambda: [r.command_id for r in sink.results] == ["good"], within=10)
        assert sink.results[0].ok
        assert [d.uuid for d in await hypervisor.list_domains()] == [uid]
        await wait_until_depth(broker, f"{bus_prefix}.dead-letter", len(GARBAGE))
    finally:
        await consumer.stop_consuming()
        await processor.close(grace=5)
        await consumer.close()
        await task
    await wait_until_depth(broker, consumer.queue_name, 0)
    dead = await broker.declare_queue(f"{bus_prefix}.dead-letter", passive=True)
    found = {}
    for _ in GARBAGE:
        message = await dead.get(timeout=5)
        assert message is not None
        await message.ack()
        found[message.message_id] = message
    for i, (payload, content_type, reason) in enumerate(GARBAGE):
        m = found[f"bad-{i}"]
        headers = m.headers or {}
        assert m.body == payload and m.content_type == content_type and m.type == "spawn"
        assert reason in str(headers["x-overcast-reason"]), headers
        assert headers["x-overcast-queue"] == consumer.queue_name
        assert headers["x-overcast-host"] == HOST
    lines = [line for line in capsys.readouterr().out.splitlines() if "command.malformed" in line]
    assert len(lines) == len(GARBAGE), lines


async def test_unaccepted_commands_stay_on_the_queue(
    broker: aio_pika.abc.AbstractChannel,
    bus_prefix: str,
    hypervisor: LibvirtHypervisor,
    new_uid: NewUid,
) -> None:
    sink = RecordingSink()
    sink.gate.clear()  # the controller never accepts the report
    processor = CommandProcessor(hypervisor, sink)
    consumer, task = await start_consumer(bus_prefix, processor)
    uid = new_uid()
    try:
        await publish(broker, bus_prefix, body(agent_pb2.COMMAND_OP_SPAWN, uid, "c1"))
        await wait_for(lambda: processor.in_flight == 1)
    finally:
        await consumer.stop_consuming()
        assert await processor.close(grace=0.2) == 1
        await consumer.close()
        await task
    await wait_until_depth(broker, consumer.queue_name, 1)
    # Redelivered to the next consumer, which runs it again idempotently.
    sink.gate.set()
    processor = CommandProcessor(hypervisor, sink)
    consumer, task = await start_consumer(bus_prefix, processor)
    try:
        await wait_for(lambda: len(sink.results) == 1)
        assert sink.results[0].ok
        assert len(await hypervisor.list_domains()) == 1
    finally:
        await consumer.stop_consuming()
        await processor.close(grace=5)
        await consumer.close()
        await task
    assert await queue_depth(broker, consumer.queue_name) == 0


async def test_unreachable_broker_is_retried(hypervisor: LibvirtHypervisor, unused_tcp_port: int) -> None:
    processor = CommandProcessor(hypervisor, RecordingSink())
    consumer = CommandConsumer(
        amqp_url=f"amqp://guest:secret@127.0.0.1:{unused_tcp_port}/",
        prefix="never",
        host_id=HOST,
        processor=processor,
        backoff=Backoff(initial=0.01, maximum=0.05),
    )
    ready = asyncio.Event()
    ready.set()
    task = asyncio.create_task(consumer.run(ready))
    await asyncio.sleep(0.3)
    assert not task.done()  # still retrying
    # close() ends the retries: the attempt under way finishes (refused) and run() returns,
    # leaving no connection attempt behind (cancelling one mid-connect would leave aio-pika's
    # connection task running on its own for a while).
    await consumer.close()
    await asyncio.wait_for(task, 10)
    await processor.close(grace=0)


async def test_mismatched_queue_declaration_is_retried_until_fixed(
    broker: aio_pika.abc.AbstractChannel, bus_prefix: str, hypervisor: LibvirtHypervisor
) -> None:
    name = f"{bus_prefix}.host.{HOST}"
    await broker.declare_queue(name, durable=True)  # classic, not quorum: PRECONDITION_FAILED
    processor = CommandProcessor(hypervisor, RecordingSink())
    consumer = CommandConsumer(
        amqp_url=AMQP_URL,
        prefix=bus_prefix,
        host_id=HOST,
        processor=processor,
        backoff=Backoff(initial=0.05, maximum=0.1),
    )
    ready = asyncio.Event()
    ready.set()
    task = asyncio.create_task(consumer.run(ready))
    try:
        await asyncio.sleep(0.5)
        assert not consumer.consuming.is_set()
        await broker.queue_delete(name)
        await asyncio.wait_for(consumer.consuming.wait(), 10)
    finally:
        await consumer.stop_consuming()
        await processor.close(grace=1)
        await consumer.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
