"""Commands that wait too long for their host expire (controller.domain.expiry): the rule on
its own, then the leader's sweep on the real PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import replace

import asyncpg
import pytest
from scheduler_testkit import pending

from controller.domain.expiry import CLOCK_SKEW_S, TASK_OPS, expire, overdue_after, sweep_interval
from controller.domain.lifecycle import ACTIONS
from controller.domain.model import CommandOp, Instance, PowerState, TaskState, VmState
from controller.services.command_expiry import CommandExpiry
from controller.storage.instances import PgInstanceStore


def waiting(task: TaskState, vm_state: VmState, power: PowerState = PowerState.RUNNING) -> Instance:
    return replace(
        pending(1, flavor_id="f", image_id="i"),
        vm_state=vm_state,
        task_state=task,
        task_command=uuid.uuid4(),
        host_id="h1",
        allocated=True,
        power_state=power,
        version=3,
    )


# ---- the rule ---------------------------------------------------------------------------------


def test_every_task_a_command_carries_can_expire() -> None:
    assert set(TASK_OPS.values()) == set(ACTIONS) - {CommandOp.UPDATE_METADATA}
    assert TaskState.SCHEDULING not in TASK_OPS  # no command yet: nothing waits for a host


@pytest.mark.parametrize(
    ("task", "vm_state", "vm_after", "event", "allocated", "release"),
    [
        # A build that never happened: ERROR and its claim released, as for any failed build.
        (TaskState.SPAWNING, VmState.BUILDING, VmState.ERROR, "instance.create.error", False, True),
        # A power action: the server stays as it was, the fault says why nothing happened.
        (TaskState.POWERING_ON, VmState.STOPPED, VmState.STOPPED, "instance.power_on.error", True, False),
        (TaskState.POWERING_OFF, VmState.ACTIVE, VmState.ACTIVE, "instance.power_off.error", True, False),
        (TaskState.REBOOTING, VmState.ACTIVE, VmState.ACTIVE, "instance.reboot.error", True, False),
        # A delete: ERROR, claim kept (the domain may still run there); delete again later.
        (TaskState.DELETING, VmState.ACTIVE, VmState.ERROR, "instance.delete.error", True, False),
    ],
    ids=lambda x: str(x),
)
def test_an_expired_command_fails_its_task_saying_why(
    task: TaskState, vm_state: VmState, vm_after: VmState, event: str, allocated: bool, release: bool
) -> None:
    before = waiting(task, vm_state)
    out = expire(before, 612.4, 600)
    assert out is not None
    after = out.instance
    assert (after.vm_state, after.task_state, after.task_command) == (vm_after, None, None)
    assert after.power_state is before.power_state  # nobody saw the host: nothing new to show
    verb = ACTIONS[TASK_OPS[task]].verb
    assert after.fault == (
        f"{verb} expired on h1: h1 was DOWN and the command waited 612 s for it (commands expire after 600 s)"
    )
    assert (out.event_type, after.allocated, out.release_allocation) == (event, allocated, release)
    assert after.version == before.version + 1


def test_a_server_without_a_command_in_flight_has_nothing_to_expire() -> None:
    idle = replace(waiting(TaskState.POWERING_OFF, VmState.ACTIVE), task_state=None, task_command=None)
    assert expire(idle, 1000, 600) is None
    scheduling = replace(waiting(TaskState.SCHEDULING, VmState.BUILDING), task_command=None, host_id=None)
    assert expire(scheduling, 1000, 600) is None


def test_the_sweep_waits_longer_than_the_agents_and_looks_often_enough() -> None:
    assert overdue_after(600) == 600 + CLOCK_SKEW_S > 600
    assert sweep_interval(600) == 10.0 and sweep_interval(2) == 0.5 and sweep_interval(60) == 3.0


# ---- the sweep on PostgreSQL ------------------------------------------------------------------


async def _host(pool: asyncpg.Pool, host_id: str, state: str) -> None:
    await pool.execute(
        "INSERT INTO hosts (id, hostname, arch, hypervisor_type, availability_zone, vcpus, memory_mib,"
        " disk_gib, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, vcpus_used,"
        " memory_mib_used, disk_gib_used, servers)"
        " VALUES ($1, $1, 'x86_64', 'test', 'az1', 64, 65536, 500, 1, 1, 1, 4, 2048, 20, 2)",
        host_id,
    )
    await pool.execute("INSERT INTO host_status (id, state) VALUES ($1, $2)", host_id, state)


async def _stored(
    pool: asyncpg.Pool, n: int, host: str, task: TaskState, vm: VmState, age_s: float
) -> Instance:
    inst = replace(pending(n, flavor_id="any", image_id="any"), vcpus=2, memory_mib=1024, disk_gib=10)
    await PgInstanceStore(pool).create(inst, [])
    command = uuid.uuid4()
    await pool.execute(
        "UPDATE instances SET host_id = $2, allocated = true, vm_state = $3, task_state = $4,"
        " task_command = $5, updated_at = now() - make_interval(secs => $6) WHERE uid = $1",
        inst.uid,
        host,
        vm.value,
        task.value,
        command,
        age_s,
    )
    return inst


async def test_the_sweep_expires_only_old_commands_for_down_hosts(pool: asyncpg.Pool) -> None:
    await _host(pool, "down", "DOWN")
    await _host(pool, "up", "UP")
    stop = await _stored(pool, 1, "down", TaskState.POWERING_OFF, VmState.ACTIVE, 700)
    spawn = await _stored(pool, 2, "down", TaskState.SPAWNING, VmState.BUILDING, 700)
    young = await _stored(pool, 3, "down", TaskState.POWERING_OFF, VmState.ACTIVE, 60)
    on_up = await _stored(pool, 4, "up", TaskState.POWERING_OFF, VmState.ACTIVE, 700)

    assert await CommandExpiry(PgInstanceStore(pool), 600).sweep() == 2
    rows = {r["uid"]: r for r in await pool.fetch("SELECT * FROM instances")}
    assert (rows[stop.uid]["vm_state"], rows[stop.uid]["task_state"]) == ("ACTIVE", None)
    assert rows[stop.uid]["fault"].startswith("stop expired on down: down was DOWN and the command waited 70")
    assert (rows[spawn.uid]["vm_state"], rows[spawn.uid]["allocated"]) == ("ERROR", False)
    for untouched in (young, on_up):  # too young, or its host is UP (its agent expires it)
        assert rows[untouched.uid]["task_state"] == "POWERING_OFF"
    down = await pool.fetchrow("SELECT vcpus_used, servers FROM hosts WHERE id = 'down'")
    assert (down["vcpus_used"], down["servers"]) == (2, 1)  # the failed build's claim released
    events = await pool.fetch("SELECT message_type, resource FROM outbox ORDER BY id")
    assert sorted((e["message_type"], e["resource"]) for e in events) == sorted(
        [("instance.power_off.error", stop.name), ("instance.create.error", spawn.name)]
    )
    assert await CommandExpiry(PgInstanceStore(pool), 600).sweep() == 0  # each expires once
