"""The scheduler's view of hosts and requests: plain values, no I/O."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from uuid import UUID

from controller.domain.server_groups import GroupPolicy


# Not frozen: a batch builds one per host (10,000 and more), and a frozen dataclass is six times
# slower to construct. Treat it as a value all the same (`claimed` returns a new one).
@dataclass(slots=True)
class HostView:
    id: str
    availability_zone: str
    arch: str
    hypervisor_type: str
    enabled: bool
    up: bool
    vcpus: int
    memory_mib: int
    disk_gib: int
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    vcpus_used: int
    memory_mib_used: int
    disk_gib_used: int
    # Live load from the load view: smoothed CPU utilisation in [0, 1] (may exceed 1 briefly)
    # and whether it is recent. Unknown or stale load → allocation-based scoring for this host.
    cpu_util: float | None = None
    load_fresh: bool = False

    @property
    def free_vcpus(self) -> float:
        return self.vcpus * self.cpu_allocation_ratio - self.vcpus_used

    @property
    def free_memory_mib(self) -> float:
        return self.memory_mib * self.ram_allocation_ratio - self.memory_mib_used

    @property
    def free_disk_gib(self) -> float:
        return self.disk_gib * self.disk_allocation_ratio - self.disk_gib_used

    def claimed(self, req: PlacementRequest) -> HostView:
        """This host after `req` has been placed on it (for the rest of a batch)."""
        return replace(
            self,
            vcpus_used=self.vcpus_used + req.vcpus,
            memory_mib_used=self.memory_mib_used + req.memory_mib,
            disk_gib_used=self.disk_gib_used + req.disk_gib,
        )


@dataclass(frozen=True, slots=True)
class HostColumns:
    """The fleet as the scheduler reads it each batch: one list per field, hosts in id order
    (index i of every list is host `ids[i]`). Columns, not one object per host: a batch reads
    thousands of hosts, and the snapshot's arrays are made straight from these lists."""

    ids: list[str]
    zones: list[str]
    archs: list[str]
    hypervisor_types: list[str]
    usable: list[bool]  # up (heartbeats recent) and enabled
    vcpus: list[int]
    memory_mib: list[int]
    disk_gib: list[int]
    cpu_allocation_ratio: list[float]
    ram_allocation_ratio: list[float]
    disk_allocation_ratio: list[float]
    vcpus_used: list[int]
    memory_mib_used: list[int]
    disk_gib_used: list[int]

    def __post_init__(self) -> None:
        n = len(self.ids)
        if any(len(getattr(self, f)) != n for f in self.__slots__):
            raise ValueError("host columns of different lengths")
        if any(a >= b for a, b in zip(self.ids, self.ids[1:], strict=False)):
            raise ValueError("host columns must be in strictly increasing id order")

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def of(hosts: Iterable[HostView]) -> HostColumns:
        views = sorted(hosts, key=lambda h: h.id)
        return HostColumns(
            ids=[h.id for h in views],
            zones=[h.availability_zone for h in views],
            archs=[h.arch for h in views],
            hypervisor_types=[h.hypervisor_type for h in views],
            usable=[h.up and h.enabled for h in views],
            vcpus=[h.vcpus for h in views],
            memory_mib=[h.memory_mib for h in views],
            disk_gib=[h.disk_gib for h in views],
            cpu_allocation_ratio=[h.cpu_allocation_ratio for h in views],
            ram_allocation_ratio=[h.ram_allocation_ratio for h in views],
            disk_allocation_ratio=[h.disk_allocation_ratio for h in views],
            vcpus_used=[h.vcpus_used for h in views],
            memory_mib_used=[h.memory_mib_used for h in views],
            disk_gib_used=[h.disk_gib_used for h in views],
        )


@dataclass(frozen=True)
class PlacementRequest:
    uid: UUID
    vcpus: int
    memory_mib: int
    disk_gib: int
    availability_zone: str | None = None
    arch: str | None = None  # from the image's hw_architecture, frozen at create
    hypervisor_type: str | None = None  # from the image's hypervisor_type, frozen at create
    group: str | None = None  # server group key (domain.server_groups.group_key)
    group_policy: GroupPolicy | None = None

    @property
    def traits(self) -> tuple[str | None, str | None, str | None]:
        """What the static filters look at: requests sharing traits share their masks."""
        return (self.availability_zone, self.arch, self.hypervisor_type)


# Names a person or an image may use for the same thing, folded to the names agents report.
_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "x86-64": "x86_64", "arm64": "aarch64"}
_HYPERVISOR_ALIASES = {"kvm": "qemu"}

# The image properties that constrain placement (Glance's names first, then common variants).
ARCH_PROPERTIES = ("hw_architecture", "architecture")
HYPERVISOR_TYPE_PROPERTIES = ("hypervisor_type", "img_hv_type")


@functools.cache  # a fleet has a handful of distinct values, seen once per host per batch
def canonical_arch(value: str) -> str:
    v = value.strip().lower()
    return _ARCH_ALIASES.get(v, v)


@functools.cache
def canonical_hypervisor_type(value: str) -> str:
    v = value.strip().lower()
    return _HYPERVISOR_ALIASES.get(v, v)


def image_requirements(properties: Mapping[str, str]) -> tuple[str, str]:
    """The architecture and hypervisor type an image asks of its host ("" = any), canonical."""
    arch = next((properties[k] for k in ARCH_PROPERTIES if properties.get(k, "").strip()), "")
    hv = next((properties[k] for k in HYPERVISOR_TYPE_PROPERTIES if properties.get(k, "").strip()), "")
    return canonical_arch(arch), canonical_hypervisor_type(hv)
