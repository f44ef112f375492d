"""Host weighers, as in Nova: each scores the candidate hosts, the scores are min-max normalised
to [0, 1] over the candidates, multiplied by the weigher's multiplier and summed; the highest
total wins. A weigher returns None when it has nothing to say about a request (all equal)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from controller.domain.server_groups import GroupPolicy
from controller.scheduler.hosts import HostView, PlacementRequest
from controller.scheduler.snapshot import Floats, HostSnapshot

# A weigher's scores for every host of the snapshot (the candidates are picked out later).
Column = Callable[[HostSnapshot, PlacementRequest], "Floats | None"]

DEFAULT_LOAD_TARGET = 0.6


@dataclass(frozen=True)
class Weigher:
    name: str
    column: Column
    multiplier: float


def _free_share(free: str, cap: str) -> Column:
    """The snapshot's column `free` as a share of its column `cap` (say free_m of cap_m), kept
    current by the snapshot as hosts are claimed."""

    def column(s: HostSnapshot, _r: PlacementRequest) -> Floats:
        f: Floats = getattr(s, free)
        c: Floats = getattr(s, cap)
        return s.kept.derived(
            ("share", free), lambda: f / np.maximum(c, 1.0), lambda i: f.item(i) / max(c.item(i), 1.0)
        )

    return column


def free_ram(multiplier: float) -> Weigher:
    """Free RAM as a share of the host's (RAM x allocation ratio): positive spreads (the
    emptiest host first), negative packs (the fullest first). Shares, not MiB: in a fleet of
    hosts of different sizes, spreading by absolute room would fill the big hosts first."""
    return Weigher("free_ram", _free_share("free_m", "cap_m"), multiplier)


def free_vcpus(multiplier: float) -> Weigher:
    """CPU allocation: unallocated vcpus as a share of the host's (vcpus x allocation ratio);
    positive spreads, negative packs."""
    return Weigher("free_vcpus", _free_share("free_v", "cap_v"), multiplier)


def least_load(multiplier: float) -> Weigher:
    """Live CPU load, balanced: the host whose CPU utilisation after this placement is the
    lowest first (its smoothed live utilisation where fresh, else estimated from allocated
    vcpus; plus the request's vcpus over the host's physical ones). The spread strategy's
    load weigher: even utilisation across the fleet."""

    def column(s: HostSnapshot, r: PlacementRequest) -> Floats:
        v = r.vcpus
        return s.kept.derived(
            ("least_load", v),
            lambda: -(s.util + v * s.inv_vcpus),
            lambda i: -(s.util.item(i) + v * s.inv_vcpus.item(i)),
        )

    return Weigher("least_load", column, multiplier)


def target_load_score(util: Floats, target: float) -> Floats:
    """Kubernetes' TargetLoadPacking in [0, 1]: under the target, the fuller the better (from
    `target` at idle up to 1 at the target); over it, the emptier the better (from `target`
    down to 0 at full load). Hosts under the target always beat hosts over it."""
    below = target + (1.0 - target) * util / target
    above = np.maximum(target * (1.0 - util) / (1.0 - target), 0.0)
    return np.where(util <= target, below, above)


def _target_load_score_one(util: float, target: float) -> float:
    """target_load_score of one host, in plain floats (NumPy scalars cost more than this)."""
    if util <= target:
        return target + (1.0 - target) * util / target
    return max(target * (1.0 - util) / (1.0 - target), 0.0)


def cpu_load(multiplier: float, target: float = DEFAULT_LOAD_TARGET) -> Weigher:
    """Live CPU load with a target utilisation: fill hosts up to `target`, avoid hosts above
    it. The utilisation is the host's after this placement (its estimate plus the request's
    vcpus over the host's physical ones); a host without fresh metrics is estimated from
    its allocated vcpus (see HostSnapshot.util)."""
    if not 0.0 < target < 1.0:
        raise ValueError(f"load target must be between 0 and 1 (exclusive), got {target}")

    def column(s: HostSnapshot, r: PlacementRequest) -> Floats:
        v = r.vcpus
        # One column per request size, kept current by the snapshot as hosts are claimed.
        return s.kept.derived(
            ("cpu_load", target, v),
            lambda: target_load_score(s.util + v * s.inv_vcpus, target),
            lambda i: _target_load_score_one(s.util.item(i) + v * s.inv_vcpus.item(i), target),
        )

    return Weigher("cpu_load", column, multiplier)


def _members_here(s: HostSnapshot, r: PlacementRequest, policy: GroupPolicy) -> Floats | None:
    if r.group_policy is not policy or r.group is None:
        return None
    members = s.member_counts(r.group)
    if not members:
        return None
    counts = np.zeros(s.size, np.float64)
    for i, n in members.items():
        if i >= 0:
            counts[i] = n
    return counts


def soft_affinity(multiplier: float) -> Weigher:
    """SOFT_AFFINITY groups: the more members a host already runs, the better."""
    return Weigher("soft_affinity", lambda s, r: _members_here(s, r, GroupPolicy.SOFT_AFFINITY), multiplier)


def soft_anti_affinity(multiplier: float) -> Weigher:
    """SOFT_ANTI_AFFINITY groups: the fewer members a host already runs, the better."""

    def column(s: HostSnapshot, r: PlacementRequest) -> Floats | None:
        here = _members_here(s, r, GroupPolicy.SOFT_ANTI_AFFINITY)
        return None if here is None else -here

    return Weigher("soft_anti_affinity", column, multiplier)


def totals(
    s: HostSnapshot,
    r: PlacementRequest,
    candidates: NDArray[np.intp] | None,
    weighers: Sequence[Weigher],
    kept: object = None,
) -> Floats:
    """The summed, normalised, multiplied scores of the candidates (host indices, ascending;
    None = every host), in the candidates' order. `kept`: the key of the snapshot's kept mask
    whose candidates these are (HostSnapshot.kept_candidates), if they are."""
    count = s.size if candidates is None else len(candidates)
    columns: list[Floats] = []
    multipliers: list[float] = []
    for w in weighers:
        column = w.column(s, r) if w.multiplier and count else None
        if column is not None:
            columns.append(column)
            multipliers.append(w.multiplier)
    if not columns:
        return np.zeros(count, np.float64)
    # All the weighers' columns as one matrix: a handful of whole-matrix operations instead of
    # several per weigher (this runs once per placement, over every candidate host).
    # The snapshot keeps the stack of derived columns current (no copy per placement), with
    # each column's minimum and maximum over every host; and the same over the candidates of
    # a kept mask.
    x = s.kept.stacked(columns)
    view = None
    if x is None:
        x = np.stack(columns)
    elif candidates is not None and kept is not None:
        view = s.kept.candidate_view(kept, candidates, columns)
    if view is not None:
        x, lo, hi = view
    else:
        bounds = None
        if candidates is not None:
            x = x.take(candidates, axis=1)
        else:
            bounds = s.kept.bounds(columns)
        lo, hi = bounds or (x.min(axis=1).tolist(), x.max(axis=1).tolist())
    # sum of m * (x - lo) / (hi - lo), as (x @ scale) - sum(lo * scale); a weigher whose
    # column is the same everywhere says nothing (scale 0).
    scale = [m / (h - low) if h > low else 0.0 for m, low, h in zip(multipliers, lo, hi, strict=True)]
    total: Floats = np.asarray(scale) @ x
    total -= sum(low * k for low, k in zip(lo, scale, strict=True))
    return total


def weigh(
    hosts: Sequence[HostView], weighers: Sequence[Weigher], req: PlacementRequest | None = None
) -> list[float]:
    """Scores of `hosts` in their given order (for inspection and tests)."""
    if not hosts:
        return []
    s = HostSnapshot(hosts)
    r = req or PlacementRequest(UUID(int=0), 0, 0, 0)
    by_id = dict(zip(s.ids, totals(s, r, None, weighers).tolist(), strict=True))
    return [by_id[h.id] for h in hosts]
