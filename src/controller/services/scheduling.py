"""Scheduler workers: place pending instances in batches and claim capacity durably.

Several workers (and several controller replicas) run at once: `FOR UPDATE SKIP LOCKED`
gives each worker its own batch, and the conditional claim makes a lost race for the last
slot on a host fall through to the next candidate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass

import structlog

from controller.domain.lifecycle import bump
from controller.domain.messages import command, instance_event
from controller.domain.model import CommandOp, Host, HostState, Instance, TaskState, VmState
from controller.scheduler.fleet import HostView, PlacementRequest
from controller.scheduler.placement import Scheduler
from controller.services.ports import SchedulingBatch, SchedulingStore

log = structlog.get_logger(__name__)


def host_view(h: Host, now: float, stale_after_s: float) -> HostView:
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
    )


def placement_request(inst: Instance) -> PlacementRequest:
    return PlacementRequest(
        inst.uid,
        inst.vcpus,
        inst.memory_mib,
        inst.disk_gib,
        availability_zone=inst.metadata.get("availability_zone") or None,
    )


@dataclass
class SchedulerWorkers:
    store: SchedulingStore
    scheduler: Scheduler
    workers: int = 2
    batch_size: int = 100
    stale_after_s: float = 3.0
    idle_poll_s: float = 1.0

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self.placed = 0

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
            except (OSError, ConnectionError) as exc:  # the database went away: retry later
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

    async def _place(self, batch: SchedulingBatch) -> int:
        now = time.time()
        views = {h.id: host_view(h, now, self.stale_after_s) for h in batch.hosts}
        chosen: list[tuple[str, Instance]] = []
        done = 0
        # Decide every placement against the snapshot first (each one consuming capacity in
        # the view), then claim in host-id order: concurrent batches then lock host rows in
        # the same order and cannot deadlock.
        for inst in batch.pending:
            req = placement_request(inst)
            ranking = self.scheduler.rank(list(views.values()), req)
            if ranking.candidates:
                host_id = ranking.candidates[0]
                views[host_id] = views[host_id].claimed(req)
                chosen.append((host_id, inst))
                continue
            failed = bump(inst, vm_state=VmState.ERROR, task_state=None, fault=ranking.no_valid_host())
            await batch.fail(failed, [instance_event(failed, "instance.create.error")])
            log.info("scheduler.no_valid_host", server=inst.name, reason=failed.fault)
            done += 1
        for host_id, inst in sorted(chosen, key=lambda c: c[0]):
            command_id = uuid.uuid4()
            placed = bump(
                inst,
                host_id=host_id,
                allocated=True,
                task_state=TaskState.SPAWNING,
                task_command=command_id,
            )
            messages = [
                command(placed, CommandOp.SPAWN, command_id),
                instance_event(placed, "instance.scheduled"),
            ]
            if await batch.claim(placed, host_id, messages):
                self.placed += 1
                done += 1
            # else another replica filled the host first: the instance stays pending and
            # the next batch places it against a fresh snapshot.
        return done
