"""The scheduler's per-snapshot caches (masks per request shape, stacked weigher columns, kept
current on each claim) decide exactly as the uncached filters and weighers do."""

from __future__ import annotations

import copy
import random
import uuid

import numpy as np
import pytest
from scheduler_testkit import host

from controller.domain.server_groups import GroupPolicy
from controller.scheduler.hosts import HostColumns, HostView, PlacementRequest
from controller.scheduler.kept import KeptColumns
from controller.scheduler.placement import Scheduler
from controller.scheduler.policy import SchedulerPolicy, Strategy, build_scheduler
from controller.scheduler.snapshot import HostSnapshot
from controller.scheduler.weighers import totals

FLAVORS = [(1, 512, 1), (1, 2048, 20), (2, 4096, 40), (4, 8192, 80), (8, 16384, 160)]


def _fleet(rng: random.Random, n: int, roomy: bool) -> list[HostView]:
    """`roomy`: every host up and with room for every request (all of them candidates)."""
    hosts = []
    for k in range(n):
        v, m, d = rng.choice([(32, 65536, 1000), (16, 32768, 500), (4, 8192, 100)])
        hosts.append(
            host(
                f"h{k:04d}",
                availability_zone=rng.choice(["az1", "az2"]),
                vcpus=v,
                memory_mib=m,
                disk_gib=d,
                cpu_allocation_ratio=16.0 if roomy else rng.choice([1.0, 4.0]),
                vcpus_used=rng.randrange(0, v),
                memory_mib_used=rng.randrange(0, m // 2),
                up=roomy or rng.random() > 0.05,
                cpu_util=rng.random() if rng.random() < 0.5 else None,
                load_fresh=rng.random() < 0.5,
            )
        )
    return hosts


def _request(rng: random.Random, roomy: bool) -> PlacementRequest:
    v, m, d = rng.choice(FLAVORS[:2] if roomy else FLAVORS)
    kw: dict[str, object] = {}
    if not roomy and rng.random() < 0.2:
        kw["availability_zone"] = rng.choice(["az1", "az2"])
    if rng.random() < 0.2:
        g = rng.randrange(4)
        kw["group"], kw["group_policy"] = f"g{g}", list(GroupPolicy)[g]
    return PlacementRequest(uuid.UUID(int=rng.getrandbits(128)), v, m, d, **kw)  # type: ignore[arg-type]


def _uncached(s: HostSnapshot) -> HostSnapshot:
    """The snapshot as it stands, with none of its caches (to be read, not claimed on)."""
    fresh = copy.copy(s)
    fresh.static_masks = {}
    fresh.kept = KeptColumns(fresh)
    return fresh


@pytest.mark.parametrize(
    "scheduler",
    [
        build_scheduler(SchedulerPolicy()),
        build_scheduler(SchedulerPolicy(strategy=Strategy.PACK)),
        Scheduler(),
    ],
    ids=["spread", "pack", "default"],
)
@pytest.mark.parametrize("roomy", [False, True])
def test_each_choice_is_the_best_of_the_full_ranking(scheduler: Scheduler, roomy: bool) -> None:
    rng = random.Random(5)
    hosts = _fleet(rng, 120, roomy)
    s = HostSnapshot(hosts)
    for n in range(1500):
        r = _request(rng, roomy)
        ranked = scheduler.rank_in(_uncached(s), r).candidates  # every filter and weigher
        i = scheduler.select(s, r)
        assert (None if i is None else s.ids[i]) == (ranked[0] if ranked else None)
        assert i == scheduler.select(_uncached(s), r)
        # The scores themselves, not only the winner: the kept columns, their stacks and
        # bounds (kept current claim by claim) give what a snapshot without caches computes.
        kept, afresh = (
            totals(s, r, None, scheduler.weighers),
            totals(_uncached(s), r, None, scheduler.weighers),
        )
        np.testing.assert_allclose(kept, afresh, rtol=0, atol=1e-9)
        if i is not None:
            s.claim(i, r)
        if n % 100 == 50:  # a host's row read again: up or down, usage changed
            j = rng.randrange(len(hosts))
            h = hosts[j]
            h.up = roomy or not h.up
            h.vcpus_used = rng.randrange(0, h.vcpus)
            s.replace_row(j, HostColumns.of([h]), 0)
        if n % 300 == 299:  # a claim refused by the database
            s.claim(rng.randrange(len(hosts)), r, -1)
