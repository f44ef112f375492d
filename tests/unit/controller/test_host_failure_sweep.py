"""The leader's host-failure sweep and EvacuateHost on the real PostgreSQL (its trigger keeping
host_status.down_since); the rules themselves: test_host_failure.py."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import pytest
from scheduler_testkit import pending

from controller.domain.errors import FailedPrecondition
from controller.domain.model import CommandOp, HostFailurePolicy, Instance, PowerState, TaskState, VmState
from controller.services.host_failure import HostFailures
from controller.services.servers import ServerService
from controller.storage.catalog import PgCatalogStore
from controller.storage.host_failure import PgHostFailureStore
from controller.storage.instances import PgInstanceStore

# ---- the sweep on PostgreSQL ------------------------------------------------------------------


async def _host(pool: asyncpg.Pool, host_id: str, state: str = "UP") -> None:
    await pool.execute(
        "INSERT INTO hosts (id, hostname, arch, hypervisor_type, availability_zone, vcpus, memory_mib,"
        " disk_gib, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, vcpus_used,"
        " memory_mib_used, disk_gib_used, servers)"
        " VALUES ($1, $1, 'x86_64', 'test', 'az1', 64, 65536, 500, 1, 1, 1, 6, 3072, 30, 3)",
        host_id,
    )
    await pool.execute("INSERT INTO host_status (id, state) VALUES ($1, $2)", host_id, state)


async def _server(
    pool: asyncpg.Pool, n: int, policy: HostFailurePolicy, task: TaskState | None = None
) -> Instance:
    inst = replace(
        pending(n, flavor_id="any", image_id="any"),
        vcpus=2,
        memory_mib=1024,
        disk_gib=10,
        host_failure_policy=policy,
    )
    await PgInstanceStore(pool).create(inst, [])
    await pool.execute(
        "UPDATE instances SET host_id = 'down', allocated = true, vm_state = 'ACTIVE', task_state = $2,"
        " power_state = 'RUNNING',"
        " task_command = CASE WHEN $2::text IS NULL THEN NULL ELSE gen_random_uuid() END"
        " WHERE uid = $1",
        inst.uid,
        task.value if task else None,
    )
    return inst


async def test_the_sweep_marks_once_evacuates_by_policy_and_clears_on_return(pool: asyncpg.Pool) -> None:
    await _host(pool, "down")
    evac = await _server(pool, 1, HostFailurePolicy.EVACUATE)
    stay = await _server(pool, 2, HostFailurePolicy.NONE)
    busy = await _server(pool, 3, HostFailurePolicy.EVACUATE, TaskState.POWERING_OFF)
    failures = HostFailures(PgHostFailureStore(pool), PgInstanceStore(pool), grace_s=60)
    await pool.execute("UPDATE host_status SET state = 'DOWN' WHERE id = 'down'")
    assert await pool.fetchval("SELECT down_since FROM host_status WHERE id = 'down'") is not None
    assert await failures.sweep() == (0, 0, 0)  # within the grace
    await pool.execute("UPDATE host_status SET down_since = now() - interval '61 seconds'")
    await pool.execute("UPDATE host_status SET last_heartbeat = now() WHERE id = 'down'")  # no state change

    # No host UP to take them (every host silent: likelier this controller cut off): marked only.
    assert await failures.sweep() == (3, 0, 0)
    with pytest.raises(FailedPrecondition, match="no host is UP"):
        await failures.evacuate_host("hosts/down")
    await _host(pool, "spare")
    assert await failures.sweep() == (0, 1, 0)
    rows = {r["uid"]: r for r in await pool.fetch("SELECT * FROM instances")}
    assert (rows[evac.uid]["vm_state"], rows[evac.uid]["task_state"], rows[evac.uid]["host_id"]) == (
        "BUILDING",
        "SCHEDULING",
        None,
    )
    assert (rows[evac.uid]["generation"], rows[evac.uid]["allocated"]) == (2, False)
    for kept in (stay, busy):
        r = rows[kept.uid]
        assert (r["vm_state"], r["host_id"], r["power_state"], r["host_down_power"]) == (
            "ACTIVE",
            "down",
            "POWER_STATE_UNSPECIFIED",
            "RUNNING",
        )
        assert r["fault"].startswith("host down DOWN since ")
    host = await pool.fetchrow("SELECT vcpus_used, servers FROM hosts WHERE id = 'down'")
    assert (host["vcpus_used"], host["servers"]) == (4, 2)  # the evacuated server's claim released
    assert await failures.sweep() == (0, 0, 0)  # once: the marks are durable
    # A replica taking over the lead (a new HostFailures, nothing in memory) marks nothing again.
    again = HostFailures(PgHostFailureStore(pool), PgInstanceStore(pool), grace_s=60)
    assert await again.sweep() == (0, 0, 0)

    # EvacuateHost takes what the policy did not; the server with a task in flight stays.
    done = await failures.evacuate_host("hosts/down")
    assert [i.name for i in done.evacuated] == [stay.name]
    assert [(i.name, why.split(" ")[0]) for i, why in done.skipped] == [(busy.name, "POWERING_OFF")]

    # A marked server is deleted at once (its host is away): claim released, the domain's
    # removal queued for the host's return.
    doomed = await _server(pool, 4, HostFailurePolicy.NONE)
    assert await failures.sweep() == (1, 0, 0)
    servers = ServerService(PgInstanceStore(pool), PgCatalogStore(pool))
    deleted = await servers.act(doomed.name, CommandOp.DELETE, "")
    assert (deleted.vm_state, deleted.allocated, deleted.task_state) == (VmState.DELETED, False, None)
    host = await pool.fetchrow("SELECT vcpus_used, servers FROM hosts WHERE id = 'down'")
    assert (host["vcpus_used"], host["servers"]) == (0, 0)  # its 2 vcpus released (busy's unclaimed here)
    gone = await pool.fetch(
        "SELECT message_type, routing_key FROM outbox"
        " WHERE payload->>'uid' = $1 OR payload->>'instance_uid' = $1",
        str(doomed.uid),
    )
    assert sorted((m["message_type"], m["routing_key"]) for m in gone) == [
        ("command.delete", "down"),
        ("instance.delete.end", "instance.delete.end"),
        ("instance.host_down", "instance.host_down"),
    ]
    await pool.execute(
        "DELETE FROM outbox WHERE payload->>'uid' = $1 OR payload->>'instance_uid' = $1", str(doomed.uid)
    )

    await pool.execute("UPDATE host_status SET state = 'UP' WHERE id = 'down'")
    assert await pool.fetchval("SELECT down_since FROM host_status WHERE id = 'down'") is None
    assert await failures.sweep() == (0, 0, 1)
    r = await pool.fetchrow("SELECT * FROM instances WHERE uid = $1", busy.uid)
    assert (r["power_state"], r["fault"], r["host_down_at"]) == ("RUNNING", "", None)
    with pytest.raises(FailedPrecondition, match="is UP"):
        await failures.evacuate_host("hosts/down")

    outbox = await pool.fetch(
        "SELECT kind, message_type, routing_key, resource, payload FROM outbox ORDER BY id"
    )
    events = [(m["message_type"], m["resource"]) for m in outbox if m["kind"] == "event"]
    assert sorted(events) == sorted(
        [
            ("instance.host_down", evac.name),
            ("instance.host_down", stay.name),
            ("instance.host_down", busy.name),
            ("instance.evacuate.start", evac.name),
            ("instance.evacuate.start", stay.name),
            ("instance.host_up", busy.name),
        ]
    )
    fences = [m["payload"] for m in outbox if m["kind"] == "command"]
    assert all(m["routing_key"] == "down" for m in outbox if m["kind"] == "command")
    assert sorted((f["instance_uid"], f["op"], f["generation"]) for f in fences) == sorted(
        [(str(evac.uid), "COMMAND_OP_DELETE", "1"), (str(stay.uid), "COMMAND_OP_DELETE", "1")]
    )

    # The host registers again with its domains (an agent restarted on a hypervisor that kept
    # them): the copy of the server now placed elsewhere is removed, of its own generation.
    await pool.execute("DELETE FROM outbox")
    running = {evac.uid: PowerState.RUNNING, busy.uid: PowerState.RUNNING}
    await servers.reconcile("down", running, {evac.uid: 1, busy.uid: 1})
    commands = await pool.fetch("SELECT routing_key, payload FROM outbox WHERE kind = 'command'")
    assert [
        (c["routing_key"], c["payload"]["instance_uid"], c["payload"]["generation"]) for c in commands
    ] == [("down", str(evac.uid), "1")]
