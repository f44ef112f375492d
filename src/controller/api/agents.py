"""overcast.v1.AgentGateway: one bidirectional stream per agent.

Reports are applied concurrently (each is one transaction) and each is answered with
ReportAccepted only after its transaction committed: the agent acks the AMQP command then,
so a command is never lost between the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import grpc
import structlog
from google.protobuf import timestamp_pb2

from controller.api import enums, errors, loads, outages
from controller.domain.errors import DomainError, FailedPrecondition
from controller.domain.model import CommandFailure, CommandOp, HostInventory, PowerState
from controller.services.console import ConsoleQuery, ConsoleRelay, ConsoleReply
from controller.services.hosts import HostService
from controller.services.load_view import LoadView
from controller.services.servers import AgentResult, ServerService
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc

log = structlog.get_logger(__name__)
# Connect's stream: the agent sends AgentMessages, the controller ControllerMessages.
Ctx: TypeAlias = grpc.aio.ServicerContext[agent_pb2.AgentMessage, agent_pb2.ControllerMessage]

REGISTER_TIMEOUT_S = 10.0
MAX_REPORTS_IN_FLIGHT = 64
# A report or domain event that meets an outage of the database is tried again for a few
# seconds before the stream is ended: a PostgreSQL restart (a second or so) then costs no agent
# its stream. Ended at once, every stream with a report in flight ended, the agents re-registered
# seconds later behind the backlog, their hosts were marked DOWN meanwhile and pending creates
# failed "No valid host" (tests/faults: a restart under 300 operations/s, 27 creates of 1,642).
OUTAGE_RETRIES_S = (0.25, 0.5, 1.0, 2.0)


def _power(value: int) -> PowerState:
    state = enums.POWER_STATE_OF.get(value)
    if state is None:
        raise ValueError(f"unknown power state {value}")
    return state


def _op(value: int) -> CommandOp:
    op = enums.COMMAND_OP_OF.get(value)
    if op is None:
        raise ValueError(f"unknown command op {value}")
    return op


def _code_name(ctx: Ctx) -> str:
    code = ctx.code()
    return code.name if isinstance(code, grpc.StatusCode) else str(code)


def _seconds(ts: timestamp_pb2.Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def _inventory(inv: agent_pb2.HostInventory) -> HostInventory:
    return HostInventory(
        host_id=inv.host_id,
        hostname=inv.hostname,
        arch=inv.arch,
        hypervisor_type=inv.hypervisor_type,
        hypervisor_uri=inv.hypervisor_uri,
        availability_zone=inv.availability_zone or "az1",
        vcpus=inv.vcpus,
        memory_mib=inv.memory_mib,
        disk_gib=inv.disk_gib,
        domain_type=inv.domain_type,
    )


def _console_query(q: ConsoleQuery) -> agent_pb2.ControllerMessage:
    return agent_pb2.ControllerMessage(
        console_log=agent_pb2.ConsoleLogQuery(
            request_id=q.request_id, instance_uid=str(q.instance_uid), tail_lines=q.tail_lines
        )
    )


class _Outbox:
    """Messages to one agent, written in order by a writer task that runs only while some
    are waiting: an idle stream holds no queue and no task (tens of thousands of streams)."""

    __slots__ = ("_ctx", "_pending", "_tg", "_writer")

    def __init__(self, ctx: Ctx, tg: asyncio.TaskGroup) -> None:
        self._ctx = ctx
        self._tg: asyncio.TaskGroup | None = tg
        self._pending: list[agent_pb2.ControllerMessage] = []
        self._writer: asyncio.Task[None] | None = None

    def send(self, msg: agent_pb2.ControllerMessage) -> None:
        if self._tg is None:
            return  # the stream is ending: nobody reads it any more
        self._pending.append(msg)
        if self._writer is None:
            self._writer = self._tg.create_task(self._write())

    def close(self) -> None:
        """No more writes: what is waiting is dropped, a write under way cancelled."""
        self._tg = None
        self._pending = []
        if self._writer is not None:
            self._writer.cancel()

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                for msg in batch:
                    await self._ctx.write(msg)
        finally:
            self._writer = None


class _Session:
    """What Connect's log line says about a stream: the host, once it said which, and how the
    stream ended."""

    __slots__ = ("ended", "host_id")

    def __init__(self) -> None:
        self.host_id = ""
        self.ended = "closed"


class AgentGatewayApi(agent_pb2_grpc.AgentGatewayServicer):  # type: ignore[misc]  # generated servicers are untyped
    def __init__(
        self,
        hosts: HostService,
        servers: ServerService,
        controller_id: str,
        ensure_host_queue: Callable[[str], Awaitable[None]],
        console: ConsoleRelay | None = None,
        load_view: LoadView | None = None,
        command_expiry_s: float = 0.0,
        outage_retries_s: tuple[float, ...] = OUTAGE_RETRIES_S,
    ) -> None:
        self._hosts = hosts
        # Told to every agent at registration: it does not carry out older commands (domain.expiry).
        self._command_expiry_ms = round(command_expiry_s * 1000)
        self._servers = servers
        self._controller_id = controller_id
        self._ensure_host_queue = ensure_host_queue
        self._console = console or ConsoleRelay()
        self._load_view = load_view
        self._outage_retries_s = outage_retries_s
        self.connected: set[str] = set()
        self._outgoing: dict[str, _Outbox] = {}  # each open stream's, by host
        self._host_queues: dict[str, asyncio.Future[None]] = {}  # being declared here
        self._declared: set[str] = set()  # host queues declared by this process
        hosts.on_interval_change(self._announce_interval)

    def _registered(self) -> agent_pb2.ControllerMessage:
        interval_ms = round(self._hosts.heartbeat_interval_s * 1000)
        return agent_pb2.ControllerMessage(
            registered=agent_pb2.Registered(
                controller_id=self._controller_id,
                heartbeat_interval_ms=interval_ms,
                command_expiry_ms=self._command_expiry_ms,
            )
        )

    def _announce_interval(self, interval_s: float) -> None:
        """The heartbeat interval changed (it grows with the fleet): tell every agent streaming
        here, as Registered tells an agent when it connects (agents take a Registered on an
        open stream as the new interval)."""
        message = self._registered()
        for outgoing in self._outgoing.values():
            outgoing.send(message)

    async def Connect(self, request_iterator: object, ctx: Ctx) -> None:
        """One agent's stream. However it ends, it ends once, with a status and a log line
        (`agent.disconnected`): a database or broker outage with UNAVAILABLE (the agent
        reconnects and sends again what was not accepted), a bug with INTERNAL (`api.bug`)."""
        session = _Session()
        try:
            await self._serve(ctx, session)
        except asyncio.CancelledError:
            session.ended = "cancelled"
            raise
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                # Refused by a check below, with its own status.
                session.ended = f"refused: {_code_name(ctx)}: {ctx.details()}"
                raise
            if type(exc).__name__ == "ExecuteBatchError":
                # gRPC failed an operation on the call itself (grpc._cython.cygrpc, private):
                # the agent cancelled it or its link broke before the controller got to answer
                # (a busy controller: agents gave up on their registrations). No one to tell;
                # an abort would fail the same way.
                session.ended = "gone: the agent left or its link broke"
                return
            status = errors.failure_status(exc, "AgentGateway.Connect", host=session.host_id)
            session.ended = f"{status.code.name}: {status.details}"
            await ctx.abort_with_status(status)
        finally:
            if session.host_id:
                log.info("agent.disconnected", host=session.host_id, status=session.ended)
            elif session.ended != "closed":
                log.warning("agent.refused", peer=ctx.peer(), status=session.ended)

    async def _serve(self, ctx: Ctx, session: _Session) -> None:
        clock = asyncio.get_running_loop().time
        began = clock()
        try:
            first = await asyncio.wait_for(ctx.read(), REGISTER_TIMEOUT_S)
        except TimeoutError:
            await ctx.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "send Register within 10 s")
        if first is grpc.aio.EOF:  # the agent gave up waiting (or left): no one to answer
            session.ended = "closed before Register"
            return
        if not first.HasField("register"):
            await ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message must be Register")
        reg = first.register
        inv = _inventory(reg.inventory)
        if inv.vcpus <= 0 or inv.memory_mib <= 0:
            await ctx.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "register.inventory: vcpus and memory_mib must be positive",
            )
        session.host_id = inv.host_id
        read = clock()
        try:
            await self._host_queue(inv.host_id)
            queued = clock()
            domains = [(uuid.UUID(d.instance_uid), _power(d.power_state)) for d in reg.domains]
            generations = {uuid.UUID(d.instance_uid): d.generation for d in reg.domains if d.generation > 0}
            await self._hosts.register(inv, domains, generations)
        except (DomainError, ValueError) as exc:
            await ctx.abort(
                grpc.StatusCode.INVALID_ARGUMENT, errors.clip(f"register: {exc}", errors.MAX_MESSAGE_BYTES)
            )
        host_id = inv.host_id
        # How long each step took (a fleet coming up on a busy controller: which one is slow).
        log.info(
            "agent.registered",
            host=host_id,
            domains=len(reg.domains),
            read_s=round(read - began, 3),
            queue_s=round(queued - read, 3),
            register_s=round(clock() - queued, 3),
        )
        self.connected.add(host_id)
        self._hosts.connected(host_id)
        console_token = None
        try:
            registered = self._registered()
            await ctx.write(registered)
            async with asyncio.TaskGroup() as tg:
                outgoing = _Outbox(ctx, tg)
                self._outgoing[host_id] = outgoing
                if self._registered() != registered:  # the interval changed while it was written
                    outgoing.send(self._registered())
                console_token = self._console.attach(host_id, lambda q: outgoing.send(_console_query(q)))
                try:
                    await self._read(ctx, host_id, outgoing, tg)
                finally:
                    outgoing.close()
                    if self._outgoing.get(host_id) is outgoing:
                        del self._outgoing[host_id]
        finally:
            if console_token is not None:
                self._console.detach(host_id, console_token)
            self.connected.discard(host_id)
            self._hosts.disconnected(host_id)

    async def _host_queue(self, host_id: str) -> None:
        """Declare the host's command queue, once per process (a reconnecting agent finds it
        declared). Shielded: an agent that gives up waiting during a registration burst must
        not cancel the broker call halfway, which closes the AMQP channel every registration
        shares (and fails all of them until it reopens)."""
        if host_id in self._declared:
            return
        task = self._host_queues.get(host_id)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._host_queues[host_id] = asyncio.ensure_future(self._ensure_host_queue(host_id))
            task.add_done_callback(lambda t: self._queue_declared(host_id, t))
        await asyncio.shield(task)

    def _queue_declared(self, host_id: str, task: asyncio.Future[None]) -> None:
        # A set entry instead of the finished task: tens of thousands of hosts.
        if not task.cancelled() and task.exception() is None:  # retrieved, if orphaned
            self._declared.add(host_id)
            if self._host_queues.get(host_id) is task:
                del self._host_queues[host_id]

    async def _read(
        self,
        ctx: Ctx,
        host_id: str,
        outgoing: _Outbox,
        tg: asyncio.TaskGroup,
    ) -> None:
        slots = asyncio.Semaphore(MAX_REPORTS_IN_FLIGHT)
        while True:
            msg = await ctx.read()
            if msg is grpc.aio.EOF:
                return
            kind = msg.WhichOneof("kind")
            if kind == "heartbeat":
                self._hosts.heartbeat(host_id, _seconds(msg.heartbeat.sent_at))
            elif kind == "metrics":
                self.absorb_metrics(host_id, msg.metrics)
            elif kind == "report":
                await slots.acquire()
                tg.create_task(self._apply_report(host_id, msg, outgoing, slots))
            elif kind == "domain_event":
                await self._apply_domain_event(host_id, msg.domain_event)
            elif kind == "register":
                # Out of order: which host a stream speaks for is settled once.
                raise FailedPrecondition(
                    f"register: this stream registered host {host_id!r} already; Register is "
                    "only the first message of a stream (open a new stream to register again)"
                )
            elif kind == "console_log":
                c = msg.console_log
                self._console.reply(ConsoleReply(c.request_id, c.text, c.truncated, c.error))

    def absorb_metrics(self, host_id: str, m: agent_pb2.HostMetricsSample) -> None:
        """A metrics message: also a heartbeat. Memory only, no database work per sample."""
        self._hosts.heartbeat(host_id, _seconds(m.sampled_at))
        if self._load_view is not None:
            self._load_view.absorb(host_id, *loads.samples(m))

    async def _apply_report(
        self,
        host_id: str,
        msg: agent_pb2.AgentMessage,
        outgoing: _Outbox,
        slots: asyncio.Semaphore,
    ) -> None:
        r = msg.report
        try:
            result = AgentResult(
                command_id=uuid.UUID(r.command_id),
                op=_op(r.op),
                instance_uid=uuid.UUID(r.instance_uid),
                ok=r.ok,
                error=r.error,
                power_state=_power(r.power_state),
                # A kind newer than this controller is an ordinary failure.
                failure=enums.COMMAND_FAILURE_OF.get(r.failure, CommandFailure.OTHER),
            )
        except ValueError as exc:
            # Nothing can ever apply it: accept it so the agent drops it, and say so.
            log.warning("agent.bad_report", host=host_id, error=str(exc))
        else:
            await self._through_outage(lambda: self._servers.apply_result(host_id, result))
        finally:
            slots.release()
        outgoing.send(agent_pb2.ControllerMessage(accepted=agent_pb2.ReportAccepted(seq=msg.seq)))

    async def _apply_domain_event(self, host_id: str, ev: agent_pb2.DomainEvent) -> None:
        with contextlib.suppress(ValueError):
            uid = uuid.UUID(ev.domain.instance_uid)
            power = PowerState.UNKNOWN if ev.gone else _power(ev.domain.power_state)
            await self._through_outage(lambda: self._servers.apply_power(host_id, uid, power))

    async def _through_outage(self, apply: Callable[[], Awaitable[None]]) -> None:
        """`apply()`, tried again after each delay of OUTAGE_RETRIES_S while it fails with an
        outage (controller.api.outages); then its failure ends the stream."""
        for delay in (*self._outage_retries_s, None):
            try:
                await apply()
                return
            except Exception as exc:
                if delay is None or outages.outage_of(exc) is None:
                    raise
            await asyncio.sleep(delay)
