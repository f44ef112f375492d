"""Level-triggered correction when an agent (re)registers: compare what the database wants on
that host with the domains libvirt actually has, and decide what to do about each difference.

Edge-triggered events can be lost (an agent killed mid-command); this comparison cannot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from controller.domain.lifecycle import bump
from controller.domain.model import Instance, PowerState, VmState


@dataclass(frozen=True)
class Reconciliation:
    power: dict[UUID, PowerState]  # domains of live servers: adopt their power state
    lost: list[UUID]  # idle live servers whose domain is gone from the host
    orphans: list[UUID]  # domains on the host that no live server owns: remove them


def compare(
    host_id: str, wanted: Iterable[Instance], domains: Mapping[UUID, PowerState]
) -> Reconciliation:
    live = {i.uid: i for i in wanted if i.host_id == host_id and i.vm_state is not VmState.DELETED}
    power = {uid: p for uid, p in domains.items() if uid in live}
    # A server with an operation in flight is left alone: its command is still queued for
    # the agent (commands are acked only after their result is accepted) and will create or
    # remove the domain itself.
    lost = [
        uid
        for uid, inst in live.items()
        if uid not in domains
        and inst.task_state is None
        and inst.allocated
        and inst.vm_state in (VmState.ACTIVE, VmState.STOPPED)
    ]
    orphans = [uid for uid in domains if uid not in live]
    return Reconciliation(power, lost, orphans)


def mark_lost(inst: Instance) -> Instance:
    """A server whose domain vanished is not silently re-created: it goes to ERROR with a
    fault that says what happened, and keeps its claim until it is deleted."""
    return bump(
        inst,
        vm_state=VmState.ERROR,
        power_state=PowerState.UNKNOWN,
        fault=f"domain missing on {inst.host_id}: libvirt no longer has it (seen when its agent "
        "registered); delete the server",
    )
