"""The instance state machine (controller.domain.lifecycle): which user action is allowed in
which state, what an agent's result does to a server, and when the hypervisor's own power
reports are adopted."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from controller.domain.errors import FailedPrecondition
from controller.domain.lifecycle import (
    ACTIONS,
    apply_result,
    check_action,
    event_catalogue,
    mark_lost,
    needs_agent_for_delete,
    sync_power,
)
from controller.domain.model import CommandFailure, CommandOp, Instance, PowerState, TaskState, VmState

USER_OPS = (CommandOp.START, CommandOp.STOP, CommandOp.REBOOT, CommandOp.DELETE)
TASKS: tuple[TaskState | None, ...] = (None, *TaskState)

# The contract users rely on, written out independently of ACTIONS.
ALLOWED_FROM = {
    CommandOp.START: {VmState.STOPPED},
    CommandOp.STOP: {VmState.ACTIVE},
    CommandOp.REBOOT: {VmState.ACTIVE},
    CommandOp.DELETE: {VmState.BUILDING, VmState.ACTIVE, VmState.STOPPED, VmState.ERROR},
}


def server(vm_state: VmState, task_state: TaskState | None = None, **kw: object) -> Instance:
    fields: dict[str, object] = dict(
        uid=uuid.UUID(int=7),
        project="acme",
        server_id="web-1",
        flavor_id="m1.small",
        image_id="debian-12",
        vcpus=2,
        memory_mib=2048,
        disk_gib=20,
        vm_state=vm_state,
        task_state=task_state,
        host_id="h1",
        allocated=True,
        metadata={"role": "web"},
        version=5,
    )
    fields.update(kw)
    return Instance(**fields)  # type: ignore[arg-type]


# The task a server shows while the agent carries out each action (GetServer's task_state).
TASK_WHILE = {
    CommandOp.SPAWN: TaskState.SPAWNING,
    CommandOp.START: TaskState.POWERING_ON,
    CommandOp.STOP: TaskState.POWERING_OFF,
    CommandOp.REBOOT: TaskState.REBOOTING,
    CommandOp.DELETE: TaskState.DELETING,
}


# The verb a person reads in refusals and faults ("cannot start ...", "stop failed on h1: ...").
VERB = {
    CommandOp.SPAWN: "spawn",
    CommandOp.START: "start",
    CommandOp.STOP: "stop",
    CommandOp.REBOOT: "reboot",
    CommandOp.DELETE: "delete",
}


def test_user_action_table_matches_the_documented_contract() -> None:
    assert {op: set(ACTIONS[op].allowed_from) for op in USER_OPS} == ALLOWED_FROM
    assert ACTIONS[CommandOp.SPAWN].allowed_from == {VmState.BUILDING}  # the scheduler's, not a user's
    assert {op: action.task for op, action in ACTIONS.items()} == TASK_WHILE
    assert {op: action.verb for op, action in ACTIONS.items()} == VERB
    assert all(action.op is op for op, action in ACTIONS.items())


# ---- check_action ---------------------------------------------------------------------------


@pytest.mark.parametrize("op", USER_OPS, ids=str)
@pytest.mark.parametrize("task", TASKS, ids=str)
@pytest.mark.parametrize("vm_state", list(VmState), ids=str)
def test_check_action_over_every_state(vm_state: VmState, task: TaskState | None, op: CommandOp) -> None:
    inst = server(vm_state, task)
    # Delete may overtake an operation in flight (as in Nova); other actions must wait.
    task_blocks = task is not None and op is not CommandOp.DELETE
    allowed = vm_state in ALLOWED_FROM[op] and not task_blocks

    if allowed:
        action = check_action(inst, op)
        assert action.op is op
        assert action is ACTIONS[op]
        return

    with pytest.raises(FailedPrecondition) as excinfo:
        check_action(inst, op)
    message = str(excinfo.value)
    assert inst.name in message
    if vm_state is VmState.DELETED:
        assert "deleted" in message
        assert excinfo.value.reason == "SERVER_DELETED"
    elif task_blocks:
        assert task is not None and task.value in message
        assert excinfo.value.reason == "TASK_IN_PROGRESS"
    else:
        assert vm_state.value in message
        assert excinfo.value.reason == "INVALID_STATE"


def test_start_while_deleting_names_the_task() -> None:
    with pytest.raises(FailedPrecondition, match=r"cannot start .* while it is DELETING"):
        check_action(server(VmState.ACTIVE, TaskState.DELETING), CommandOp.START)


def test_stop_a_stopped_server_names_the_state_and_what_is_allowed() -> None:
    with pytest.raises(FailedPrecondition, match=r"cannot stop .* in state STOPPED \(allowed from ACTIVE\)"):
        check_action(server(VmState.STOPPED), CommandOp.STOP)


@pytest.mark.parametrize("op", USER_OPS, ids=str)
def test_anything_on_a_deleted_server_is_refused(op: CommandOp) -> None:
    with pytest.raises(FailedPrecondition, match="projects/acme/servers/web-1 is deleted"):
        check_action(server(VmState.DELETED), op)


def test_delete_is_allowed_while_a_build_is_in_flight() -> None:
    assert check_action(server(VmState.BUILDING, TaskState.SPAWNING), CommandOp.DELETE).task is (
        TaskState.DELETING
    )


# ---- apply_result ---------------------------------------------------------------------------

# The state a server is in while the agent carries out each op.
IN_FLIGHT = {
    CommandOp.SPAWN: (VmState.BUILDING, TaskState.SPAWNING, PowerState.UNKNOWN),
    CommandOp.START: (VmState.STOPPED, TaskState.POWERING_ON, PowerState.SHUTDOWN),
    CommandOp.STOP: (VmState.ACTIVE, TaskState.POWERING_OFF, PowerState.RUNNING),
    CommandOp.REBOOT: (VmState.ACTIVE, TaskState.REBOOTING, PowerState.RUNNING),
    CommandOp.DELETE: (VmState.ACTIVE, TaskState.DELETING, PowerState.RUNNING),
}


def in_flight(op: CommandOp) -> Instance:
    vm, task, power = IN_FLIGHT[op]
    return server(vm, task, power_state=power, task_command=uuid.UUID(int=99), fault="an older fault")


RUN, OFF, PAUSED, CRASHED = PowerState.RUNNING, PowerState.SHUTDOWN, PowerState.PAUSED, PowerState.CRASHED

# op, power the agent reports, then: vm_state, power_state, allocated, event, release
SUCCESS = [
    (CommandOp.SPAWN, RUN, VmState.ACTIVE, RUN, True, "instance.create.end", False),
    (CommandOp.START, RUN, VmState.ACTIVE, RUN, True, "instance.power_on.end", False),
    (CommandOp.STOP, OFF, VmState.STOPPED, OFF, True, "instance.power_off.end", False),
    (CommandOp.REBOOT, RUN, VmState.ACTIVE, RUN, True, "instance.reboot.end", False),
    (CommandOp.DELETE, OFF, VmState.DELETED, PowerState.UNKNOWN, False, "instance.delete.end", True),
    # The power state is the one the agent saw when it finished, not the one the action aims at
    # (a guest that crashed as it booted, one that came up paused).
    (CommandOp.SPAWN, CRASHED, VmState.ACTIVE, CRASHED, True, "instance.create.end", False),
    (CommandOp.START, PAUSED, VmState.ACTIVE, PAUSED, True, "instance.power_on.end", False),
    (CommandOp.REBOOT, OFF, VmState.ACTIVE, OFF, True, "instance.reboot.end", False),
]


@pytest.mark.parametrize(
    ("op", "reported", "vm_state", "power", "allocated", "event", "release"), SUCCESS, ids=lambda x: str(x)
)
def test_successful_result(
    op: CommandOp,
    reported: PowerState,
    vm_state: VmState,
    power: PowerState,
    allocated: bool,
    event: str,
    release: bool,
) -> None:
    before = in_flight(op)
    out = apply_result(before, op, True, "", reported)
    after = out.instance
    assert (after.vm_state, after.task_state, after.power_state) == (vm_state, None, power)
    assert after.task_command is None
    assert after.fault == ""  # success clears an earlier fault
    assert after.allocated is allocated
    assert out.event_type == event
    assert out.release_allocation is release
    assert after.version == before.version + 1
    assert (after.uid, after.host_id, after.metadata, after.flavor_id) == (
        before.uid,
        before.host_id,
        before.metadata,
        before.flavor_id,
    )


# op, power the agent reports, then: vm_state, allocated, event, release
FAILURE = [
    # A failed build goes to ERROR and frees its claim: nothing runs on the host.
    (CommandOp.SPAWN, PowerState.SHUTDOWN, VmState.ERROR, False, "instance.create.error", True),
    # A failed delete goes to ERROR but keeps the claim: the domain may still exist.
    (CommandOp.DELETE, PowerState.RUNNING, VmState.ERROR, True, "instance.delete.error", False),
    # A failed power operation leaves vm_state as it was.
    (CommandOp.START, PowerState.SHUTDOWN, VmState.STOPPED, True, "instance.power_on.error", False),
    (CommandOp.STOP, PowerState.RUNNING, VmState.ACTIVE, True, "instance.power_off.error", False),
    (CommandOp.REBOOT, PowerState.RUNNING, VmState.ACTIVE, True, "instance.reboot.error", False),
    # ... and records the power state the agent saw (not the one before the operation).
    (CommandOp.STOP, PowerState.CRASHED, VmState.ACTIVE, True, "instance.power_off.error", False),
    (CommandOp.REBOOT, PowerState.SHUTDOWN, VmState.ACTIVE, True, "instance.reboot.error", False),
    (CommandOp.START, PowerState.PAUSED, VmState.STOPPED, True, "instance.power_on.error", False),
]


@pytest.mark.parametrize(
    ("op", "reported", "vm_state", "allocated", "event", "release"), FAILURE, ids=lambda x: str(x)
)
def test_failed_result(
    op: CommandOp, reported: PowerState, vm_state: VmState, allocated: bool, event: str, release: bool
) -> None:
    before = in_flight(op)
    out = apply_result(before, op, False, "libvirt said no", reported)
    after = out.instance
    assert (after.vm_state, after.task_state, after.power_state) == (vm_state, None, reported)
    assert after.task_command is None
    assert after.fault == f"{VERB[op]} failed on h1: libvirt said no"
    assert after.allocated is allocated
    assert out.event_type == event
    assert out.release_allocation is release
    assert after.version == before.version + 1
    assert after.host_id == before.host_id


@pytest.mark.parametrize(
    ("host_id", "allocated", "needs_agent"),
    [
        ("h1", True, True),  # placed and claimed: its host may run a domain, ask its agent
        (None, False, False),  # never placed (still scheduling, or NoValidHost)
        ("h1", False, False),  # placed, but the claim was released (a failed build): no domain
    ],
)
def test_delete_asks_an_agent_only_when_a_host_holds_the_server(
    host_id: str | None, allocated: bool, needs_agent: bool
) -> None:
    vm_state = VmState.ERROR if host_id and not allocated else VmState.BUILDING
    inst = server(vm_state, host_id=host_id, allocated=allocated)
    assert needs_agent_for_delete(inst) is needs_agent


@pytest.mark.parametrize("op", [CommandOp.START, CommandOp.STOP, CommandOp.REBOOT], ids=str)
def test_a_power_action_that_finds_no_domain_marks_the_server_lost(op: CommandOp) -> None:
    """As reconciliation does when an agent registers without the domain: a start, stop or
    reboot cannot bring it back, so the server is not left as it was with no domain."""
    before = in_flight(op)
    out = apply_result(
        before, op, False, "no domain for instance x", PowerState.UNKNOWN, CommandFailure.DOMAIN_MISSING
    )
    after = out.instance
    assert (after.vm_state, after.task_state, after.task_command) == (VmState.ERROR, None, None)
    assert after.power_state is PowerState.UNKNOWN
    assert after.fault.startswith("domain missing on h1: ")
    assert f"its {VERB[op]} command ran" in after.fault
    assert out.event_type == "instance.lost"
    # The claim stays until the server is deleted, as for any lost server.
    assert after.allocated and not out.release_allocation
    # The same server seen missing by reconciliation ends in the same state.
    seen = mark_lost(before)
    assert (seen.vm_state, seen.task_state, seen.power_state, seen.allocated) == (
        after.vm_state,
        after.task_state,
        after.power_state,
        after.allocated,
    )


def test_a_server_found_lost_keeps_no_host_down_mark() -> None:
    """Its host is back (it registered) and what it holds is known: the mark for the host's
    failure, and the power state it remembered, go (domain.host_failure)."""
    marked = replace(
        in_flight(CommandOp.STOP),
        host_down_at=datetime(2026, 1, 2, tzinfo=UTC),
        host_down_power=PowerState.RUNNING,
    )
    seen = mark_lost(marked)
    assert (seen.host_down_at, seen.host_down_power, seen.power_state) == (None, None, PowerState.UNKNOWN)


@pytest.mark.parametrize(
    ("op", "event"),
    [(CommandOp.SPAWN, "instance.create.error"), (CommandOp.DELETE, "instance.delete.error")],
    ids=str,
)
def test_a_missing_domain_is_an_ordinary_failure_for_spawn_and_delete(op: CommandOp, event: str) -> None:
    """Spawn creates the domain and delete wants it gone: neither reports it missing for the
    server's loss (were one to, it is the usual failure)."""
    out = apply_result(in_flight(op), op, False, "gone", PowerState.UNKNOWN, CommandFailure.DOMAIN_MISSING)
    assert out.event_type == event and out.instance.vm_state is VmState.ERROR
    assert out.instance.fault == f"{VERB[op]} failed on h1: gone"


