"""One fleet snapshot as columns: the arrays filters and weighers run over.

A batch of placements is decided against one snapshot: it is built once (O(hosts)), then every
request is filtered and weighed with whole-array NumPy operations, and each placement updates
the chosen host's row in place (O(1)), so the next request of the batch sees it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from controller.scheduler.fleet import (
    HostColumns,
    HostView,
    PlacementRequest,
    canonical_arch,
    canonical_hypervisor_type,
)

Mask: TypeAlias = NDArray[np.bool_]
Floats: TypeAlias = NDArray[np.float64]
Indices: TypeAlias = NDArray[np.intp]

# Stacks and masks kept current per snapshot, at most (each costs a little on every claim).
_MAX_CACHED = 32
# Stacks over a kept mask's candidates, at most, per mask (one request shape: one stack, as a rule).
_MAX_VIEWS = 4


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


class FleetSnapshot:
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
        previous: FleetSnapshot | None = None,
    ) -> FleetSnapshot:
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
        previous: FleetSnapshot | None,
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
        self._derived: dict[object, tuple[Callable[[int], float], Floats]] = {}
        self._derived_ids: dict[int, int] = {}  # id of a derived column → its place in _derived
        # Per derived column (by place), its minimum and maximum over every host and how many
        # hosts have each, kept current on claims while that says them (else None: unknown).
        self._bounds: list[list[float] | None] = []
        # Derived columns stacked as matrices (the weighers' columns of one request shape), and
        # which derived columns make their rows: kept current as the columns are.
        # (The matrix's rows as views, each with the place of its column in _derived.)
        self._stacks: dict[tuple[int, ...], tuple[Floats, tuple[tuple[Floats, int], ...]]] = {}
        # Capacity masks kept current on claims (`fits`: the scheduler's "passes every filter"
        # masks, per request shape), dropped with static_masks: the static mask, the vcpus,
        # memory and disk asked, the mask, and [how many hosts it lets through, which (their
        # indices; None until asked for again after a change), the stacks over them (by stack
        # key, None when asked for once; see candidate_view)].
        self._masks: dict[object, tuple[Mask, int, int, int, Mask, list[Any]]] = {}
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
            self._derived_ids[id(found[1])] = len(self._derived)
            self._derived[key] = found
            self._bounds.append(None)
        return found[1]

    def bounds(self, columns: Sequence[Floats]) -> tuple[list[float], list[float]] | None:
        """Each column's minimum and maximum over every host (as `column.min()`, `.max()`),
        when every column is a derived one; else None."""
        if not self.size:
            return None
        lows, highs = [], []
        for column in columns:
            k = self._derived_ids.get(id(column))
            if k is None:
                return None
            b = self._bounds[k]
            if b is None:
                b = self._bounds[k] = _bounds_of(column)
                if b is None:
                    return None
            lows.append(b[0])
            highs.append(b[1])
        return lows, highs

    def stacked(self, columns: Sequence[Floats]) -> Floats | None:
        """np.stack(columns), kept current, when every column is a derived one (as `derived`
        returned it); else None. Do not modify."""
        key = tuple(map(id, columns))
        found = self._stacks.get(key)
        if found is None:
            slots = tuple(self._derived_ids.get(k, -1) for k in key)
            if -1 in slots or len(self._stacks) >= _MAX_CACHED:
                return None
            matrix = np.stack(columns)
            found = (matrix, tuple(zip(matrix, slots, strict=True)))
            self._stacks[key] = found
        return found[0]

    def fits(self, key: object, static: Mask, v: int, m: int, d: int) -> Mask:
        """`static & (free_v >= v) & (free_m >= m) & (free_d >= d)`: the hosts of `static`
        with room for v vcpus, m MiB and d GiB, kept current under `key` (with `static`, until
        a host's availability changes: see replace_row). Do not modify."""
        found = self._masks.get(key)
        if found is not None:
            return found[4]
        mask = static & (self.free_v >= v)
        mask &= self.free_m >= m
        mask &= self.free_d >= d
        if len(self._masks) < _MAX_CACHED:
            self._masks[key] = (static, v, m, d, mask, [int(np.count_nonzero(mask)), None, {}])
        return mask

    def kept_candidates(self, key: object) -> tuple[int, Indices | None] | None:
        """How many hosts the kept mask `key` (see `fits`) lets through, and their indices
        (None when that is every host). Do not modify."""
        found = self._masks.get(key)
        if found is None:
            return None
        counted = found[5]
        if counted[0] == self.size:
            return counted[0], None
        if counted[1] is None:
            counted[1] = np.flatnonzero(found[4])
        return counted[0], counted[1]

    def candidate_view(
        self, key: object, candidates: Indices, columns: Sequence[Floats]
    ) -> tuple[Floats, list[float], list[float]] | None:
        """`np.stack(columns).take(candidates, axis=1)` and each of its rows' minimum and
        maximum, kept current, when `candidates` are the kept mask `key`'s (as
        `kept_candidates` returned them) and every column is a derived one; else None.
        Do not modify."""
        found = self._masks.get(key)
        if found is None or found[5][1] is not candidates or not len(candidates):
            return None
        views = found[5][2]
        skey = tuple(map(id, columns))
        view = views.get(skey)
        if view is None:
            stack = self._stacks.get(skey)
            if stack is None or len(views) >= _MAX_VIEWS:
                return None
            if skey not in views:  # made on the second use: candidates may change at once
                views[skey] = None
                return None
            # [the matrix over the candidates, where each host is in it (-1: not there), its
            # rows as (row, derived column's place, row number): None when the candidates
            # changed; each row's bounds; the stack]
            slots = tuple(k for _row, k in stack[1])
            view = views[skey] = [None, None, None, [None] * len(slots), slots, stack[0]]
        if view[0] is None:
            x = view[0] = view[5].take(candidates, axis=1)
            where = view[1] = np.full(self.size, -1, np.intp)
            where[candidates] = np.arange(len(candidates))
            view[2] = tuple(zip(x, view[4], range(len(x)), strict=True))
        x, bounds = view[0], view[3]
        lows, highs = [], []
        for r, b in enumerate(bounds):
            if b is None:
                b = bounds[r] = _bounds_of(x[r])
                if b is None:
                    return None
            lows.append(b[0])
            highs.append(b[1])
        return x, lows, highs

    def _update(self, i: int) -> None:
        """The derived columns, their stacks and the masks after host i changed."""
        values: list[float] = []  # the derived columns' values at i, new and old
        olds: list[float] = []
        if self._derived:
            bounds = self._bounds
            for k, (one, column) in enumerate(self._derived.values()):
                old = column.item(i)
                column[i] = value = one(i)
                values.append(value)
                olds.append(old)
                b = bounds[k]
                if b is not None and value != old:
                    bounds[k] = _moved(b, old, value)
            for _matrix, rows in self._stacks.values():
                for row, k in rows:
                    row[i] = values[k]
        if self._masks:
            fv, fm, fd = self.free_v.item(i), self.free_m.item(i), self.free_d.item(i)
            for static, v, m, d, mask, counted in self._masks.values():
                ok = static.item(i) and fv >= v and fm >= m and fd >= d
                was = mask.item(i)
                if was or ok:  # a candidate before or after: the stacks over them change
                    for view in counted[2].values():
                        if view is not None:
                            _update_view(view, i, was, ok, olds, values)
                if ok == was:
                    continue
                mask[i] = ok
                counted[0] += 1 if ok else -1
                counted[1] = None

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
        self._update(i)

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
            self._masks.clear()
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
        self._update(i)

    def mask_of(self, host_ids: Sequence[str]) -> Mask:
        mask = np.zeros(self.size, np.bool_)
        mask[[self.index[h] for h in host_ids if h in self.index]] = True
        return mask

    def usage(self, host_id: str) -> tuple[int, int, int]:
        """vcpus, memory MiB and disk GiB used on a host, including the placements recorded."""
        i = self.index[host_id]
        return int(self.used_v[i]), int(self.used_m[i]), int(self.used_d[i])


def _update_view(
    view: list[Any], i: int, was: bool, ok: bool, olds: list[float], values: list[float]
) -> None:
    """A candidate view (see candidate_view) after host i's derived values went from `olds`
    to `values` and it was (`was`) and is (`ok`) a candidate or not."""
    x, where, rows, bounds, slots, _stack = view
    if was and ok:
        if x is None:  # made again when next asked for
            for r, k in enumerate(slots):
                if values[k] != olds[k] and bounds[r] is not None:
                    bounds[r] = _moved(bounds[r], olds[k], values[k])
            return
        p = where.item(i)
        for row, k, r in rows:
            value = values[k]
            if value != olds[k]:
                row[p] = value
                b = bounds[r]
                if b is not None:
                    bounds[r] = _moved(b, olds[k], value)
        return
    # Host i joins or leaves the candidates: the matrix is made again when next asked for,
    # its bounds stay current.
    view[0] = view[1] = view[2] = None
    for r, k in enumerate(slots):
        b = bounds[r]
        if b is not None:
            bounds[r] = _joined(b, values[k]) if ok else _left(b, olds[k])


def _left(b: list[float], old: float) -> list[float] | None:
    """[min, max, hosts at min, hosts at max] once a host whose value was `old` is gone."""
    lo, hi, n_lo, n_hi = b
    if old == lo:
        n_lo -= 1
    if old == hi:
        n_hi -= 1
    if n_lo <= 0 or n_hi <= 0:
        return None
    return [lo, hi, n_lo, n_hi]


def _joined(b: list[float], new: float) -> list[float] | None:
    """[min, max, hosts at min, hosts at max] once a host of value `new` is in."""
    lo, hi, n_lo, n_hi = b
    if new != new:
        return None
    if new < lo:
        lo, n_lo = new, 1
    elif new == lo:
        n_lo += 1
    if new > hi:
        hi, n_hi = new, 1
    elif new == hi:
        n_hi += 1
    return [lo, hi, n_lo, n_hi]


def _bounds_of(column: Floats) -> list[float] | None:
    """[min, max, hosts at min, hosts at max] of a column; None when it holds NaN."""
    lo, hi = column.min().item(), column.max().item()
    if lo != lo or hi != hi:
        return None
    return [lo, hi, int(np.count_nonzero(column == lo)), int(np.count_nonzero(column == hi))]


def _moved(b: list[float], old: float, new: float) -> list[float] | None:
    """A column's [min, max, hosts at min, hosts at max] after one host's value went from
    `old` to `new`; None when that no longer says (the last host at an extreme moved in)."""
    lo, hi, n_lo, n_hi = b
    if old == lo:
        n_lo -= 1
    if old == hi:
        n_hi -= 1
    if new < lo:
        lo, n_lo = new, 1
    elif new == lo:
        n_lo += 1
    if new > hi:
        hi, n_hi = new, 1
    elif new == hi:
        n_hi += 1
    if n_lo <= 0 or n_hi <= 0 or new != new:
        return None
    return [lo, hi, n_lo, n_hi]
