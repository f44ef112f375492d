"""Host use cases: agent registration and heartbeats, up/down, maintenance."""

from __future__ import annotations

import asyncio
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

    def heartbeat(self, host_id: str) -> None:
        """Recorded in memory and flushed in one statement per interval for all hosts."""
        self._beats.add(host_id)

    async def flush_heartbeats(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            beats, self._beats = self._beats, set()
            if beats:
                for h in await self._store.heartbeat(sorted(beats), lambda h: host_event(h, "host.up")):
                    log.info("host.up", host=h.id)

    async def monitor(self, interval_s: float, down_after_s: float) -> None:
        """Mark hosts DOWN whose heartbeats stopped (run by the leader only)."""
        while True:
            cutoff = datetime.now(UTC) - timedelta(seconds=down_after_s)
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
