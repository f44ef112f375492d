"""Host filters: each removes the hosts that cannot take a request, and says why.

A filter returns a boolean mask over the snapshot's hosts (True = may take the request), or
None when it lets every host through (nothing asked). Static filters look only at host traits
and the request's `traits`, so the scheduler computes their combined mask once per distinct
traits in a snapshot; the others depend on usage or group members and run per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from controller.domain.server_groups import GroupPolicy
from controller.scheduler.hosts import PlacementRequest
from controller.scheduler.snapshot import HostSnapshot, Mask


@dataclass(frozen=True)
class Filter:
    name: str  # what a person reads in a NoValidHost message
    mask: Callable[[HostSnapshot, PlacementRequest], Mask | None]
    static: bool = False


def _available(s: HostSnapshot, _: PlacementRequest) -> Mask:
    return s.usable


def _zone(s: HostSnapshot, r: PlacementRequest) -> Mask | None:
    return None if not r.availability_zone else s.zone_is(r.availability_zone)


def _arch(s: HostSnapshot, r: PlacementRequest) -> Mask | None:
    return None if not r.arch else s.arch_is(r.arch)


def _hypervisor_type(s: HostSnapshot, r: PlacementRequest) -> Mask | None:
    return None if not r.hypervisor_type else s.hypervisor_type_is(r.hypervisor_type)


def _affinity(s: HostSnapshot, r: PlacementRequest) -> Mask | None:
    """All members on one host: once a member is placed, only its host will do."""
    if r.group_policy is not GroupPolicy.AFFINITY or r.group is None:
        return None
    members = s.member_counts(r.group)
    if not members:
        return None  # the first member chooses the host freely
    mask = np.zeros(s.size, np.bool_)
    mask[[i for i in members if i >= 0]] = True
    return mask


def _anti_affinity(s: HostSnapshot, r: PlacementRequest) -> Mask | None:
    """No two members on one host."""
    if r.group_policy is not GroupPolicy.ANTI_AFFINITY or r.group is None:
        return None
    members = s.member_counts(r.group)
    if not members:
        return None
    mask = np.ones(s.size, np.bool_)
    mask[[i for i in members if i >= 0]] = False
    return mask


def _vcpus(s: HostSnapshot, r: PlacementRequest) -> Mask:
    return s.free_v >= r.vcpus


def _memory(s: HostSnapshot, r: PlacementRequest) -> Mask:
    return s.free_m >= r.memory_mib


def _disk(s: HostSnapshot, r: PlacementRequest) -> Mask:
    return s.free_d >= r.disk_gib


AVAILABLE = Filter("down or disabled", _available, static=True)
AVAILABILITY_ZONE = Filter("availability zone", _zone, static=True)
ARCHITECTURE = Filter("architecture", _arch, static=True)
HYPERVISOR_TYPE = Filter("hypervisor type", _hypervisor_type, static=True)
AFFINITY = Filter("server group (affinity)", _affinity)
ANTI_AFFINITY = Filter("server group (anti-affinity)", _anti_affinity)
VCPUS = Filter("capacity (vcpus)", _vcpus)
MEMORY = Filter("capacity (memory)", _memory)
DISK = Filter("capacity (disk)", _disk)

# A host removed by several filters is counted under the first: the order says which reason
# a person reads first (a down host is "down", not also "full").
DEFAULT_FILTERS: tuple[Filter, ...] = (
    AVAILABLE,
    AVAILABILITY_ZONE,
    ARCHITECTURE,
    HYPERVISOR_TYPE,
    AFFINITY,
    ANTI_AFFINITY,
    VCPUS,
    MEMORY,
    DISK,
)
