"""The fleet simulation: N simulated agents in one process against a real controller.

Every simulated host is the real agent's machinery with a SimulatedHypervisor underneath: an
Uplink (its own AgentGateway.Connect stream: Register with the host's inventory, heartbeats,
reports, metrics samples), a CommandProcessor (execute, report, ack after ReportAccepted) and
its own command queue (consumed through FleetCommandBus). What is shared is only transport:
streams share gRPC channels (`--streams-per-channel` per TCP connection), queues share AMQP
connections and channels. Metrics samples (simulated=true) go out once per host per interval
from one fleet-wide loop that spreads the hosts over the interval; each is taken when its stream
gets to it (a sampler is published, not a sample).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import random
import resource
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
import structlog
import uvloop

from agent.commands import CommandProcessor
from agent.metrics.model import HostMetrics
from agent.uplink import Uplink
from daemon import logs
from devcluster.load import LoadSimulator
from devcluster.simulation.bus import FleetCommandBus
from devcluster.simulation.hypervisor import SimulatedHypervisor
from devcluster.simulation.settings import FleetSettings, HostShape

log = structlog.get_logger("devcluster.simulation")


def say(event: str, **fields: object) -> None:
    """A fleet-level line on stderr, always (the per-host machinery logs at --log-level,
    which defaults to warning: ten thousand hosts' routine lines would drown everything)."""
    print(json.dumps({"event": event, "at": round(time.time(), 3), **fields}), file=sys.stderr, flush=True)


_CHANNEL_OPTIONS = [
    # A connection of its own per channel: gRPC would otherwise share one TCP connection
    # between every channel to the same target (its global subchannel pool).
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5000),
]


@dataclass
class SimulatedAgent:
    host_id: str
    zone: str
    shape: HostShape
    hypervisor: SimulatedHypervisor
    uplink: Uplink
    processor: CommandProcessor
    sampler: Callable[[], HostMetrics]
    consuming: bool = False


