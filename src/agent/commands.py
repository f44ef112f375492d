"""Commands from RabbitMQ: parse, execute on the hypervisor, report, then acknowledge.

Delivery is at least once, so every command is idempotent on the hypervisor side. A message
is acknowledged only after the controller accepted its report; if the agent stops first, the
message stays unacknowledged and RabbitMQ delivers it again later.

A task's command older than the expiry the controller gave at registration is not carried out
but reported expired (the controller's side of it: controller.domain.expiry).

Fencing (docs/decisions/0012-host-failure-and-fencing.md): a command carries its server's
placement generation, a spawn records it in the domain. A command older than the domain it
finds is refused (it was sent before the server was rebuilt elsewhere and came back here); a
spawn newer than the domain replaces it (a stale copy left from an earlier placement).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, Protocol
from urllib.parse import urlsplit, urlunsplit

import structlog
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from google.protobuf import json_format

from agent.dead_letters import DeadLetters, envelope_problem
from agent.hypervisor.base import DomainMissing, DomainSpec, Hypervisor, HypervisorError, PowerState
from agent.images import ImageCache
from agent.model import BootRequest, Command, CommandResult, Failure, ImageRequest, Op
from agent.sequencer import KeyedSequencer
from daemon import bus_topology
from daemon.bus_topology import Topology, declare_commands_exchange, declare_host_queue
from daemon.supervision import DEFAULT, Backoff, supervise
from overcast import protojson
from overcast.agent.v1 import agent_pb2

log = structlog.get_logger("agent.commands")

Settle = Callable[[], Awaitable[Any]]


class ReportSink(Protocol):
    async def deliver(self, result: CommandResult) -> None:
        """Return once the controller accepted the report."""


class MetadataListener(Protocol):
    def metadata_changed(self, instance_uid: str, metadata: Mapping[str, str]) -> None:
        """A command gave an instance this metadata (spawn, update_metadata)."""


class MalformedCommand(ValueError):
    pass


def parse_command(body: bytes) -> Command:
    try:
        message = protojson.loads(body, agent_pb2.AgentCommand)
    except (json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
        raise MalformedCommand(f"not an AgentCommand: {exc}") from None
    if not message.command_id:
        raise MalformedCommand("command_id is missing")
    try:
        op = Op(message.op)
    except ValueError:
        op = Op.COMMAND_OP_UNSPECIFIED  # an op newer than this agent: reported as unsupported
    return Command(
        command_id=message.command_id,
        op=op,
        instance_uid=message.instance_uid,
        instance_name=message.instance_name,
        vcpus=message.vcpus,
        memory_mib=message.memory_mib,
        disk_gib=message.disk_gib,
        image=message.image,
        metadata=dict(message.metadata),
        boot=_boot_request(message),
        issued_at=message.issued_at.seconds + message.issued_at.nanos / 1e9,
        generation=max(0, message.generation),
    )


def malformed_reason(body: bytes) -> str:
    """Why `body` is no command (for a body parse_command refuses)."""
    try:
        parse_command(body)
    except MalformedCommand as exc:
        return str(exc)
    return "refused by the agent"


def _image_request(ref: agent_pb2.ImageRef) -> ImageRequest | None:
    if not ref.name and not ref.checksum_sha256:
        return None
    return ImageRequest(
        name=ref.name,
        disk_format=ref.disk_format,
        size_bytes=ref.size_bytes,
        checksum_sha256=ref.checksum_sha256,
    )


def _boot_request(message: agent_pb2.AgentCommand) -> BootRequest | None:
    boot = BootRequest(
        root_image=_image_request(message.root_image),
        kernel=_image_request(message.kernel),
        ramdisk=_image_request(message.ramdisk),
        kernel_args=message.kernel_args,
    )
    return None if boot == BootRequest() else boot


async def _spawn(hypervisor: Hypervisor, command: Command, images: ImageCache | None, found: int) -> None:
    """Fetch what the domain boots (QEMU hosts, and only when the domain does not exist yet:
    a redelivered spawn must not download anything), then define and start it."""
    boot = None
    if 0 < found < command.generation:
        # A copy from an earlier placement of this server (it was evacuated and has come back):
        # never started again, replaced.
        log.warning(
            "command.stale_domain_replaced",
            instance_uid=command.instance_uid,
            domain_generation=found,
            generation=command.generation,
        )
        await hypervisor.delete(command.instance_uid)
    if (
        images is not None
        and command.boot is not None
        and await hypervisor.power_state(command.instance_uid) is PowerState.MISSING
    ):
        boot = await images.prepare(command.boot)
    try:
        await hypervisor.spawn(
            DomainSpec(
                instance_uid=command.instance_uid,
                instance_name=command.instance_name,
                vcpus=command.vcpus,
                memory_mib=command.memory_mib,
                disk_gib=command.disk_gib,
                image=command.image,
                metadata=command.metadata,
                boot=boot,
                generation=command.generation,
            )
        )
    finally:
        if boot is not None and images is not None:
            images.release(boot)


async def execute(
    hypervisor: Hypervisor,
    command: Command,
    metadata_listener: MetadataListener | None = None,
    *,
    images: ImageCache | None = None,
) -> CommandResult:
    """Run one command; never raises, failures become ok=False with the reason.

    `metadata_listener` (the agent's metrics source) hears of the metadata an instance was
    spawned with or given.
    """
    uid = command.instance_uid
    try:
        found = await _check_generation(hypervisor, command)
        if command.op is Op.SPAWN:
            await _spawn(hypervisor, command, images, found)
            if metadata_listener is not None:
                metadata_listener.metadata_changed(uid, command.metadata)
        elif command.op is Op.START:
            await hypervisor.start(uid)
        elif command.op is Op.STOP:
            await hypervisor.stop(uid)
        elif command.op is Op.REBOOT:
            await hypervisor.reboot(uid)
        elif command.op is Op.DELETE:
            await hypervisor.delete(uid)
        elif command.op is Op.UPDATE_METADATA:
            await hypervisor.update_metadata(uid, command.instance_name, command.image, command.metadata)
            if metadata_listener is not None:
                metadata_listener.metadata_changed(uid, command.metadata)
        else:
            raise HypervisorError(f"unsupported command op {command.op.name}")
        ok, error, failure = True, "", Failure.OTHER
    except DomainMissing as exc:
        # Said apart: the controller marks the server lost (a start, stop or reboot cannot
        # bring back a domain that is gone), as reconciliation does when it sees no domain.
        ok, error, failure = False, str(exc), Failure.DOMAIN_MISSING
    except HypervisorError as exc:
        ok, error, failure = False, str(exc), Failure.OTHER
    except Exception as exc:
        # A driver bug must cost one command, not the agent.
        log.exception("command.crashed", command_id=command.command_id)
        ok, error, failure = False, f"agent internal error: {exc!r}", Failure.OTHER
    try:
        state = await hypervisor.power_state(uid)
    except HypervisorError:
        state = PowerState.MISSING
    except Exception:
        log.exception("command.power_state_crashed", command_id=command.command_id)
        state = PowerState.MISSING
    return CommandResult(
        command_id=command.command_id,
        op=command.op,
        instance_uid=uid,
        ok=ok,
        error=error,
        power_state=state,
        failure=failure,
    )


class StaleCommand(HypervisorError):
    """The command is older than the domain it would act on (fencing)."""


async def _check_generation(hypervisor: Hypervisor, command: Command) -> int:
    """Refuse a command of an older placement than the domain's: it was sent before the
    server was rebuilt elsewhere, and acting on it could start a copy or remove the current
    one. A command or a domain without a generation (older controllers, older domains) is
    never refused."""
    if command.generation <= 0 or not command.instance_uid:
        return 0
    found = await hypervisor.generation(command.instance_uid)
    if found > command.generation:
        raise StaleCommand(
            f"stale command: generation {command.generation} is older than the domain's"
            f" {found} (the server was placed again since): not carried out"
        )
    return found  # the domain's generation (0: none, or no domain)


# The commands a server's task waits on; UPDATE_METADATA carries no task (and the whole of the
# metadata, so applying it late is right).
EXPIRING_OPS: Final = frozenset({Op.SPAWN, Op.START, Op.STOP, Op.REBOOT, Op.DELETE})


def expired_age(command: Command, expiry_s: float, now: float) -> float | None:
    """The command's age if it is too old to carry out (`expiry_s` after it was issued, by
    this host's clock); None to carry it out (no expiry, or no issue time: an older
    controller's)."""
    if expiry_s <= 0 or command.issued_at <= 0 or command.op not in EXPIRING_OPS:
        return None
    age = now - command.issued_at
    return age if age > expiry_s else None


async def expired(hypervisor: Hypervisor, command: Command, age_s: float, expiry_s: float) -> CommandResult:
    """The report of a command not carried out because it expired."""
    try:
        state = await hypervisor.power_state(command.instance_uid)
    except Exception:  # only for the report: what the domain is doing does not change the answer
        state = PowerState.MISSING
    return CommandResult(
        command_id=command.command_id,
        op=command.op,
        instance_uid=command.instance_uid,
        ok=False,
        error=f"the command was issued {age_s:.0f} s ago (commands expire after {expiry_s:g} s):"
        " not carried out",
        power_state=state,
        failure=Failure.EXPIRED,
    )


class CommandProcessor:
    """Everything between "a message arrived" and "ack it", independent of AMQP."""

    def __init__(
        self,
        hypervisor: Hypervisor,
        reports: ReportSink,
        metadata_listener: MetadataListener | None = None,
        *,
        images: ImageCache | None = None,  # QEMU hosts: spawns fetch what they boot
        expiry: Callable[[], float] = lambda: 0.0,  # seconds a command may wait; 0: no limit
    ) -> None:
        self._images = images
        self._expiry = expiry
        self._hypervisor = hypervisor
        self._reports = reports
        self._metadata_listener = metadata_listener
        self._sequencer = KeyedSequencer()
        self._malformed_ids = itertools.count()

    def submit(self, body: bytes, *, ack: Settle, reject: Settle) -> bool:
        """Queue a message for execution in arrival order for its instance.

        Synchronous on purpose: the caller's arrival order is the order jobs are queued in.
        Returns False when closing (the message is left unsettled, to be redelivered).
        """
        try:
            command = parse_command(body)
        except MalformedCommand as exc:
            log.error("command.malformed", error=str(exc), body=body[:200].decode(errors="replace"))
            key: object = ("malformed", next(self._malformed_ids))
            return self._sequencer.submit(key, lambda: _settle(reject, "reject"))
        # Commands without an instance still get reported (as failures), each on its own.
        key = command.instance_uid or ("command", command.command_id)
        return self._sequencer.submit(key, lambda: self._run(command, ack))

    async def _run(self, command: Command, ack: Settle) -> None:
        started = time.monotonic()
        expiry_s = self._expiry()
        age = expired_age(command, expiry_s, time.time())
        if age is not None:
            log.warning(
                "command.expired",
                command_id=command.command_id,
                op=command.op.name,
                instance_uid=command.instance_uid,
                age_s=round(age, 1),
                expiry_s=expiry_s,
            )
            result = await expired(self._hypervisor, command, age, expiry_s)
        else:
            result = await execute(self._hypervisor, command, self._metadata_listener, images=self._images)
        log.info(
            "command.executed",
            command_id=command.command_id,
            op=command.op.name,
            instance_uid=command.instance_uid,
            ok=result.ok,
            error=result.error or None,
            failure=None if result.ok else result.failure.name,
            power_state=result.power_state.name,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        await self._reports.deliver(result)
        await _settle(ack, "ack", command_id=command.command_id)

    @property
    def in_flight(self) -> int:
        return self._sequencer.active_keys

    async def close(self, grace: float) -> int:
        """Start no more commands; wait up to `grace` s for running ones; return how many
        were cut short (their messages stay unacknowledged)."""
        return await self._sequencer.close(grace)


async def _settle(settle: Settle, what: str, **context: Any) -> None:
    try:
        await settle()
    except Exception as exc:
        # The channel went away (e.g. a broker reconnect): RabbitMQ redelivers the message.
        log.warning("command.settle_failed", action=what, error=repr(exc), **context)


def _redacted(url: str) -> str:
    try:
        parts = urlsplit(url)
        if not parts.password:
            return url
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
    except ValueError:
        return "<invalid url>"


class CommandConsumer:
    """The AMQP side: declares the host's queue and feeds deliveries to a CommandProcessor."""

    def __init__(
        self,
        *,
        amqp_url: str,
        prefix: str,
        host_id: str,
        processor: CommandProcessor,
        prefetch: int = 64,
        backoff: Backoff | None = None,
        queue_type: str = "quorum",
    ) -> None:
        self._url = amqp_url
        self._topology = Topology(prefix, host_queue_type=queue_type)
        self.exchange_name = self._topology.commands
        self.queue_name = self._topology.host_queue(host_id)
        self._host_id = host_id
        self._processor = processor
        self._dead_letters = DeadLetters(self._topology, host_id)
        self._prefetch = prefetch
        self._policy = DEFAULT.with_backoff(backoff or Backoff(initial=0.5, maximum=10.0))
        self._connection: AbstractRobustConnection | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._stopping = False
        self.consuming = asyncio.Event()

    async def run(self, ready: asyncio.Event) -> None:
        """Once `ready` is set: connect, declare and consume, tried again under the failure
        policy (daemon.supervision) until it works; returns when consuming (the robust
        connection handles later reconnects) or once close() was called."""
        await ready.wait()
        await supervise("amqp-consumer", self._connect, self._policy)

    async def _connect(self) -> None:
        if self._stopping:
            return
        connection: AbstractRobustConnection | None = None
        try:
            connection = await bus_topology.connect(self._url)
            await self._consume(connection)
        except Exception as exc:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
            if self._stopping:
                return  # close() ended the retries
            exc.add_note(f"broker {_redacted(self._url)}")
            raise

    async def _consume(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        # Same declarations as the controller's; a mismatch fails here with a clear reason.
        await declare_commands_exchange(channel, self._topology)
        queue = await declare_host_queue(channel, self._topology, self._host_id)
        await self._dead_letters.attach(channel)
        self._connection = connection
        log.info("amqp.connected", url=_redacted(self._url))
        connection.reconnect_callbacks.add(self._on_reconnect)
        if self._stopping:
            return
        self._queue = queue
        self._consumer_tag = await queue.consume(self._on_message)
        self.consuming.set()
        log.info("amqp.consuming", queue=self.queue_name, prefetch=self._prefetch)

    def _on_reconnect(self, *_args: Any) -> None:
        log.info("amqp.reconnected", url=_redacted(self._url))

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # No await before submit(): aio-pika starts one task per delivery in arrival order,
        # so the synchronous part of these callbacks runs in arrival order too.
        if self._stopping:
            return  # left unacknowledged: redelivered once this channel closes
        problem = envelope_problem(message)
        if problem is not None:
            log.error(
                "command.malformed",
                error=problem,
                message_id=message.message_id,
                dead_letter_queue=self._dead_letters.name,
                body=message.body[:200].decode(errors="replace"),
            )
            await self._dead_letters.put(message, problem)
            return
        self._processor.submit(
            message.body,
            ack=message.ack,
            # A body that is no command (logged by the processor): to the dead-letter queue.
            reject=lambda: self._dead_letters.put(message, malformed_reason(message.body)),
        )

    async def stop_consuming(self) -> None:
        self._stopping = True
        if self._queue is not None and self._consumer_tag is not None:
            try:
                await self._queue.cancel(self._consumer_tag)
            except Exception as exc:
                log.warning("amqp.cancel_failed", error=repr(exc))
            self._consumer_tag = None
            log.info("amqp.stopped_consuming", queue=self.queue_name)

    async def close(self) -> None:
        self._stopping = True
        if self._connection is not None:
            try:
                await self._connection.close()
            except Exception as exc:
                log.warning("amqp.close_failed", error=repr(exc))
            self._connection = None
            log.info("amqp.closed")
