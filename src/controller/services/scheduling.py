"""Scheduler workers: place pending instances in batches and claim capacity durably.

Several workers (and several controller replicas) run at once: `FOR UPDATE SKIP LOCKED` gives
each worker its own batch. A batch is decided against one snapshot of the fleet (pure, in
controller.scheduler), then the chosen hosts are locked in id order (concurrent batches cannot
deadlock) and read again: if another batch changed one meanwhile, the batch is decided again on
those locked hosts' fresh rows, so a lost race moves to an alternate host (or stays pending for
the next batch). One conditional UPDATE then claims every placement, in the same transaction as
the spawn commands' outbox rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from controller.domain.errors import Unavailable
from controller.domain.model import Host, HostState
from controller.domain.placements import Failure, PendingServer, Placement
from controller.domain.server_groups import GroupPlacement, group_key, server_group_name
from controller.scheduler.hosts import HostColumns, HostView, PlacementRequest
from controller.scheduler.placement import Decision, Scheduler
from controller.scheduler.snapshot import HostSnapshot, Mask
from controller.services.ports import SchedulingBatch, SchedulingStore
from controller.services.snapshot_cache import SnapshotCache

log = structlog.get_logger(__name__)

# Each host's smoothed CPU utilisation (0..1) where its metrics are fresh, NaN where unknown or
# stale (the scheduler then scores the host by allocation): LoadView.fresh_cpu_utils.
LoadOf = Callable[[Sequence[str]], Sequence[float]]


def _three_seconds() -> float:
    return 3.0


def no_live_load(host_ids: Sequence[str]) -> list[float]:
    return [math.nan] * len(host_ids)


def host_columns(hosts: Sequence[Host], now: float, stale_after_s: float) -> HostColumns:
    """Host rows as the scheduler's columns (a host is usable when UP, its heartbeats recent,
    and enabled)."""
    return HostColumns.of(host_view(h, now, stale_after_s) for h in hosts)


def host_view(h: Host, now: float, stale_after_s: float) -> HostView:
    fresh = h.last_heartbeat is not None and now - h.last_heartbeat.timestamp() < stale_after_s
    return HostView(
        id=h.id,
        availability_zone=h.availability_zone,
        arch=h.arch,
        hypervisor_type=h.hypervisor_type,
        enabled=h.enabled,
        up=h.state is HostState.UP and fresh,
        vcpus=h.vcpus,
        memory_mib=h.memory_mib,
        disk_gib=h.disk_gib,
        cpu_allocation_ratio=h.cpu_allocation_ratio,
        ram_allocation_ratio=h.ram_allocation_ratio,
        disk_allocation_ratio=h.disk_allocation_ratio,
        vcpus_used=h.vcpus_used,
        memory_mib_used=h.memory_mib_used,
        disk_gib_used=h.disk_gib_used,
    )


def placement_request(inst: PendingServer, group: GroupPlacement | None = None) -> PlacementRequest:
    return PlacementRequest(
        inst.uid,
        inst.vcpus,
        inst.memory_mib,
        inst.disk_gib,
        availability_zone=inst.availability_zone or None,
        arch=inst.required_arch or None,
        hypervisor_type=inst.required_hypervisor_type or None,
        group=group.key if group else None,
        group_policy=group.policy if group else None,
    )


def _capacity(h: Host, now: float, stale_after_s: float) -> tuple[object, ...]:
    """What a claim on host h depends on, as the snapshot holds it (`_expected`): if none
    of it changed, the snapshot's decisions stand."""
    # Usable as host_view says (up and enabled), without making the view.
    fresh = h.last_heartbeat is not None and now - h.last_heartbeat.timestamp() < stale_after_s
    up = h.state is HostState.UP and fresh
    return (
        up and h.enabled,
        float(h.vcpus),
        h.vcpus * h.cpu_allocation_ratio,
        h.memory_mib * h.ram_allocation_ratio,
        h.disk_gib * h.disk_allocation_ratio,
        float(h.vcpus_used),
        float(h.memory_mib_used),
        float(h.disk_gib_used),
    )


