"""Metrics snapshots are written in slices: every host sampled since the last round, with its
instances, exactly once, in statements of a bounded size (the event loop reads the agents'
streams between them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from controller.services.load_view import HostLoadView, HostSample, InstanceLoadView, InstanceSample, LoadView
from controller.services.metrics import MetricsService


class RecordingStore:
    def __init__(self) -> None:
        self.writes: list[tuple[list[str], list[str]]] = []

    async def save(self, hosts: Sequence[HostLoadView], instances: Sequence[InstanceLoadView]) -> None:
        self.writes.append(([h.host_id for h in hosts], [i.sample.uid for i in instances]))

    async def hosts(self) -> list[HostLoadView]:
        return []

    async def instances(self, uids: Sequence[str]) -> list[InstanceLoadView]:
        return []

    async def prune(self, older_than: datetime) -> int:
        return 0


def _absorb(fleet: LoadView, n_hosts: int, per_host: int) -> None:
    for h in range(n_hosts):
        instances = [InstanceSample(f"{h}-{i}", 0.1, 1, 0, 0, 0, 0, True) for i in range(per_host)]
        fleet.absorb(f"h{h:05d}", HostSample(0.0, 0.5, 1, 1, 0.0, 0.0, 0.0, True), instances)


async def test_a_round_writes_every_sampled_host_once_in_bounded_slices() -> None:
    fleet = LoadView()
    store = RecordingStore()
    metrics = MetricsService(fleet, store, cast(Any, None))
    _absorb(fleet, 1200, 10)

    await metrics.persist_once()
    assert [len(hosts) for hosts, _ in store.writes] == [500, 500, 200]
    written_hosts = [h for hosts, _ in store.writes for h in hosts]
    assert written_hosts == sorted(f"h{h:05d}" for h in range(1200))
    written_instances = [i for _, insts in store.writes for i in insts]
    assert len(written_instances) == len(set(written_instances)) == 12_000

    store.writes.clear()
    await metrics.persist_once()
    assert store.writes == []  # nothing sampled since
    _absorb(fleet, 3, 1)
    await metrics.persist_once()
    assert store.writes == [(["h00000", "h00001", "h00002"], ["0-0", "1-0", "2-0"])]
