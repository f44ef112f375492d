"""Composition root: `build` wires storage, bus, services and the gRPC API by hand; `run` runs
them in one TaskGroup and shuts down in order (stop RPCs with a grace period, then bus, then
database)."""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import asyncpg
import grpc
import structlog
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from controller.api import reflection
from controller.api.admission import Admission, Gate
from controller.api.agents import AgentGatewayApi
from controller.api.catalog import FlavorApi
from controller.api.draining import StreamDrain
from controller.api.hosts import HostApi
from controller.api.images import ImageApi
from controller.api.malformed import MalformedRequests
from controller.api.scaling_groups import ScalingGroupApi
from controller.api.server_groups import ServerGroupApi
from controller.api.servers import ServerApi
from controller.bus.relay import OutboxRelay
from controller.processes import child_process, connections, relay_process, scheduler_process
from controller.processes.load_board import LoadBoard
from controller.processes.runtime import tune_gc
from controller.services.autoscaler import Autoscaler
from controller.services.catalog import CatalogService
from controller.services.command_expiry import CommandExpiry
from controller.services.console import ConsoleRelay, ConsoleService
from controller.services.host_failure import HostFailures
from controller.services.hosts import AllocationRatios, HostService
from controller.services.images import ImageService
from controller.services.listing import ServerListing
from controller.services.load_view import LoadView
from controller.services.metrics import MetricsService
from controller.services.scaling_groups import ScalingGroupService
from controller.services.server_groups import ServerGroupService
from controller.services.servers import ServerService
from controller.services.watch import ServerChangeFeed
from controller.settings import ControllerSettings
from controller.storage import connection_budget, database, upkeep
from controller.storage.catalog import PgCatalogStore
from controller.storage.host_failure import PgHostFailureStore
from controller.storage.hosts import PgHostStore
from controller.storage.image_store import FileImageStore
from controller.storage.image_uploads import PgImageUploads
from controller.storage.instances import PgInstanceStore
from controller.storage.leadership import Role, lead
from controller.storage.metrics import PgMetricsStore
from controller.storage.notifications import Listener
from controller.storage.scaling_groups import PgScalingGroupStore
from controller.storage.scaling_rounds import PgAutoscalerStore
from controller.storage.scheduling import PgSchedulingStore
from controller.storage.server_groups import PgServerGroupStore
from controller.storage.server_listing import PgServerListing
from daemon import bus_topology, logs
from daemon.bus_topology import declare_exchanges, declare_host_queue
from daemon.supervision import exit_on_crash, supervise
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc
from overcast.v1 import (
    flavor_pb2,
    flavor_pb2_grpc,
    host_pb2,
    host_pb2_grpc,
    image_pb2,
    image_pb2_grpc,
    scaling_group_pb2,
    scaling_group_pb2_grpc,
    server_group_pb2,
    server_group_pb2_grpc,
    server_pb2,
    server_pb2_grpc,
)

log = structlog.get_logger("controller")

HOST_QUEUE_CHANNELS = 16  # AMQP channels declaring host queues as agents register (see _wire)

# Inbound data an agent stream may have waiting in the controller before the agent's writes
# wait (HTTP/2 flow control): the controller holds thousands of agent streams, and when it
# falls behind, whatever their windows allow piles up in its memory (gRPC's BDP probing
# grows each window to 4 MiB and more). A fixed window bounds it, and the agents' own
# outboxes then coalesce what waits (the latest metrics replace older ones). Not a message
# size limit: a reader waiting for a larger message is given the window to receive it whole.
STREAM_WINDOW_BYTES = 16 * 1024

SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", STREAM_WINDOW_BYTES),
    # Agents and watchers hold long streams open; let their keepalive pings through.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
]

SERVICE_NAMES = [
    server_pb2.DESCRIPTOR.services_by_name["ServerService"].full_name,
    flavor_pb2.DESCRIPTOR.services_by_name["FlavorService"].full_name,
    image_pb2.DESCRIPTOR.services_by_name["ImageService"].full_name,
    host_pb2.DESCRIPTOR.services_by_name["HostService"].full_name,
    server_group_pb2.DESCRIPTOR.services_by_name["ServerGroupService"].full_name,
    scaling_group_pb2.DESCRIPTOR.services_by_name["ScalingGroupService"].full_name,
    agent_pb2.DESCRIPTOR.services_by_name["AgentGateway"].full_name,
]