@dataclass
class SchedulerWorkers:
    store: SchedulingStore
    scheduler: Scheduler
    workers: int = 2
    batch_size: int = 100
    # How recent a host's last heartbeat must be for it to be used: the host monitor's window
    # (HostService.heartbeat_window_s: the down-after time, stretched by this controller's own
    # lag: an overloaded controller hears and records heartbeats late; its hosts are not dead).
    heartbeat_window_s: Callable[[], float] = _three_seconds
    idle_poll_s: float = 1.0
    load_of: LoadOf = no_live_load
    fleet_refresh_s: float = 1.0  # how old the shared host snapshot may get (snapshot_cache)
    # A fleet with no usable host at all is more likely this control plane's own trouble than
    # every host failing at once: the agents' streams moving to another replica after the
    # leader was killed, a partition between the controllers and every host (tests/faults:
    # 85 of 363 creates failed "No valid host: 3 removed by down or disabled" in the second
    # after a controller SIGKILL). A server then waits this long for a host before it fails,
    # as Kubernetes keeps a pod Pending; a fleet with any usable host fails it at once (Nova).
    wait_for_hosts_s: float = 30.0

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self.live = SnapshotCache(self.fleet_refresh_s)
        self.placed = 0  # instances placed by this process
        self.no_valid_host = 0  # instances failed with NoValidHost
        self.lost_races = 0  # placements another batch made impossible (left pending)
        self.redecided = 0  # batches decided again on fresh host rows
        self.deferred = 0  # NoValidHost on a snapshot the batch did not read: tried again
        self.waiting_for_hosts = 0  # NoValidHost with no usable host in the fleet: tried again
        self._no_host_since: dict[uuid.UUID, float] = {}  # since when each found no usable host
        self._waited = False  # the last batch left servers waiting for a usable host

    def wake(self) -> None:
        self._wake.set()

    def _take_row(
        self,
        snap: HostSnapshot,
        i: int,
        row: Host,
        now: float,
        up_within_s: float,
        flying: tuple[int, int, int],
        own: tuple[int, int, int],
    ) -> None:
        """Host i as the locked row shows it, plus the claims in flight there (this batch's
        included: they stay counted until kept or settled)."""
        snap.replace_row(i, host_columns([row], now, up_within_s), 0, _minus(flying, own))
        snap.add_usage(i, *own)

    def up_within_s(self) -> float:
        """How recent a host's last heartbeat must be for it to take placements."""
        return self.heartbeat_window_s()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for n in range(self.workers):
                tg.create_task(self._worker(n))

    async def _worker(self, n: int) -> None:
        while True:
            try:
                done = await self.place_batch()
            except (OSError, ConnectionError, Unavailable) as exc:  # retry later
                log.warning("scheduler.batch_failed", worker=n, error=str(exc))
                done = 0
                await asyncio.sleep(self.idle_poll_s)
            if done:
                self._wake.set()  # more may be waiting: let the other workers in too
                continue
            if self._waited:
                # Servers wait for a usable host: every create's NOTIFY would have this worker
                # read the whole fleet again at once (at 10,000 hosts, hundreds of fleet reads
                # a second while it is away); once a second is enough.
                await asyncio.sleep(self.idle_poll_s)
                continue
            # Nothing pending, or only lost races: wait for news before trying again.
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_poll_s)

    async def place_batch(self) -> int:
        """Place one batch; returns how many instances it settled (placed or failed) or
        deferred to the next batch (which reads the fleet afresh)."""
        started = self.live.now()
        read = self.live.stale()
        inflight: list[Decision] = []  # this batch's claims, counted in the snapshot cache
        try:
            up_within_s = self.up_within_s()
            async with self.store.batch(self.batch_size, up_within_s, read_fleet=read) as batch:
                if not batch.pending:
                    return 0
                if batch.hosts is not None:
                    self.live.refresh(batch.hosts, self.load_of(batch.hosts.ids), started)
                done, placed = await self._place(batch, inflight, fresh=batch.hosts is not None)
        except BaseException:
            for d in inflight:  # rolled back: none of it happened
                self.live.settled(_host(d), d.request, committed=False)
            raise
        for d in inflight:
            self.live.settled(_host(d), d.request, committed=d.request.uid in placed)
        return done

    def _decide(
        self, requests: list[PlacementRequest], inflight: list[Decision], allowed: Mask | None = None
    ) -> list[Decision]:
        """Decide on the live snapshot (no await: no other worker decides meanwhile)."""
        snap = self.live.snapshot
        if snap is None:
            raise RuntimeError("the fleet has not been read")
        decisions = self.scheduler.place(snap, requests, allowed=allowed)
        for d in decisions:
            if d.host_id is not None:
                self.live.decided(d.host_id, d.request)
                inflight.append(d)
        return decisions

    async def _place(
        self, batch: SchedulingBatch, inflight: list[Decision], *, fresh: bool
    ) -> tuple[int, set[uuid.UUID]]:
        failures: list[Failure] = []
        requests: list[PlacementRequest] = []
        by_uid: dict[uuid.UUID, PendingServer] = {}
        for inst in batch.pending:
            group = batch.groups.get(group_key(inst.project, inst.server_group))
            if inst.server_group and group is None:
                name = server_group_name(inst.project, inst.server_group)
                failures.append(Failure(inst, f"No valid host: {name} no longer exists"))
                continue
            requests.append(placement_request(inst, group))
            by_uid[inst.uid] = inst
        if self.live.snapshot is not None:
            self.live.snapshot.set_members({k: g.member_hosts for k, g in batch.groups.items()})
        decisions = self._decide(requests, inflight)
        deferred = waiting = 0
        for d in decisions:
            if d.host_id is not None:
                self._no_host_since.pop(d.request.uid, None)
                continue
            if not fresh:  # room may have been freed, or a host added, since the fleet was read
                deferred += 1
            elif self._waits_for_hosts(d.request.uid):
                waiting += 1
            else:
                failures.append(Failure(by_uid[d.request.uid], d.reason))
        self._waited = waiting > 0
        if deferred or waiting:
            self.live.invalidate()
            self.deferred += deferred
            self.waiting_for_hosts += waiting
        chosen = await self._confirm(batch, [d for d in decisions if d.host_id is not None], inflight)
        placements = [Placement(by_uid[d.request.uid], d.host_id) for d in chosen if d.host_id]
        placed = await batch.claim(placements)
        await batch.fail(failures)
        self.placed += len(placed)
        self.no_valid_host += len(failures)
        self.lost_races += len(placements) - len(placed)
        for f in failures:
            log.info("scheduler.no_valid_host", server=f.server.name, reason=f.reason)
        if waiting:
            log.info("scheduler.waiting_for_hosts", servers=waiting)
        # Waiting servers are not progress: the worker waits for news (a wake or idle_poll_s)
        # before it reads the fleet again.
        return len(placed) + len(failures) + deferred, placed

    def _waits_for_hosts(self, uid: uuid.UUID) -> bool:
        """Whether a server that found no host waits for one (see wait_for_hosts_s): while
        hosts are registered but none is usable (all DOWN or disabled), for a while."""
        snap = self.live.snapshot
        now = self.live.now()
        if snap is None or snap.size == 0 or bool(snap.usable.any()):
            self._no_host_since.pop(uid, None)
            return False
        if len(self._no_host_since) > 100_000:  # servers deleted while they waited
            self._no_host_since = {
                u: t for u, t in self._no_host_since.items() if now - t < self.wait_for_hosts_s
            }
        since = self._no_host_since.setdefault(uid, now)
        return now - since < self.wait_for_hosts_s

    async def _confirm(
        self, batch: SchedulingBatch, chosen: list[Decision], inflight: list[Decision]
    ) -> list[Decision]:
        """Lock the chosen hosts and check them against the snapshot (what the database should
        say: the snapshot less the claims in flight). Where another replica, or a host's state,
        changed a host so that this batch's claims may not fit, take its row as read and decide
        the placements made on it again among the locked hosts: what is decided then fits for
        sure (the rows stay locked until commit). A host with more room than counted keeps
        them (and the snapshot takes its row)."""
        if not chosen:
            return []
        ids = sorted({_host(d) for d in chosen})
        rows = {h.id: h for h in await batch.lock_hosts(ids)}
        snap = self.live.snapshot  # another worker may have read a new one meanwhile
        if snap is None:
            raise RuntimeError("the fleet has not been read")
        now = time.time()
        up_within_s = self.up_within_s()
        by_host: dict[str, list[PlacementRequest]] = defaultdict(list)  # this batch's claims
        for d in chosen:
            by_host[_host(d)].append(d.request)
        changed: set[str] = set()
        usable: list[str] = []
        for h in ids:
            row, i = rows.get(h), snap.index.get(h)
            if row is None or i is None or _traits(row) != snap.traits_of(i):
                changed.add(h)  # gone, or moved to another zone: read the fleet next batch
                self.live.invalidate()
                continue
            usable.append(h)
            have = _capacity(row, now, up_within_s)
            flying = self.live.inflight(h)  # every worker's claims decided, not committed
            if have[0] and have == _expected(snap, i, flying):
                continue
            # Other workers' claims may have been committed and not yet settled: the database
            # shows them while they are still counted in flight. What must hold for this
            # batch's decisions to stand is that the database has no more used than the
            # snapshot without this batch's claims.
            mine = by_host[h]
            own = (sum(r.vcpus for r in mine), sum(r.memory_mib for r in mine), sum(r.disk_gib for r in mine))
            if _less_used(have, _expected(snap, i, own)):
                if _less_used(have, _expected(snap, i, flying)):  # room was freed: take the row
                    self._take_row(snap, i, row, now, up_within_s, flying, own)
                continue
            changed.add(h)
            self._take_row(snap, i, row, now, up_within_s, flying, own)
        if not changed:
            return chosen
        self.redecided += 1
        kept = [d for d in chosen if d.host_id not in changed]
        again = [d for d in chosen if d.host_id in changed]
        for d in again:
            self.live.settled(_host(d), d.request, committed=False)
        dropped = {id(d) for d in again}
        inflight[:] = [d for d in inflight if id(d) not in dropped]
        # The snapshot may be a newer one than the batch decided on: give it this batch's
        # groups again, as read plus the placements kept.
        members = {k: list(g.member_hosts) for k, g in batch.groups.items()}
        for d in kept:
            if d.request.group is not None and d.request.group in members:
                members[d.request.group].append(_host(d))
        snap.set_members(members)
        redone = self._decide([d.request for d in again], inflight, allowed=snap.mask_of(usable))
        placed_again = [d for d in redone if d.host_id is not None]
        self.lost_races += len(again) - len(placed_again)
        return kept + placed_again


