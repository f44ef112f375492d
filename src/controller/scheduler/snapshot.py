"""One fleet snapshot as columns: the arrays filters and weighers run over.

A batch of placements is decided against one snapshot: it is built once (O(hosts)), then every
request is filtered and weighed with whole-array NumPy operations, and each placement updates
the chosen host's row in place (O(1)), so the next request of the batch sees it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

from controller.scheduler.fleet import HostView, PlacementRequest, canonical_arch, canonical_hypervisor_type

Mask: TypeAlias = NDArray[np.bool_]
Floats: TypeAlias = NDArray[np.float64]


class _Codes:
    """A string column as small integers, so "equals X" is one vectorised comparison."""

    def __init__(self, values: Iterable[str], count: int) -> None:
        self._table: dict[str, int] = {}
        self.codes: NDArray[np.int32] = np.fromiter(
            (self._table.setdefault(v, len(self._table)) for v in values), np.int32, count
        )

    def equals(self, value: str) -> Mask:
        mask: Mask = self.codes == self._table.get(value, -1)
        return mask


class FleetSnapshot:
    def __init__(self, hosts: Iterable[HostView], members: Mapping[str, Iterable[str]] | None = None) -> None:
        views = sorted(hosts, key=lambda h: h.id)  # index order = id order: ties break on id
        self.views = views
        self.ids: list[str] = [h.id for h in views]
        self.index: dict[str, int] = {h: i for i, h in enumerate(self.ids)}
        n = self.size = len(views)

        # One pass over the hosts into a row per host, then one contiguous column per field.
        table = np.array(
            [
                (
                    h.up and h.enabled,
                    h.vcpus,
                    # Capacity as PostgreSQL computes it in the claim (int * double), so the
                    # snapshot and the database agree on what fits.
                    h.vcpus * h.cpu_allocation_ratio,
                    h.memory_mib * h.ram_allocation_ratio,
                    h.disk_gib * h.disk_allocation_ratio,
                    h.vcpus_used,
                    h.memory_mib_used,
                    h.disk_gib_used,
                    h.load_fresh and h.cpu_util is not None,
                    h.cpu_util or 0.0,
                )
                for h in views
            ],
            np.float64,
        ).reshape(n, 10)
        cols = [np.ascontiguousarray(table[:, k]) for k in range(10)]
        self.usable: Mask = cols[0] != 0
        self.vcpus: Floats = cols[1]
        self.cap_v: Floats = cols[2]
        self.cap_m: Floats = cols[3]
        self.cap_d: Floats = cols[4]
        self.used_v: Floats = cols[5]
        self.used_m: Floats = cols[6]
        self.used_d: Floats = cols[7]
        self.free_v: Floats = self.cap_v - self.used_v
        self.free_m: Floats = self.cap_m - self.used_m
        self.free_d: Floats = self.cap_d - self.used_d
        self.inv_vcpus: Floats = 1.0 / np.maximum(self.vcpus, 1.0)
        self.load_fresh: Mask = cols[8] != 0
        # Estimated CPU utilisation: live where known and fresh, else allocated vcpus over
        # physical ones. Each placement adds its vcpus, since live metrics lag behind.
        self.util: Floats = np.where(self.load_fresh, cols[9], self.used_v * self.inv_vcpus)
        self._zone = _Codes((h.availability_zone for h in views), n)
        self._arch = _Codes((canonical_arch(h.arch) for h in views), n)
        self._hv = _Codes((canonical_hypervisor_type(h.hypervisor_type) for h in views), n)
        self.static_masks: dict[object, Mask] = {}  # the scheduler's cache, per request traits
        self._derived: dict[object, tuple[Callable[[int], float], Floats]] = {}
        # Group key → host index → members there; index -1 = a host not in this snapshot.
        self.members: dict[str, Counter[int]] = {}
        for key, hosts_of_members in (members or {}).items():
            self.members[key] = Counter(self.index.get(h, -1) for h in hosts_of_members)

    def zone_is(self, zone: str) -> Mask:
        return self._zone.equals(zone)

    def arch_is(self, arch: str) -> Mask:
        return self._arch.equals(canonical_arch(arch))

    def hypervisor_type_is(self, hypervisor_type: str) -> Mask:
        return self._hv.equals(canonical_hypervisor_type(hypervisor_type))

    def derived(self, key: object, whole: Callable[[], Floats], one: Callable[[int], float]) -> Floats:
        """A column computed from the others (say, a weigher's score for 2-vcpu requests),
        computed once by `whole()` and kept current: after a claim on host i, `one(i)`."""
        found = self._derived.get(key)
        if found is None:
            found = (one, whole())
            self._derived[key] = found
        return found[1]

    def member_counts(self, group: str) -> Counter[int]:
        return self.members.get(group) or Counter()

    def claim(self, i: int, req: PlacementRequest) -> None:
        """Record `req` as placed on host `i` (for the rest of the batch)."""
        self.used_v[i] += req.vcpus
        self.used_m[i] += req.memory_mib
        self.used_d[i] += req.disk_gib
        self.free_v[i] = self.cap_v[i] - self.used_v[i]
        self.free_m[i] = self.cap_m[i] - self.used_m[i]
        self.free_d[i] = self.cap_d[i] - self.used_d[i]
        self.util[i] += req.vcpus * self.inv_vcpus[i]
        for one, column in self._derived.values():
            column[i] = one(i)
        if req.group is not None:
            self.members.setdefault(req.group, Counter())[i] += 1

    def mask_of(self, host_ids: Sequence[str]) -> Mask:
        mask = np.zeros(self.size, np.bool_)
        mask[[self.index[h] for h in host_ids if h in self.index]] = True
        return mask

    def usage(self, host_id: str) -> tuple[int, int, int]:
        """vcpus, memory MiB and disk GiB used on a host, including this batch's placements."""
        i = self.index[host_id]
        return int(self.used_v[i]), int(self.used_m[i]), int(self.used_d[i])
