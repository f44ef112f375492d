"""A pending instance placed on a host: what the scheduler claims and what that announces.

A placement sets the instance's host, `allocated`, `task_state=SPAWNING` and `task_command` (the
spawn command's id), bumps its version, and writes two outbox messages: the spawn command for
the host and the `instance.scheduled` event. `placed()` and `messages()` say exactly what they
are; the PostgreSQL scheduling store writes the same rows with one statement per batch
(storage/scheduling.py, PLACE), building the payloads in the database from the instance rows
instead of here (tests/unit/controller/test_placement_write.py holds the two to each other).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from controller.domain.ids import uuid4
from controller.domain.lifecycle import bump
from controller.domain.messages import OutboxMessage, command, instance_event
from controller.domain.model import CommandOp, Instance, TaskState

SCHEDULED = "instance.scheduled"


@dataclass(frozen=True, slots=True)
class Placement:
    instance: Instance  # as it is pending (the version the claim expects)
    host_id: str
    command_id: UUID = field(default_factory=uuid4)  # the spawn command's id (and message id)
    event_id: UUID = field(default_factory=uuid4)  # the instance.scheduled event's message id

    def placed(self) -> Instance:
        """The instance once placed (with the version the database gives it)."""
        return bump(
            self.instance,
            host_id=self.host_id,
            allocated=True,
            task_state=TaskState.SPAWNING,
            task_command=self.command_id,
        )

    def messages(self) -> list[OutboxMessage]:
        """The spawn command, then the instance.scheduled event, in outbox order."""
        placed = self.placed()
        return [
            command(placed, CommandOp.SPAWN, self.command_id),
            instance_event(placed, SCHEDULED, message_id=self.event_id),
        ]