def _minus(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return a[0] - b[0], a[1] - b[1], a[2] - b[2]


def _host(d: Decision) -> str:
    if d.host_id is None:
        raise ValueError("a decision without a host has no claim")
    return d.host_id


def _less_used(have: tuple[object, ...], want: tuple[object, ...]) -> bool:
    """Whether the row (`have`) is the host the snapshot expected (`want`, both as
    `_capacity` lists them: usable, capacity, then usage) with no more used than expected."""
    return (
        bool(have[0])
        and have[:5] == want[:5]
        and all(
            h <= w  # type: ignore[operator]
            for h, w in zip(have[5:], want[5:], strict=True)
        )
    )


def _traits(h: Host) -> tuple[str, str, str]:
    return h.availability_zone, h.arch, h.hypervisor_type


def _expected(snap: HostSnapshot, i: int, inflight: tuple[int, int, int]) -> tuple[object, ...]:
    """What the database should say of host i (as `_capacity` lists it): the snapshot less
    the claims decided and not committed yet."""
    return (  # item(): the same values as bool() and float() of NumPy scalars, for less
        snap.usable.item(i),
        snap.vcpus.item(i),
        snap.cap_v.item(i),
        snap.cap_m.item(i),
        snap.cap_d.item(i),
        snap.used_v.item(i) - inflight[0],
        snap.used_m.item(i) - inflight[1],
        snap.used_d.item(i) - inflight[2],
    )
