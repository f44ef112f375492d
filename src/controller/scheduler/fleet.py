"""The scheduler's view of hosts and requests: plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class PlacementRequest:
    uid: UUID
    vcpus: int
    memory_mib: int
    disk_gib: int
    availability_zone: str | None = None
    arch: str | None = None
