"""Host use cases: agent registration and heartbeats, up/down, maintenance."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import structlog

from controller.domain import limits, names, paging
from controller.domain.errors import ViolationCollector
from controller.domain.messages import host_event
from controller.domain.model import Host, HostInventory, PowerState
from controller.services.ports import HostStore
from controller.services.servers import ServerService

log = structlog.get_logger(__name__)

_LAG_SAMPLE = 512


@dataclass(frozen=True)
class AllocationRatios:
    cpu: float = 4.0
    ram: float = 1.0
    disk: float = 1.0


class HostService:
    def __init__(
        self,
        store: HostStore,
        servers: ServerService,
        ratios: AllocationRatios,
    ) -> None:
        self._store = store
        self._servers = servers
        self._ratios = ratios
        self._beats: set[str] = set()
        # How far behind its agents this controller is. Overloaded, it reads their messages
        # late (the median delay between an agent's send time and our read, per interval: a
        # few streams read on time do not hide that most are late, and a few agents with
        # wrong clocks do not make it look late); or its database is busy and the heartbeat
        # flush runs late. Either way its agents are not dead: the monitor gives them that
        # much longer before marking them DOWN.
        self._lags: list[float] = []  # this interval's, a uniform sample of at most _LAG_SAMPLE
        self._lags_seen = 0
        self._read_lags: deque[float] = deque(maxlen=8)
        self._flushed_at: float | None = None  # loop time the last flush finished

    async def register(self, inv: HostInventory, domains: Sequence[tuple[UUID, PowerState]]) -> Host:
        names.check_host_id(inv.host_id, "register.inventory.host_id")
        host = await self._store.register(
            inv,
            (self._ratios.cpu, self._ratios.ram, self._ratios.disk),
            lambda h: host_event(h, "host.up"),
        )
        # Level-triggered correction: compare the host's whole inventory with the database.
        await self._servers.reconcile(inv.host_id, dict(domains))
        return host

    def heartbeat(self, host_id: str, sent_at: float = 0.0) -> None:
        """Recorded in memory and flushed in one statement per interval for all hosts.
        `sent_at`: when the agent sent it (seconds since the epoch; 0 = unknown)."""
        self._beats.add(host_id)
        if sent_at > 0:
            lag = time.time() - sent_at
            self._lags_seen += 1
            if len(self._lags) < _LAG_SAMPLE:
                self._lags.append(lag)
            else:  # reservoir sampling: every message of the interval equally likely kept
                k = random.randrange(self._lags_seen)
                if k < _LAG_SAMPLE:
                    self._lags[k] = lag

    async def flush_heartbeats(self, interval_s: float) -> None:
        """Flush on a fixed beat: a slow flush does not push the next one back."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += interval_s
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_at = loop.time()  # behind: flush now, and do not try to catch up
            beats, self._beats = self._beats, set()
            lags, self._lags, self._lags_seen = self._lags, [], 0
            self._read_lags.append(max(0.0, statistics.median(lags)) if lags else 0.0)
            started = loop.time()
            if beats:
                for h in await self._store.heartbeat(sorted(beats), lambda h: host_event(h, "host.up")):
                    log.info("host.up", host=h.id)
            self._flushed_at = loop.time()
            if self._flushed_at - started > interval_s / 2:
                log.warning(
                    "heartbeats.flush_slow", hosts=len(beats), took_s=round(self._flushed_at - started, 2)
                )

    def behind_s(self, interval_s: float) -> float:
        """Seconds by which this controller is behind on its agents' heartbeats: reading
        their messages late, or flushing them late."""
        overdue = 0.0
        if self._flushed_at is not None:
            overdue = max(0.0, asyncio.get_running_loop().time() - self._flushed_at - interval_s)
        return overdue + max(self._read_lags, default=0.0)

    async def monitor(self, interval_s: float, down_after_s: float) -> None:
        """Mark hosts DOWN whose heartbeats stopped (run by the leader only), allowing for
        how far behind this controller itself is (see `behind_s`)."""
        while True:
            behind = self.behind_s(interval_s)
            if behind > interval_s:
                log.warning("host_monitor.controller_behind", seconds=round(behind, 2))
            cutoff = datetime.now(UTC) - timedelta(seconds=down_after_s + behind)
            for h in await self._store.mark_down_stale(
                cutoff, lambda h: host_event(h, "host.down", "missed heartbeats")
            ):
                log.warning("host.down", host=h.id, last_heartbeat=str(h.last_heartbeat))
            await asyncio.sleep(interval_s)

    async def get(self, name: str) -> Host:
        return await self._store.get(names.parse_host(name))

    async def list(self, page_size: int, page_token: str) -> tuple[list[Host], str]:
        return await paging.fetch_page(
            page_size,
            page_token,
            "hosts",
            lambda after, limit: self._store.list(after=after, limit=limit),
            lambda h: h.id,
        )

    async def set_enabled(self, name: str, enabled: bool, reason: str, etag: str) -> Host:
        host_id = names.parse_host(name)
        if len(reason) > limits.MAX_DESCRIPTION:
            v = ViolationCollector()
            v.add("reason", f"at most {limits.MAX_DESCRIPTION} characters")
            v.raise_if_any()
        event = "host.enabled" if enabled else "host.disabled"
        return await self._store.set_enabled(
            host_id,
            enabled,
            "" if enabled else reason,
            etag,
            lambda h: host_event(h, event, reason),
        )
