"""One host snapshot as columns: the arrays filters and weighers run over.

A batch of placements is decided against one snapshot: it is built once (O(hosts)), then every
request is filtered and weighed with whole-array NumPy operations, and each placement updates
the chosen host's row in place (O(1)), so the next request of the batch sees it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

# The array types, named here too for the modules that take them with the snapshot.
from controller.scheduler.arrays import Floats as Floats
from controller.scheduler.arrays import Indices as Indices
from controller.scheduler.arrays import Mask as Mask
from controller.scheduler.hosts import (
    HostColumns,
    HostView,
    PlacementRequest,
    canonical_arch,
    canonical_hypervisor_type,
)
from controller.scheduler.kept import KeptColumns


class _Codes:
    """A string column as small integers, so "equals X" is one vectorised comparison."""

    def __init__(self, values: Sequence[str], count: int, fold: Callable[[str], str] | None = None) -> None:
        self.values = values  # as given, to tell whether a later batch's column is the same
        self._table: dict[str, int] = {}
        folded = values if fold is None else map(fold, values)
        self.codes: NDArray[np.int32] = np.fromiter(
            (self._table.setdefault(v, len(self._table)) for v in folded), np.int32, count
        )

    @classmethod
    def reuse(
        cls,
        previous: _Codes | None,
        values: Sequence[str],
        count: int,
        fold: Callable[[str], str] | None = None,
    ) -> _Codes:
        """`previous` when it was made from the same values, else new codes."""
        if previous is not None and previous.values == values:
            return previous
        return cls(values, count, fold)

    def equals(self, value: str) -> Mask:
        mask: Mask = self.codes == self._table.get(value, -1)
        return mask


class HostSnapshot:
    _zone: _Codes
    _arch: _Codes
    _hv: _Codes

    def __init__(self, hosts: Iterable[HostView], members: Mapping[str, Iterable[str]] | None = None) -> None:
        views = sorted(hosts, key=lambda h: h.id)  # index order = id order: ties break on id
        util = [h.cpu_util if h.load_fresh and h.cpu_util is not None else math.nan for h in views]
        self._build(HostColumns.of(views), util, members, None)

    @classmethod
    def of_columns(
        cls,
        cols: HostColumns,
        cpu_util: Sequence[float],
        members: Mapping[str, Iterable[str]] | None = None,
        previous: HostSnapshot | None = None,
    ) -> HostSnapshot:
        """The snapshot of `cols` (in id order), with each host's fresh smoothed CPU
        utilisation (NaN: unknown or stale). `previous`, a snapshot of an earlier batch: what
        has not changed since (the hosts, their zones, architectures, hypervisor types) is
        taken from it instead of being computed again."""
        s = cls.__new__(cls)
        s._build(cols, cpu_util, members, previous)
        return s

    def _build(
        self,
        cols: HostColumns,
        cpu_util: Sequence[float],
        members: Mapping[str, Iterable[str]] | None,
        previous: HostSnapshot | None,
    ) -> None:
        self.columns = cols
        n = self.size = len(cols)
        same_hosts = previous is not None and previous.ids == cols.ids
        if previous is not None and same_hosts:
            self.ids: list[str] = previous.ids
            self.index: dict[str, int] = previous.index
        else:
            self.ids = cols.ids
            self.index = {h: i for i, h in enumerate(self.ids)}

        def floats(values: Sequence[float]) -> Floats:
            return np.fromiter(values, np.float64, n)

        self.usable: Mask = np.fromiter(cols.usable, np.bool_, n)
        self.vcpus: Floats = floats(cols.vcpus)
        # Capacity as PostgreSQL computes it in the claim (int * double), so the snapshot and
        # the database agree on what fits.
        self.cap_v: Floats = self.vcpus * floats(cols.cpu_allocation_ratio)
        self.cap_m: Floats = floats(cols.memory_mib) * floats(cols.ram_allocation_ratio)
        self.cap_d: Floats = floats(cols.disk_gib) * floats(cols.disk_allocation_ratio)
        self.used_v: Floats = floats(cols.vcpus_used)
        self.used_m: Floats = floats(cols.memory_mib_used)
        self.used_d: Floats = floats(cols.disk_gib_used)
        self.free_v: Floats = self.cap_v - self.used_v
        self.free_m: Floats = self.cap_m - self.used_m
        self.free_d: Floats = self.cap_d - self.used_d
        self.inv_vcpus: Floats = 1.0 / np.maximum(self.vcpus, 1.0)
        live = floats(cpu_util)
        self.load_fresh: Mask = ~np.isnan(live)
        # Estimated CPU utilisation: live where known and fresh, else allocated vcpus over
        # physical ones. Each placement adds its vcpus, since live metrics lag behind.
        self.util: Floats = np.where(self.load_fresh, live, self.used_v * self.inv_vcpus)
        self._zone = _Codes.reuse(previous._zone if same_hosts and previous else None, cols.zones, n)
        self._arch = _Codes.reuse(
            previous._arch if same_hosts and previous else None, cols.archs, n, canonical_arch
        )
        self._hv = _Codes.reuse(
            previous._hv if same_hosts and previous else None,
            cols.hypervisor_types,
            n,
            canonical_hypervisor_type,
        )
        self.static_masks: dict[object, Mask] = {}  # the scheduler's cache, per request traits
        self.kept = KeptColumns(self)  # derived columns, their stacks and bounds, kept masks
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

    def member_counts(self, group: str) -> Counter[int]:
        return self.members.get(group) or Counter()

    def claim(self, i: int, req: PlacementRequest, count: int = 1) -> None:
        """Record `req` as placed on host `i` (for the rest of the batch); `count=-1`: as no
        longer placed there (a claim the database refused, a batch rolled back)."""
        self.add_usage(i, req.vcpus * count, req.memory_mib * count, req.disk_gib * count)
        if req.group is not None:
            self.members.setdefault(req.group, Counter())[i] += count

    def add_usage(self, i: int, v: int, m: int, d: int) -> None:
        """Host i uses v vcpus, m MiB and d GiB more (less, when negative) than recorded."""
        # In Python floats (`item`): the same float64 arithmetic, without NumPy scalars' cost.
        used_v = self.used_v.item(i) + v
        used_m = self.used_m.item(i) + m
        used_d = self.used_d.item(i) + d
        self.used_v[i] = used_v
        self.used_m[i] = used_m
        self.used_d[i] = used_d
        self.free_v[i] = self.cap_v.item(i) - used_v
        self.free_m[i] = self.cap_m.item(i) - used_m
        self.free_d[i] = self.cap_d.item(i) - used_d
        self.util[i] = self.util.item(i) + v * self.inv_vcpus.item(i)
        self.kept.update(i)

    def retire(self) -> None:
        """A newer snapshot replaces this one: drop its caches now (they refer back to it), so
        that it is freed at once rather than by a full garbage collection."""
        self.kept.release()
        self.static_masks.clear()

    def set_members(self, members: Mapping[str, Iterable[str]]) -> None:
        """The hosts of these groups' members, as read (a later batch's groups)."""
        for key, hosts_of_members in members.items():
            self.members[key] = Counter(self.index.get(h, -1) for h in hosts_of_members)

    def traits_of(self, i: int) -> tuple[str, str, str]:
        """Host i's zone, architecture and hypervisor type as read."""
        c = self.columns
        return c.zones[i], c.archs[i], c.hypervisor_types[i]

    def replace_row(self, i: int, cols: HostColumns, j: int, extra: tuple[int, int, int] = (0, 0, 0)) -> None:
        """Host i as row j of `cols` (read afresh) shows it, plus `extra` vcpus, memory and
        disk not in that row yet (claims decided but not committed). Its zone, architecture
        and hypervisor type must be unchanged (else read a new snapshot)."""
        usable = bool(cols.usable[j])
        if usable != bool(self.usable[i]):
            self.usable[i] = usable
            self.static_masks.clear()  # they include the availability filter
            self.kept.forget_masks()
        old_v, vcpus = self.used_v[i], float(cols.vcpus[j])
        self.vcpus[i] = vcpus
        self.inv_vcpus[i] = 1.0 / max(vcpus, 1.0)
        self.cap_v[i] = vcpus * cols.cpu_allocation_ratio[j]
        self.cap_m[i] = cols.memory_mib[j] * cols.ram_allocation_ratio[j]
        self.cap_d[i] = cols.disk_gib[j] * cols.disk_allocation_ratio[j]
        self.used_v[i] = cols.vcpus_used[j] + extra[0]
        self.used_m[i] = cols.memory_mib_used[j] + extra[1]
        self.used_d[i] = cols.disk_gib_used[j] + extra[2]
        self.free_v[i] = self.cap_v[i] - self.used_v[i]
        self.free_m[i] = self.cap_m[i] - self.used_m[i]
        self.free_d[i] = self.cap_d[i] - self.used_d[i]
        if self.load_fresh[i]:
            self.util[i] += (self.used_v[i] - old_v) * self.inv_vcpus[i]
        else:
            self.util[i] = self.used_v[i] * self.inv_vcpus[i]
        self.kept.update(i)

    def mask_of(self, host_ids: Sequence[str]) -> Mask:
        mask = np.zeros(self.size, np.bool_)
        mask[[self.index[h] for h in host_ids if h in self.index]] = True
        return mask

    def usage(self, host_id: str) -> tuple[int, int, int]:
        """vcpus, memory MiB and disk GiB used on a host, including the placements recorded."""
        i = self.index[host_id]
        return int(self.used_v[i]), int(self.used_m[i]), int(self.used_d[i])
