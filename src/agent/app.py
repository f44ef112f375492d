"""Composition root of the agent: wires hypervisor, uplink, command consumer and admin server.

Shutdown order (SIGTERM/SIGINT): stop consuming commands, let in-flight commands finish
(bounded), close the controller stream, close AMQP, then close libvirt.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog
import uvloop

from agent import __version__
from agent.admin import AdminServer
from agent.commands import CommandConsumer, CommandProcessor
from agent.console import ConsoleLogs
from agent.hypervisor.base import Hypervisor, HypervisorError, HypervisorInfo
from agent.hypervisor.instance_files import InstanceFiles
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.metrics.libvirt_source import LibvirtMetrics, LibvirtStats
from agent.metrics.reporter import report_metrics
from agent.metrics.source import MetricsSource
from agent.qemu_host import image_cache, open_hypervisor, sweep_interval
from agent.settings import AgentSettings
from agent.uplink import Uplink
from daemon import logs
from daemon.supervision import before_exit, log_crashes, supervise

log = structlog.get_logger("agent")


class HostHypervisor(Hypervisor, Protocol):
    """The hypervisor an agent process runs on: the port, plus what the process watches."""

    files: InstanceFiles | None  # QEMU hosts: instance disks and console logs
    connection_lost: asyncio.Event  # set: the agent exits (status 1) and is restarted


H = TypeVar("H", bound=HostHypervisor)


@dataclass(frozen=True)
class HypervisorBackend(Generic[H]):
    """How the agent opens its hypervisor and builds its metrics source over it. The agent's own
    backend is libvirt, measured; a development cluster runs the same agent on the test driver
    with simulated metrics (python -m devcluster.agent) or on a simulated hypervisor
    (python -m devcluster.simulation.agent)."""

    open: Callable[[AgentSettings], Awaitable[H]]
    metrics: Callable[[H, HypervisorInfo], MetricsSource]


def measured_metrics(hypervisor: LibvirtHypervisor, info: HypervisorInfo) -> MetricsSource:
    return LibvirtMetrics(LibvirtStats(hypervisor))


LIBVIRT: HypervisorBackend[LibvirtHypervisor] = HypervisorBackend(open_hypervisor, measured_metrics)


async def forward_domain_changes(hypervisor: Hypervisor, uplink: Uplink) -> None:
    async for change in hypervisor.domain_changes():
        sent = uplink.publish_change(change)
        log.info(
            "domain.changed",
            instance_uid=change.instance_uid,
            power_state=change.power_state.name,
            gone=change.gone,
            sent=sent,
        )


async def run(
    settings: AgentSettings,
    *,
    stop: asyncio.Event | None = None,
    backend: HypervisorBackend[Any] = LIBVIRT,
) -> int:
    """Run the agent until `stop` is set (or a signal arrives); return the exit status."""
    stop = stop or asyncio.Event()
    log.info(
        "agent.starting",
        version=__version__,
        host_id=settings.host.id,
        libvirt_uri=settings.hypervisor.libvirt_uri,
        controller=settings.controller.address,
    )
    try:
        hypervisor = await backend.open(settings)
    except HypervisorError as exc:
        log.error("agent.libvirt_unavailable", uri=settings.hypervisor.libvirt_uri, error=str(exc))
        return 1

    exit_code = 0
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            info = await hypervisor.inventory()
        except HypervisorError as exc:
            log.error("agent.libvirt_unavailable", uri=settings.hypervisor.libvirt_uri, error=str(exc))
            return 1
        log.info(
            "agent.inventory",
            hostname=info.hostname,
            arch=info.arch,
            hypervisor_type=info.hypervisor_type,
            domain_type=info.domain_type,
            vcpus=info.vcpus,
            memory_mib=info.memory_mib,
            disk_gib=settings.host.disk_gib,
            availability_zone=settings.host.availability_zone,
        )
        uplink = Uplink(
            target=settings.controller.address,
            host_id=settings.host.id,
            availability_zone=settings.host.availability_zone,
            disk_gib=settings.host.disk_gib,
            hypervisor=hypervisor,
            heartbeat_interval=settings.heartbeats.interval_s,
            console=ConsoleLogs(hypervisor, hypervisor.files),
        )
        images = image_cache(settings, hypervisor.files)  # None on the test driver
        metrics = backend.metrics(hypervisor, info)
        processor = CommandProcessor(
            hypervisor, uplink, metrics, images=images, expiry=lambda: uplink.command_expiry_s
        )
        consumer = CommandConsumer(
            amqp_url=settings.bus.amqp_url,
            prefix=settings.bus.prefix,
            host_id=settings.host.id,
            processor=processor,
            prefetch=settings.commands.prefetch,
            queue_type=settings.bus.host_queue_type,
        )
        admin: AdminServer | None = None
        if settings.admin.listen:
            admin = AdminServer(hypervisor, settings.admin.listen)
            try:
                await admin.start()
            except OSError as exc:
                log.error("agent.admin_unavailable", listen=settings.admin.listen, error=str(exc))
                return 1

        async def watch_libvirt() -> None:
            nonlocal exit_code
            await hypervisor.connection_lost.wait()
            exit_code = 1
            stop.set()

        try:
            async with asyncio.TaskGroup() as tg:
                background = [
                    tg.create_task(uplink.run(), name="uplink"),
                    tg.create_task(consumer.run(uplink.registered), name="amqp-consumer"),
                    tg.create_task(
                        supervise("events", lambda: forward_domain_changes(hypervisor, uplink)), name="events"
                    ),
                    tg.create_task(watch_libvirt(), name="libvirt-watch"),
                ]
                if images is not None:
                    background.append(
                        tg.create_task(
                            supervise("image-sweeper", lambda: images.run_sweeper(sweep_interval(settings))),
                            name="image-sweeper",
                        )
                    )
                if settings.metrics.interval_s > 0:
                    background.append(
                        tg.create_task(
                            supervise(
                                "metrics",
                                lambda: report_metrics(metrics, uplink, settings.metrics.interval_s),
                            ),
                            name="metrics",
                        )
                    )
                await stop.wait()
                log.info("agent.stopping", in_flight=processor.in_flight)
                await consumer.stop_consuming()
                cut_short = await processor.close(settings.commands.shutdown_grace_s)
                if cut_short:
                    log.warning("agent.commands_cut_short", count=cut_short)
                await uplink.close()
                await consumer.close()
                for task in background:
                    task.cancel()
        except* Exception as failures:
            log_crashes(failures, "agent")
            exit_code = 1
        finally:
            await uplink.close()
            await consumer.close()
            if images is not None:
                await images.close()
            if admin is not None:
                await admin.stop()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await hypervisor.close()
    log.info("agent.stopped", exit_code=exit_code)
    return exit_code


def main(argv: Sequence[str] | None = None, *, backend: HypervisorBackend[Any] = LIBVIRT) -> None:
    settings = AgentSettings.load(argv)
    logs.configure(settings.log.format, settings.log.level, host=settings.host.id)
    code = uvloop.run(run(settings, backend=backend))
    before_exit()
    sys.exit(code)
