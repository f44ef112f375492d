"""Fleet simulation settings, named as the daemons' (daemon.settings): the ones a real agent
reads keep their group, name and meaning (controller, bus, heartbeats, metrics, log); the
fleet's own variables are OVERCAST_SIM_*."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from agent.settings import ControllerLinkSettings
from daemon.settings import (
    BusSettings,
    DaemonSettings,
    Group,
    HeartbeatSettings,
    LogLevel,
    LogSettings,
    MetricsSettings,
    NonEmpty,
    setting,
)


class HostShape(BaseModel):
    """One kind of simulated host; `weight` is its share of the fleet."""

    model_config = ConfigDict(frozen=True)

    vcpus: int
    memory_gib: int
    disk_gib: int
    weight: float = 1.0

    def __str__(self) -> str:
        return f"{self.vcpus}:{self.memory_gib}:{self.disk_gib}:{self.weight:g}"


def parse_shape(text: str) -> HostShape:
    """VCPUS:MEMORY_GIB:DISK_GIB[:WEIGHT], e.g. 32:128:2000:0.7."""
    parts = text.strip().split(":")
    if len(parts) not in (3, 4):
        raise ValueError("must be VCPUS:MEMORY_GIB:DISK_GIB[:WEIGHT]")
    try:
        vcpus, memory_gib, disk_gib = (int(p) for p in parts[:3])
        weight = float(parts[3]) if len(parts) == 4 else 1.0
    except ValueError:
        raise ValueError("must be VCPUS:MEMORY_GIB:DISK_GIB[:WEIGHT], in numbers") from None
    if vcpus < 1 or memory_gib < 1 or disk_gib < 0 or not weight > 0:
        raise ValueError("must have vcpus and memory >= 1, disk >= 0, weight > 0")
    return HostShape(vcpus=vcpus, memory_gib=memory_gib, disk_gib=disk_gib, weight=weight)


def _items(value: Any) -> Any:
    """A list from a flag repeated, a comma-separated variable, or a TOML array."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return value
    items: list[Any] = []
    for v in value:
        items += [part.strip() for part in v.split(",") if part.strip()] if isinstance(v, str) else [v]
    return items


def _shapes(value: Any) -> Any:
    items = _items(value)
    if isinstance(items, list):
        return [parse_shape(v) if isinstance(v, str) else v for v in items]
    return items


def _non_empty(value: tuple[Any, ...]) -> tuple[Any, ...]:
    if not value:
        raise ValueError("must not be empty")
    return value


Shapes = Annotated[tuple[HostShape, ...], BeforeValidator(_shapes), AfterValidator(_non_empty)]
Zones = Annotated[tuple[str, ...], BeforeValidator(_items), AfterValidator(_non_empty)]


class FleetGroup(Group):
    variable_prefix: ClassVar[str] = "SIM_"


class FleetHostSettings(FleetGroup):
    """Fleet: the simulated hosts."""

    hosts: int = setting(100, ge=1, help="simulated hosts (agents) in this process")
    host_prefix: NonEmpty = setting("sim", help="host ids: PREFIX-00001, ...")
    first_host: int = setting(1, ge=1, help="number of the first host (to run several fleets)")
    shapes: Shapes = setting(
        (HostShape(vcpus=32, memory_gib=128, disk_gib=2000),),
        name="shape",
        allowed="VCPUS:MEMORY_GIB:DISK_GIB[:WEIGHT]; repeat the flag (or comma-separate) for a mix",
        help="a kind of host (weight: its share of the fleet)",
    )
    zones: Zones = setting(
        ("az1",), allowed="comma-separated names", help="availability zones; hosts take them in turn"
    )
    seed: int = setting(1, help="seed of the shape mix and the load noise")
    op_delay_s: float = setting(0.0, ge=0, help="time each hypervisor operation takes")
    state_dir: str = setting(
        "",
        help="each host's domains persist in DIR/HOST.json, so outlive this process (as libvirtd's"
        " outlive an agent); empty: in memory, lost with the process",
    )
    instance_metrics: bool = setting(
        True, help="per-instance samples in each host's (off: host totals only, cheaper)"
    )
    stats_interval_s: float = setting(5.0, gt=0, help="time between fleet.stats lines")
    stats_file: str = setting("", help="also write the latest stats here as JSON; empty: no file")

    def host_ids(self) -> list[str]:
        width = max(5, len(str(self.first_host + self.hosts - 1)))
        return [
            f"{self.host_prefix}-{i:0{width}d}" for i in range(self.first_host, self.first_host + self.hosts)
        ]


class FleetConnectionSettings(FleetGroup):
    """Connections: how the simulated agents share sockets."""

    connect_rate: float = setting(500.0, gt=0, help="new agent streams per second while the fleet comes up")
    max_registering: int = setting(
        200, ge=1, help="registrations outstanding at once while the fleet comes up"
    )
    streams_per_channel: int = setting(
        500, ge=1, help="agent streams sharing one gRPC channel (one TCP connection, HTTP/2 streams)"
    )
    amqp_connections: int = setting(2, ge=1, help="AMQP connections the hosts' command queues share")
    consumers_per_channel: int = setting(200, ge=1, help="host queue consumers per AMQP channel")
    prefetch: int = setting(16, ge=1, help="unacknowledged commands per host")


class FleetLogSettings(LogSettings):
    """Logs: of the per-host machinery (uplinks, commands); fleet lines are always printed."""

    level: LogLevel = setting("warning", name="log-level", help="the least severe level written")


class FleetSettings(DaemonSettings):
    prog = "overcast fleet simulation"
    command = "python -m devcluster.simulation"
    summary = (
        "Fleet simulation (development tooling): N simulated agents in one process, each with its own"
        " gRPC stream to the controller and its own command queue, over a simulated hypervisor."
    )

    fleet: FleetHostSettings = Field(default_factory=FleetHostSettings)
    connections: FleetConnectionSettings = Field(default_factory=FleetConnectionSettings)
    controller: ControllerLinkSettings = Field(default_factory=ControllerLinkSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    heartbeats: HeartbeatSettings = Field(default_factory=HeartbeatSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    log: FleetLogSettings = Field(default_factory=FleetLogSettings)
