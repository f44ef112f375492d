"""What a state change announces: events for everyone, commands for one agent.

Payloads are plain dicts shaped like the protobuf messages they become at the bus edge
(InstancePayload, HostPayload, AgentCommand), so the domain stays free of protobuf. Their
enums are the protos' value names (VM_STATE_ACTIVE), listed here per domain value (ACTIVE, as
the database stores it); storage/scheduling.py's PLACE and FAIL build the same names in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from controller.domain.ids import uuid4
from controller.domain.model import CommandOp, Host, HostState, Instance, PowerState, TaskState, VmState

VM_STATE_NAMES: dict[VmState, str] = {
    VmState.BUILDING: "VM_STATE_BUILDING",
    VmState.ACTIVE: "VM_STATE_ACTIVE",
    VmState.STOPPED: "VM_STATE_STOPPED",
    VmState.ERROR: "VM_STATE_ERROR",
    VmState.DELETED: "VM_STATE_DELETED",
}
NO_TASK = "TASK_STATE_UNSPECIFIED"  # no operation in flight
TASK_STATE_NAMES: dict[TaskState, str] = {
    TaskState.SCHEDULING: "TASK_STATE_SCHEDULING",
    TaskState.SPAWNING: "TASK_STATE_SPAWNING",
    TaskState.POWERING_ON: "TASK_STATE_POWERING_ON",
    TaskState.POWERING_OFF: "TASK_STATE_POWERING_OFF",
    TaskState.REBOOTING: "TASK_STATE_REBOOTING",
    TaskState.MIGRATING: "TASK_STATE_MIGRATING",
    TaskState.DELETING: "TASK_STATE_DELETING",
}
POWER_STATE_NAMES: dict[PowerState, str] = {
    PowerState.UNKNOWN: "POWER_STATE_UNSPECIFIED",
    PowerState.RUNNING: "POWER_STATE_RUNNING",
    PowerState.PAUSED: "POWER_STATE_PAUSED",
    PowerState.SHUTDOWN: "POWER_STATE_SHUTDOWN",
    PowerState.CRASHED: "POWER_STATE_CRASHED",
    PowerState.SUSPENDED: "POWER_STATE_SUSPENDED",
    PowerState.NOSTATE: "POWER_STATE_NOSTATE",
}
HOST_STATE_NAMES: dict[HostState, str] = {HostState.UP: "HOST_STATE_UP", HostState.DOWN: "HOST_STATE_DOWN"}
COMMAND_OP_NAMES: dict[CommandOp, str] = {
    CommandOp.SPAWN: "COMMAND_OP_SPAWN",
    CommandOp.START: "COMMAND_OP_START",
    CommandOp.STOP: "COMMAND_OP_STOP",
    CommandOp.REBOOT: "COMMAND_OP_REBOOT",
    CommandOp.DELETE: "COMMAND_OP_DELETE",
    CommandOp.UPDATE_METADATA: "COMMAND_OP_UPDATE_METADATA",
}


@dataclass(frozen=True)
class OutboxMessage:
    kind: Literal["event", "command"]
    message_type: str  # event type, or "command.<op>"
    routing_key: str  # event type, or host id
    payload: dict[str, Any]
    project: str = ""
    resource: str = ""
    message_id: UUID = field(default_factory=uuid4)


def instance_event(inst: Instance, event_type: str, *, message_id: UUID | None = None) -> OutboxMessage:
    """`inst` must be the state after the change (its version is the new one)."""
    payload: dict[str, Any] = {
        "uid": str(inst.uid),
        "name": inst.name,
        "flavor": f"flavors/{inst.flavor_id}",
        "image": f"images/{inst.image_id}",
        "host": f"hosts/{inst.host_id}" if inst.host_id else "",
        "vm_state": VM_STATE_NAMES[inst.vm_state],
        "task_state": TASK_STATE_NAMES[inst.task_state] if inst.task_state else NO_TASK,
        "power_state": POWER_STATE_NAMES[inst.power_state],
        "fault": inst.fault,
        "version": str(inst.version),
    }
    return OutboxMessage(
        "event", event_type, event_type, payload, inst.project, inst.name, message_id or uuid4()
    )


def host_event(host: Host, event_type: str, reason: str = "") -> OutboxMessage:
    payload = {
        "name": host.name,
        "state": HOST_STATE_NAMES[host.state],
        "enabled": host.enabled,
        "reason": reason,
    }
    return OutboxMessage("event", event_type, event_type, payload, "", host.name)


def command(inst: Instance, op: CommandOp, command_id: UUID) -> OutboxMessage:
    if inst.host_id is None:
        raise ValueError(f"{inst.name} has no host to send {op} to")
    payload: dict[str, Any] = {
        "command_id": str(command_id),
        "op": COMMAND_OP_NAMES[op],
        "instance_uid": str(inst.uid),
        "instance_name": inst.name,
        "vcpus": inst.vcpus,
        "memory_mib": str(inst.memory_mib),
        "disk_gib": str(inst.disk_gib),
        "image": f"images/{inst.image_id}",
        "metadata": dict(inst.metadata),
        "kernel_args": inst.boot.kernel_args,
        "generation": str(inst.generation),
    }
    for key, ref in (
        ("root_image", inst.boot.root_image),
        ("kernel", inst.boot.kernel),
        ("ramdisk", inst.boot.ramdisk),
    ):
        if ref is not None:
            payload[key] = {
                "name": ref.name,
                "disk_format": ref.disk_format,
                "size_bytes": str(ref.size_bytes),
                "checksum_sha256": ref.checksum_sha256,
            }
    return OutboxMessage(
        "command",
        f"command.{op.value.lower()}",
        inst.host_id,
        payload,
        inst.project,
        inst.name,
        message_id=command_id,
    )


def orphan_delete(uid: UUID, host_id: str, generation: int = 1) -> OutboxMessage:
    """Remove a domain that no live server owns (found by reconciliation, or left on a host
    its server was evacuated from). `generation`: the newest placement it may remove; the
    agent refuses it for a newer domain (the server placed there again since)."""
    command_id = uuid4()
    payload: dict[str, Any] = {
        "command_id": str(command_id),
        "op": COMMAND_OP_NAMES[CommandOp.DELETE],
        "instance_uid": str(uid),
        "generation": str(max(1, generation)),
    }
    return OutboxMessage("command", "command.delete", host_id, payload, message_id=command_id)
