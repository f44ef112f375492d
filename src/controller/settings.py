"""Controller settings: command-line flags, each defaulting to an OVERCAST_* variable."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    listen: str
    database_url: str
    amqp_url: str
    bus_prefix: str
    controller_id: str
    scheduler_workers: int
    scheduler_batch: int
    scheduler_fleet_refresh_s: float
    heartbeat_interval_s: float
    host_down_after_s: float
    metrics_interval_s: float
    metrics_stale_after_s: float
    metrics_ewma_alpha: float
    metrics_persist_interval_s: float
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    ram_weight: float
    placement_strategy: str
    cpu_weight: float
    load_weight: float
    load_target: float
    soft_affinity_weight: float
    soft_anti_affinity_weight: float
    host_subset_size: int
    log_format: str
    grace_s: float
    image_store: str
    image_max_gib: float
    outbox_relay: str
    scheduler: str
    vacuum_interval_s: float


def _env(name: str, default: str) -> str:
    return os.environ.get(f"OVERCAST_{name}", default)


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _open_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _scheduler_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--placement-strategy",
        choices=("spread", "pack"),
        default=_env("PLACEMENT_STRATEGY", "spread"),
        help="spread: emptiest hosts first; pack: fullest hosts first [OVERCAST_PLACEMENT_STRATEGY]",
    )
    for flag, env, default, what in (
        ("--cpu-weight", "CPU_WEIGHT", "1.0", "free-vcpus (CPU allocation) weigher multiplier"),
        ("--load-weight", "LOAD_WEIGHT", "1.0", "live CPU load weigher (pack: up to --load-target)"),
        ("--soft-affinity-weight", "SOFT_AFFINITY_WEIGHT", "10.0", "SOFT_AFFINITY weigher"),
        ("--soft-anti-affinity-weight", "SOFT_ANTI_AFFINITY_WEIGHT", "10.0", "SOFT_ANTI_AFFINITY weigher"),
    ):
        p.add_argument(flag, type=float, default=float(_env(env, default)), help=f"{what} [OVERCAST_{env}]")
    p.add_argument(
        "--load-target",
        type=_open_fraction,
        default=_env("LOAD_TARGET", "0.6"),  # a string default goes through `type` too
        help="CPU utilisation the load weigher fills hosts up to [OVERCAST_LOAD_TARGET]",
    )
    p.add_argument(
        "--host-subset-size",
        type=_positive(int),
        default=_env("HOST_SUBSET_SIZE", "1"),
        help="choose at random among this many best hosts [OVERCAST_HOST_SUBSET_SIZE]",
    )


def parse(argv: Sequence[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m controller", description="Overcast controller")
    p.add_argument(
        "--listen",
        default=_env("LISTEN", "127.0.0.1:50051"),
        help="gRPC address for the public API and agents [OVERCAST_LISTEN]",
    )
    p.add_argument(
        "--database-url",
        default=_env("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/overcast"),
        help="PostgreSQL URL; the database is created if missing [OVERCAST_DATABASE_URL]",
    )
    p.add_argument(
        "--amqp-url",
        default=_env("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        help="RabbitMQ URL [OVERCAST_AMQP_URL]",
    )
    p.add_argument(
        "--bus-prefix",
        default=_env("BUS_PREFIX", "overcast"),
        help="prefix of exchange and queue names [OVERCAST_BUS_PREFIX]",
    )
    p.add_argument("--controller-id", default=_env("CONTROLLER_ID", f"{socket.gethostname()}-{os.getpid()}"))
    p.add_argument("--scheduler-workers", type=_positive(int), default=int(_env("SCHEDULER_WORKERS", "2")))
    p.add_argument("--scheduler-batch", type=_positive(int), default=int(_env("SCHEDULER_BATCH", "1000")))
    p.add_argument(
        "--scheduler-fleet-refresh",
        type=_positive(float),
        dest="scheduler_fleet_refresh_s",
        default=float(_env("SCHEDULER_FLEET_REFRESH", "1.0")),
        help="seconds the scheduler's in-memory host snapshot is used before it is read again",
    )
    p.add_argument(
        "--heartbeat-interval",
        type=_positive(float),
        dest="heartbeat_interval_s",
        default=float(_env("HEARTBEAT_INTERVAL", "1.0")),
        help="seconds between agent heartbeats",
    )
    p.add_argument(
        "--host-down-after",
        type=_positive(float),
        dest="host_down_after_s",
        default=None,
        help="seconds without heartbeat before a host is DOWN (default: 3 heartbeat intervals)",
    )
    p.add_argument(
        "--cpu-allocation-ratio",
        type=_positive(float),
        default=float(_env("CPU_ALLOCATION_RATIO", "4.0")),
    )
    p.add_argument(
        "--ram-allocation-ratio",
        type=_positive(float),
        default=float(_env("RAM_ALLOCATION_RATIO", "1.0")),
    )
    p.add_argument(
        "--disk-allocation-ratio",
        type=_positive(float),
        default=float(_env("DISK_ALLOCATION_RATIO", "1.0")),
    )
    p.add_argument(
        "--ram-weight",
        type=float,
        default=float(_env("RAM_WEIGHT", "1.0")),
        help="free-RAM weigher multiplier (the placement strategy gives its sign) [OVERCAST_RAM_WEIGHT]",
    )
    _scheduler_flags(p)
    p.add_argument("--log-format", choices=("console", "json"), default=_env("LOG_FORMAT", "console"))
    p.add_argument(
        "--outbox-relay",
        choices=("process", "inline"),
        default=_env("OUTBOX_RELAY", "process"),
        help="publish the outbox from a child process (default) or on the controller's own event "
        "loop [OVERCAST_OUTBOX_RELAY]",
    )
    p.add_argument(
        "--scheduler",
        choices=("process", "inline"),
        default=_env("SCHEDULER", "process"),
        help="place servers from a child process with an event loop of its own (default; it reads "
        "the hosts' live load from shared memory) or on the controller's event loop [OVERCAST_SCHEDULER]",
    )
    p.add_argument(
        "--grace",
        type=_positive(float),
        dest="grace_s",
        default=5.0,
        help="seconds in-flight RPCs get at shutdown",
    )
    p.add_argument(
        "--image-store",
        default=_env("IMAGE_STORE", "./.overcast/images"),
        help="directory holding image data (shared by every controller replica) [OVERCAST_IMAGE_STORE]",
    )
    p.add_argument(
        "--image-max-gib",
        type=_positive(float),
        default=float(_env("IMAGE_MAX_GIB", "20")),
        help="largest image upload accepted, in GiB [OVERCAST_IMAGE_MAX_GIB]",
    )
    p.add_argument(
        "--metrics-interval",
        type=_positive(float),
        dest="metrics_interval_s",
        default=float(_env("METRICS_INTERVAL", "1.0")),
        help="seconds between the agents' metrics samples (as the agents are configured)",
    )
    p.add_argument(
        "--metrics-stale-after",
        type=_positive(float),
        dest="metrics_stale_after_s",
        default=None,
        help="seconds without a sample before a host's load is unknown (default: 3 metrics intervals)",
    )
    p.add_argument(
        "--metrics-ewma-alpha",
        type=_fraction,
        dest="metrics_ewma_alpha",
        default=_env("METRICS_EWMA_ALPHA", "0.3"),  # a string: argparse checks it with `type`
        help="weight of the newest sample in the smoothed CPU utilisation, in (0, 1]",
    )
    p.add_argument(
        "--metrics-persist-interval",
        type=_positive(float),
        dest="metrics_persist_interval_s",
        default=float(_env("METRICS_PERSIST_INTERVAL", "5.0")),
        help="seconds between metrics snapshots written to the database (shared with other replicas)",
    )
    p.add_argument(
        "--vacuum-interval",
        type=_not_negative,
        dest="vacuum_interval_s",
        default=_env("VACUUM_INTERVAL", "10"),
        help="seconds between checks for dead rows in the busiest tables (outbox, host_status,"
        " metrics, hosts, instances), which are vacuumed when they pile up; 0 leaves it to"
        " PostgreSQL's autovacuum",
    )
    ns = p.parse_args(argv)
    if ns.host_down_after_s is None:
        ns.host_down_after_s = 3 * ns.heartbeat_interval_s
    if ns.metrics_stale_after_s is None:
        ns.metrics_stale_after_s = 3 * ns.metrics_interval_s
    return Settings(**vars(ns))
