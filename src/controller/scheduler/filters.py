"""Host filters: each removes the hosts that cannot take a request, and says why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.scheduler.fleet import HostView, PlacementRequest


@dataclass(frozen=True)
class Filter:
    name: str  # what a person reads in a NoValidHost message
    passes: Callable[[HostView, PlacementRequest], bool]


def _available(h: HostView, _: PlacementRequest) -> bool:
    return h.up and h.enabled


def _zone(h: HostView, r: PlacementRequest) -> bool:
    return r.availability_zone is None or h.availability_zone == r.availability_zone


def _arch(h: HostView, r: PlacementRequest) -> bool:
    return r.arch is None or h.arch == r.arch


def _vcpus(h: HostView, r: PlacementRequest) -> bool:
    return h.free_vcpus >= r.vcpus


def _memory(h: HostView, r: PlacementRequest) -> bool:
    return h.free_memory_mib >= r.memory_mib


def _disk(h: HostView, r: PlacementRequest) -> bool:
    return h.free_disk_gib >= r.disk_gib


DEFAULT_FILTERS: tuple[Filter, ...] = (
    Filter("down or disabled", _available),
    Filter("availability zone", _zone),
    Filter("architecture", _arch),
    Filter("capacity (vcpus)", _vcpus),
    Filter("capacity (memory)", _memory),
    Filter("capacity (disk)", _disk),
)
