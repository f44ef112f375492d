"""The instance state machine: which operation is allowed in which state, and what follows.

One table for user actions and one for agent results, so every transition lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

from controller.domain.errors import FailedPrecondition
from controller.domain.model import CommandFailure, CommandOp, Instance, PowerState, TaskState, VmState
from controller.domain.scaling.records import SCALING_EVENTS


@dataclass(frozen=True)
class Action:
    """A user action on a server that the agent carries out."""

    op: CommandOp
    allowed_from: frozenset[VmState]
    task: TaskState
    start_event: str
    end_event: str
    error_event: str
    end_vm_state: VmState
    verb: str


ACTIONS: Final[dict[CommandOp, Action]] = {
    CommandOp.SPAWN: Action(
        CommandOp.SPAWN,
        frozenset({VmState.BUILDING}),
        TaskState.SPAWNING,
        "instance.scheduled",
        "instance.create.end",
        "instance.create.error",
        VmState.ACTIVE,
        "spawn",
    ),
    CommandOp.START: Action(
        CommandOp.START,
        frozenset({VmState.STOPPED}),
        TaskState.POWERING_ON,
        "instance.power_on.start",
        "instance.power_on.end",
        "instance.power_on.error",
        VmState.ACTIVE,
        "start",
    ),
    CommandOp.STOP: Action(
        CommandOp.STOP,
        frozenset({VmState.ACTIVE}),
        TaskState.POWERING_OFF,
        "instance.power_off.start",
        "instance.power_off.end",
        "instance.power_off.error",
        VmState.STOPPED,
        "stop",
    ),
    CommandOp.REBOOT: Action(
        CommandOp.REBOOT,
        frozenset({VmState.ACTIVE}),
        TaskState.REBOOTING,
        "instance.reboot.start",
        "instance.reboot.end",
        "instance.reboot.error",
        VmState.ACTIVE,
        "reboot",
    ),
    CommandOp.DELETE: Action(
        CommandOp.DELETE,
        frozenset({VmState.BUILDING, VmState.ACTIVE, VmState.STOPPED, VmState.ERROR}),
        TaskState.DELETING,
        "instance.delete.start",
        "instance.delete.end",
        "instance.delete.error",
        VmState.DELETED,
        "delete",
    ),
}


POWER_STATE_UPDATE = "instance.power_state.update"
INSTANCE_LOST = "instance.lost"
INSTANCE_UPDATE = "instance.update"
# Host failure (domain.host_failure).
HOST_DOWN: Final = "instance.host_down"
HOST_UP: Final = "instance.host_up"
EVACUATE_START: Final = "instance.evacuate.start"


def check_action(inst: Instance, op: CommandOp) -> Action:
    """The action, or FailedPrecondition naming the state that forbids it."""
    action = ACTIONS[op]
    if inst.vm_state is VmState.DELETED:
        raise FailedPrecondition(f"{inst.name} is deleted", reason="SERVER_DELETED")
    if op is not CommandOp.DELETE and inst.task_state is not None:
        raise FailedPrecondition(
            f"cannot {action.verb} {inst.name} while it is {inst.task_state.value}: "
            "wait until the current operation ends",
            reason="TASK_IN_PROGRESS",
        )
    if inst.vm_state not in action.allowed_from:
        allowed = ", ".join(sorted(s.value for s in action.allowed_from))
        raise FailedPrecondition(
            f"cannot {action.verb} {inst.name} in state {inst.vm_state.value} (allowed from {allowed})",
            reason="INVALID_STATE",
        )
    return action


def bump(inst: Instance, **changes: Any) -> Instance:
    """The instance after a change: the version the database will give it, so events built
    from it carry the right version."""
    return replace(inst, version=inst.version + 1, **changes)


def needs_agent_for_delete(inst: Instance) -> bool:
    """A server never placed (or whose placement was released) is deleted without an agent."""
    return inst.host_id is not None and inst.allocated


# Tasks whose command needs the server's domain to exist on its host: when it is gone, no
# queued command will bring it back (unlike SPAWNING, which creates it, and DELETING, which
# wants it gone), so the server is lost.
NEEDS_DOMAIN: Final = frozenset({TaskState.POWERING_ON, TaskState.POWERING_OFF, TaskState.REBOOTING})


LOST_FAULT = "domain missing"  # how a lost server's fault begins (mark_lost)


def is_lost(vm_state: VmState, fault: str) -> bool:
    """Whether a server is in ERROR because its domain vanished (mark_lost)."""
    return vm_state is VmState.ERROR and fault.startswith(LOST_FAULT)


def mark_lost(inst: Instance, seen_by: str = "its agent registered") -> Instance:
    """A server whose domain vanished is not silently re-created: it goes to ERROR with a
    fault that says what happened, and keeps its claim until it is deleted. A task in flight
    ends with it (its command can do nothing without the domain). A mark for its host's
    failure goes (domain.host_failure): its host is back, and what it holds is known now."""
    return bump(
        inst,
        vm_state=VmState.ERROR,
        task_state=None,
        task_command=None,
        power_state=PowerState.UNKNOWN,
        host_down_at=None,
        host_down_power=None,
        fault=f"{LOST_FAULT} on {inst.host_id}: libvirt no longer has it (seen when {seen_by});"
        " delete the server",
    )


@dataclass(frozen=True)
class ReportOutcome:
    instance: Instance
    event_type: str
    release_allocation: bool


def apply_result(
    inst: Instance,
    op: CommandOp,
    ok: bool,
    error: str,
    power: PowerState,
    failure: CommandFailure = CommandFailure.OTHER,
) -> ReportOutcome:
    """What an agent's result for the instance's current task does to it."""
    action = ACTIONS[op]
    if not ok and failure is CommandFailure.DOMAIN_MISSING and inst.task_state in NEEDS_DOMAIN:
        # The same outcome as reconciliation finding the domain gone.
        lost = mark_lost(inst, f"its {action.verb} command ran")
        return ReportOutcome(lost, INSTANCE_LOST, False)
    if ok:
        new = bump(
            inst,
            vm_state=action.end_vm_state,
            task_state=None,
            task_command=None,
            # The power state the agent saw as it finished; a deleted server has none.
            power_state=PowerState.UNKNOWN if op is CommandOp.DELETE else power,
            fault="",
            allocated=inst.allocated and op is not CommandOp.DELETE,
        )
        return ReportOutcome(new, action.end_event, op is CommandOp.DELETE)
    failed = "expired" if failure is CommandFailure.EXPIRED else "failed"
    fault = f"{action.verb} {failed} on {inst.host_id}: {error or 'no reason given'}"
    if op in (CommandOp.SPAWN, CommandOp.DELETE):
        # Nova's rule: a failed build or delete leaves the server in ERROR; a failed build
        # frees its claim, since nothing runs on the host.
        new = bump(
            inst,
            vm_state=VmState.ERROR,
            task_state=None,
            task_command=None,
            power_state=power,
            fault=fault,
            allocated=inst.allocated and op is not CommandOp.SPAWN,
        )
        return ReportOutcome(new, action.error_event, op is CommandOp.SPAWN)
    # A failed power operation leaves the server as it was, with the fault recorded.
    new = bump(inst, task_state=None, task_command=None, power_state=power, fault=fault)
    return ReportOutcome(new, action.error_event, False)


def sync_power(inst: Instance, power: PowerState) -> Instance | None:
    """Adopt a power state the hypervisor reported on its own; None when nothing changes.

    Only idle servers follow the hypervisor: an operation in flight owns the state until its
    result arrives.
    """
    if inst.task_state is not None or inst.vm_state in (VmState.DELETED, VmState.BUILDING):
        return None
    vm_state = inst.vm_state
    if inst.vm_state is VmState.ACTIVE and power in (PowerState.SHUTDOWN, PowerState.CRASHED):
        vm_state = VmState.STOPPED
    elif inst.vm_state is VmState.STOPPED and power is PowerState.RUNNING:
        vm_state = VmState.ACTIVE
    if vm_state is inst.vm_state and power is inst.power_state:
        return None
    return bump(inst, vm_state=vm_state, power_state=power)


def event_catalogue() -> dict[str, str]:
    """Every event type the controller publishes, with what it announces."""
    catalogue = {"instance.create.start": "a server was accepted (BUILDING, SCHEDULING)"}
    for action in ACTIONS.values():
        verb = action.verb
        catalogue[action.start_event] = (
            "the scheduler placed the server and sent spawn to its host"
            if action.op is CommandOp.SPAWN
            else f"{verb} was requested and sent to the server's host"
        )
        catalogue[action.end_event] = (
            "the server is gone (DELETED); its domain, if it had one, is undefined"
            if action.op is CommandOp.DELETE
            else f"the agent reported {verb} done (vm_state {action.end_vm_state.value})"
        )
        catalogue[action.error_event] = f"{verb} failed; the payload's fault says why"
    catalogue["instance.create.error"] = (
        "the server could not be built: no valid host, or spawn failed on its host (ERROR)"
    )
    catalogue[INSTANCE_LOST] = (
        "the server's domain is gone from its host, as reconciliation or a start, stop or reboot"
        " found (ERROR, fault says so)"
    )
    catalogue[INSTANCE_UPDATE] = (
        "a server's metadata (its host, if it has one, was told) or host_failure_policy changed"
        " (UpdateServer), "
        "or it left its scaling group (DeleteScalingGroup with keep_members)"
    )
    catalogue[HOST_DOWN] = (
        "the server's host has been DOWN past --host-failure-grace (its fault says since when,"
        " power state unspecified); once per outage"
    )
    catalogue[HOST_UP] = "the server's host came back with it: the host_down mark is cleared"
    catalogue[EVACUATE_START] = (
        "the server is rebuilt on another host (its host failed): BUILDING, SCHEDULING, generation"
        " incremented; instance.scheduled and instance.create.end follow as for a create"
    )
    catalogue[POWER_STATE_UPDATE] = (
        "the hypervisor reported a power change nobody asked for (guest shut itself down)"
    )
    catalogue.update(
        {
            "host.up": "an agent registered, or its heartbeats resumed",
            "host.down": "a host missed its heartbeats: no placements until it returns",
            "host.enabled": "a host was taken back into scheduling",
            "host.disabled": "a host was taken out of scheduling (maintenance); reason in payload",
        }
    )
    catalogue.update(SCALING_EVENTS)
    return catalogue
