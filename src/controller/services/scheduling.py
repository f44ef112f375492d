"""Scheduler workers: place pending instances in batches and claim capacity durably.

Several workers (and several controller replicas) run at once: `FOR UPDATE SKIP LOCKED` gives
each worker its own batch. A batch is decided against one snapshot of the fleet (pure, in
controller.scheduler), then the chosen hosts are locked in id order (concurrent batches cannot
deadlock) and read again: if another batch changed one meanwhile, the batch is decided again on
those locked hosts' fresh rows, so a lost race moves to an alternate host (or stays pending for
the next batch). One conditional UPDATE then claims every placement, in the same transaction as
the spawn commands' outbox rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from controller.domain.errors import Unavailable
from controller.domain.lifecycle import bump
from controller.domain.messages import command, instance_event
from controller.domain.model import CommandOp, Host, HostState, Instance, TaskState, VmState
from controller.domain.server_groups import GroupPlacement, group_key, server_group_name
from controller.scheduler.fleet import HostView, PlacementRequest
from controller.scheduler.placement import Decision, Scheduler
from controller.scheduler.snapshot import FleetSnapshot
from controller.services.fleet import HostLoadView
from controller.services.ports import Mutation, SchedulingBatch, SchedulingStore

log = structlog.get_logger(__name__)

# A host's smoothed CPU utilisation (0..1) when its metrics are fresh; None when unknown or
# stale (the scheduler then scores the host by allocation).
LoadOf = Callable[[str], "float | None"]


def no_live_load(_host_id: str) -> float | None:
    return None


def live_load(load_of: Callable[[str], HostLoadView | None]) -> LoadOf:
    """The fleet view's `load_of` as the scheduler reads it."""

    def util(host_id: str) -> float | None:
        view = load_of(host_id)
        return view.cpu_util_ewma if view is not None and view.fresh else None

    return util


def host_view(h: Host, now: float, stale_after_s: float, cpu_util: float | None = None) -> HostView:
    fresh = h.last_heartbeat is not None and now - h.last_heartbeat.timestamp() < stale_after_s
    return HostView(
        id=h.id,
        availability_zone=h.availability_zone,
        arch=h.arch,
        hypervisor_type=h.hypervisor_type,
        enabled=h.enabled,
        up=h.state is HostState.UP and fresh,
        vcpus=h.vcpus,
        memory_mib=h.memory_mib,
        disk_gib=h.disk_gib,
        cpu_allocation_ratio=h.cpu_allocation_ratio,
        ram_allocation_ratio=h.ram_allocation_ratio,
        disk_allocation_ratio=h.disk_allocation_ratio,
        vcpus_used=h.vcpus_used,
        memory_mib_used=h.memory_mib_used,
        disk_gib_used=h.disk_gib_used,
        cpu_util=cpu_util,
        load_fresh=cpu_util is not None,
    )


def placement_request(inst: Instance, group: GroupPlacement | None = None) -> PlacementRequest:
    return PlacementRequest(
        inst.uid,
        inst.vcpus,
        inst.memory_mib,
        inst.disk_gib,
        availability_zone=inst.availability_zone or None,
        arch=inst.required_arch or None,
        hypervisor_type=inst.required_hypervisor_type or None,
        group=group.key if group else None,
        group_policy=group.policy if group else None,
    )


def _capacity(h: Host) -> tuple[object, ...]:
    """What a claim depends on: if none of it changed, the snapshot's decisions stand."""
    return (
        h.vcpus_used,
        h.memory_mib_used,
        h.disk_gib_used,
        h.enabled,
        h.state,
        h.vcpus,
        h.memory_mib,
        h.disk_gib,
        h.cpu_allocation_ratio,
        h.ram_allocation_ratio,
        h.disk_allocation_ratio,
    )


