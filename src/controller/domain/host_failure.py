"""What a host's failure does to its servers: marked, evacuated, and fenced (pure).

A host DOWN longer than the grace (--host-failure-grace) has each of its servers marked once:
the fault says "host X DOWN since T", the power state becomes unknown (nobody can see the
guest), an `instance.host_down` event announces it. If the host returns with the server still
there, the mark is cleared (`instance.host_up`) and the power state it had is restored; the
agent's reports correct it from there.

A server whose policy is EVACUATE (or any server, when an operator evacuates the host) is
rebuilt elsewhere through the create path: its claim on the failed host is released, it goes
back to BUILDING/SCHEDULING with its placement generation incremented, and the scheduler places
it as it places a new server (`instance.scheduled`, `instance.create.end`). In the same
transaction a delete of the old copy, of the old generation, is queued for the failed host: the
host's agent carries it out when it returns, before or after it re-registers (reconciliation
removes a domain of an older generation too). The agent refuses any command older than the
domain it finds, so a stale command can never touch a newer copy.

Only idle servers are evacuated: a command in flight for one (waiting in the failed host's
queue) could otherwise run on the old copy when the host returns. The command expiry
(--command-expiry) ends those tasks; the next sweep takes the server then.
See docs/decisions/0012-host-failure-and-fencing.md.
"""

from __future__ import annotations

from datetime import datetime

from controller.domain.lifecycle import EVACUATE_START, bump
from controller.domain.messages import OutboxMessage, instance_event, orphan_delete
from controller.domain.model import HostFailurePolicy, Instance, PowerState, TaskState, VmState

_FAULT_PREFIX = "host "
# The fault of a server being evacuated, until it runs again; a placement that fails keeps it
# in front of the scheduler's reason (domain.placements.failed).
EVACUATING = "evacuating from host "


def host_down_fault(host_id: str, since: datetime) -> str:
    at = since.isoformat(timespec="seconds")
    return f"{_FAULT_PREFIX}{host_id} DOWN since {at}: the server's state is unknown"


def mark_host_down(inst: Instance, since: datetime, now: datetime) -> Instance | None:
    """The server marked for its host's failure; None if it needs no mark (already marked,
    deleted, or not placed on a host)."""
    if inst.host_down_at is not None or inst.vm_state is VmState.DELETED or inst.host_id is None:
        return None
    return bump(
        inst,
        fault=host_down_fault(inst.host_id, since),
        power_state=PowerState.UNKNOWN,
        host_down_at=now,
        host_down_power=inst.power_state,
    )


def clear_host_down(inst: Instance) -> Instance | None:
    """The mark taken off a server whose host came back with it; None if it has none. The
    power state it had is restored unless a report changed it since; a fault set since (a
    failed operation) is kept."""
    if inst.host_down_at is None:
        return None
    power = inst.power_state
    if power is PowerState.UNKNOWN and inst.host_down_power is not None:
        power = inst.host_down_power
    fault = "" if inst.fault.startswith(_FAULT_PREFIX) and " DOWN since " in inst.fault else inst.fault
    return bump(inst, fault=fault, power_state=power, host_down_at=None, host_down_power=None)


def why_not_evacuable(inst: Instance) -> str | None:
    """Why the server cannot be evacuated now (None: it can)."""
    if inst.vm_state is VmState.DELETED:
        return "deleted"
    if inst.host_id is None or not inst.allocated:
        return "not placed on a host"
    if inst.task_state is not None:
        return (
            f"{inst.task_state.value} in flight: its command waits for the host"
            " (evacuated once the command expires, see --command-expiry)"
        )
    return None


def wants_evacuation(inst: Instance) -> bool:
    return inst.host_failure_policy is HostFailurePolicy.EVACUATE


def evacuate(inst: Instance, reason: str) -> tuple[Instance, list[OutboxMessage]]:
    """The server taken off its failed host, pending placement elsewhere, with its messages:
    `instance.evacuate.start`, and the removal of the old copy queued for the old host (run
    when it returns; the agent refuses it for a newer copy). The caller releases the claim."""
    if (why := why_not_evacuable(inst)) is not None:
        raise ValueError(f"{inst.name} cannot be evacuated: {why}")
    old_host = inst.host_id
    assert old_host is not None  # checked above
    new = bump(
        inst,
        vm_state=VmState.BUILDING,
        task_state=TaskState.SCHEDULING,
        task_command=None,
        host_id=None,
        allocated=False,
        power_state=PowerState.UNKNOWN,
        generation=inst.generation + 1,
        fault=f"{EVACUATING}{old_host}: {reason}",
        host_down_at=None,
        host_down_power=None,
    )
    return new, [instance_event(new, EVACUATE_START), orphan_delete(inst.uid, old_host, inst.generation)]
