"""overcast.v1.HostService."""

from __future__ import annotations

from controller.api import convert
from controller.api.errors import Ctx, unary
from controller.services.hosts import HostService
from overcast.v1 import host_pb2, host_pb2_grpc


class HostApi(host_pb2_grpc.HostServiceServicer):  # type: ignore[misc]  # generated servicers are untyped
    def __init__(self, hosts: HostService) -> None:
        self._hosts = hosts

    @unary
    async def ListHosts(self, req: host_pb2.ListHostsRequest, ctx: Ctx) -> host_pb2.ListHostsResponse:
        page, token = await self._hosts.list(req.page_size, req.page_token)
        return host_pb2.ListHostsResponse(hosts=[convert.host(h) for h in page], next_page_token=token)

    @unary
    async def GetHost(self, req: host_pb2.GetHostRequest, ctx: Ctx) -> host_pb2.Host:
        return convert.host(await self._hosts.get(req.name))

    @unary
    async def EnableHost(self, req: host_pb2.EnableHostRequest, ctx: Ctx) -> host_pb2.Host:
        return convert.host(await self._hosts.set_enabled(req.name, True, "", req.etag))

    @unary
    async def DisableHost(self, req: host_pb2.DisableHostRequest, ctx: Ctx) -> host_pb2.Host:
        return convert.host(await self._hosts.set_enabled(req.name, False, req.reason, req.etag))
