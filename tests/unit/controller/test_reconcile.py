"""What reconciliation decides when an agent registers its whole domain inventory."""

from __future__ import annotations

import uuid
from dataclasses import replace

from controller.domain.lifecycle import mark_lost
from controller.domain.model import Instance, PowerState, TaskState, VmState
from controller.domain.reconcile import compare


def inst(vm: VmState, task: TaskState | None = None, host: str = "h1", allocated: bool = True) -> Instance:
    return Instance(
        uid=uuid.uuid4(),
        project="p",
        server_id=f"s{uuid.uuid4().hex[:6]}",
        flavor_id="f",
        image_id="i",
        vcpus=1,
        memory_mib=512,
        disk_gib=1,
        vm_state=vm,
        task_state=task,
        host_id=host,
        allocated=allocated,
    )


def test_power_is_adopted_only_for_live_servers_of_this_host() -> None:
    a, b = inst(VmState.ACTIVE), inst(VmState.ACTIVE, host="h2")
    found = compare("h1", [a, b], {a.uid: PowerState.SHUTDOWN, b.uid: PowerState.RUNNING})
    assert found.power == {a.uid: PowerState.SHUTDOWN}
    assert found.orphans == [b.uid]  # h1 has a domain that h1 should not run


def test_idle_server_without_domain_is_lost_but_one_being_built_or_deleted_is_not() -> None:
    idle, stopped = inst(VmState.ACTIVE), inst(VmState.STOPPED)
    spawning = inst(VmState.BUILDING, TaskState.SPAWNING)  # its spawn will create the domain
    deleting = inst(VmState.ACTIVE, TaskState.DELETING)  # its delete wants it gone
    errored = inst(VmState.ERROR, allocated=False)
    found = compare("h1", [idle, stopped, spawning, deleting, errored], {})
    assert sorted(found.lost) == sorted([idle.uid, stopped.uid])
    assert found.orphans == [] and found.power == {}


def test_a_power_action_in_flight_does_not_save_a_server_whose_domain_is_gone() -> None:
    """A start, stop or reboot still queued for the agent cannot bring a domain back (defect
    2 of issue 14: the server stayed STOPPED or ACTIVE with no domain anywhere)."""
    starting = inst(VmState.STOPPED, TaskState.POWERING_ON)
    stopping = inst(VmState.ACTIVE, TaskState.POWERING_OFF)
    rebooting = inst(VmState.ACTIVE, TaskState.REBOOTING)
    found = compare("h1", [starting, stopping, rebooting], {})
    assert sorted(found.lost) == sorted([starting.uid, stopping.uid, rebooting.uid])
    # With their domains there, they are left to their commands.
    present = {i.uid: PowerState.RUNNING for i in (starting, stopping, rebooting)}
    assert compare("h1", [starting, stopping, rebooting], present).lost == []


def test_a_lost_server_with_a_task_in_flight_ends_the_task() -> None:
    stopping = replace(inst(VmState.ACTIVE, TaskState.POWERING_OFF), task_command=uuid.uuid4())
    lost = mark_lost(stopping)
    assert (lost.vm_state, lost.task_state, lost.task_command) == (VmState.ERROR, None, None)
    # Its command, when it reports, no longer matches the task: the report changes nothing.
    assert lost.task_command != stopping.task_command


def test_domains_of_deleted_or_unknown_servers_are_orphans() -> None:
    deleted = inst(VmState.DELETED, allocated=False)
    unknown = uuid.uuid4()
    found = compare("h1", [deleted], {deleted.uid: PowerState.RUNNING, unknown: PowerState.SHUTDOWN})
    assert sorted(found.orphans) == sorted([deleted.uid, unknown])


def test_a_lost_server_goes_to_error_saying_why() -> None:
    server = replace(inst(VmState.ACTIVE), power_state=PowerState.RUNNING)
    lost = mark_lost(server)
    assert lost.vm_state is VmState.ERROR and lost.version == server.version + 1
    assert lost.power_state is PowerState.UNKNOWN  # no domain, so no power state to show
    assert "domain missing on h1" in lost.fault and lost.allocated


def test_the_domain_of_a_server_holding_no_claim_is_an_orphan() -> None:
    """A failed build (its claim released) keeps its host: a domain its spawn made after all
    (the spawn expired while its agent was away, then ran before the report got through) runs
    on nobody's capacity, and goes."""
    failed_build = inst(VmState.ERROR, allocated=False)
    lost_and_kept = inst(VmState.ERROR)  # a lost server keeps its claim until deleted
    found = compare(
        "h1",
        [failed_build, lost_and_kept],
        {failed_build.uid: PowerState.RUNNING, lost_and_kept.uid: PowerState.SHUTDOWN},
    )
    assert found.orphans == [failed_build.uid]
    assert found.power == {lost_and_kept.uid: PowerState.SHUTDOWN}


def _placed(n: int = 1, **kw: object) -> Instance:
    return replace(inst(VmState.ACTIVE), server_id=f"g{n}", **kw)  # type: ignore[arg-type]


def test_reconciliation_removes_a_domain_of_an_older_generation() -> None:
    current = _placed(generation=3)
    moved_away = _placed(2, host_id="h2", generation=2)
    back_here_spawning = _placed(3, generation=2, vm_state=VmState.BUILDING, task_state=TaskState.SPAWNING)
    domains = {i.uid: PowerState.RUNNING for i in (current, moved_away, back_here_spawning)}
    found = compare(
        "h1",
        [current, moved_away, back_here_spawning],
        domains,
        {current.uid: 1, moved_away.uid: 1, back_here_spawning.uid: 1},
    )
    # current: its domain here is of generation 1, not 3: removed, and the server is lost.
    assert found.lost == [current.uid]
    assert sorted(found.orphans) == sorted([current.uid, moved_away.uid, back_here_spawning.uid])
    assert found.power == {}
    # Domains without a generation (defined before generations were) are not judged by it.
    assert compare("h1", [current], {current.uid: PowerState.RUNNING}).power == {
        current.uid: PowerState.RUNNING
    }


def test_a_domain_of_the_current_generation_is_the_servers_own() -> None:
    current = _placed(generation=3)
    spawning = _placed(2, generation=2, vm_state=VmState.BUILDING, task_state=TaskState.SPAWNING)
    found = compare(
        "h1",
        [current, spawning],
        {current.uid: PowerState.RUNNING, spawning.uid: PowerState.RUNNING},
        {current.uid: 3, spawning.uid: 2},
    )
    assert found.power == {current.uid: PowerState.RUNNING, spawning.uid: PowerState.RUNNING}
    assert (found.lost, found.orphans) == ([], [])
