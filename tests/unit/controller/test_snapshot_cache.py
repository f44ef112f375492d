"""The scheduler's in-memory fleet (controller.services.snapshot_cache): what a new read of the
database is given on top, so that it never forgets a claim the database may not show yet."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

from scheduler_testkit import db_host

from controller.domain.model import Host
from controller.scheduler.hosts import PlacementRequest
from controller.services.scheduling import host_columns
from controller.services.snapshot_cache import SnapshotCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def row(host_id: str, vcpus_used: int = 0) -> Host:
    """The host as read; each 2 vcpus used come with 512 MiB and 5 GiB (as `req` asks)."""
    return db_host(
        host_id,
        vcpus=8,
        vcpus_used=vcpus_used,
        memory_mib_used=vcpus_used // 2 * 512,
        disk_gib_used=vcpus_used // 2 * 5,
    )


def req(vcpus: int) -> PlacementRequest:
    return PlacementRequest(uuid.uuid4(), vcpus, 512, 5)


def read(live: SnapshotCache, vcpus_used: int, read_at: float) -> tuple[int, int, int]:
    cols = host_columns([row("h1", vcpus_used)], datetime.now(UTC).timestamp(), 3.0)
    return live.refresh(cols, [math.nan], read_at).usage("h1")


def test_claims_in_flight_are_added_to_every_read_until_settled() -> None:
    clock = Clock()
    live = SnapshotCache(refresh_s=1.0, clock=clock)
    assert live.stale()
    assert read(live, 0, clock.now) == (0, 0, 0) and not live.stale()
    live.snapshot.claim(0, (r := req(2)))  # type: ignore[union-attr]  # as Scheduler.place does
    live.decided("h1", r)
    clock.now += 1.0
    assert live.stale()
    assert read(live, 0, clock.now) == (2, 512, 5)  # not committed: the database lacks it
    live.settled("h1", r, committed=False)  # rolled back: forgotten everywhere
    assert live.snapshot.usage("h1") == (0, 0, 0) and live.inflight("h1") == (0, 0, 0)  # type: ignore[union-attr]


def test_a_claim_committed_after_a_read_began_is_counted_by_that_read() -> None:
    clock = Clock()
    live = SnapshotCache(clock=clock)
    read(live, 0, clock.now)
    r = req(2)
    live.snapshot.claim(0, r)  # type: ignore[union-attr]
    live.decided("h1", r)
    began = clock.now  # another worker's read starts ...
    clock.now += 0.1
    live.settled("h1", r, committed=True)  # ... this commit lands meanwhile
    # The read may or may not show it (here it does not): counted either way, never lost.
    assert read(live, 0, began) == (2, 512, 5)
    # A read that began after the commit shows it: counted once.
    clock.now += 0.1
    assert read(live, 2, clock.now) == (2, 512, 5)


def test_invalidate_makes_the_next_batch_read() -> None:
    clock = Clock()
    live = SnapshotCache(refresh_s=60.0, clock=clock)
    read(live, 0, clock.now)
    assert not live.stale()
    live.invalidate()
    assert live.stale()