class StartupError(Exception):
    pass


async def _connect_services(
    s: ControllerSettings,
) -> tuple[asyncpg.Pool, aio_pika.abc.AbstractRobustConnection]:
    url = s.database.url
    try:
        await database.ensure_database(url)
        applied = await database.migrate(url)
        await connection_budget.check(url, connections.needed(s), s.database.connection_check)
        pool = await database.open_pool(url, max_size=s.database.pool_size)
    except ValueError as exc:  # a database name it will not create
        raise StartupError(f"--database-url {url}: {exc}") from exc
    except connection_budget.DoesNotFit as exc:
        raise StartupError(str(exc)) from exc
    except (OSError, asyncpg.PostgresError) as exc:
        raise StartupError(
            f"cannot use PostgreSQL at {url}: {exc}. Is it running? (docker compose up -d postgres)"
        ) from exc
    log.info("database.ready", migrations_applied=applied)
    try:
        amqp = await bus_topology.connect(s.bus.amqp_url, timeout=10)
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        await pool.close()
        raise StartupError(
            f"cannot reach RabbitMQ at {s.bus.amqp_url}: {exc}. Is it running? "
            "(docker compose up -d rabbitmq)"
        ) from exc
    return pool, amqp


@dataclass
class Services:
    """What `build` wires and `run` runs: the gRPC server (not started yet), the background
    loops, and the connections to close at the end."""

    server: grpc.aio.Server
    health: health.aio.HealthServicer
    loops: dict[str, Callable[[], Awaitable[None]]]
    ready: asyncio.Event  # set once the database listener is listening: RPCs wait for it
    amqp: aio_pika.abc.AbstractRobustConnection
    pool: asyncpg.Pool
    board: LoadBoard | None  # the scheduler process's view of the hosts' load
    streams: StreamDrain  # the long streams, ended as soon as the controller stops

    async def close(self) -> None:
        """Bus, then database, then the board."""
        await self.amqp.close()
        await self.pool.close()
        if self.board is not None:
            self.board.close()


async def build(s: ControllerSettings) -> Services:
    """Connect to PostgreSQL and RabbitMQ and wire storage, bus, services and the gRPC API.
    Nothing runs yet; a StartupError says what is missing."""
    image_store = FileImageStore(Path(s.images.store))
    try:
        image_store.prepare()
    except OSError as exc:
        raise StartupError(f"cannot use the image store {image_store.root}: {exc}") from exc
    pool, amqp = await _connect_services(s)
    try:
        return await _wire(s, image_store, pool, amqp)
    except BaseException:
        await amqp.close()
        await pool.close()
        raise