@dataclass
class SchedulerWorkers:
    store: SchedulingStore
    scheduler: Scheduler
    workers: int = 2
    batch_size: int = 100
    stale_after_s: float = 3.0
    idle_poll_s: float = 1.0
    load_of: LoadOf = no_live_load

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self.placed = 0  # instances placed by this process
        self.no_valid_host = 0  # instances failed with NoValidHost
        self.lost_races = 0  # placements another batch made impossible (left pending)
        self.redecided = 0  # batches decided again on fresh host rows

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for n in range(self.workers):
                tg.create_task(self._worker(n))

    async def _worker(self, n: int) -> None:
        while True:
            try:
                done = await self.place_batch()
            except (OSError, ConnectionError, Unavailable) as exc:  # retry later
                log.warning("scheduler.batch_failed", worker=n, error=str(exc))
                done = 0
                await asyncio.sleep(self.idle_poll_s)
            if done:
                self._wake.set()  # more may be waiting: let the other workers in too
                continue
            # Nothing pending, or only lost races: wait for news before trying again.
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_poll_s)

    async def place_batch(self) -> int:
        """Place one batch; returns how many instances left the pending state."""
        async with self.store.batch(self.batch_size) as batch:
            if not batch.pending:
                return 0
            return await self._place(batch)

    def snapshot(self, hosts: Sequence[Host], groups: dict[str, GroupPlacement]) -> FleetSnapshot:
        now = time.time()
        views = [host_view(h, now, self.stale_after_s, self.load_of(h.id)) for h in hosts]
        return FleetSnapshot(views, {k: g.member_hosts for k, g in groups.items()})

    async def _place(self, batch: SchedulingBatch) -> int:
        failures: list[Mutation] = []
        requests: list[PlacementRequest] = []
        by_uid: dict[uuid.UUID, Instance] = {}
        for inst in batch.pending:
            group = batch.groups.get(group_key(inst.project, inst.server_group))
            if inst.server_group and group is None:
                name = server_group_name(inst.project, inst.server_group)
                failures.append(_failed(inst, f"No valid host: {name} no longer exists"))
                continue
            requests.append(placement_request(inst, group))
            by_uid[inst.uid] = inst
        decisions = self.scheduler.place(self.snapshot(batch.hosts, batch.groups), requests)
        for d in decisions:
            if d.host_id is None:
                failures.append(_failed(by_uid[d.request.uid], d.reason))
        chosen = await self._confirm(batch, [d for d in decisions if d.host_id is not None])
        placements = [_placement(by_uid[d.request.uid], d.host_id) for d in chosen if d.host_id]
        placed = await batch.claim(placements)
        await batch.fail(failures)
        self.placed += len(placed)
        self.no_valid_host += len(failures)
        self.lost_races += len(placements) - len(placed)
        for f in failures:
            log.info("scheduler.no_valid_host", server=f.instance.name, reason=f.instance.fault)
        return len(placed) + len(failures)

    async def _confirm(self, batch: SchedulingBatch, chosen: list[Decision]) -> list[Decision]:
        """Lock the chosen hosts and check them against the snapshot. Where another batch got
        there first, decide these placements again among the locked hosts as they are now:
        what is decided then fits for sure (the rows stay locked until commit)."""
        if not chosen:
            return []
        fresh = {h.id: h for h in await batch.lock_hosts(sorted({d.host_id for d in chosen if d.host_id}))}
        seen = {h.id: h for h in batch.hosts}
        if all(_capacity(h) == _capacity(seen[h.id]) for h in fresh.values() if h.id in seen):
            return chosen
        self.redecided += 1
        snap = self.snapshot([fresh.get(h.id, h) for h in batch.hosts], batch.groups)
        again = self.scheduler.place(snap, [d.request for d in chosen], allowed=snap.mask_of(list(fresh)))
        kept = [d for d in again if d.host_id is not None]
        self.lost_races += len(chosen) - len(kept)
        return kept


def _placement(inst: Instance, host_id: str | None) -> Mutation:
    command_id = uuid.uuid4()
    placed = bump(
        inst,
        host_id=host_id,
        allocated=True,
        task_state=TaskState.SPAWNING,
        task_command=command_id,
    )
    return Mutation(
        placed,
        [command(placed, CommandOp.SPAWN, command_id), instance_event(placed, "instance.scheduled")],
    )


def _failed(inst: Instance, reason: str) -> Mutation:
    failed = bump(inst, vm_state=VmState.ERROR, task_state=None, fault=reason)
    return Mutation(failed, [instance_event(failed, "instance.create.error")])
