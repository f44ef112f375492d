"""The controller's half of command expiry (domain.expiry): one replica (leadership) sweeps the
tasks whose command waited too long for a host that is DOWN, and fails them saying so."""

from __future__ import annotations

import asyncio

import structlog

from controller.domain.expiry import expire, overdue_after, sweep_interval
from controller.domain.messages import instance_event
from controller.domain.model import Instance
from controller.services.ports import InstanceStore, MutateFn, Mutation, WaitingTask

log = structlog.get_logger(__name__)


class CommandExpiry:
    """The sweep of domain.expiry: run by one replica (leadership), it fails the tasks whose
    command waited too long for a host that is DOWN."""

    BATCH = 500  # tasks expired per transaction

    def __init__(self, instances: InstanceStore, expiry_s: float) -> None:
        self._instances = instances
        self.expiry_s = expiry_s

    async def sweep(self) -> int:
        """One pass: how many tasks it expired (a batch at a time while batches fill up)."""
        total = 0
        while True:
            due = await self._instances.waiting_on_down_hosts(overdue_after(self.expiry_s), self.BATCH)
            ended: list[Instance] = []
            if due:
                await self._instances.mutate_uids([(t.uid, self._decide(t, ended)) for t in due])
            for inst in ended:
                log.warning("server.command_expired", server=inst.name, host=inst.host_id, fault=inst.fault)
            total += len(ended)
            if len(ended) < self.BATCH:
                return total

    def _decide(self, task: WaitingTask, ended: list[Instance]) -> MutateFn:
        def decide(inst: Instance) -> Mutation | None:
            if inst.task_command != task.task_command:
                return None  # its result came, or another task began, since the read
            outcome = expire(inst, task.waited_s, self.expiry_s)
            if outcome is None:
                return None
            ended.append(outcome.instance)
            return Mutation(
                outcome.instance,
                [instance_event(outcome.instance, outcome.event_type)],
                release_allocation=outcome.release_allocation,
            )

        return decide

    async def run(self) -> None:
        """Sweep every domain.expiry.sweep_interval, for as long as this replica leads."""
        while True:
            await self.sweep()
            await asyncio.sleep(sweep_interval(self.expiry_s))
