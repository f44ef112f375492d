"""Placement: filter, weigh, rank. Pure functions over a snapshot of the fleet."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from controller.scheduler.filters import DEFAULT_FILTERS, Filter
from controller.scheduler.fleet import HostView, PlacementRequest
from controller.scheduler.weighers import Weigher, free_ram, weigh


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
class Scheduler:
    filters: Sequence[Filter] = DEFAULT_FILTERS
    weighers: Sequence[Weigher] = (free_ram(1.0),)

    def rank(self, hosts: Sequence[HostView], req: PlacementRequest) -> Ranking:
        removed: Counter[str] = Counter()
        passing: list[HostView] = []
        for h in hosts:
            for f in self.filters:
                if not f.passes(h, req):
                    removed[f.name] += 1
                    break
            else:
                passing.append(h)
        scores = weigh(passing, self.weighers)
        # Ties break on host id so placement is deterministic for a given snapshot.
        order = sorted(range(len(passing)), key=lambda i: (-scores[i], passing[i].id))
        return Ranking([passing[i].id for i in order], removed, len(hosts))
