"""The scheduling store records placements and failures with one statement each that builds
the messages' payloads in PostgreSQL (storage/scheduling.py: PLACE, FAIL). What it writes must
be what the domain says (domain.placements: placed, placement_messages, failed,
failure_messages): the same instance rows and the same outbox messages, in the same order,
published as the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from scheduler_testkit import pending

from controller.bus import codec
from controller.domain.messages import OutboxMessage, instance_event
from controller.domain.model import BootSpec, ImageRef, Instance, PowerState
from controller.domain.placements import (
    Failure,
    PendingServer,
    Placement,
    failed,
    failure_messages,
    placed,
    placement_messages,
)
from controller.storage import outbox
from controller.storage.instances import PgInstanceStore
from controller.storage.outbox import OutboxRow
from controller.storage.scheduling import PgSchedulingStore


def servers() -> list[Instance]:
    disk = ImageRef("images/cirros", "qcow2", 21_233_664, "ab" * 32)
    kernel = ImageRef("images/vmlinuz", "raw", 8_000_000, "cd" * 32)
    ramdisk = ImageRef("images/initrd", "raw", 2_000_000, "ef" * 32)
    return [
        pending(0),
        pending(1, metadata={"sim.cpu": "0.7", "role": 'web "front"', "ünï": "cödé"}),
        pending(2, boot=BootSpec(root_image=disk)),
        pending(3, boot=BootSpec(kernel=kernel, ramdisk=ramdisk, kernel_args="console=ttyS0 quiet")),
        pending(4, boot=BootSpec(root_image=disk, kernel=kernel, kernel_args="root=/dev/vda")),
        pending(5, vcpus=16, memory_mib=65536, disk_gib=400, availability_zone="az1", server_group="g"),
        pending(6, project="other-project", flavor_id="m1.tiny", image_id="debian-12"),
        pending(7, power_state=PowerState.SHUTDOWN, generation=4),  # evacuated three times
        # Evacuated, then no host can take it (failed: chosen first); then one never evacuated.
        pending(8, generation=2, fault="evacuating from host h1: its host failed"),
        pending(9),
    ]


async def add_host(conn: asyncpg.Connection, host_id: str) -> None:
    await conn.execute(
        "INSERT INTO hosts (id, hostname, arch, hypervisor_type, availability_zone, vcpus, memory_mib,"
        " disk_gib, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio)"
        " VALUES ($1, $1, 'x86_64', 'test', 'az1', 64, 262144, 4000, 1.0, 1.0, 1.0)",
        host_id,
    )
    await conn.execute(
        "INSERT INTO host_status (id, state, last_heartbeat) VALUES ($1, 'UP', now())", host_id
    )


async def test_placements_and_failures_are_written_as_the_domain_says(pool: asyncpg.Pool) -> None:
    wanted = servers()
    store = PgInstanceStore(pool)
    for inst in wanted:
        await store.create(inst, [instance_event(inst, "instance.create.start")])
    async with pool.acquire() as conn:
        for h in ("host-a", "host-b"):
            await add_host(conn, h)
        await conn.execute("DELETE FROM outbox")
    before = {i.uid: i for i in await store.get_many([i.uid for i in wanted])}
    async with PgSchedulingStore(pool).batch(100, 60.0) as batch:
        # The scheduler reads of each pending server what PendingServer holds, no more.
        assert sorted(batch.pending, key=lambda s: s.server_id) == [PendingServer.of(i) for i in wanted]
        order = {i.uid: n for n, i in enumerate(wanted)}
        # Placed in an order other than the pending one, over two hosts; two fail.
        chosen = sorted(batch.pending, key=lambda i: -order[i.uid])
        placements = [Placement(s, ("host-a", "host-b")[n % 2]) for n, s in enumerate(chosen[2:])]
        failures = [Failure(s, f'No valid host: reason {n} ("quoted")') for n, s in enumerate(chosen[:2])]
        assert await batch.claim(placements) == {p.server.uid for p in placements}
        await batch.fail(failures)

    expected: list[OutboxMessage] = []
    for p in placements:
        (got,) = await store.get_many([p.server.uid])
        check_row(got, placed(before[p.server.uid], p))
        expected += placement_messages(before[p.server.uid], p)
    for f in failures:
        (got,) = await store.get_many([f.server.uid])
        check_row(got, failed(before[f.server.uid], f))
        expected += failure_messages(before[f.server.uid], f)
    async with pool.acquire() as conn:
        rows = await outbox.fetch(conn, 100)
    assert [r.message.message_id for r in rows] == [m.message_id for m in expected]
    published_at = datetime.now(UTC)
    for row, message in zip(rows, expected, strict=True):
        assert row.message.kind == message.kind
        assert row.message.message_type == message.message_type
        assert row.message.routing_key == message.routing_key
        assert (row.message.project, row.message.resource) == (message.project, message.resource)
        # The bytes the relay publishes: the same for the payload built by PostgreSQL and the
        # one the domain builds (canonical proto3 JSON, field order and int64 form aside).
        got = codec.encode(OutboxRow(row.id, row.message, published_at), "test").body
        want = codec.encode(OutboxRow(row.id, message, published_at), "test").body
        assert got == want


def check_row(got: Instance, want: Instance) -> None:
    assert got.updated_at is not None and want.updated_at is not None
    assert got.updated_at > want.updated_at
    assert got == type(want)(**{**want.__dict__, "updated_at": got.updated_at})