def test_failure_without_a_reason_still_says_so() -> None:
    out = apply_result(in_flight(CommandOp.STOP), CommandOp.STOP, False, "", PowerState.RUNNING)
    assert out.instance.fault == "stop failed on h1: no reason given"


# ---- sync_power -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vm_state", "power_before", "reported", "vm_after"),
    [
        (VmState.ACTIVE, PowerState.RUNNING, PowerState.SHUTDOWN, VmState.STOPPED),  # guest shut down
        (VmState.ACTIVE, PowerState.RUNNING, PowerState.CRASHED, VmState.STOPPED),
        (VmState.STOPPED, PowerState.SHUTDOWN, PowerState.RUNNING, VmState.ACTIVE),  # started outside us
        (VmState.ACTIVE, PowerState.RUNNING, PowerState.PAUSED, VmState.ACTIVE),  # power state only
        (VmState.ERROR, PowerState.SHUTDOWN, PowerState.RUNNING, VmState.ERROR),  # ERROR stays ERROR
    ],
    ids=str,
)
def test_idle_server_follows_the_hypervisor(
    vm_state: VmState, power_before: PowerState, reported: PowerState, vm_after: VmState
) -> None:
    before = server(vm_state, power_state=power_before)
    after = sync_power(before, reported)
    assert after is not None
    assert (after.vm_state, after.power_state, after.task_state) == (vm_after, reported, None)
    assert after.version == before.version + 1


