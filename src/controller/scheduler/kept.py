"""What a host snapshot keeps current from one placement to the next, so that deciding a
placement costs a few operations on the hosts that changed, not a pass over every host:

- derived columns (a weigher's score for one request size), updated per claimed host;
- each derived column's minimum and maximum over every host and how many hosts hold each
  (min-max normalisation without a pass over the column);
- the weighers' columns of one request shape stacked as one matrix;
- per request shape, the mask of hosts passing every filter (`fits`), how many it lets
  through and which, and the weighers' matrix over those candidates with its rows' bounds.

Decisions are the same as without any of it (tests/unit/controller/test_scheduler_caches.py
compares every choice with one made on the snapshot without its caches).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from controller.scheduler.arrays import Floats, Indices, Mask

# Stacks and masks kept current per snapshot, at most (each costs a little on every claim).
_MAX_CACHED = 32
# Stacks over a kept mask's candidates, at most, per mask (one request shape: one stack, as a rule).
_MAX_VIEWS = 4


class FreeCapacity(Protocol):
    """What the kept columns read of their snapshot (a HostSnapshot): how many hosts, and each
    host's free vcpus, memory and disk, as the snapshot keeps them current."""

    @property
    def size(self) -> int: ...
    @property
    def free_v(self) -> Floats: ...
    @property
    def free_m(self) -> Floats: ...
    @property
    def free_d(self) -> Floats: ...


@dataclass(slots=True, eq=False)
class _CandidateView:
    """A stack of derived columns (see KeptColumns.stacked) over the candidates of one kept
    mask, and each of its rows' bounds, kept current (see candidate_view)."""

    x: Floats | None  # the stack over the candidates; None once they changed (made again)
    where: Indices | None  # where each host is among the candidates (-1: not there), with x
    rows: tuple[tuple[Floats, int, int], ...] | None  # x's rows: (row, derived place, row number)
    bounds: list[list[float] | None]  # per row: [min, max, hosts at min, hosts at max] or None
    slots: tuple[int, ...]  # per row: the place of its derived column
    stack: Floats  # the stack over every host, which x is taken from


@dataclass(slots=True, eq=False)
class _Candidates:
    """What a kept mask lets through, kept current with it."""

    count: int  # how many hosts
    indices: Indices | None  # which, ascending; None until asked for again after a change
    # Stacks over them, by stack key (the ids of its columns); None when asked for once.
    views: dict[tuple[int, ...], _CandidateView | None]


class _KeptMask(NamedTuple):
    """A capacity mask kept current on claims (see KeptColumns.fits), with what it was made
    of. A tuple: update() unpacks it for every kept mask on every claim."""

    static: Mask  # the hosts passing the static filters (a snapshot's static_masks entry)
    vcpus: int  # room asked for
    memory_mib: int
    disk_gib: int
    mask: Mask  # static & room for vcpus, memory_mib and disk_gib
    candidates: _Candidates


