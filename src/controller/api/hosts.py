"""overcast.v1.HostService."""

from __future__ import annotations

from collections.abc import AsyncIterator

from controller.api import convert
from controller.api.errors import Ctx, streaming, unary
from controller.api.metrics import MetricsWatch
from controller.domain.model import Host
from controller.services.host_failure import HostFailures
from controller.services.hosts import HostService
from controller.services.metrics import MetricsService
from overcast.v1 import host_pb2, host_pb2_grpc


class HostApi(host_pb2_grpc.HostServiceServicer):  # type: ignore[misc]  # generated servicers are untyped
    def __init__(self, hosts: HostService, metrics: MetricsService, failures: HostFailures) -> None:
        self._hosts = hosts
        self._failures = failures
        self._metrics = metrics
        self._watch = MetricsWatch(metrics)

    def _host(self, h: Host) -> host_pb2.Host:
        return convert.host(h, self._metrics.host_load(h.id))

    @unary
    async def ListHosts(self, req: host_pb2.ListHostsRequest, ctx: Ctx) -> host_pb2.ListHostsResponse:
        page, token = await self._hosts.list(req.page_size, req.page_token)
        return host_pb2.ListHostsResponse(hosts=[self._host(h) for h in page], next_page_token=token)

    @unary
    async def GetHost(self, req: host_pb2.GetHostRequest, ctx: Ctx) -> host_pb2.Host:
        return self._host(await self._hosts.get(req.name))

    @unary
    async def EnableHost(self, req: host_pb2.EnableHostRequest, ctx: Ctx) -> host_pb2.Host:
        return self._host(await self._hosts.set_enabled(req.name, True, "", req.etag))

    @unary
    async def DisableHost(self, req: host_pb2.DisableHostRequest, ctx: Ctx) -> host_pb2.Host:
        return self._host(await self._hosts.set_enabled(req.name, False, req.reason, req.etag))

    @unary
    async def EvacuateHost(
        self, req: host_pb2.EvacuateHostRequest, ctx: Ctx
    ) -> host_pb2.EvacuateHostResponse:
        done = await self._failures.evacuate_host(req.name)
        return host_pb2.EvacuateHostResponse(
            servers=[i.name for i in done.evacuated],
            skipped=[host_pb2.EvacuationSkipped(server=i.name, reason=why) for i, why in done.skipped],
        )

    @streaming
    async def WatchHostMetrics(
        self, req: host_pb2.WatchHostMetricsRequest, ctx: Ctx
    ) -> AsyncIterator[host_pb2.HostMetricsUpdate]:
        for name in req.hosts:  # a host that does not exist is NOT_FOUND, not a silent wait
            await self._hosts.get(name)
        async for update in self._watch.stream(req):
            yield update
