"""The scheduler workers' host snapshot, kept in memory between batches.

Reading and converting every host row for every batch costs more than deciding the batch at
thousands of hosts. So the workers of one controller share one snapshot: read from the
database at most every `refresh_s` (and whenever a batch could not place something: freed
capacity or a new host may be why), with every claim this process decided and has not yet
committed ("in flight") applied on top. Workers decide synchronously on the event loop, so two
workers of one process never choose the same room twice; they only meet in the database when
another replica (or a delete, or a host going DOWN) changed a host, which the worker's lock
and compare step sees (`expected_row`) before anything is claimed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from controller.scheduler.hosts import HostColumns, PlacementRequest
from controller.scheduler.snapshot import HostSnapshot

Usage = tuple[int, int, int]  # vcpus, memory MiB, disk GiB


class SnapshotCache:
    def __init__(self, refresh_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.refresh_s = refresh_s
        self._clock = clock
        self.snapshot: HostSnapshot | None = None
        self.read_at = -math.inf  # clock time of the last read
        self._inflight: dict[str, list[int]] = {}  # host id → usage decided, not committed
        # Claims committed lately (clock time of the commit, host id, usage): a read that began
        # before their commit may or may not include them, so it counts them again (too full
        # is safe: the lock-and-compare step takes the row; too empty would cost a re-decision).
        self._recent: list[tuple[float, str, Usage]] = []
        self.reads = 0  # how many times the fleet was read (for benchmarks and tests)

    def stale(self) -> bool:
        return self.snapshot is None or self._clock() - self.read_at >= self.refresh_s

    def invalidate(self) -> None:
        """Read the fleet again at the next batch."""
        self.read_at = -math.inf

    def now(self) -> float:
        return self._clock()

    def refresh(self, cols: HostColumns, cpu_util: Sequence[float], read_at: float) -> HostSnapshot:
        """A new snapshot from `cols` (read by a batch that started at `read_at`), with the
        claims still in flight applied on top of what the database had committed."""
        snap = HostSnapshot.of_columns(cols, cpu_util, previous=self.snapshot)
        self._recent = [r for r in self._recent if r[0] >= read_at]  # older ones are in the read
        usage = [(h, tuple(u)) for h, u in self._inflight.items()] + [(h, u) for _t, h, u in self._recent]
        for host_id, (v, m, d) in usage:
            i = snap.index.get(host_id)
            if i is not None:  # else the host is gone: its claims will fail in the database
                snap.add_usage(i, v, m, d)
        if self.snapshot is not None and self.snapshot is not snap:
            self.snapshot.retire()  # no worker uses it after this: they read self.snapshot
        self.snapshot = snap
        self.read_at = read_at
        self.reads += 1
        return snap

    # -- claims in flight ---------------------------------------------------------------------

    def decided(self, host_id: str, req: PlacementRequest) -> None:
        """A claim the snapshot already records (Scheduler.place did) and the database not yet."""
        u = self._inflight.setdefault(host_id, [0, 0, 0])
        u[0] += req.vcpus
        u[1] += req.memory_mib
        u[2] += req.disk_gib

    def settled(self, host_id: str, req: PlacementRequest, *, committed: bool) -> None:
        """The claim is committed (part of what the database says from now on) or abandoned
        (lost, rolled back: the snapshot forgets it too)."""
        u = self._inflight.get(host_id)
        if u is not None:
            u[0] -= req.vcpus
            u[1] -= req.memory_mib
            u[2] -= req.disk_gib
            if not any(u):
                del self._inflight[host_id]
        if committed:
            self._recent.append((self._clock(), host_id, (req.vcpus, req.memory_mib, req.disk_gib)))
            if len(self._recent) > _MAX_RECENT:  # long since the last read: read again
                self.invalidate()
        elif self.snapshot is not None:
            i = self.snapshot.index.get(host_id)
            if i is not None:
                self.snapshot.claim(i, req, -1)

    def inflight(self, host_id: str) -> Usage:
        """Usage decided on the host and not committed yet (by every worker of this process)."""
        u = self._inflight.get(host_id)
        return (0, 0, 0) if u is None else (u[0], u[1], u[2])


_MAX_RECENT = 100_000
