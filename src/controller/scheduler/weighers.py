"""Host weighers, as in Nova: each scores hosts in [0, 1] (min-max normalised over the
candidates), the scores are multiplied by the weigher's multiplier and summed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.scheduler.fleet import HostView


@dataclass(frozen=True)
class Weigher:
    name: str
    raw: Callable[[HostView], float]
    multiplier: float


def free_ram(multiplier: float = 1.0) -> Weigher:
    """Positive multiplier spreads (most free RAM first); negative packs."""
    return Weigher("free_ram", lambda h: h.free_memory_mib, multiplier)


def free_vcpus(multiplier: float = 0.0) -> Weigher:
    return Weigher("free_vcpus", lambda h: h.free_vcpus, multiplier)


def _normalise(values: Sequence[float]) -> list[float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        return [0.0 for _ in values]
    return [(v - lo) / (hi - lo) for v in values]


def weigh(hosts: Sequence[HostView], weighers: Sequence[Weigher]) -> list[float]:
    totals = [0.0] * len(hosts)
    if not hosts:
        return totals
    for w in weighers:
        if w.multiplier == 0:
            continue
        for i, score in enumerate(_normalise([w.raw(h) for h in hosts])):
            totals[i] += w.multiplier * score
    return totals
