"""What the scheduler reads of a pending server, and what it decides: a placement on a host or a
failure (no valid host).

A placement sets the server's host, `allocated`, `task_state=SPAWNING` and `task_command` (the
spawn command's id), bumps its version, and writes two outbox messages: the spawn command for
the host and the `instance.scheduled` event. A failure sets `vm_state=ERROR`, clears the task,
records the reason as the fault, bumps the version and writes `instance.create.error`.
`placed()`/`placement_messages()` and `failed()`/`failure_messages()` say exactly that of a
whole Instance. The PostgreSQL scheduling store writes the same rows with one statement per
batch (storage/scheduling.py: PLACE, FAIL), building the payloads in the database from the
instance rows: the scheduler never reads more of a pending server than PendingServer holds
(tests/unit/controller/test_placement_write.py holds the two to each other).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from controller.domain.host_failure import EVACUATING
from controller.domain.ids import uuid4
from controller.domain.lifecycle import bump
from controller.domain.messages import OutboxMessage, command, instance_event
from controller.domain.model import CommandOp, Instance, TaskState, VmState

SCHEDULED = "instance.scheduled"
CREATE_ERROR = "instance.create.error"


@dataclass(frozen=True, slots=True)
class PendingServer:
    """A server waiting to be placed, as the scheduler reads it."""

    uid: UUID
    version: int
    project: str
    server_id: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    availability_zone: str = ""  # requested; empty = any
    server_group: str = ""
    required_arch: str = ""
    required_hypervisor_type: str = ""

    @property
    def name(self) -> str:
        return f"projects/{self.project}/servers/{self.server_id}"

    @classmethod
    def of(cls, inst: Instance) -> PendingServer:
        return cls(
            inst.uid,
            inst.version,
            inst.project,
            inst.server_id,
            inst.vcpus,
            inst.memory_mib,
            inst.disk_gib,
            inst.availability_zone,
            inst.server_group,
            inst.required_arch,
            inst.required_hypervisor_type,
        )


@dataclass(frozen=True, slots=True)
class Placement:
    server: PendingServer
    host_id: str
    command_id: UUID = field(default_factory=uuid4)  # the spawn command's id (and message id)
    event_id: UUID = field(default_factory=uuid4)  # the instance.scheduled event's message id


@dataclass(frozen=True, slots=True)
class Failure:
    server: PendingServer
    reason: str  # "No valid host: ...", the server's fault
    event_id: UUID = field(default_factory=uuid4)  # the instance.create.error event's id


def placed(inst: Instance, p: Placement) -> Instance:
    """The server once placed (with the version the database gives it)."""
    _same(inst, p.server)
    return bump(
        inst, host_id=p.host_id, allocated=True, task_state=TaskState.SPAWNING, task_command=p.command_id
    )


def placement_messages(inst: Instance, p: Placement) -> list[OutboxMessage]:
    """The spawn command, then the instance.scheduled event, in outbox order."""
    after = placed(inst, p)
    return [
        command(after, CommandOp.SPAWN, p.command_id),
        instance_event(after, SCHEDULED, message_id=p.event_id),
    ]


def failed(inst: Instance, f: Failure) -> Instance:
    """An evacuated server's fault keeps saying where it came from, before the reason."""
    _same(inst, f.server)
    fault = f"{inst.fault}; {f.reason}" if inst.fault.startswith(EVACUATING) else f.reason
    return bump(inst, vm_state=VmState.ERROR, task_state=None, fault=fault)


def failure_messages(inst: Instance, f: Failure) -> list[OutboxMessage]:
    return [instance_event(failed(inst, f), CREATE_ERROR, message_id=f.event_id)]


def _same(inst: Instance, s: PendingServer) -> None:
    if (inst.uid, inst.version) != (s.uid, s.version):
        raise ValueError(
            f"{inst.name} version {inst.version} is not the pending {s.name} version {s.version}"
        )
