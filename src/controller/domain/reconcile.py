"""Level-triggered correction when an agent (re)registers: compare what the database wants on
that host with the domains libvirt actually has, and decide what to do about each difference.

Edge-triggered events can be lost (an agent killed mid-command); this comparison cannot.

Fencing: a domain is a server's only if it is of the server's current placement. One of an
older generation (the server was evacuated, and this host has come back with its old copy) is
an orphan like a domain nobody owns: removed, never started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from controller.domain.lifecycle import NEEDS_DOMAIN
from controller.domain.model import Instance, PowerState, VmState


@dataclass(frozen=True)
class Reconciliation:
    power: dict[UUID, PowerState]  # domains of live servers: adopt their power state
    lost: list[UUID]  # live servers whose domain is gone from the host (lifecycle.mark_lost)
    orphans: list[UUID]  # domains on the host that no live, placed server owns: remove them


def compare(
    host_id: str,
    wanted: Iterable[Instance],
    domains: Mapping[UUID, PowerState],
    generations: Mapping[UUID, int] | None = None,
) -> Reconciliation:
    """`generations`: the placement generation each domain records (0 or absent: none)."""
    live = {i.uid: i for i in wanted if i.host_id == host_id and i.vm_state is not VmState.DELETED}
    gens = generations or {}
    # Domains of an earlier placement of their server: not its domain here.
    stale = {uid for uid, inst in live.items() if 0 < gens.get(uid, 0) < inst.generation}
    current = {uid: p for uid, p in domains.items() if uid not in stale}
    # A domain is an orphan when no live server owns it, or its server holds no claim on this
    # host (a failed build, one whose spawn expired: it may have been carried out after all).
    owned = {uid for uid, inst in live.items() if inst.allocated} - stale
    power = {uid: p for uid, p in current.items() if uid in owned}
    lost = [uid for uid, inst in live.items() if uid not in current and _needs_domain(inst)]
    orphans = [uid for uid in domains if uid not in owned]
    return Reconciliation(power, lost, orphans)


def _needs_domain(inst: Instance) -> bool:
    """Whether a live server of this host must have a domain there now. A spawn or delete in
    flight is left alone: its command is still queued for the agent (commands are acked only
    after their result is accepted) and will create or remove the domain itself. A start,
    stop or reboot cannot: the server is lost whether or not its command has run yet."""
    return (
        inst.allocated
        and inst.vm_state in (VmState.ACTIVE, VmState.STOPPED)
        and (inst.task_state is None or inst.task_state in NEEDS_DOMAIN)
    )
