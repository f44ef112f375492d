"""The port the rest of the agent uses to drive a hypervisor, and its plain data types."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

MANAGED_NAME_PREFIX = "oc-"


def domain_name(instance_uid: str) -> str:
    return f"{MANAGED_NAME_PREFIX}{instance_uid}"


def is_managed_name(name: str) -> bool:
    return name.startswith(MANAGED_NAME_PREFIX)


class PowerState(enum.Enum):
    """Power state as the hypervisor reports it; names match common.proto's PowerState."""

    MISSING = "missing"  # no such domain (never defined, or deleted)
    RUNNING = "running"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"
    CRASHED = "crashed"
    SUSPENDED = "suspended"
    NOSTATE = "nostate"


class HypervisorError(Exception):
    """A hypervisor operation failed; str() is a message fit for a command report."""


class DomainMissing(HypervisorError):
    """The instance has no domain on this host (never defined, deleted, or lost with the
    hypervisor's state): an operation that needs one cannot be carried out. Reported apart
    from other failures, since the controller then knows the server is lost."""


@dataclass(frozen=True)
class HypervisorInfo:
    hostname: str
    arch: str
    hypervisor_type: str
    uri: str
    vcpus: int
    memory_mib: int
    # The libvirt domain type instances get: "kvm" only when a probe proved KVM works,
    # "qemu" (TCG) otherwise, "test" on the test driver.
    domain_type: str = ""


@dataclass(frozen=True)
class ImageFile:
    """A verified image in the agent's cache (read-only, shared by instances)."""

    path: Path
    disk_format: str  # qcow2, raw, ... (only the root disk's matters)
    checksum_sha256: str


@dataclass(frozen=True)
class BootFiles:
    """What a QEMU domain boots: a root disk image (its per-instance overlay is made from
    it) and, for a direct kernel boot, kernel and ramdisk plus extra kernel arguments."""

    root_image: ImageFile | None = None
    kernel: ImageFile | None = None
    ramdisk: ImageFile | None = None
    kernel_args: str = ""

    def images(self) -> list[ImageFile]:
        return [i for i in (self.root_image, self.kernel, self.ramdisk) if i is not None]


@dataclass(frozen=True)
class DomainSpec:
    instance_uid: str
    instance_name: str
    vcpus: int
    memory_mib: int
    disk_gib: int = 0
    image: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    boot: BootFiles | None = None  # None on the test driver (nothing to boot)
    generation: int = 0  # the server's placement generation (fencing); 0: none recorded


@dataclass(frozen=True)
class DomainInfo:
    uuid: str
    name: str
    power_state: PowerState
    persistent: bool
    vcpus: int
    memory_mib: int
    generation: int = 0  # the placement generation recorded with the domain; 0: none


@dataclass(frozen=True)
class DomainChange:
    """A domain changed on its own; power_state is read after the fact (level, not edge)."""

    instance_uid: str
    power_state: PowerState
    gone: bool


class Hypervisor(Protocol):
    """What the agent needs from a hypervisor. Only Overcast-managed domains are visible."""

    @property
    def uri(self) -> str: ...

    async def inventory(self) -> HypervisorInfo: ...

    async def list_domains(self) -> list[DomainInfo]: ...

    async def spawn(self, spec: DomainSpec) -> None:
        """Define and start the domain, or make sure it runs if it already exists."""

    async def start(self, instance_uid: str) -> None:
        """Make the domain run; DomainMissing if there is none."""

    async def stop(self, instance_uid: str) -> None:
        """Shut the domain down; DomainMissing if there is none."""

    async def reboot(self, instance_uid: str) -> None:
        """Reboot the domain (start it if it is shut off); DomainMissing if there is none."""

    async def delete(self, instance_uid: str) -> None:
        """Destroy and undefine; a missing domain is success."""

    async def update_metadata(
        self, instance_uid: str, instance_name: str, image: str, metadata: Mapping[str, str]
    ) -> None:
        """Replace the instance metadata stored with the domain (its name, image and
        metadata items); a missing domain is success (there is nothing to update)."""

    async def power_state(self, instance_uid: str) -> PowerState: ...

    async def generation(self, instance_uid: str) -> int:
        """The placement generation the domain was spawned with (fencing); 0 when there is no
        domain or it records none (defined before generations were)."""
        ...

    def domain_changes(self) -> AsyncIterator[DomainChange]:
        """Changes the hypervisor reported on its own, for one consumer, until close()."""
        ...

    async def close(self) -> None: ...
