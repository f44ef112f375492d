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
    heartbeat_interval_s: float
    host_down_after_s: float
    cpu_allocation_ratio: float
    ram_allocation_ratio: float
    disk_allocation_ratio: float
    ram_weight: float
    log_format: str
    grace_s: float


def _env(name: str, default: str) -> str:
    return os.environ.get(f"OVERCAST_{name}", default)


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


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
    p.add_argument("--scheduler-batch", type=_positive(int), default=int(_env("SCHEDULER_BATCH", "100")))
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
        help="free-RAM weigher multiplier: positive spreads, negative packs",
    )
    p.add_argument("--log-format", choices=("console", "json"), default=_env("LOG_FORMAT", "console"))
    p.add_argument(
        "--grace",
        type=_positive(float),
        dest="grace_s",
        default=5.0,
        help="seconds in-flight RPCs get at shutdown",
    )
    ns = p.parse_args(argv)
    if ns.host_down_after_s is None:
        ns.host_down_after_s = 3 * ns.heartbeat_interval_s
    return Settings(**vars(ns))
