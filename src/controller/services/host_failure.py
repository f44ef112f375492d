"""Host failure: mark the servers of hosts DOWN past the grace, evacuate those whose policy
says so (or all, when an operator asks), and clear the marks of servers whose host came back
(domain.host_failure says what each step does; docs/decisions/0012-host-failure-and-fencing.md
why).

The sweep runs on one replica (leadership). Every step is decided under the server's row lock
and written with its event in one transaction, and a mark is a column (`host_down_at`): a
server is marked once per outage and evacuated once, whichever replica leads, across restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

import structlog

from controller.domain import names
from controller.domain.errors import FailedPrecondition
from controller.domain.host_failure import (
    clear_host_down,
    evacuate,
    mark_host_down,
    wants_evacuation,
    why_not_evacuable,
)
from controller.domain.lifecycle import HOST_DOWN, HOST_UP
from controller.domain.messages import instance_event
from controller.domain.model import Instance
from controller.services.ports import InstanceStore, MutateFn, Mutation

log = structlog.get_logger(__name__)

BATCH = 500  # servers changed per transaction


class HostFailureStore(Protocol):
    async def failed_hosts(self, grace_s: float) -> list[tuple[str, datetime]]: ...
    async def marked_on_up_hosts(self, limit: int) -> list[UUID]: ...
    async def usable_hosts(self) -> int: ...
    async def down_since(self, host_id: str) -> datetime | None: ...


@dataclass
class Evacuation:
    """What evacuating a host did: servers taken off it, and those left with why."""

    evacuated: list[Instance] = field(default_factory=list)
    skipped: list[tuple[Instance, str]] = field(default_factory=list)


def sweep_interval(grace_s: float) -> float:
    """How often the sweep runs: a few times per grace, between 0.5 s and 5 s."""
    return max(0.5, min(5.0, grace_s / 4))


class HostFailures:
    def __init__(
        self,
        store: HostFailureStore,
        instances: InstanceStore,
        grace_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._instances = instances
        self.grace_s = grace_s
        self._clock = clock
        self._holding = False  # evacuations held: no host UP (logged once per hold)

    async def run(self) -> None:
        """Sweep every sweep_interval, for as long as this replica leads."""
        while True:
            await self.sweep()
            await asyncio.sleep(sweep_interval(self.grace_s))

    async def sweep(self) -> tuple[int, int, int]:
        """One pass: (servers marked, evacuated, cleared).

        With no host UP and enabled, servers are marked but not evacuated (Kubernetes' "full
        disruption"): every host silent at once is likelier this controller cut off from them
        than all of them failed, and an evacuation then would find no host, and queue the
        removal of copies that are running."""
        marked = evacuated = 0
        failed = await self._store.failed_hosts(self.grace_s)
        hold = bool(failed) and await self._store.usable_hosts() == 0
        if hold and not self._holding:
            log.warning(
                "host_failure.evacuations_held", failed_hosts=len(failed), reason="no host UP and enabled"
            )
        self._holding = hold
        for host_id, since in failed:
            on_host = await self._instances.list_on_host(host_id)
            for start in range(0, len(on_host), BATCH):
                batch = on_host[start : start + BATCH]
                done = Evacuation()
                changes: list[tuple[UUID, MutateFn]] = []
                newly: list[Instance] = []
                for inst in batch:
                    evacuates = not hold and wants_evacuation(inst) and why_not_evacuable(inst) is None
                    if inst.host_down_at is not None and not evacuates:
                        continue  # marked, and nothing more to do (checked again under the lock)
                    changes.append((inst.uid, self._mark(host_id, since, newly)))
                    if not hold:
                        evacuate_it = self._evacuate(host_id, "its host failed", done, by_policy=True)
                        changes.append((inst.uid, evacuate_it))
                if changes:
                    await self._instances.mutate_uids(changes)
                for inst in newly:
                    log.warning("server.host_down", server=inst.name, host=host_id, since=str(since))
                self._log(host_id, done, skipped=False)  # a task in flight: skipped every sweep
                marked += len(newly)
                evacuated += len(done.evacuated)
        cleared = await self._clear()
        return marked, evacuated, cleared

    async def _clear(self) -> int:
        total = 0
        while uids := await self._store.marked_on_up_hosts(BATCH):
            cleared: list[Instance] = []
            await self._instances.mutate_uids([(uid, self._unmark(cleared)) for uid in uids])
            for inst in cleared:
                log.info("server.host_up", server=inst.name, host=inst.host_id)
            total += len(cleared)
            if len(uids) < BATCH or not cleared:
                break
        return total

    async def evacuate_host(self, name: str) -> Evacuation:
        """EvacuateHost: every server of a DOWN host that can be rebuilt elsewhere is."""
        host_id = names.parse_host(name)
        since = await self._store.down_since(host_id)
        if since is None:
            raise FailedPrecondition(
                f"hosts/{host_id} is UP: its servers run there (only a DOWN host is evacuated;"
                " to move servers off a working host, disable it and recreate them)",
                reason="HOST_UP",
            )
        if await self._store.usable_hosts() == 0:
            raise FailedPrecondition(
                "no host is UP and enabled to take the servers: evacuating now would only fail"
                " them (and remove their copies when the host returns)",
                reason="NO_USABLE_HOST",
            )
        done = Evacuation()
        on_host = await self._instances.list_on_host(host_id)
        for start in range(0, len(on_host), BATCH):
            batch = on_host[start : start + BATCH]
            reason = (
                f"evacuation requested by an operator (host DOWN since {since.isoformat(timespec='seconds')})"
            )
            await self._instances.mutate_uids(
                [(i.uid, self._evacuate(host_id, reason, done, by_policy=False)) for i in batch]
            )
        self._log(host_id, done)
        return done

    def _mark(self, host_id: str, since: datetime, newly: list[Instance]) -> MutateFn:
        def decide(inst: Instance) -> Mutation | None:
            if inst.host_id != host_id:
                return None  # moved since the read
            new = mark_host_down(inst, since, self._clock())
            if new is None:
                return None
            newly.append(new)
            return Mutation(new, [instance_event(new, HOST_DOWN)])

        return decide

    def _unmark(self, cleared: list[Instance]) -> MutateFn:
        def decide(inst: Instance) -> Mutation | None:
            new = clear_host_down(inst)
            if new is None:
                return None
            cleared.append(new)
            return Mutation(new, [instance_event(new, HOST_UP)])

        return decide

    def _evacuate(self, host_id: str, reason: str, done: Evacuation, *, by_policy: bool) -> MutateFn:
        def decide(inst: Instance) -> Mutation | None:
            if inst.host_id != host_id or (by_policy and not wants_evacuation(inst)):
                return None
            why = why_not_evacuable(inst)
            if why is not None:
                done.skipped.append((inst, why))
                return None
            new, messages = evacuate(inst, reason)
            done.evacuated.append(new)
            return Mutation(new, messages, release_allocation=True)

        return decide

    def _log(self, host_id: str, done: Evacuation, *, skipped: bool = True) -> None:
        for inst in done.evacuated:
            log.warning("server.evacuating", server=inst.name, host=host_id, generation=inst.generation)
        for inst, why in done.skipped if skipped else ():
            log.info("server.evacuation_skipped", server=inst.name, host=host_id, reason=why)


def server_names(insts: Sequence[Instance]) -> list[str]:
    return [i.name for i in insts]