class ChannelPool:
    """gRPC channels per target, each carrying at most `per_channel` agent streams."""

    def __init__(self, per_channel: int) -> None:
        self._per_channel = per_channel
        self._channels: dict[tuple[str, int], grpc.aio.Channel] = {}

    def for_slot(self, slot: int) -> Callable[[str], grpc.aio.Channel]:
        def channel(target: str) -> grpc.aio.Channel:
            key = (target, slot // self._per_channel)
            found = self._channels.get(key)
            if found is None:
                found = self._channels[key] = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
            return found

        return channel

    @property
    def count(self) -> int:
        return len(self._channels)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()


def assign_shapes(n: int, shapes: Sequence[HostShape], seed: int) -> list[HostShape]:
    """Each host's shape, drawn by weight (deterministic for a seed)."""
    if len(shapes) == 1:
        return [shapes[0]] * n
    rng = random.Random(seed)
    return rng.choices(list(shapes), weights=[s.weight for s in shapes], k=n)


class Fleet:
    def __init__(self, s: FleetSettings) -> None:
        self.settings = s
        self._channels = ChannelPool(s.connections.streams_per_channel)
        self.bus = FleetCommandBus(
            amqp_url=s.bus.amqp_url,
            prefix=s.bus.prefix,
            queue_type=s.bus.host_queue_type,
            connections=s.connections.amqp_connections,
            consumers_per_channel=s.connections.consumers_per_channel,
            prefetch=s.connections.prefetch,
        )
        ids = s.fleet.host_ids()
        shapes = assign_shapes(len(ids), s.fleet.shapes, s.fleet.seed)
        self.agents = [self._agent(i, h, shapes[i]) for i, h in enumerate(ids)]
        self.started_at = time.monotonic()
        self.all_consuming_after_s: float | None = None

    def _agent(self, slot: int, host_id: str, shape: HostShape) -> SimulatedAgent:
        s = self.settings
        loads = LoadSimulator(rng=random.Random(f"{s.fleet.seed}:{host_id}"))
        hypervisor = SimulatedHypervisor(
            host_id,
            vcpus=shape.vcpus,
            memory_mib=shape.memory_gib * 1024,
            delay=s.fleet.op_delay_s,
            loads=loads,
            state_dir=s.fleet.state_dir or None,
        )
        zone = s.fleet.zones[slot % len(s.fleet.zones)]
        uplink = Uplink(
            target=s.controller.address,
            host_id=host_id,
            availability_zone=zone,
            disk_gib=shape.disk_gib,
            hypervisor=hypervisor,
            heartbeat_interval=s.heartbeats.interval_s,
            channel=self._channels.for_slot(slot),
        )
        # The hypervisor keeps the loads.
        processor = CommandProcessor(hypervisor, uplink, expiry=lambda: uplink.command_expiry_s)
        sampler = functools.partial(hypervisor.sample, with_instances=s.fleet.instance_metrics)
        return SimulatedAgent(host_id, zone, shape, hypervisor, uplink, processor, sampler)

    # -- running ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        await self.bus.open()
        say(
            "fleet.starting",
            hosts=len(self.agents),
            controller=s.controller.address,
            bus_prefix=s.bus.prefix,
            host_queue_type=s.bus.host_queue_type,
            metrics_interval_s=s.metrics.interval_s,
        )
        try:
            async with asyncio.TaskGroup() as tg:
                background = [tg.create_task(self._stats_loop(), name="fleet-stats")]
                if s.metrics.interval_s > 0:
                    background.append(tg.create_task(self._metrics_loop(), name="fleet-metrics"))
                starter = tg.create_task(self._start_agents(tg), name="fleet-start")
                await stop.wait()
                say("fleet.stopping")
                starter.cancel()
                for task in background:
                    task.cancel()
                await self._stop_agents()
        finally:
            await self.bus.close()
            await self._channels.close()
            self._write_stats()
            say("fleet.stopped", **self.stats())

    async def _start_agents(self, tg: asyncio.TaskGroup) -> None:
        """Open the streams at most `connect_rate` per second and with at most
        `max_registering` registrations outstanding: a whole fleet at once would only time out
        its registrations and retry (a controller's restart is another story: agents then
        spread out with their jittered backoff)."""
        s = self.settings
        gap = 1.0 / s.connections.connect_rate
        registering = asyncio.Semaphore(s.connections.max_registering)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        attaching: list[asyncio.Task[None]] = []
        for a in self.agents:
            await registering.acquire()
            tg.create_task(a.uplink.run(), name=f"uplink:{a.host_id}")
            attaching.append(
                tg.create_task(self._consume_when_registered(a, registering), name=f"consume:{a.host_id}")
            )
            next_at = max(next_at + gap, loop.time() - 1.0)  # no burst to catch up after a wait
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.gather(*attaching)
        self.all_consuming_after_s = round(time.monotonic() - self.started_at, 2)
        # Thousands of agents' objects (uplinks, streams, queues, tasks) live as long as the
        # fleet: frozen, full collections no longer walk them (see GC_THRESHOLDS).
        gc.freeze()
        self._write_stats()
        say("fleet.ready", hosts=len(self.agents), after_s=self.all_consuming_after_s)

    async def _consume_when_registered(self, a: SimulatedAgent, registering: asyncio.Semaphore) -> None:
        # As the real agent: its queue is consumed once the controller knows the host.
        await a.uplink.registered.wait()
        registering.release()
        attempt = 0
        while True:
            try:
                await self.bus.attach(a.host_id, a.processor)
                a.consuming = True
                return
            except Exception as exc:
                attempt += 1
                delay = min(10.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning(
                    "fleet.consume_failed", host=a.host_id, error=str(exc) or repr(exc), retry_in_s=delay
                )
                await asyncio.sleep(delay)

    async def _stop_agents(self) -> None:
        # As the real agent: let in-flight commands finish (briefly), then close the streams.
        await asyncio.gather(*(a.processor.close(2.0) for a in self.agents))
        await asyncio.gather(*(a.uplink.close() for a in self.agents))
        await asyncio.gather(*(a.hypervisor.close() for a in self.agents))

    async def _metrics_loop(self) -> None:
        """One sample per host per interval, hosts spread evenly over the interval. Slices keep
        their schedule: a slice that starts late (a busy process wakes its timers late) is
        followed by the next ones at once until the loop is back on time, so every host still
        gets one sample per interval (a reset to "now" at every late wake-up lost those
        milliseconds each time: at 100 slices per interval a busy fleet offered 15% fewer
        samples than it said). Only a loop a whole interval behind skips ahead."""
        s = self.settings
        slices = max(1, min(100, len(self.agents)))
        groups = [self.agents[k::slices] for k in range(slices)]
        step = s.metrics.interval_s / slices
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            for group in groups:
                for a in group:
                    # The sampler runs when the stream gets to the message (see publish_metrics):
                    # a host whose stream is backed up costs nothing until then.
                    if a.uplink.connected:
                        a.uplink.publish_metrics(a.sampler)
                next_at += step
                now = loop.time()
                if next_at < now - s.metrics.interval_s:
                    next_at = now
                await asyncio.sleep(max(0.0, next_at - now))

    # -- stats --------------------------------------------------------------------------------

    def stats(self) -> dict[str, object]:
        agents = self.agents
        return {
            "hosts": len(agents),
            "registered": sum(1 for a in agents if a.uplink.sessions > 0),
            "connected": sum(1 for a in agents if a.uplink.connected),
            "consuming": sum(1 for a in agents if a.consuming),
            "sessions": sum(a.uplink.sessions for a in agents),
            "domains": sum(len(a.hypervisor.domains) for a in agents),
            "operations": sum(a.hypervisor.operations for a in agents),
            "reports_pending": sum(a.uplink.pending_reports for a in agents),
            "commands_in_flight": sum(a.processor.in_flight for a in agents),
            "metrics_sent": sum(a.uplink.metrics_sent for a in agents),
            "grpc_channels": self._channels.count,
            "all_consuming_after_s": self.all_consuming_after_s,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "rss_mib": _rss_mib(),
        }

    def _write_stats(self) -> None:
        path = self.settings.fleet.stats_file
        if not path:
            return
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.stats(), f)
        os.replace(tmp, path)

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.fleet.stats_interval_s)
            say("fleet.stats", **self.stats())
            self._write_stats()


def _rss_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


async def run(s: FleetSettings, *, stop: asyncio.Event | None = None) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    status = 0
    try:
        await Fleet(s).run(stop)
    except* Exception as failures:
        for failure in failures.exceptions:
            log.error("fleet.failed", error=repr(failure), exc_info=failure)
        status = 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return status


# Thousands of agents in one process: with CPython's default GC thresholds (700, 10, 10) the
# objects that live a second or so (samples, messages in flight, every agent's timers) reach the
# oldest generation, and each full collection walks every agent's objects: 40-55% of the fleet's
# time at 5,000 hosts. Larger young generations promote far less.
GC_THRESHOLDS = (50_000, 20, 10)


def main(argv: Sequence[str] | None = None) -> None:
    s = FleetSettings.load(argv)
    logs.configure(s.log.format, s.log.level)
    gc.set_threshold(*GC_THRESHOLDS)
    if s.fleet.state_dir:
        # Each host keeps its journal open (devcluster.simulation.host_state): one descriptor
        # per host, beyond a soft limit of 1,024 at fleet scale.
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sys.exit(uvloop.run(run(s)))
