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
    UPDATE_METADATA = 6  # new metadata, stored with the domain; no power change


class Failure(enum.Enum):
    """Why a command failed, where the controller's answer depends on it; names match
    agent.proto's CommandFailure."""

    OTHER = 0  # the report's error says what happened
    DOMAIN_MISSING = 1  # the instance has no domain on this host
    EXPIRED = 2  # the command waited too long and was not carried out


@dataclass(frozen=True)
class ImageRequest:
    """An image a spawn boots (agent.proto's ImageRef): fetched and verified by agent.images."""

    name: str
    disk_format: str = ""
    size_bytes: int = 0
    checksum_sha256: str = ""


@dataclass(frozen=True)
class BootRequest:
    root_image: ImageRequest | None = None
    kernel: ImageRequest | None = None
    ramdisk: ImageRequest | None = None
    kernel_args: str = ""


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
    boot: BootRequest | None = None  # SPAWN: what to boot (QEMU hosts; test hosts ignore it)
    issued_at: float = 0.0  # seconds since the epoch, as the controller stamped it; 0: unknown
    generation: int = 0  # the server's placement generation (fencing); 0: unknown, never refused


@dataclass(frozen=True)
class CommandResult:
    command_id: str
    op: Op
    instance_uid: str
    ok: bool
    error: str
    power_state: PowerState
    failure: Failure = Failure.OTHER  # when not ok
