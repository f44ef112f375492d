"""Hosts and requests for the scheduler tests: views (`host`), database rows (`db_host`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from controller.domain.model import Host, HostState, Instance, TaskState, VmState
from controller.scheduler.hosts import HostView, PlacementRequest


def host(id: str, **kw: object) -> HostView:
    fields: dict[str, object] = dict(
        id=id,
        availability_zone="az1",
        arch="x86_64",
        hypervisor_type="qemu",
        enabled=True,
        up=True,
        vcpus=8,
        memory_mib=16384,
        disk_gib=100,
        cpu_allocation_ratio=1.0,
        ram_allocation_ratio=1.0,
        disk_allocation_ratio=1.0,
        vcpus_used=0,
        memory_mib_used=0,
        disk_gib_used=0,
    )
    fields.update(kw)
    return HostView(**fields)  # type: ignore[arg-type]


def req(vcpus: int = 1, memory_mib: int = 512, disk_gib: int = 1, **kw: object) -> PlacementRequest:
    return PlacementRequest(uuid.uuid4(), vcpus, memory_mib, disk_gib, **kw)  # type: ignore[arg-type]


def db_host(host_id: str, **kw: object) -> Host:
    fields: dict[str, object] = dict(
        id=host_id,
        hostname=host_id,
        arch="x86_64",
        hypervisor_type="test",
        hypervisor_uri="test:///default",
        availability_zone="az1",
        vcpus=4,
        memory_mib=8192,
        disk_gib=100,
        cpu_allocation_ratio=1.0,
        ram_allocation_ratio=1.0,
        disk_allocation_ratio=1.0,
        state=HostState.UP,
        last_heartbeat=datetime.now(UTC),
    )
    fields.update(kw)
    return Host(**fields)  # type: ignore[arg-type]


def pending(n: int, **kw: object) -> Instance:
    """Server s<n>, BUILDING and waiting to be scheduled (2 vcpus, 1 GiB, 10 GiB unless `kw`)."""
    fields: dict[str, object] = dict(
        uid=uuid.uuid4(),
        project="demo",
        server_id=f"s{n}",
        flavor_id="f",
        image_id="i",
        vcpus=2,
        memory_mib=1024,
        disk_gib=10,
        vm_state=VmState.BUILDING,
        task_state=TaskState.SCHEDULING,
    )
    fields.update(kw)
    return Instance(**fields)  # type: ignore[arg-type]
