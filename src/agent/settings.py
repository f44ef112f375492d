"""Agent settings: command-line flags, each defaulting to an OVERCAST_* environment variable."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    host_id: str
    controller: str
    amqp_url: str
    bus_prefix: str
    libvirt_uri: str
    availability_zone: str
    disk_gib: int
    heartbeat_interval: float
    metrics_interval: float  # 0 = no metrics (heartbeats only)
    admin_listen: str  # host:port; empty = admin service disabled
    stop_timeout: float
    shutdown_grace: float
    prefetch: int
    log_format: str
    log_level: str
    # QEMU hosts (agent.images, agent.kvm_probe, hypervisor.instance_files):
    state_dir: str = "/var/lib/overcast/agent"
    image_cache_max_age: float = 86400.0  # seconds an unused cached image is kept
    network: str = ""  # libvirt network for instance NICs; empty = no NIC
    domain_type: str = "auto"  # auto (probe KVM) | kvm | qemu
    # quorum | classic | transient: must match the controller's --host-queue-type
    host_queue_type: str = "quorum"


def _at_least(minimum: float, kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its error message
    return parse


def _positive_seconds(text: str) -> float:
    value = _at_least(0, float)(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text.strip()


def _host_port_or_empty(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return text


def _one_of(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in options:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(options)}; got {text!r}")
        return value

    parse.__name__ = "choice"
    return parse


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent",
        description="Overcast hypervisor agent: one per host, drives libvirt for the controller.",
    )

    def flag(name: str, var: str, default: str, help_: str, **kwargs: object) -> None:
        # argparse runs string defaults through `type`, so a bad env value fails like a bad flag.
        parser.add_argument(
            name,
            default=env.get(var, default),
            help=f"{help_} (env {var})",
            **kwargs,  # type: ignore[arg-type]
        )

    flag("--host-id", "OVERCAST_HOST_ID", socket.gethostname(), "host id", type=_non_empty)
    flag(
        "--controller",
        "OVERCAST_CONTROLLER",
        "127.0.0.1:50051",
        "controller gRPC address; several replicas as HOST:PORT,HOST:PORT",
        type=_non_empty,
    )
    flag(
        "--amqp-url",
        "OVERCAST_AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/",
        "RabbitMQ URL",
        type=_non_empty,
    )
    flag("--bus-prefix", "OVERCAST_BUS_PREFIX", "overcast", "exchange/queue name prefix", type=_non_empty)
    flag("--libvirt-uri", "OVERCAST_LIBVIRT_URI", "test:///default", "libvirt URI", type=_non_empty)
    flag("--availability-zone", "OVERCAST_AVAILABILITY_ZONE", "az1", "availability zone", type=_non_empty)
    flag("--disk-gib", "OVERCAST_DISK_GIB", "1000", "disk capacity reported, GiB", type=_at_least(0, int))
    flag(
        "--heartbeat-interval",
        "OVERCAST_HEARTBEAT_INTERVAL",
        "1.0",
        "seconds between heartbeats unless the controller says otherwise",
        type=_positive_seconds,
    )
    flag(
        "--metrics-interval",
        "OVERCAST_METRICS_INTERVAL",
        "1.0",
        "seconds between metrics samples (each also counts as a heartbeat); 0 disables them",
        type=_at_least(0, float),
    )
    flag(
        "--admin-listen",
        "OVERCAST_AGENT_ADMIN",
        "",
        "HOST:PORT for the AgentAdmin gRPC service; empty disables it",
        type=_host_port_or_empty,
    )
    flag(
        "--stop-timeout",
        "OVERCAST_STOP_TIMEOUT",
        "5.0",
        "seconds a guest gets to shut down before it is destroyed",
        type=_at_least(0, float),
    )
    flag(
        "--shutdown-grace",
        "OVERCAST_SHUTDOWN_GRACE",
        "5.0",
        "seconds in-flight commands get to finish when the agent stops",
        type=_at_least(0, float),
    )
    flag("--prefetch", "OVERCAST_PREFETCH", "64", "unacknowledged commands in flight", type=_at_least(1, int))
    flag(
        "--host-queue-type",
        "OVERCAST_HOST_QUEUE_TYPE",
        "quorum",
        "the host's command queue: quorum, classic or transient (simulations); as the controller's",
        type=_one_of("quorum", "classic", "transient"),
    )
    flag(
        "--log-format",
        "OVERCAST_LOG_FORMAT",
        "console",
        "log format: console|json",
        type=_one_of("console", "json"),
    )
    flag(
        "--log-level",
        "OVERCAST_LOG_LEVEL",
        "info",
        "log level",
        type=_one_of("debug", "info", "warning", "error"),
    )
    flag(
        "--state-dir",
        "OVERCAST_STATE_DIR",
        "/var/lib/overcast/agent",
        "QEMU hosts: image cache and instance files (disks, console logs)",
        type=_non_empty,
    )
    flag(
        "--image-cache-max-age",
        "OVERCAST_IMAGE_CACHE_MAX_AGE",
        "86400",
        "seconds a cached image no instance uses is kept",
        type=_positive_seconds,
    )
    flag("--network", "OVERCAST_NETWORK", "", "libvirt network for instance NICs; empty: no NIC")
    flag(
        "--domain-type",
        "OVERCAST_DOMAIN_TYPE",
        "auto",
        "QEMU hosts: kvm, qemu (TCG) or auto (kvm only when a probe guest runs under KVM)",
        type=_one_of("auto", "kvm", "qemu"),
    )
    return parser


def parse_settings(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Parse flags; on bad input argparse prints usage and exits with status 2."""
    args = build_parser(os.environ if env is None else env).parse_args(argv)
    return Settings(
        host_id=args.host_id,
        controller=args.controller,
        amqp_url=args.amqp_url,
        bus_prefix=args.bus_prefix,
        libvirt_uri=args.libvirt_uri,
        availability_zone=args.availability_zone,
        disk_gib=int(args.disk_gib),
        heartbeat_interval=float(args.heartbeat_interval),
        metrics_interval=float(args.metrics_interval),
        admin_listen=args.admin_listen,
        stop_timeout=float(args.stop_timeout),
        shutdown_grace=float(args.shutdown_grace),
        prefetch=int(args.prefetch),
        host_queue_type=args.host_queue_type,
        log_format=args.log_format,
        log_level=args.log_level,
        state_dir=args.state_dir,
        image_cache_max_age=float(args.image_cache_max_age),
        network=args.network.strip(),
        domain_type=args.domain_type,
    )
