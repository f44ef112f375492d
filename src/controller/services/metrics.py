"""Metrics use cases around the in-memory load view: persisting snapshots at a low rate,
sharing them between controller replicas, and reading loads for the API.

Every replica persists the hosts whose agents are connected to it and reads everyone's host
rows back, so its load view (and scheduler) also knows the load of hosts connected elsewhere,
a persistence interval late. Instance loads of such hosts are read from the database only
when an API call asks for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import structlog

from controller.domain.model import Instance, VmState
from controller.services.load_view import HostLoadView, InstanceLoadView, LoadView
from controller.services.ports import InstanceStore, MetricsStore

log = structlog.get_logger(__name__)

PRUNE_AFTER_S = 3600.0  # instance rows nobody reported for an hour are dropped
_PRUNE_EVERY = 60  # persistence rounds
_HOSTS_PER_WRITE = 500  # hosts (and their instances) per upsert statement
_NAME_CACHE_LIMIT = 100_000


class MetricsService:
    def __init__(
        self,
        load_view: LoadView,
        store: MetricsStore,
        instances: InstanceStore,
        *,
        persist_interval_s: float = 5.0,
    ) -> None:
        self.load_view = load_view
        self._store = store
        self._instances = instances
        self._persist_interval_s = persist_interval_s
        self._names: dict[str, str] = {}
        self._rounds = 0

    # -- persistence --------------------------------------------------------------------------

    async def persist_forever(self) -> None:
        while True:
            await asyncio.sleep(self._persist_interval_s)
            self.log_ingest()
            await self.persist_once()

    def log_ingest(self) -> None:
        """What this replica's load view took in so far (counters since start, so any two
        lines give a rate): host samples (one per agent message) and the instance samples they
        carried; `at` is when the counters were read (this controller's clock)."""
        f = self.load_view
        log.info(
            "metrics.ingest",
            at=round(f.now(), 3),
            host_samples=f.absorbed,
            instance_samples=f.absorbed_instances,
            hosts=f.host_count(),
        )

    async def persist_once(self) -> None:
        """Write the hosts sampled here since last time (one upsert per table), then adopt
        newer snapshots of hosts connected to other replicas."""
        ids = self.load_view.take_dirty_ids()
        # In slices, each its own statement: at 5,000 hosts with 50,000 servers one round is
        # ~55,000 rows, and making them all at once held the event loop (and every agent's
        # stream) for a fifth of a second. Between slices the loop reads streams.
        for start in range(0, len(ids), _HOSTS_PER_WRITE):
            dirty = self.load_view.views_of(ids[start : start + _HOSTS_PER_WRITE])
            if dirty:
                await self._store.save([h for h, _ in dirty], [i for _, inst in dirty for i in inst])
        for row in await self._store.hosts():
            self.load_view.merge_remote(row.host_id, row.sample, row.cpu_util_ewma, row.received_at)
        self._rounds += 1
        if self._rounds % _PRUNE_EVERY == 0:
            cutoff = datetime.fromtimestamp(self.load_view.now() - PRUNE_AFTER_S, UTC)
            pruned = await self._store.prune(cutoff)
            if pruned:
                log.info("metrics.pruned", instances=pruned)

    # -- reading ------------------------------------------------------------------------------

    def host_load(self, host_id: str) -> HostLoadView | None:
        return self.load_view.load_of(host_id)

    async def instance_loads(self, instances: Sequence[Instance]) -> dict[UUID, InstanceLoadView]:
        """Loads of running servers: from the load view, else from the snapshot another
        replica persisted (marked stale when old). Servers not running have none."""
        found: dict[UUID, InstanceLoadView] = {}
        missing: dict[str, Instance] = {}
        for inst in instances:
            if inst.vm_state is not VmState.ACTIVE or inst.host_id is None:
                continue
            key = str(inst.uid)
            view = self.load_view.instance_load(key)
            if view is not None:
                found[inst.uid] = view
            else:
                missing[key] = inst
        if missing:
            for row in await self._store.instances(list(missing)):
                inst = missing[row.sample.uid]
                if row.host_id == inst.host_id:
                    found[inst.uid] = row._replace(stale=self.load_view.remote_stale(row.received_at))
        return found

    async def server_names(self, uids: Sequence[str]) -> dict[str, str]:
        """uid → server name ("" for uids that name no server), cached."""
        unknown = [u for u in uids if u not in self._names]
        if unknown:
            parsed = []
            for u in unknown:
                try:
                    parsed.append(UUID(u))
                except ValueError:
                    self._names[u] = ""
            found = {str(i.uid): i.name for i in await self._instances.get_many(parsed)} if parsed else {}
            if len(self._names) > _NAME_CACHE_LIMIT:
                self._names.clear()
            for u in unknown:
                self._names[u] = found.get(u, "")
        return {u: self._names.get(u, "") for u in uids}
