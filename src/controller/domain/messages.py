"""What a state change announces: events for everyone, commands for one agent.

Payloads are plain dicts shaped like the protobuf messages they become at the bus edge
(InstancePayload, HostPayload, AgentCommand), so the domain stays free of protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from controller.domain.ids import uuid4
from controller.domain.model import CommandOp, Host, Instance


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
        "vm_state": inst.vm_state.value,
        "task_state": inst.task_state.value if inst.task_state else "TASK_STATE_UNSPECIFIED",
        "power_state": inst.power_state.value,
        "fault": inst.fault,
        "version": str(inst.version),
    }
    return OutboxMessage(
        "event", event_type, event_type, payload, inst.project, inst.name, message_id or uuid4()
    )


def host_event(host: Host, event_type: str, reason: str = "") -> OutboxMessage:
    payload = {
        "name": host.name,
        "state": host.state.value,
        "enabled": host.enabled,
        "reason": reason,
    }
    return OutboxMessage("event", event_type, event_type, payload, "", host.name)


def command(inst: Instance, op: CommandOp, command_id: UUID) -> OutboxMessage:
    if inst.host_id is None:
        raise ValueError(f"{inst.name} has no host to send {op} to")
    payload: dict[str, Any] = {
        "command_id": str(command_id),
        "op": op.value,
        "instance_uid": str(inst.uid),
        "instance_name": inst.name,
        "vcpus": inst.vcpus,
        "memory_mib": str(inst.memory_mib),
        "disk_gib": str(inst.disk_gib),
        "image": f"images/{inst.image_id}",
        "metadata": dict(inst.metadata),
        "kernel_args": inst.boot.kernel_args,
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


def orphan_delete(uid: UUID, host_id: str) -> OutboxMessage:
    """Remove a domain that no live server owns (found by reconciliation)."""
    command_id = uuid4()
    payload: dict[str, Any] = {
        "command_id": str(command_id),
        "op": CommandOp.DELETE.value,
        "instance_uid": str(uid),
    }
    return OutboxMessage("command", "command.delete", host_id, payload, message_id=command_id)
