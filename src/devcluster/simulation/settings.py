"""Fleet simulation settings: flags, each defaulting to an OVERCAST_* environment variable
(the ones a real agent reads keep their meaning: controller, broker, bus prefix, queue type)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from daemon.bus_topology import HOST_QUEUE_TYPES


@dataclass(frozen=True)
class HostShape:
    """One kind of simulated host; `weight` is its share of the fleet."""

    vcpus: int
    memory_gib: int
    disk_gib: int
    weight: float = 1.0


@dataclass(frozen=True)
class FleetSettings:
    hosts: int
    host_prefix: str
    first_host: int
    controller: str
    amqp_url: str
    bus_prefix: str
    host_queue_type: str
    shapes: tuple[HostShape, ...]
    zones: tuple[str, ...]
    seed: int
    metrics_interval: float  # 0 = no metrics (heartbeats only)
    instance_metrics: bool  # per-instance samples inside each host sample
    op_delay: float
    connect_rate: float  # new streams per second while the fleet comes up
    max_registering: int  # streams waiting for Registered at once while the fleet comes up
    streams_per_channel: int
    amqp_connections: int
    consumers_per_channel: int
    prefetch: int
    heartbeat_interval: float
    stats_interval: float
    stats_file: str
    log_level: str

    def host_ids(self) -> list[str]:
        width = max(5, len(str(self.first_host + self.hosts - 1)))
        return [
            f"{self.host_prefix}-{i:0{width}d}" for i in range(self.first_host, self.first_host + self.hosts)
        ]


def parse_shape(text: str) -> HostShape:
    """VCPUS:MEMORY_GIB:DISK_GIB[:WEIGHT], e.g. 32:128:2000:0.7."""
    parts = text.strip().split(":")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"expected VCPUS:MEMORY_GIB:DISK_GIB[:WEIGHT], got {text!r}")
    try:
        vcpus, memory_gib, disk_gib = (int(p) for p in parts[:3])
        weight = float(parts[3]) if len(parts) == 4 else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"not numbers: {text!r}") from None
    if vcpus < 1 or memory_gib < 1 or disk_gib < 0 or not weight > 0:
        raise argparse.ArgumentTypeError(f"vcpus and memory must be >= 1, disk >= 0, weight > 0: {text!r}")
    return HostShape(vcpus, memory_gib, disk_gib, weight)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m devcluster.simulation",
        description=(
            "Fleet simulation: N simulated agents in one process, each with its own gRPC stream "
            "to the controller and its own command queue, over an in-memory hypervisor."
        ),
    )

    def e(var: str, default: str) -> str:
        return env.get(var, default)

    p.add_argument("--hosts", type=_positive_int, default=e("OVERCAST_SIM_HOSTS", "100"))
    p.add_argument(
        "--host-prefix", default=e("OVERCAST_SIM_HOST_PREFIX", "sim"), help="host ids: PREFIX-00001…"
    )
    p.add_argument(
        "--first-host", type=_positive_int, default=1, help="number of the first host (to run several fleets)"
    )
    p.add_argument(
        "--controller", default=e("OVERCAST_CONTROLLER", "127.0.0.1:50051"), help="HOST:PORT[,HOST:PORT]"
    )
    p.add_argument("--amqp-url", default=e("OVERCAST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    p.add_argument("--bus-prefix", default=e("OVERCAST_BUS_PREFIX", "overcast"))
    p.add_argument(
        "--host-queue-type",
        choices=HOST_QUEUE_TYPES,
        default=e("OVERCAST_HOST_QUEUE_TYPE", "quorum"),
        help="as the controller's; 'transient' lets one broker hold thousands of host queues",
    )
    p.add_argument(
        "--shape",
        type=parse_shape,
        action="append",
        dest="shapes",
        help="VCPUS:MEMORY_GIB:DISK_GIB[:WEIGHT] of a kind of host; repeat for a mix (default 32:128:2000)",
    )
    p.add_argument(
        "--zones", default=e("OVERCAST_SIM_ZONES", "az1"), help="comma-separated; hosts take them in turn"
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the shape mix and the load noise")
    p.add_argument(
        "--metrics-interval",
        type=_non_negative,
        default=e("OVERCAST_METRICS_INTERVAL", "1.0"),
        help="seconds between each host's metrics samples; 0: heartbeats only",
    )
    p.add_argument(
        "--no-instance-metrics",
        dest="instance_metrics",
        action="store_false",
        help="host totals only in the samples (cheaper for very large fleets)",
    )
    p.add_argument(
        "--op-delay", type=_non_negative, default=0.0, help="seconds each hypervisor operation takes"
    )
    p.add_argument(
        "--connect-rate", type=_positive, default=500.0, help="new agent streams per second at start"
    )
    p.add_argument(
        "--max-registering",
        type=_positive_int,
        default=200,
        help="registrations outstanding at once while the fleet comes up",
    )
    p.add_argument(
        "--streams-per-channel",
        type=_positive_int,
        default=500,
        help="agent streams sharing one gRPC channel (one TCP connection, HTTP/2 streams)",
    )
    p.add_argument("--amqp-connections", type=_positive_int, default=2)
    p.add_argument("--consumers-per-channel", type=_positive_int, default=200)
    p.add_argument("--prefetch", type=_positive_int, default=16, help="unacknowledged commands per host")
    p.add_argument(
        "--heartbeat-interval",
        type=_positive,
        default=e("OVERCAST_HEARTBEAT_INTERVAL", "1.0"),
        help="until the controller says otherwise",
    )
    p.add_argument("--stats-interval", type=_positive, default=5.0, help="seconds between fleet.stats lines")
    p.add_argument("--stats-file", default="", help="also write the latest stats here as JSON")
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="warning",
        help="of the per-host machinery (uplinks, commands); fleet lines are always printed",
    )
    return p


def parse_settings(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> FleetSettings:
    a = build_parser(os.environ if env is None else env).parse_args(argv)
    zones = tuple(z.strip() for z in a.zones.split(",") if z.strip()) or ("az1",)
    return FleetSettings(
        hosts=int(a.hosts),
        host_prefix=a.host_prefix,
        first_host=a.first_host,
        controller=a.controller,
        amqp_url=a.amqp_url,
        bus_prefix=a.bus_prefix,
        host_queue_type=a.host_queue_type,
        shapes=tuple(a.shapes or [HostShape(32, 128, 2000)]),
        zones=zones,
        seed=a.seed,
        metrics_interval=float(a.metrics_interval),
        instance_metrics=a.instance_metrics,
        op_delay=a.op_delay,
        connect_rate=a.connect_rate,
        max_registering=a.max_registering,
        streams_per_channel=a.streams_per_channel,
        amqp_connections=a.amqp_connections,
        consumers_per_channel=a.consumers_per_channel,
        prefetch=a.prefetch,
        heartbeat_interval=float(a.heartbeat_interval),
        stats_interval=a.stats_interval,
        stats_file=a.stats_file,
        log_level=a.log_level,
    )
