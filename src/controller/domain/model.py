"""The resources Overcast manages, as plain dataclasses (no driver or protobuf types)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID


class VmState(enum.StrEnum):
    BUILDING = "BUILDING"
    ACTIVE = "ACTIVE"
    STOPPED = "STOPPED"
    ERROR = "ERROR"
    DELETED = "DELETED"


class TaskState(enum.StrEnum):
    SCHEDULING = "SCHEDULING"
    SPAWNING = "SPAWNING"
    POWERING_ON = "POWERING_ON"
    POWERING_OFF = "POWERING_OFF"
    REBOOTING = "REBOOTING"
    MIGRATING = "MIGRATING"
    DELETING = "DELETING"


class PowerState(enum.StrEnum):
    UNKNOWN = "POWER_STATE_UNSPECIFIED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SHUTDOWN = "SHUTDOWN"
    CRASHED = "CRASHED"
    SUSPENDED = "SUSPENDED"
    NOSTATE = "NOSTATE"


class HostState(enum.StrEnum):
    UP = "UP"
    DOWN = "DOWN"


class HostFailurePolicy(enum.StrEnum):
    """What happens to a server once its host has been DOWN past the grace (--host-failure-grace)."""

    NONE = "NONE"  # marked (fault, power state unknown) and left where it is
    EVACUATE = "EVACUATE"  # marked, then rebuilt on another host (evacuation)


class ImageStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    SAVING = "SAVING"
    ACTIVE = "IMAGE_ACTIVE"
    DELETED = "IMAGE_DELETED"


class CommandOp(enum.StrEnum):
    SPAWN = "SPAWN"
    START = "START"
    STOP = "STOP"
    REBOOT = "REBOOT"
    DELETE = "DELETE"
    UPDATE_METADATA = "UPDATE_METADATA"


class CommandFailure(enum.StrEnum):
    """Why an agent's command failed, where the outcome depends on it (agent.proto's
    CommandFailure)."""

    OTHER = "OTHER"  # the report's error says what happened
    DOMAIN_MISSING = "DOMAIN_MISSING"  # the instance has no domain on that host
    EXPIRED = "EXPIRED"  # the command waited too long for its host and was not carried out


@dataclass(frozen=True)
class Flavor:
    id: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    description: str = ""
    version: int = 1
    created_at: datetime | None = None


@dataclass(frozen=True)
class Image:
    id: str
    disk_format: str
    min_disk_gib: int = 0
    min_memory_mib: int = 0
    status: ImageStatus = ImageStatus.QUEUED
    size_bytes: int = 0
    checksum_sha256: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    version: int = 1
    created_at: datetime | None = None
    kernel_image: str = ""  # image id of the kernel (aki) this disk image boots with
    ramdisk_image: str = ""  # image id of the ramdisk (ari)
    kernel_args: str = ""
    virtual_size_bytes: int = 0


@dataclass(frozen=True)
class ImageRef:
    """An image as a spawn needs it: enough to fetch and verify its data."""

    name: str  # "images/{image}"
    disk_format: str
    size_bytes: int
    checksum_sha256: str


@dataclass(frozen=True)
class BootSpec:
    """What a server boots, frozen at create time."""

    root_image: ImageRef | None = None
    kernel: ImageRef | None = None
    ramdisk: ImageRef | None = None
    kernel_args: str = ""


@dataclass(frozen=True)
class Instance:
    uid: UUID
    project: str
    server_id: str
    flavor_id: str
    image_id: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    vm_state: VmState
    task_state: TaskState | None
    power_state: PowerState = PowerState.UNKNOWN
    host_id: str | None = None
    allocated: bool = False
    task_command: UUID | None = None
    fault: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    availability_zone: str = ""  # requested; empty = any
    server_group: str = ""  # group id within the project; empty = none
    boot: BootSpec = field(default_factory=BootSpec)
    # The image's hw_architecture / hypervisor_type, frozen at create; empty = any host.
    required_arch: str = ""
    required_hypervisor_type: str = ""
    scaling_group: str = ""  # the scaling group (id within the project) that created it; "" = none
    # Which placement is current: incremented by each evacuation; the agent refuses a command
    # older than its domain, and a domain of an older generation is removed (fencing).
    generation: int = 1
    host_failure_policy: HostFailurePolicy = HostFailurePolicy.NONE
    # When the server was marked for its host's failure (None: not marked), and the power state
    # it had then (restored if the host comes back with it).
    host_down_at: datetime | None = None
    host_down_power: PowerState | None = None

    @property
    def name(self) -> str:
        return f"projects/{self.project}/servers/{self.server_id}"


@dataclass(frozen=True)
class HostInventory:
    """What an agent reports about its hypervisor."""

    host_id: str
    hostname: str
    arch: str
    hypervisor_type: str
    hypervisor_uri: str
    availability_zone: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    domain_type: str = ""


@dataclass(frozen=True)
class Host:
    id: str
    hostname: str
    arch: str
    hypervisor_type: str
    hypervisor_uri: str
    availability_zone: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    vcpus_used: int = 0
    memory_mib_used: int = 0
    disk_gib_used: int = 0
    servers: int = 0
    enabled: bool = True
    disabled_reason: str = ""
    state: HostState = HostState.DOWN
    last_heartbeat: datetime | None = None
    version: int = 1
    created_at: datetime | None = None
    domain_type: str = ""

    @property
    def name(self) -> str:
        return f"hosts/{self.id}"
