"""Commands that wait too long for their host expire (issue 14).

A command queued for a host that is DOWN waits in the host's queue. After `expiry_s` from when
it was issued (the outbox row's time, which is the task's start: the same transaction) it is
void, decided on both sides so that they agree:

- the agent, when it gets a command older than `expiry_s` by its clock (the controller tells
  it `expiry_s` at registration), does not carry it out and reports it COMMAND_FAILURE_EXPIRED
  (a host that is UP but far behind expires its own commands this way);
- the host monitor's sweep (a leader) fails the task of a server whose command has waited more
  than `expiry_s + CLOCK_SKEW_S` on a host that is DOWN, with a fault saying so.

The controller's deadline is the later one, so an agent that acts on a command (it found it
younger than `expiry_s`) did so before the sweep could expire it, unless the agent's clock is
behind the database's by more than CLOCK_SKEW_S or the host went DOWN again while it ran the
command; then the command's report is ignored (its task is over) and reconciliation or the
hypervisor's own events bring the power state back in line.

Either way the task ends as a failure of its operation (lifecycle.apply_result): a spawn is a
failed build (ERROR, claim released; a domain it left behind is removed when its agent
registers), a start, stop or reboot leaves the server as it was, a delete leaves it in ERROR
(deleting it again once the host is back finishes the job).
"""

from __future__ import annotations

from typing import Final

from controller.domain.lifecycle import ACTIONS, ReportOutcome, apply_result
from controller.domain.model import CommandFailure, CommandOp, Instance, TaskState

# Clocks (the database's, which stamps commands, and the agents' hosts') are trusted to agree
# within this (NTP keeps them within milliseconds).
CLOCK_SKEW_S: Final = 5.0

TASK_OPS: Final[dict[TaskState, CommandOp]] = {a.task: op for op, a in ACTIONS.items()}


def overdue_after(expiry_s: float) -> float:
    """How long a task's command must have waited before the sweep expires it."""
    return expiry_s + CLOCK_SKEW_S


def sweep_interval(expiry_s: float) -> float:
    """How often the sweep looks: a twentieth of the expiry, between 0.5 and 10 s."""
    return min(10.0, max(0.5, expiry_s / 20))


def expire(inst: Instance, waited_s: float, expiry_s: float) -> ReportOutcome | None:
    """The task of a server whose host is DOWN, after its command waited `waited_s`; None when
    the server has no command in flight (the sweep read it before the task ended)."""
    op = TASK_OPS.get(inst.task_state) if inst.task_state is not None else None
    if op is None or inst.task_command is None:
        return None
    why = (
        f"{inst.host_id} was DOWN and the command waited {waited_s:.0f} s for it"
        f" (commands expire after {expiry_s:g} s)"
    )
    return apply_result(inst, op, False, why, inst.power_state, CommandFailure.EXPIRED)