class KeptColumns:
    def __init__(self, s: FreeCapacity) -> None:
        self._s = s  # a cycle (the snapshot holds this): broken by release()
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
        # masks, per request shape), dropped with the snapshot's static_masks.
        self._masks: dict[object, _KeptMask] = {}

    def release(self) -> None:
        """Drop everything kept, and the snapshot (it is retired). This and the derived
        columns' functions refer to the snapshot, which refers to this: left as they were, every
        retired snapshot (megabytes at 10,000 hosts) would wait for a full garbage collection,
        which a process placing all the time rarely makes."""
        del self._s
        self._derived.clear()
        self._derived_ids.clear()
        self._bounds.clear()
        self._stacks.clear()
        self._masks.clear()

    def forget_masks(self) -> None:
        """Drop the kept masks (a host's availability changed: see HostSnapshot.replace_row)."""
        self._masks.clear()

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
        if not self._s.size:
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
            return found.mask
        mask = static & (self._s.free_v >= v)
        mask &= self._s.free_m >= m
        mask &= self._s.free_d >= d
        if len(self._masks) < _MAX_CACHED:
            candidates = _Candidates(int(np.count_nonzero(mask)), None, {})
            self._masks[key] = _KeptMask(static, v, m, d, mask, candidates)
        return mask

    def kept_candidates(self, key: object) -> tuple[int, Indices | None] | None:
        """How many hosts the kept mask `key` (see `fits`) lets through, and their indices
        (None when that is every host). Do not modify."""
        found = self._masks.get(key)
        if found is None:
            return None
        through = found.candidates
        if through.count == self._s.size:
            return through.count, None
        if through.indices is None:
            through.indices = np.flatnonzero(found.mask)
        return through.count, through.indices

    def candidate_view(
        self, key: object, candidates: Indices, columns: Sequence[Floats]
    ) -> tuple[Floats, list[float], list[float]] | None:
        """`np.stack(columns).take(candidates, axis=1)` and each of its rows' minimum and
        maximum, kept current, when `candidates` are the kept mask `key`'s (as
        `kept_candidates` returned them) and every column is a derived one; else None.
        Do not modify."""
        found = self._masks.get(key)
        if found is None or found.candidates.indices is not candidates or not len(candidates):
            return None
        views = found.candidates.views
        skey = tuple(map(id, columns))
        view = views.get(skey)
        if view is None:
            stack = self._stacks.get(skey)
            if stack is None or len(views) >= _MAX_VIEWS:
                return None
            if skey not in views:  # made on the second use: candidates may change at once
                views[skey] = None
                return None
            slots = tuple(k for _row, k in stack[1])
            view = views[skey] = _CandidateView(None, None, None, [None] * len(slots), slots, stack[0])
        x = view.x
        if x is None:
            x = view.x = view.stack.take(candidates, axis=1)
            where = view.where = np.full(self._s.size, -1, np.intp)
            where[candidates] = np.arange(len(candidates))
            view.rows = tuple(zip(x, view.slots, range(len(x)), strict=True))
        bounds = view.bounds
        lows, highs = [], []
        for r, b in enumerate(bounds):
            if b is None:
                b = bounds[r] = _bounds_of(x[r])
                if b is None:
                    return None
            lows.append(b[0])
            highs.append(b[1])
        return x, lows, highs

    def update(self, i: int) -> None:
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
            fv, fm, fd = self._s.free_v.item(i), self._s.free_m.item(i), self._s.free_d.item(i)
            for static, v, m, d, mask, through in self._masks.values():
                ok = static.item(i) and fv >= v and fm >= m and fd >= d
                was = mask.item(i)
                if was or ok:  # a candidate before or after: the stacks over them change
                    for view in through.views.values():
                        if view is not None:
                            _update_view(view, i, was, ok, olds, values)
                if ok == was:
                    continue
                mask[i] = ok
                through.count += 1 if ok else -1
                through.indices = None


def _update_view(
    view: _CandidateView, i: int, was: bool, ok: bool, olds: list[float], values: list[float]
) -> None:
    """A candidate view (see candidate_view) after host i's derived values went from `olds`
    to `values` and it was (`was`) and is (`ok`) a candidate or not."""
    bounds, slots = view.bounds, view.slots
    if was and ok:
        where, rows = view.where, view.rows
        if where is None or rows is None:  # made again when next asked for
            for r, k in enumerate(slots):
                b = bounds[r]
                if values[k] != olds[k] and b is not None:
                    bounds[r] = _moved(b, olds[k], values[k])
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
    view.x = view.where = view.rows = None
    for r, k in enumerate(slots):
        b = bounds[r]
        if b is not None:
            bounds[r] = _joined(b, values[k]) if ok else _left(b, olds[k])


def _without(b: list[float], old: float) -> list[float]:
    """[min, max, hosts at min, hosts at max] once a host whose value was `old` is gone (a
    count may reach 0: then the extreme is no longer known, see _known)."""
    lo, hi, n_lo, n_hi = b
    return [lo, hi, n_lo - (old == lo), n_hi - (old == hi)]


def _known(b: list[float] | None) -> list[float] | None:
    """`b` while it still says the extremes (some host at each), else None."""
    return b if b is not None and b[2] > 0 and b[3] > 0 else None


def _left(b: list[float], old: float) -> list[float] | None:
    """[min, max, hosts at min, hosts at max] once a host whose value was `old` is gone."""
    return _known(_without(b, old))


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
    return _known(_joined(_without(b, old), new))
