"""Agent settings: groups of typed, bounded settings (see daemon.settings for how each one is
named as a flag, an OVERCAST_* variable and a config file key). docs/configuration.md is
generated from these models (`make config-docs`)."""

from __future__ import annotations

import socket
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from daemon.settings import (
    BusSettings,
    DaemonSettings,
    Group,
    HeartbeatSettings,
    LogSettings,
    MetricsSettings,
    NonEmpty,
    setting,
)


def _host_port_or_empty(text: str) -> str:
    text = text.strip()
    if text:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be HOST:PORT, or empty for none")
    return text


class HostSettings(Group):
    """Host: what this hypervisor host is called and offers."""

    id: NonEmpty = setting(
        default_factory=socket.gethostname, default_text="the hostname", name="host-id", help="host id"
    )
    availability_zone: NonEmpty = setting("az1", help="availability zone")
    disk_gib: int = setting(1000, ge=0, unit="GiB", help="disk capacity reported")


class HypervisorSettings(Group):
    """Hypervisor: libvirt, and on QEMU hosts where guests' files live."""

    libvirt_uri: NonEmpty = setting("test:///default", help="libvirt URI (qemu:///system boots real guests)")
    domain_type: Literal["auto", "kvm", "qemu"] = setting(
        "auto", help="QEMU hosts: kvm, qemu (TCG), or auto (kvm when a probe guest runs under KVM)"
    )
    state_dir: NonEmpty = setting(
        "/var/lib/overcast/agent", help="QEMU hosts: image cache and instance files (disks, console logs)"
    )
    network: Annotated[str, AfterValidator(str.strip)] = setting(
        "", help="libvirt network for instance NICs; empty: no NIC"
    )
    image_cache_max_age_s: float = setting(86400.0, gt=0, help="time a cached image no instance uses is kept")
    stop_timeout_s: float = setting(5.0, ge=0, help="time a guest gets to shut down before it is destroyed")


class ControllerLinkSettings(Group):
    """Controller: where this agent reports."""

    address: NonEmpty = setting(
        "127.0.0.1:50051", name="controller", help="controller gRPC address; replicas as HOST:PORT,HOST:PORT"
    )


class AdminSettings(Group):
    """Admin: the agent's own gRPC service (what libvirt itself says)."""

    listen: Annotated[str, AfterValidator(_host_port_or_empty)] = setting(
        "",
        name="admin-listen",
        allowed="HOST:PORT, or empty",
        help="AgentAdmin gRPC service address; empty: none",
    )


class CommandSettings(Group):
    """Commands: what the agent takes from its queue."""

    prefetch: int = setting(64, ge=1, help="unacknowledged commands in flight")
    shutdown_grace_s: float = setting(
        5.0, ge=0, help="time in-flight commands get to finish when the agent stops"
    )


class AgentSettings(DaemonSettings):
    prog = "overcast agent"
    command = "python -m agent"
    summary = "The Overcast hypervisor agent: one per host, drives libvirt for the controller."

    host: HostSettings = Field(default_factory=HostSettings)
    hypervisor: HypervisorSettings = Field(default_factory=HypervisorSettings)
    controller: ControllerLinkSettings = Field(default_factory=ControllerLinkSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    heartbeats: HeartbeatSettings = Field(default_factory=HeartbeatSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    commands: CommandSettings = Field(default_factory=CommandSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    log: LogSettings = Field(default_factory=LogSettings)
