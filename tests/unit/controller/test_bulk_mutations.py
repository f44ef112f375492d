"""Agents' results written together (controller.storage.bulk_mutations and the group commit in
front of it), against the real PostgreSQL: each change applied as a single one would be, in
order, with its claim released and its events in the outbox; and the group commit gathering
concurrent results into few transactions without losing or mixing up any."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from scheduler_testkit import pending

from controller.domain.lifecycle import apply_result, bump
from controller.domain.messages import instance_event
from controller.domain.model import CommandOp, Instance, PowerState, TaskState, VmState
from controller.services.group_commit import GroupCommit
from controller.services.ports import MutateFn, Mutation
from controller.storage.instances import PgInstanceStore


async def placed(pool: asyncpg.Pool, n: int, host: str = "h1") -> Instance:
    """A server spawning on `host`, its claim counted there."""
    inst = pending(n, flavor_id="any", image_id="any")
    await PgInstanceStore(pool).create(inst, [])
    await pool.execute(
        "INSERT INTO hosts (id, hostname, arch, hypervisor_type, availability_zone, vcpus, memory_mib,"
        " disk_gib, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio)"
        " VALUES ($1, $1, 'x86_64', 'test', 'az1', 64, 65536, 500, 1, 1, 1) ON CONFLICT DO NOTHING",
        host,
    )
    await pool.execute(
        "UPDATE hosts SET vcpus_used = vcpus_used + 2, memory_mib_used = memory_mib_used + 1024,"
        " disk_gib_used = disk_gib_used + 10, servers = servers + 1 WHERE id = $1",
        host,
    )
    row = await pool.fetchrow(
        "UPDATE instances SET host_id = $2, allocated = true, task_state = 'SPAWNING', version = version + 1"
        " WHERE uid = $1 RETURNING version",
        inst.uid,
        host,
    )
    return bump(inst, host_id=host, allocated=True, task_state=TaskState.SPAWNING) if row else inst


def result(op: CommandOp, ok: bool = True) -> MutateFn:
    def decide(inst: Instance) -> Mutation:
        out = apply_result(inst, op, ok, "" if ok else "boom", PowerState.RUNNING)
        return Mutation(out.instance, [instance_event(out.instance, out.event_type)], out.release_allocation)

    return decide


async def test_changes_apply_in_order_release_claims_and_write_their_events(pool: asyncpg.Pool) -> None:
    a, b = await placed(pool, 1), await placed(pool, 2)
    store = PgInstanceStore(pool)
    gone = uuid.uuid4()

    def rename(inst: Instance) -> Mutation:
        new = bump(inst, metadata={"after": inst.vm_state.value})  # sees the change before it
        return Mutation(new, [instance_event(new, "instance.update")])

    out = await store.mutate_uids(
        [(a.uid, result(CommandOp.SPAWN)), (b.uid, result(CommandOp.DELETE)), (gone, rename), (a.uid, rename)]
    )
    assert [i.vm_state if i else None for i in out] == [VmState.ACTIVE, VmState.DELETED, None, VmState.ACTIVE]
    row_a = await pool.fetchrow("SELECT * FROM instances WHERE uid = $1", a.uid)
    assert (row_a["vm_state"], row_a["task_state"], row_a["power_state"]) == ("ACTIVE", None, "RUNNING")
    assert row_a["version"] == a.version + 2 and row_a["metadata"] == {"after": "ACTIVE"}
    row_b = await pool.fetchrow("SELECT * FROM instances WHERE uid = $1", b.uid)
    assert row_b["vm_state"] == "DELETED" and row_b["deleted_at"] is not None
    host = await pool.fetchrow("SELECT * FROM hosts WHERE id = 'h1'")
    usage = (host["vcpus_used"], host["memory_mib_used"], host["disk_gib_used"], host["servers"])
    assert usage == (2, 1024, 10, 1)  # b's claim released, a's kept
    events = await pool.fetch("SELECT message_type, resource, payload FROM outbox ORDER BY id")
    assert [(e["message_type"], e["resource"]) for e in events] == [
        ("instance.create.end", a.name),
        ("instance.delete.end", b.name),
        ("instance.update", a.name),
    ]
    versions = [e["payload"]["version"] for e in events]
    assert versions == [str(a.version + 1), str(b.version + 1), str(a.version + 2)]


async def test_concurrent_results_are_grouped_and_each_caller_gets_its_own(pool: asyncpg.Pool) -> None:
    servers = [await placed(pool, n, host=f"h{n % 3}") for n in range(60)]
    store = PgInstanceStore(pool)
    commit: GroupCommit[tuple[uuid.UUID, MutateFn], Instance | None]
    commit = GroupCommit(store.mutate_uids, max_items=25)
    outs = await asyncio.gather(*(commit.submit((s.uid, result(CommandOp.SPAWN))) for s in servers))
    assert [o.uid if o else None for o in outs] == [s.uid for s in servers]
    assert all(o is not None and o.vm_state is VmState.ACTIVE for o in outs)
    assert 3 <= commit.batches < 60  # batched, none over 25
    assert await pool.fetchval("SELECT count(*) FROM instances WHERE vm_state = 'ACTIVE'") == 60
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE message_type = 'instance.create.end'") == 60


async def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_still_runs() -> None:
    calls: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:  # type: ignore[override]
        calls.append(list(items))
        if 13 in items:
            raise ConnectionError("database went away")
        return [i * 2 for i in items]

    commit: GroupCommit[int, int] = GroupCommit(write)  # type: ignore[arg-type]
    first = [asyncio.ensure_future(commit.submit(i)) for i in (1, 13, 3)]
    results = await asyncio.gather(*first, return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3
    assert await commit.submit(5) == 10  # the writer is not stuck
    assert calls == [[1, 13, 3], [5]]


async def test_one_statement_changing_many_servers_notifies_in_chunks(pool: asyncpg.Pool) -> None:
    servers = [await placed(pool, n, host=f"h{n % 15}") for n in range(450)]
    got: list[str] = []

    def heard(_c: object, _pid: int, _channel: str, payload: str) -> None:
        got.append(payload)

    conn = await pool.acquire()
    try:
        await conn.add_listener("overcast_instances", heard)
        await PgInstanceStore(pool).mutate_uids([(s.uid, result(CommandOp.SPAWN)) for s in servers])
        for _ in range(100):
            if len(got) >= 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await conn.remove_listener("overcast_instances", heard)
        await pool.release(conn)
    assert len(got) == 3  # 200 + 200 + 50 uids: payloads stay under PostgreSQL's 8000 bytes
    named = [u for p in got for u in p.removeprefix("demo ").split(",")]
    assert sorted(named) == sorted(str(s.uid) for s in servers)
