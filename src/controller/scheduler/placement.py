"""Placement: filter, weigh, choose. Pure functions over a snapshot of the fleet.

`Scheduler.place(snapshot, requests)` decides a whole batch: for each request it ANDs the
filters' masks (the static part cached per request traits), weighs the surviving hosts with
array operations, picks the best (or one at random among the best `host_subset_size`) and
records the claim in the snapshot. Only a request no host can take pays for the per-filter
accounting that the NoValidHost message needs.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from controller.domain.server_groups import GroupPolicy
from controller.scheduler.filters import (
    AFFINITY,
    ANTI_AFFINITY,
    DEFAULT_FILTERS,
    DISK,
    MEMORY,
    VCPUS,
    Filter,
)
from controller.scheduler.hosts import HostView, PlacementRequest
from controller.scheduler.snapshot import HostSnapshot, Indices, Mask
from controller.scheduler.weighers import Weigher, free_ram, totals

_DEFAULT_DYNAMIC = {AFFINITY, ANTI_AFFINITY, VCPUS, MEMORY, DISK}
# The group policies whose filters remove hosts (the soft ones only weigh).
_HARD_GROUP_RULES = (GroupPolicy.AFFINITY, GroupPolicy.ANTI_AFFINITY)


@dataclass(frozen=True)
class Ranking:
    """Hosts that can take the request, best first, and why the others could not."""

    candidates: list[str]
    removed: Counter[str]
    considered: int

    def no_valid_host(self) -> str:
        if self.considered == 0:
            return "No valid host: no hosts are registered"
        parts = ", ".join(f"{n} removed by {name}" for name, n in self.removed.most_common())
        noun = "host" if self.considered == 1 else "hosts"
        return f"No valid host: {self.considered} {noun}: {parts}"


@dataclass(frozen=True)
class Decision:
    request: PlacementRequest
    host_id: str | None  # None: no valid host
    reason: str = ""  # the NoValidHost message when host_id is None


@dataclass(frozen=True)
class Scheduler:
    filters: Sequence[Filter] = DEFAULT_FILTERS
    weighers: Sequence[Weigher] = (free_ram(1.0),)
    host_subset_size: int = 1  # choose at random among this many best hosts
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    _static: tuple[Filter, ...] = field(init=False, repr=False, compare=False)
    _dynamic: tuple[Filter, ...] = field(init=False, repr=False, compare=False)
    _cache_key: object = field(init=False, repr=False, compare=False)
    _default_dynamic: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.host_subset_size < 1:
            raise ValueError(f"host_subset_size must be at least 1, got {self.host_subset_size}")
        # Tuples, and the static/dynamic split done once: `place` runs per request.
        object.__setattr__(self, "filters", tuple(self.filters))
        object.__setattr__(self, "weighers", tuple(w for w in self.weighers if w.multiplier != 0))
        object.__setattr__(self, "_static", tuple(f for f in self.filters if f.static))
        object.__setattr__(self, "_dynamic", tuple(f for f in self.filters if not f.static))
        object.__setattr__(self, "_cache_key", object())
        # The default per-request filters (groups, capacity): their masks for a request
        # without a hard group rule are kept by the snapshot per request shape (_fits).
        object.__setattr__(self, "_default_dynamic", set(self._dynamic) == _DEFAULT_DYNAMIC)

    # --- the hot path ---------------------------------------------------------------------

    def _static_mask(self, s: HostSnapshot, r: PlacementRequest) -> Mask:
        key = (self._cache_key, r.traits)
        mask = s.static_masks.get(key)
        if mask is None:
            mask = np.ones(s.size, np.bool_)
            for f in self._static:
                m = f.mask(s, r)
                if m is not None:
                    mask &= m
            s.static_masks[key] = mask
        return mask

    def _fits_key(self, r: PlacementRequest) -> tuple[object, ...]:
        """What the kept mask of `_fits` depends on: requests that share it share the mask."""
        return (self._cache_key, r.traits, r.vcpus, r.memory_mib, r.disk_gib)

    def _fits(self, s: HostSnapshot, r: PlacementRequest) -> Mask:
        """`passing` with the default per-request filters when the group filters say nothing
        (no hard group rule): the static mask and the capacity filters, per request shape, kept
        current by the snapshot on each claim."""
        v, m, d = r.vcpus, r.memory_mib, r.disk_gib
        return s.kept.fits(self._fits_key(r), self._static_mask(s, r), v, m, d)

    def _fits_kept(self, r: PlacementRequest) -> bool:
        """Whether `passing` is `_fits` (a mask the snapshot keeps) for `r`."""
        return self._default_dynamic and (r.group is None or r.group_policy not in _HARD_GROUP_RULES)

    def _candidates(
        self, s: HostSnapshot, r: PlacementRequest, allowed: Mask | None
    ) -> tuple[int, Indices | None, object]:
        """How many hosts pass the filters (and `allowed`), which (None: every host), and the
        key of the snapshot's kept mask they come from (None: none)."""
        if allowed is None and self._fits_kept(r):
            key = self._fits_key(r)
            found = s.kept.kept_candidates(key)
            if found is None:
                self._fits(s, r)
                found = s.kept.kept_candidates(key)
            if found is not None:
                return found[0], found[1], key
        ok = self.passing(s, r, allowed)
        count = int(np.count_nonzero(ok))
        return count, None if count == s.size else np.flatnonzero(ok), None

    def passing(self, s: HostSnapshot, r: PlacementRequest, allowed: Mask | None = None) -> Mask:
        """The hosts every filter lets through (and `allowed`, when given). Do not modify."""
        if self._fits_kept(r):
            fits = self._fits(s, r)
            return fits if allowed is None else fits & allowed
        mask = self._static_mask(s, r)
        fresh = False  # whether `mask` is our own array yet (the static one is shared)
        for m in (f.mask(s, r) for f in self._dynamic):
            if m is None:
                continue
            if fresh:
                np.logical_and(mask, m, out=mask)
            else:
                mask, fresh = mask & m, True
        if allowed is not None:
            mask = mask & allowed
        return mask

    def select(self, s: HostSnapshot, r: PlacementRequest, allowed: Mask | None = None) -> int | None:
        """The index of the host chosen for `r`, or None when no host passes the filters."""
        count, idx, kept = self._candidates(s, r, allowed)
        if count == 0:
            return None
        # Every host passing: weigh the columns themselves, not a gathered copy (idx None).
        t = totals(s, r, idx, self.weighers, kept)
        k = min(self.host_subset_size, count)
        if k == 1:
            pos = int(t.argmax())  # the first maximum: ties go to the lowest host id
        else:
            best = np.argpartition(-t, k - 1)[:k]
            pos = int(best[self.rng.randrange(k)])
        return pos if idx is None else int(idx[pos])

    def place(
        self, s: HostSnapshot, requests: Sequence[PlacementRequest], allowed: Mask | None = None
    ) -> list[Decision]:
        """Decide every request in order, each seeing the claims of those before it."""
        out: list[Decision] = []
        for r in requests:
            i = self.select(s, r, allowed)
            if i is None:
                reason = self.rank_in(s, r, order=False).no_valid_host() if allowed is None else ""
                out.append(Decision(r, None, reason))
                continue
            s.claim(i, r)
            out.append(Decision(r, s.ids[i]))
        return out

    # --- the full ranking, with the reasons -----------------------------------------------

    def rank_in(self, s: HostSnapshot, r: PlacementRequest, *, order: bool = True) -> Ranking:
        """Every candidate best first, and how many hosts each filter removed (a host is
        counted under the first filter that removes it). `order=False`: the counts only."""
        removed: Counter[str] = Counter()
        alive = np.ones(s.size, np.bool_)
        for f in self.filters:
            m = f.mask(s, r)
            if m is None:
                continue
            gone = int(np.count_nonzero(alive & ~m))
            if gone:
                removed[f.name] += gone
                alive &= m
        if not order:
            return Ranking([], removed, s.size)
        idx = np.flatnonzero(alive)
        t = totals(s, r, idx, self.weighers)
        best_first = np.lexsort((idx, -t))  # best score first, then host id
        return Ranking([s.ids[int(idx[o])] for o in best_first], removed, s.size)

    def rank(self, hosts: Sequence[HostView], req: PlacementRequest) -> Ranking:
        return self.rank_in(HostSnapshot(hosts), req)
