"""overcast.v1.ServerService."""

from __future__ import annotations

from collections.abc import AsyncIterator

from controller.api import convert
from controller.api.errors import Ctx, streaming, unary
from controller.domain import names
from controller.domain.errors import Unavailable
from controller.domain.model import CommandOp
from controller.services.servers import CreateServer, ServerService
from controller.services.watch import ServerChangeFeed, WatchInterrupted
from overcast.v1 import server_pb2, server_pb2_grpc


class ServerApi(server_pb2_grpc.ServerServiceServicer):  # type: ignore[misc]  # generated servicers are untyped
    def __init__(self, servers: ServerService, feed: ServerChangeFeed) -> None:
        self._servers = servers
        self._feed = feed

    @unary
    async def CreateServer(self, req: server_pb2.CreateServerRequest, ctx: Ctx) -> server_pb2.Server:
        inst = await self._servers.create(
            CreateServer(
                parent=req.parent,
                server_id=req.server_id,
                flavor=req.server.flavor,
                image=req.server.image,
                metadata=dict(req.server.metadata),
                request_id=req.request_id,
            )
        )
        return convert.server(inst)

    @unary
    async def GetServer(self, req: server_pb2.GetServerRequest, ctx: Ctx) -> server_pb2.Server:
        return convert.server(await self._servers.get(req.name))

    @unary
    async def ListServers(
        self, req: server_pb2.ListServersRequest, ctx: Ctx
    ) -> server_pb2.ListServersResponse:
        page, token = await self._servers.list(
            req.parent,
            page_size=req.page_size,
            page_token=req.page_token,
            vm_state=convert.vm_state_filter(req.vm_state),
            host=req.host,
        )
        return server_pb2.ListServersResponse(
            servers=[convert.server(i) for i in page], next_page_token=token
        )

    async def _act(self, name: str, op: CommandOp, etag: str) -> server_pb2.Server:
        return convert.server(await self._servers.act(name, op, etag))

    @unary
    async def DeleteServer(self, req: server_pb2.DeleteServerRequest, ctx: Ctx) -> server_pb2.Server:
        return await self._act(req.name, CommandOp.DELETE, req.etag)

    @unary
    async def StartServer(self, req: server_pb2.StartServerRequest, ctx: Ctx) -> server_pb2.Server:
        return await self._act(req.name, CommandOp.START, req.etag)

    @unary
    async def StopServer(self, req: server_pb2.StopServerRequest, ctx: Ctx) -> server_pb2.Server:
        return await self._act(req.name, CommandOp.STOP, req.etag)

    @unary
    async def RebootServer(self, req: server_pb2.RebootServerRequest, ctx: Ctx) -> server_pb2.Server:
        return await self._act(req.name, CommandOp.REBOOT, req.etag)

    @streaming
    async def WatchServers(
        self, req: server_pb2.WatchServersRequest, ctx: Ctx
    ) -> AsyncIterator[server_pb2.ServerChange]:
        project = names.parse_project(req.parent)
        Change = server_pb2.ServerChange
        # Subscribe before reading the snapshot, so no change falls between the two.
        async with self._feed.subscribe(project) as sub:
            token = ""
            while True:
                page, token = await self._servers.list(
                    req.parent, page_size=1000, page_token=token, vm_state=None, host=""
                )
                for inst in page:
                    yield Change(kind=Change.INITIAL, server=convert.server(inst))
                if not token:
                    break
            yield Change(kind=Change.SYNCED)
            while True:
                try:
                    inst = await sub.next()
                except WatchInterrupted as exc:
                    raise Unavailable(str(exc)) from exc
                yield Change(kind=Change.CHANGED, server=convert.server(inst))
