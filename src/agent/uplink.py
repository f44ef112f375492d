"""The agent's gRPC stream to the controller (AgentGateway.Connect).

Registers (inventory + every managed domain), heartbeats, sends command reports, domain
events and metrics samples (a sample doubles as the heartbeat), and reconnects under the
failure policy (daemon.supervision, STREAM_POLICY) with jittered exponential backoff. A report
counts as delivered only when the controller answers ReportAccepted with its seq; until then
it is kept and sent again on every new stream, so the caller can safely acknowledge the AMQP
message afterwards.
Agent dataclasses become protobuf messages in agent.convert.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
import structlog
from google.protobuf import timestamp_pb2

from agent import __version__
from agent.console import ConsoleLogs
from agent.convert import domain_event_to_proto, domain_status_to_proto, metrics_to_proto, report_to_proto
from agent.hypervisor.base import DomainChange, Hypervisor, HypervisorError
from agent.metrics.model import HostMetrics
from agent.model import CommandResult
from daemon.supervision import Backoff, FailurePolicy, supervise
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc

# AgentGateway.Connect as the agent sees it: it writes AgentMessages, reads ControllerMessages.
GatewayCall: TypeAlias = "grpc.aio.StreamStreamCall[agent_pb2.AgentMessage, agent_pb2.ControllerMessage]"

log = structlog.get_logger("agent.uplink")

_CHANNEL_OPTIONS = [
    # The agent runs its own reconnect loop; keep gRPC's from waiting up to 2 min on its own.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5000),
    # A link that drops everything (no reset) ends the stream within 15 s, even while the agent
    # waits for a Registered (see _REGISTER_TIMEOUTS_S); the controller allows pings every 5 s.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
]
# How long a Registered is awaited, after 0, 1+ such waits in a row ran out. A controller that
# is slow to answer (a fleet of thousands registering on a busy machine) has usually done the
# registration by the time it answers: an agent that gives up and registers again adds a
# registration to its queue, and its host, marked UP by the registration it gave up on, goes
# DOWN before the next one is done (bench/scheduler.py at 5,000-10,000 hosts, load 13-23 on 2
# cores: agents waited 10 s and then 20 s, and 1,800 waits ran out, a third of the second ones
# too; 167 hosts went DOWN while the fleet came up). A controller gone ends the stream at once,
# a link gone within the keepalive's 15 s: only a controller that hangs is waited for that long.
_REGISTER_TIMEOUTS_S = (30.0, 60.0)
# Placeholders in a stream's outbox, made into messages only when the write loop reaches them
# (identity matters, not content): the newest metrics sample, a heartbeat stamped as it goes.
_LATEST_METRICS = agent_pb2.AgentMessage()
_HEARTBEAT = agent_pb2.AgentMessage()


class SessionError(Exception):
    """The stream ended or the controller broke the protocol."""


# The stream's failure policy (daemon.supervision). Whatever status the controller ended the
# stream with is the controller's failure, not this agent's (a bug there answers UNKNOWN: every
# agent exiting would turn it into a fleet-wide restart), and so is a broken protocol; libvirt
# may be busy while the inventory for Register is taken. A fleet of agents spreads out its
# reconnects (jitter) and finds a restarted controller within 5 s; a stream that lasted 10 s
# starts over at 0.2 s.
STREAM_POLICY = FailurePolicy(Backoff(initial=0.2, maximum=5.0, reset_after=10.0)).with_transient(
    grpc.aio.AioRpcError, SessionError, HypervisorError
)


@dataclass
class _PendingReport:
    report: agent_pb2.CommandReport
    accepted: asyncio.Future[None]


class Uplink:
    def __init__(
        self,
        *,
        target: str,
        host_id: str,
        availability_zone: str,
        disk_gib: int,
        hypervisor: Hypervisor,
        heartbeat_interval: float,
        backoff: Backoff | None = None,
        console: ConsoleLogs | None = None,
        channel: Callable[[str], grpc.aio.Channel] | None = None,
    ) -> None:
        # Several controller replicas may be given ("a:1,b:2"): a failed attempt moves on
        # to the next one, a working stream stays where it is.
        self._targets = [t.strip() for t in target.split(",") if t.strip()]
        if not self._targets:
            raise ValueError("no controller address given")
        self._target_index = 0
        self._host_id = host_id
        self._availability_zone = availability_zone
        self._disk_gib = disk_gib
        self._hypervisor = hypervisor
        self._default_interval = heartbeat_interval
        self._interval = heartbeat_interval
        self._policy = STREAM_POLICY if backoff is None else STREAM_POLICY.with_backoff(backoff)
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._pending: dict[int, _PendingReport] = {}  # insertion order = resend order
        self._by_seq: dict[int, _PendingReport] = {}  # seqs sent on the current stream
        self._outbox: asyncio.Queue[agent_pb2.AgentMessage] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_beat = 0.0  # loop time of the last message that counts as a heartbeat
        # Waiting in the outbox as _LATEST_METRICS: a sample, or a sampler to call then.
        self._latest_metrics: HostMetrics | Callable[[], HostMetrics] | None = None
        self._heartbeat_queued = False  # a _HEARTBEAT waits in the outbox
        self._console = console  # answers ConsoleLogQuery; None: they get an error reply
        # A channel shared with other uplinks, per target (a fleet simulation runs thousands of
        # uplinks in one process); None: a channel of its own per stream, closed with it.
        self._shared_channel = channel
        self._console_tasks: set[asyncio.Task[None]] = set()
        self.registered = asyncio.Event()  # set after the first successful registration
        self._register_timeouts = 0  # waits for a Registered in a row that ran out
        # How long a command may wait before it is not carried out (Registered; 0: no limit).
        self.command_expiry_s = 0.0
        self.controller_id = ""
        self.sessions = 0  # successful registrations so far
        self.metrics_sent = 0  # metrics messages written to a stream (coalesced ones are not)

    @property
    def target(self) -> str:
        return self._targets[self._target_index]

    @property
    def connected(self) -> bool:
        return self._outbox is not None

    @property
    def pending_reports(self) -> int:
        return len(self._pending)

    # -- API for the rest of the agent ------------------------------------------------------

    async def deliver(self, result: CommandResult) -> None:
        """Send a report and return once the controller accepted it (across reconnects)."""
        pending = _PendingReport(
            report=report_to_proto(result),
            accepted=asyncio.get_running_loop().create_future(),
        )
        key = next(self._ids)
        self._pending[key] = pending
        try:
            if self._outbox is not None:
                self._enqueue_report(self._outbox, pending)
            await pending.accepted
        finally:
            # Cancelled (agent stopping): forget it; its AMQP message stays unacked and is
            # redelivered, so the command runs and reports again later.
            self._pending.pop(key, None)

    def publish_change(self, change: DomainChange) -> bool:
        """Best effort: dropped while disconnected (Register resends the whole inventory)."""
        if self._outbox is None:
            return False
        self._outbox.put_nowait(
            agent_pb2.AgentMessage(seq=next(self._seq), domain_event=domain_event_to_proto(change))
        )
        return True

    def publish_metrics(self, sample: HostMetrics | Callable[[], HostMetrics]) -> bool:
        """Best effort, like domain changes. A metrics message also tells the controller the
        agent is alive, so no heartbeat is sent in an interval that carried one.

        Coalesced: while a sample waits in the outbox (a controller reading slowly), a newer
        one replaces it instead of queueing behind it; the controller gets the latest. A
        callable is a sampler, called only when the message is written (a simulated host's
        numbers cost nothing to take later, and are then as fresh as can be)."""
        if self._outbox is None:
            return False
        if self._latest_metrics is None:
            self._outbox.put_nowait(_LATEST_METRICS)
        self._latest_metrics = sample
        self._last_beat = asyncio.get_running_loop().time()
        return True

    async def close(self) -> None:
        self._closing = True
        for pending in list(self._console_tasks):
            pending.cancel()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    # -- the connection loop ----------------------------------------------------------------

    async def run(self) -> None:
        """Hold a stream to the controller until closed, connecting again after a failure
        under STREAM_POLICY."""
        self._task = asyncio.current_task()
        await supervise("uplink", self._connect, self._policy)

    async def _connect(self) -> None:
        if self._closing:
            return
        before = self.sessions
        try:
            await self._session()
        except Exception as exc:
            exc.add_note(f"controller {self.target}")
            raise
        finally:
            if self.sessions == before:  # never got in: try the next replica
                self._target_index = (self._target_index + 1) % len(self._targets)
        raise SessionError(f"controller {self.target} closed the stream")

    async def _register_message(self) -> agent_pb2.AgentMessage:
        info = await self._hypervisor.inventory()
        domains = await self._hypervisor.list_domains()
        inventory = agent_pb2.HostInventory(
            host_id=self._host_id,
            hostname=info.hostname,
            arch=info.arch,
            hypervisor_type=info.hypervisor_type,
            hypervisor_uri=info.uri,
            availability_zone=self._availability_zone,
            vcpus=info.vcpus,
            memory_mib=info.memory_mib,
            disk_gib=self._disk_gib,
            domain_type=info.domain_type,
        )
        return agent_pb2.AgentMessage(
            seq=next(self._seq),
            register=agent_pb2.Register(
                inventory=inventory,
                domains=[domain_status_to_proto(d) for d in domains],
                agent_version=__version__,
            ),
        )

    async def _session(self) -> None:
        register = await self._register_message()
        shared = self._shared_channel(self.target) if self._shared_channel is not None else None
        channel = shared or grpc.aio.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
        call = agent_pb2_grpc.AgentGatewayStub(channel).Connect()
        try:
            await call.write(register)
            try:
                timeout = _REGISTER_TIMEOUTS_S[min(self._register_timeouts, len(_REGISTER_TIMEOUTS_S) - 1)]
                reply = await asyncio.wait_for(call.read(), timeout=timeout)
            except TimeoutError:
                self._register_timeouts += 1
                raise SessionError(f"no Registered from the controller in {timeout:g} s") from None
            self._register_timeouts = 0
            if reply is grpc.aio.EOF:
                raise SessionError("controller closed the stream before Registered")
            if reply.WhichOneof("kind") != "registered":
                raise SessionError(f"expected Registered, got {reply.WhichOneof('kind')}")
            self.controller_id = reply.registered.controller_id
            self._apply_registered(reply.registered)
            outbox: asyncio.Queue[agent_pb2.AgentMessage] = asyncio.Queue()
            self._by_seq.clear()
            for pending in self._pending.values():
                self._enqueue_report(outbox, pending)
            self._outbox = outbox
            self.sessions += 1
            self.registered.set()
            log.info(
                "uplink.connected",
                controller=self.target,
                controller_id=self.controller_id,
                domains=len(register.register.domains),
                resent_reports=len(self._pending),
                heartbeat_interval_s=self._interval,
            )
            await _first_failure(
                self._write_loop(call, outbox), self._read_loop(call), self._heartbeats(outbox)
            )
        finally:
            self._outbox = None
            self._latest_metrics = None  # its placeholder went with the outbox
            self._heartbeat_queued = False
            self._by_seq.clear()
            call.cancel()
            if shared is None:
                await channel.close()

    def _apply_registered(self, registered: agent_pb2.Registered) -> None:
        interval_ms = registered.heartbeat_interval_ms
        self._interval = interval_ms / 1000 if interval_ms > 0 else self._default_interval
        self.command_expiry_s = max(0, registered.command_expiry_ms) / 1000

    def _enqueue_report(self, outbox: asyncio.Queue[agent_pb2.AgentMessage], pending: _PendingReport) -> None:
        # A fresh seq per send: seqs stay increasing on every stream, and an acceptance can
        # only match what was sent on the stream it arrives on.
        seq = next(self._seq)
        self._by_seq[seq] = pending
        outbox.put_nowait(agent_pb2.AgentMessage(seq=seq, report=pending.report))

    async def _heartbeats(self, outbox: asyncio.Queue[agent_pb2.AgentMessage]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._interval)
            if loop.time() - self._last_beat < self._interval:
                continue  # a metrics sample went out in this interval: it was the heartbeat
            if not self._heartbeat_queued:  # one waiting is enough: heartbeats do not pile up
                self._heartbeat_queued = True
                outbox.put_nowait(_HEARTBEAT)

    async def _write_loop(self, call: GatewayCall, outbox: asyncio.Queue[agent_pb2.AgentMessage]) -> None:
        while True:
            message = await outbox.get()
            if message is _LATEST_METRICS:
                sample, self._latest_metrics = self._latest_metrics, None
                if sample is None:
                    continue
                if callable(sample):
                    sample = sample()
                message = agent_pb2.AgentMessage(seq=next(self._seq), metrics=metrics_to_proto(sample))
                self.metrics_sent += 1
            elif message is _HEARTBEAT:
                self._heartbeat_queued = False
                sent_at = timestamp_pb2.Timestamp()
                sent_at.GetCurrentTime()
                message = agent_pb2.AgentMessage(
                    seq=next(self._seq), heartbeat=agent_pb2.Heartbeat(sent_at=sent_at)
                )
            try:
                await call.write(message)
            except asyncio.InvalidStateError:
                # The controller ended the stream while we wrote (its database or broker went
                # away: UNAVAILABLE): grpc.aio says "RPC already finished", not the status.
                # The stream's end, as the read loop would report it: reconnect.
                raise SessionError(f"the controller ended the stream: {await _status(call)}") from None

    async def _read_loop(self, call: GatewayCall) -> None:
        while True:
            reply = await call.read()
            if reply is grpc.aio.EOF:
                raise SessionError("controller closed the stream")
            kind = reply.WhichOneof("kind")
            if kind == "accepted":
                pending = self._by_seq.pop(reply.accepted.seq, None)
                if pending is not None and not pending.accepted.done():
                    pending.accepted.set_result(None)
            elif kind == "registered":
                self._apply_registered(reply.registered)
            elif kind == "console_log":
                # Off the read loop: reading a log file must not hold up acceptances.
                task = asyncio.create_task(self._answer_console(reply.console_log))
                self._console_tasks.add(task)
                task.add_done_callback(self._console_tasks.discard)
            else:
                log.debug("uplink.unexpected_message", kind=kind)

    async def _answer_console(self, query: agent_pb2.ConsoleLogQuery) -> None:
        if self._console is None:
            answer = agent_pb2.ConsoleLogReply(
                request_id=query.request_id, error="this agent serves no console logs"
            )
        else:
            text = await self._console.read(query.instance_uid, query.tail_lines)
            answer = agent_pb2.ConsoleLogReply(
                request_id=query.request_id, text=text.text, truncated=text.truncated, error=text.error
            )
        if self._outbox is not None:  # else the stream is gone: the controller's wait times out
            self._outbox.put_nowait(agent_pb2.AgentMessage(seq=next(self._seq), console_log=answer))


async def _status(call: GatewayCall) -> str:
    code = await call.code()
    return f"{code.name}: {await call.details()}"


async def _first_failure(*coroutines: Coroutine[Any, Any, None]) -> None:
    """Run the loops of one stream together; the first to end (they only end by failing)
    cancels the others and its exception propagates."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
