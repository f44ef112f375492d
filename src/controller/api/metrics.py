"""HostService.WatchHostMetrics: every sample this controller absorbs, as it arrives.

Samples of hosts whose agents are connected to this replica arrive at the agents' interval;
hosts connected to other replicas arrive as their persisted snapshots are read (at the
persistence interval). A watcher that cannot keep up loses its oldest updates, never slows
down ingestion: each has a bounded queue filled synchronously by the load view.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog

from controller.api import loads
from controller.domain import names
from controller.domain.errors import InvalidArgument, ViolationCollector
from controller.services.load_view import HostUpdate
from controller.services.metrics import MetricsService
from overcast.v1 import host_pb2

log = structlog.get_logger(__name__)

MAX_WATCHED_HOSTS = 10_000
QUEUE_SIZE = 1024


def _host_filter(hosts: list[str]) -> set[str]:
    v = ViolationCollector()
    if len(hosts) > MAX_WATCHED_HOSTS:
        v.add("hosts", f"at most {MAX_WATCHED_HOSTS} hosts, got {len(hosts)}")
        v.raise_if_any()
    wanted: set[str] = set()
    for i, host in enumerate(hosts):
        try:
            wanted.add(names.parse_host(host, f"hosts[{i}]"))
        except InvalidArgument as exc:
            v.violations.extend(exc.violations)
    v.raise_if_any()
    return wanted


class MetricsWatch:
    def __init__(self, metrics: MetricsService, queue_size: int = QUEUE_SIZE) -> None:
        self._metrics = metrics
        self._queue_size = queue_size

    async def stream(
        self, req: host_pb2.WatchHostMetricsRequest
    ) -> AsyncIterator[host_pb2.HostMetricsUpdate]:
        wanted = _host_filter(list(req.hosts))
        queue: asyncio.Queue[HostUpdate] = asyncio.Queue(self._queue_size)
        dropped = 0

        def listener(update: HostUpdate) -> None:
            nonlocal dropped
            if wanted and update.host.host_id not in wanted:
                return
            if queue.full():
                queue.get_nowait()
                dropped += 1
            queue.put_nowait(update)

        load_view = self._metrics.load_view
        load_view.add_listener(listener)
        try:
            while True:
                update = await queue.get()
                server_names = None
                if req.include_instances:
                    server_names = await self._metrics.server_names([i.sample.uid for i in update.instances])
                yield loads.host_update(update, server_names)
        finally:
            load_view.remove_listener(listener)
            if dropped:
                log.info("metrics.watch_dropped", updates=dropped)
