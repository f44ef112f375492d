"""overcast.v1.ServerService."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from uuid import UUID

from controller.api import convert, enums
from controller.api.errors import Ctx, streaming, unary
from controller.domain import resume_tokens, server_filter
from controller.domain.errors import Unavailable
from controller.domain.model import CommandOp, Instance
from controller.domain.resume_tokens import ResumePoint
from controller.services.console import ConsoleService
from controller.services.listing import ListQuery, ServerListing
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
        *,
        listing: ServerListing,
    ) -> None:
        self._servers = servers
        self._listing = listing
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
        page = await self._listing.list(
            ListQuery(
                parent=req.parent,
                page_size=req.page_size,
                page_token=req.page_token,
                filter=req.filter,
                order_by=req.order_by,
                vm_state=convert.vm_state_filter(req.vm_state),
                host=req.host,
                scaling_group=req.scaling_group,
            )
        )
        return server_pb2.ListServersResponse(
            servers=await self._with_load(page.servers),
            next_page_token=page.next_page_token,
            resume_token=page.resume_token,
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

    @unary
    async def GetConsoleLog(self, req: server_pb2.GetConsoleLogRequest, ctx: Ctx) -> server_pb2.ConsoleLog:
        log = await self._console.get_console_log(req.name, req.tail_lines)
        return server_pb2.ConsoleLog(text=log.text, truncated=log.truncated)

    @streaming
    async def WatchServers(
        self, req: server_pb2.WatchServersRequest, ctx: Ctx
    ) -> AsyncIterator[server_pb2.ServerChange]:
        project, where = self._listing.watch_filter(req.parent, req.filter)
        resume = self._listing.resume_point(req.resume_token, where) if req.resume_token else None
        # Subscribe before the first read, so no change falls between the two.
        async with self._feed.subscribe(project) as sub:
            view = WatchView(where, resumed=resume is not None)
            if resume is None:
                async for change in self._snapshot(project, view):
                    yield change
            else:
                async for change in self._since(project, resume, view):
                    yield change
            while True:
                try:
                    batch = await sub.next()
                except WatchInterrupted as exc:
                    raise Unavailable(str(exc)) from exc
                for change in self._changes(view, batch.servers, (batch.start, batch.start_at), batch.end):
                    yield change

    async def _snapshot(self, project: str, view: WatchView) -> AsyncIterator[server_pb2.ServerChange]:
        """The matching servers now (INITIAL…), then SYNCED with the first page's snapshot."""
        read_at = self._listing.now()
        page, snapshot = await self._listing.first_page(project, view.where, WATCH_PAGE)
        while True:
            for inst in page:
                view.saw(inst)
                yield Change(kind=Change.KIND_INITIAL, server=convert.server(inst))
            if len(page) < WATCH_PAGE:
                break
            page = await self._listing.next_page(project, view.where, page[-1].server_id, WATCH_PAGE)
        yield Change(kind=Change.KIND_SYNCED, resume_token=self._listing.token(snapshot, view.where, read_at))

    async def _since(
        self, project: str, resume: ResumePoint, view: WatchView
    ) -> AsyncIterator[server_pb2.ServerChange]:
        """What changed since the resume point, then SYNCED with the snapshot it was read at."""
        read_at = self._listing.now()
        async with self._listing.changes_since(project, resume.snapshot) as changes:
            if changes.future:
                raise resume_tokens.too_old("it is not a point of this database's history")
            async for page in changes.pages:
                for change in self._changes(view, page, (resume.snapshot, resume.at), None):
                    yield change
            end = changes.snapshot
        yield Change(kind=Change.KIND_SYNCED, resume_token=self._listing.token(end, view.where, read_at))

    def _changes(
        self, view: WatchView, servers: Sequence[Instance], start: tuple[str, float], end: str | None
    ) -> Iterator[server_pb2.ServerChange]:
        """The changes to send; each carries the point to resume from after it: the batch's
        start (with the time it was read at) until its last change, which carries its end."""
        out = [(kind, inst) for inst in servers if (kind := view.change(inst)) is not None]
        token = self._listing.token(start[0], view.where, start[1])
        for i, (kind, inst) in enumerate(out):
            if end is not None and i == len(out) - 1:
                token = self._listing.token(end, view.where)
            yield Change(kind=kind, server=convert.server(inst), resume_token=token)


WATCH_PAGE = 1000
Change = server_pb2.ServerChange


class WatchView:
    """What one watcher has been sent: the newest version of each server (a watcher never sees
    a server go back in time: a batch may carry a row older than one already sent) and whether
    the client holds it (it matched the filter when last sent). After a resume the watcher does
    not know what the client holds, so a change that does not match is sent as REMOVED."""

    def __init__(self, where: server_filter.Expr, *, resumed: bool) -> None:
        self.where = where
        self._filtered = where != server_filter.EVERYTHING
        self._resumed = resumed
        self._sent: dict[UUID, tuple[int, bool]] = {}  # uid → (version, held by the client)

    def saw(self, inst: Instance) -> None:
        self._sent[inst.uid] = (inst.version, True)

    def change(self, inst: Instance) -> server_pb2.ServerChange.Kind | None:
        version, held = self._sent.get(inst.uid, (-1, self._resumed))
        if inst.version <= version:
            return None
        match = not self._filtered or server_filter.matches(self.where, inst)
        self._sent[inst.uid] = (inst.version, match)
        if match:
            return Change.KIND_CHANGED
        return Change.KIND_REMOVED if held else None