@pytest.mark.parametrize("task", list(TaskState), ids=str)
@pytest.mark.parametrize("reported", [PowerState.RUNNING, PowerState.SHUTDOWN], ids=str)
def test_operation_in_flight_owns_the_state(task: TaskState, reported: PowerState) -> None:
    for vm_state, power in ((VmState.ACTIVE, PowerState.RUNNING), (VmState.STOPPED, PowerState.SHUTDOWN)):
        assert sync_power(server(vm_state, task, power_state=power), reported) is None


@pytest.mark.parametrize(
    ("vm_state", "power"),
    [
        (VmState.ACTIVE, PowerState.RUNNING),
        (VmState.STOPPED, PowerState.SHUTDOWN),
        (VmState.ERROR, PowerState.SHUTDOWN),
    ],
    ids=str,
)
def test_no_change_is_none(vm_state: VmState, power: PowerState) -> None:
    assert sync_power(server(vm_state, power_state=power), power) is None


@pytest.mark.parametrize("vm_state", [VmState.DELETED, VmState.BUILDING], ids=str)
def test_deleted_and_building_servers_ignore_power_reports(vm_state: VmState) -> None:
    inst = server(vm_state, power_state=PowerState.UNKNOWN)
    assert sync_power(inst, PowerState.RUNNING) is None
    assert sync_power(replace(inst, power_state=PowerState.RUNNING), PowerState.SHUTDOWN) is None


# ---- the event catalogue ---------------------------------------------------------------------


def test_every_event_says_what_it_announces() -> None:
    catalogue = event_catalogue()
    assert all(description.strip() for description in catalogue.values())
    # The two whose wording differs from their kind's (spawn is sent by the scheduler; a
    # delete's end is the server gone, not a state reached).
    assert catalogue["instance.scheduled"] == "the scheduler placed the server and sent spawn to its host"
    assert catalogue["instance.power_on.start"] == "start was requested and sent to the server's host"
    assert catalogue["instance.delete.end"].startswith("the server is gone (DELETED)")
    assert catalogue["instance.power_off.end"] == "the agent reported stop done (vm_state STOPPED)"
