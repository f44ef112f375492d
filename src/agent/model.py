"""Commands the agent executes and the results it reports, as plain data (no protobuf)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.hypervisor.base import PowerState


class Op(enum.Enum):
    """Names match agent.proto's CommandOp."""

    COMMAND_OP_UNSPECIFIED = 0
    SPAWN = 1
    START = 2
    STOP = 3
    REBOOT = 4
    DELETE = 5


@dataclass(frozen=True)
class Command:
    command_id: str
    op: Op
    instance_uid: str
    instance_name: str = ""
    vcpus: int = 0
    memory_mib: int = 0
    disk_gib: int = 0
    image: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandResult:
    command_id: str
    op: Op
    instance_uid: str
    ok: bool
    error: str
    power_state: PowerState