async def _wire(
    s: ControllerSettings,
    image_store: FileImageStore,
    pool: asyncpg.Pool,
    amqp: aio_pika.abc.AbstractRobustConnection,
) -> Services:
    topo = relay_process.topology(s)
    admin_channel = await amqp.channel()
    await declare_exchanges(admin_channel, topo)
    # A registration waits for its host's queue (declare, then bind). A channel answers its
    # methods one at a time, so on one channel a fleet coming up queued for it: at 10,000 hosts
    # on a busy 2-core VM (load 10), 3-8 s a registration, ~45 a second, until registrations
    # outlasted the agents' 10 s and none got through. Several channels declare side by side.
    declare_channels = [admin_channel, *[await amqp.channel() for _ in range(HOST_QUEUE_CHANNELS - 1)]]
    turn = itertools.count()

    async def ensure_host_queue(host_id: str) -> None:
        # The agent re-declares its own queue after a reconnect (and durable queues outlive a
        # broker restart): the controller does not keep thousands of them to re-declare.
        channel = declare_channels[next(turn) % len(declare_channels)]
        await declare_host_queue(channel, topo, host_id, restore=False)

    instances = PgInstanceStore(pool)
    catalog_store = PgCatalogStore(pool)
    server_groups = PgServerGroupStore(pool)
    scaling_groups = PgScalingGroupStore(pool)
    servers = ServerService(instances, catalog_store, server_groups)
    catalog = CatalogService(catalog_store)
    images = ImageService(
        catalog_store,
        PgImageUploads(s.database.url),
        image_store,
        max_image_bytes=int(s.images.max_gib * 1024**3),
    )
    console_relay = ConsoleRelay()
    placement = s.placement
    hosts = HostService(
        PgHostStore(pool),
        servers,
        AllocationRatios(
            placement.cpu_allocation_ratio, placement.ram_allocation_ratio, placement.disk_allocation_ratio
        ),
        s.heartbeats.policy(),
    )
    listing = ServerListing(PgServerListing(pool))
    feed = ServerChangeFeed(listing)
    # The live load view (agents' metrics, smoothed); the scheduler reads load_view.fresh_cpu_utils(hosts).
    load_view = LoadView(
        stale_after_s=s.metrics.stale_after_s,
        alpha=s.metrics.ewma_alpha,
        remote_grace_s=2 * s.metrics.persist_interval_s,
    )
    metrics = MetricsService(
        load_view, PgMetricsStore(pool), instances, persist_interval_s=s.metrics.persist_interval_s
    )
    notified: dict[str, Callable[[str], None]] = {"overcast_instances": feed.notified}
    run_scheduler: Callable[[], Awaitable[None]]
    board: LoadBoard | None = None
    if s.scheduler.mode == "process":
        board = LoadBoard()
        load_view.on_load = board.post
        run_scheduler = functools.partial(scheduler_process.run_child, s, board)
    else:
        workers = scheduler_process.scheduler_workers(
            s,
            PgSchedulingStore(pool),
            heartbeat_window_s=hosts.heartbeat_window_s,
            load_of=load_view.fresh_cpu_utils,
        )
        notified["overcast_pending"] = lambda _: workers.wake()
        run_scheduler = workers.run
    listener = Listener(s.database.url, notified, on_reconnect=feed.interrupted)
    run_relay: Callable[[], Awaitable[None]]
    if s.bus.outbox_relay == "process":
        run_relay = functools.partial(relay_process.run_child, s)
    else:
        run_relay = OutboxRelay(s.database.url, amqp, topo, relay_process.publisher(s)).run

    autoscaler = Autoscaler(
        PgAutoscalerStore(pool),
        servers,
        metrics,
        load_view,
        period_s=s.autoscaler.period_s,
        metric_max_age_s=s.autoscaler.metric_max_age_s,
        activity_retention_s=s.autoscaler.activity_retention_s,
    )
    notified["overcast_scaling"] = lambda _: autoscaler.wake()  # before the listener runs
    # Garbage is answered INVALID_ARGUMENT before it can take a place in the admission gate.
    streams = StreamDrain(s.api.controller_id)
    server = grpc.aio.server(
        options=SERVER_OPTIONS, interceptors=[streams, MalformedRequests(), _admission(s)]
    )
    console = ConsoleService(instances, console_relay)
    server_pb2_grpc.add_ServerServiceServicer_to_server(
        ServerApi(servers, feed, console, metrics, listing=listing), server
    )
    flavor_pb2_grpc.add_FlavorServiceServicer_to_server(FlavorApi(catalog), server)
    image_pb2_grpc.add_ImageServiceServicer_to_server(ImageApi(images), server)
    host_failures = HostFailures(PgHostFailureStore(pool), instances, s.host_failure.grace_s)
    host_pb2_grpc.add_HostServiceServicer_to_server(HostApi(hosts, metrics, host_failures), server)
    server_group_pb2_grpc.add_ServerGroupServiceServicer_to_server(
        ServerGroupApi(ServerGroupService(server_groups)), server
    )
    scaling_group_pb2_grpc.add_ScalingGroupServiceServicer_to_server(
        ScalingGroupApi(ScalingGroupService(scaling_groups, catalog_store, servers)), server
    )
    agent_pb2_grpc.add_AgentGatewayServicer_to_server(
        AgentGatewayApi(
            hosts,
            servers,
            s.api.controller_id,
            ensure_host_queue,
            console=console_relay,
            load_view=load_view,
            command_expiry_s=s.commands.expiry_s,
        ),
        server,
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable([*SERVICE_NAMES, health.SERVICE_NAME], server)
    if server.add_insecure_port(s.api.listen) == 0:
        if board is not None:
            board.close()
        raise StartupError(f"cannot listen on {s.api.listen}")

    loops: dict[str, Callable[[], Awaitable[None]]] = {
        "listener": listener.run,
        "watch-feed": feed.run,
        "scheduler": run_scheduler,
        "outbox-relay": run_relay,
        "heartbeats": hosts.flush_heartbeats,
        "metrics-persist": metrics.persist_forever,
        "autoscaler": lambda: lead(
            s.database.url,
            Role.AUTOSCALER,
            lambda _conn: autoscaler.run(),
        ),
        "host-monitor": lambda: lead(
            s.database.url,
            Role.HOST_MONITOR,
            lambda _conn: hosts.monitor(),
        ),
    }
    if s.commands.expiry_s > 0:
        expiry = CommandExpiry(instances, s.commands.expiry_s)
        loops["command-expiry"] = lambda: lead(
            s.database.url, Role.COMMAND_EXPIRY, lambda _conn: expiry.run()
        )
    if s.host_failure.grace_s > 0:
        loops["host-failure"] = lambda: lead(
            s.database.url, Role.HOST_FAILURE, lambda _conn: host_failures.run()
        )
    if board is not None:
        loops["scheduler-heartbeat-window"] = functools.partial(
            board.post_heartbeat_window, hosts.heartbeat_window_s
        )
    # Vacuuming may be left to autovacuum (0); request ids are forgotten in any case.
    vacuum_s = s.database.vacuum_interval_s
    loops["table-upkeep"] = lambda: lead(
        s.database.url,
        Role.TABLE_UPKEEP,
        lambda conn: upkeep.keep_tables(
            conn,
            vacuum_s or upkeep.PURGE_INTERVAL_S,
            vacuum=vacuum_s > 0,
            request_id_retention_s=s.api.request_id_retention_s,
        ),
    )
    return Services(server, health_servicer, loops, listener.ready, amqp, pool, board, streams)


def _admission(s: ControllerSettings) -> Admission:
    a = s.admission
    return Admission(
        Gate(a.max_in_flight, a.max_queued, a.max_wait_s),
        max_streams=a.max_streams,
        max_uploads=a.max_uploads,
        retry_after_s=a.retry_after_s,
        controller_id=s.api.controller_id,
    )


async def run(s: ControllerSettings, services: Services) -> None:
    """Run the loops, serve once the listener is ready, and on SIGINT/SIGTERM shut down in
    order: stop RPCs (with a grace period), then the loops, then bus and database."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    server = services.server
    try:
        async with asyncio.TaskGroup() as tg:
            loops = services.loops.items()
            background = [tg.create_task(supervise(n, fn, child_process.LOOPS), name=n) for n, fn in loops]
            await services.ready.wait()
            await server.start()
            gc.freeze()  # see controller.processes.runtime.GC_THRESHOLDS
            for name in ("", *SERVICE_NAMES):
                await services.health.set(name, health_pb2.HealthCheckResponse.SERVING)
            log.info(
                "controller.serving",
                listen=s.api.listen,
                controller_id=s.api.controller_id,
                bus_prefix=s.bus.prefix,
            )
            await stop.wait()
            log.info("controller.stopping")
            await services.health.enter_graceful_shutdown()
            stopping = asyncio.create_task(server.stop(s.api.grace_s))
            await asyncio.sleep(0)  # new calls are refused from here: agents go elsewhere
            services.streams.end()  # see controller.api.draining
            await stopping
            for t in background:
                t.cancel()
    finally:
        await services.close()
        log.info("controller.stopped")


async def serve(s: ControllerSettings) -> None:
    await run(s, await build(s))


def main(argv: Sequence[str] | None = None) -> None:
    s = ControllerSettings.load(argv)
    logs.configure(s.log.format, s.log.level, controller=s.api.controller_id)
    tune_gc()
    with exit_on_crash("controller"):
        try:
            uvloop.run(serve(s))
        except StartupError as exc:
            log.error("controller.startup_failed", error=str(exc))
            sys.exit(1)
