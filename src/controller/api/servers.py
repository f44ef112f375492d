"""overcast.v1.ServerService."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from uuid import UUID

from controller.api import convert, enums
from controller.api.errors import Ctx, streaming, unary
from controller.domain import names
from controller.domain.errors import Unavailable
from controller.domain.model import CommandOp, Instance
from controller.services.console import ConsoleService
from controller.services.metrics import MetricsService
from controller.services.servers import CreateServer, ServerService
from controller.services.watch import ServerChangeFeed, WatchInterrupted
from overcast.v1 import server_pb2, server_pb2_grpc


class ServerApi(server_pb2_grpc.ServerServiceServicer):  # type: ignore[misc]  # generated servicers are untyped
    def __init__(
        self,
        servers: ServerService,
        feed: ServerChangeFeed,
        console: ConsoleService,
        metrics: MetricsService | None = None,
    ) -> None:
        self._servers = servers
        self._feed = feed
        self._console = console
        self._metrics = metrics

    async def _with_load(self, instances: Sequence[Instance]) -> list[server_pb2.Server]:
        """Servers with their latest load (running ones, when metrics are known)."""
        found = await self._metrics.instance_loads(instances) if self._metrics is not None else {}
        return [convert.server(i, found.get(i.uid)) for i in instances]

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
                kernel_image=req.server.kernel_image,
                ramdisk_image=req.server.ramdisk_image,
                kernel_args=req.server.kernel_args,
                availability_zone=req.server.availability_zone,
                server_group=req.server.server_group,
                host_failure_policy=enums.domain_value(
                    enums.HOST_FAILURE_POLICY_OF, req.server.host_failure_policy
                ),
            )
        )
        return convert.server(inst)

    @unary
    async def GetServer(self, req: server_pb2.GetServerRequest, ctx: Ctx) -> server_pb2.Server:
        (server,) = await self._with_load([await self._servers.get(req.name)])
        return server

    @unary
    async def UpdateServer(self, req: server_pb2.UpdateServerRequest, ctx: Ctx) -> server_pb2.Server:
        inst = await self._servers.update_metadata(
            req.server.name,
            dict(req.server.metadata),
            list(req.update_mask.paths),
            req.server.etag,
            host_failure_policy=enums.domain_value(
                enums.HOST_FAILURE_POLICY_OF, req.server.host_failure_policy
            ),
        )
        (server,) = await self._with_load([inst])
        return server

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
            scaling_group=req.scaling_group,
        )
        return server_pb2.ListServersResponse(servers=await self._with_load(page), next_page_token=token)

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

    @unary
    async def GetConsoleLog(self, req: server_pb2.GetConsoleLogRequest, ctx: Ctx) -> server_pb2.ConsoleLog:
        log = await self._console.get_console_log(req.name, req.tail_lines)
        return server_pb2.ConsoleLog(text=log.text, truncated=log.truncated)

    @streaming
    async def WatchServers(
        self, req: server_pb2.WatchServersRequest, ctx: Ctx
    ) -> AsyncIterator[server_pb2.ServerChange]:
        project = names.parse_project(req.parent)
        Change = server_pb2.ServerChange
        # Subscribe before reading the snapshot, so no change falls between the two.
        async with self._feed.subscribe(project) as sub:
            # The newest version sent of each server: the feed may hand over a row it read
            # before the snapshot did (a change notified earlier, fetched while the snapshot
            # was read), and a watcher must never see a server go back in time.
            sent: dict[UUID, int] = {}
            token = ""
            while True:
                page, token = await self._servers.list(
                    req.parent, page_size=1000, page_token=token, vm_state=None, host=""
                )
                for inst in page:
                    sent[inst.uid] = inst.version
                    yield Change(kind=Change.KIND_INITIAL, server=convert.server(inst))
                if not token:
                    break
            yield Change(kind=Change.KIND_SYNCED)
            while True:
                try:
                    inst = await sub.next()
                except WatchInterrupted as exc:
                    raise Unavailable(str(exc)) from exc
                if inst.version <= sent.get(inst.uid, -1):
                    continue
                sent[inst.uid] = inst.version
                yield Change(kind=Change.KIND_CHANGED, server=convert.server(inst))
