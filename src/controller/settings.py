"""Controller settings: groups of typed, bounded settings (see daemon.settings for how each one
is named as a flag, an OVERCAST_* variable and a config file key). docs/configuration.md is
generated from these models (`make config-docs`)."""

from __future__ import annotations

import os
import socket
from typing import Any, Literal

from pydantic import Field, model_validator

from controller.domain.host_health import HealthPolicy
from controller.scheduler.policy import SchedulerPolicy, Strategy
from controller.scheduler.weighers import DEFAULT_LOAD_TARGET
from daemon.settings import (
    BusSettings,
    DaemonSettings,
    Group,
    HeartbeatSettings,
    LogSettings,
    MetricsSettings,
    setting,
)

Where = Literal["process", "inline"]
# Derived defaults: this many intervals without a heartbeat (a sample) before a host is DOWN
# (its load unknown).
MISSED_INTERVALS = 3
# Heartbeats recorded a second before the interval grows (decision 0011). A flush writes every
# host heard in an interval in one statement, and competes for the database with placements:
# on the 2-core VM, 10,000 rows took 47-51 ms on a quiet machine, 0.36 s (p50) and 1.4 s (p90)
# at load 12 (bench/heartbeat_flush.py), and 0.5-1.8 s while 100,000 servers were placed
# (bench/scheduler.py): 5,500-7,000 rows a second when the machine is busiest. At 1,000 a
# second the flush takes at most a fifth of its interval then, and writes a third as many
# rows as placement does (~2,800 a second) instead of two thirds. 10,000 hosts beat every
# 10 s, DOWN after 30 s (Kubernetes: 40 s; Nomad's 50 a second gives them 200 s); up to
# 1,000 hosts, the configured interval.
DEFAULT_MAX_HEARTBEATS_PER_S = 1000.0


def _default_controller_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _derive(data: Any, field: str, interval_field: str, interval_default: float) -> Any:
    """Fill `field` with MISSED_INTERVALS intervals unless it is set. A bad interval is left
    to its own error (a negative window would only repeat it)."""
    if not isinstance(data, dict) or data.get(field) is not None:
        return data
    try:
        interval = float(data.get(interval_field, interval_default))
    except (TypeError, ValueError):
        return data
    return {**data, field: MISSED_INTERVALS * interval} if interval > 0 else data


class ApiSettings(Group):
    """API: this controller's gRPC endpoint, for clients and agents."""

    listen: str = setting(
        "127.0.0.1:50051", help="HOST:PORT the public API and the agents' streams listen on"
    )
    controller_id: str = setting(
        default_factory=_default_controller_id,
        default_text="HOSTNAME-PID",
        help="this controller's name among its replicas (logs, leader election, event publisher)",
    )
    grace_s: float = setting(
        5.0,
        gt=0,
        name="grace",
        help="time in-flight RPCs get to finish at shutdown, and then the scheduler and relay processes"
        " (the agents' streams and watches are ended at once: they reconnect to another replica)",
    )
    request_id_retention_s: float = setting(
        86400.0,
        gt=0,
        help="how long a create's request_id is remembered after what it made was deleted: until"
        " then a retry gets the first result and the same id with other parameters is refused"
        " (ids of live resources are always remembered)",
    )


class DatabaseSettings(Group):
    """Database: PostgreSQL."""

    url: str = setting(
        "postgresql://postgres@127.0.0.1:5432/overcast",
        name="database-url",
        help="PostgreSQL URL; the database is created if missing",
    )
    vacuum_interval_s: float = setting(
        10.0,
        ge=0,
        help="time between checks for dead rows in the busiest tables (outbox, host_status, metrics, hosts,"
        " instances), vacuumed when they pile up; 0 leaves them to PostgreSQL's autovacuum",
    )
    pool_size: int = setting(
        20,
        ge=2,
        name="database-pool-size",
        help="connections in this replica's pool, the most the API, the agents' reports and the loops use"
        " at once however many clients call (with the few dedicated ones, checked against PostgreSQL's"
        " max_connections at startup)",
    )
    connection_check: Literal["refuse", "warn", "off"] = setting(
        "refuse",
        help="at startup, compare the connections this replica opens with PostgreSQL's max_connections:"
        " refuse to start when they can never fit (warn when they do not fit beside the connections"
        " already open), or only warn, or do not check",
    )


class AdmissionSettings(Group):
    """Admission: how many API calls this replica serves at once, and when it sheds the rest."""

    max_in_flight: int = setting(
        None,
        ge=1,
        default_text="half the pool size",
        help="unary API calls served at once; the pool's other connections stay free for the agents'"
        " reports and heartbeats and the controller's loops",
    )
    max_queued: int = setting(
        None,
        ge=0,
        default_text="twice --max-in-flight",
        help="calls that may wait for one of those slots; beyond them a call is answered"
        " RESOURCE_EXHAUSTED (with RetryInfo) at once, before it touches the database",
    )
    max_wait_s: float = setting(
        0.5,
        ge=0,
        name="max-queue-wait",
        help="longest a call waits for a slot: one that would wait longer (judged from the calls ahead"
        " of it and the recent time a call takes) is answered RESOURCE_EXHAUSTED at once",
    )
    retry_after_s: float = setting(
        1.0,
        gt=0,
        name="shed-retry-after",
        help="the wait a shed call's RetryInfo (and grpc-retry-pushback-ms) asks for",
    )
    max_streams: int = setting(
        1000,
        ge=1,
        help="server streams open at once (WatchServers, WatchHostMetrics, DownloadImageData); the next"
        " is refused at its start, an open one is never cut; agents' streams are never counted or shed",
    )
    max_uploads: int = setting(
        4,
        ge=1,
        help="image uploads at once: each holds a database connection of its own while it lasts",
    )

    def derived(self, pool_size: int) -> AdmissionSettings:
        """These settings with the defaults that follow the pool size filled in."""
        # Half: after a database outage the agents' backlog of reports and the heartbeats'
        # flush must get connections at once, or hosts go DOWN while the API's retries fill the
        # pool (tests/faults postgres_down_10s failed 2 of 3 runs at load 17-23 with 15 of 20).
        in_flight = self.max_in_flight or max(1, pool_size // 2)
        queued = self.max_queued if self.max_queued is not None else 2 * in_flight
        if (in_flight, queued) == (self.max_in_flight, self.max_queued):
            return self
        return self.model_copy(update={"max_in_flight": in_flight, "max_queued": queued})


class ControllerBusSettings(BusSettings):
    """Message bus: RabbitMQ."""

    outbox_relay: Where = setting(
        "process",
        help="publish the outbox from a child process, or on the controller's own event loop",
    )


class ControllerHeartbeatSettings(HeartbeatSettings):
    """Heartbeats: how often agents say they are alive, and when a host is DOWN."""

    interval_s: float = setting(
        1.0,
        gt=0,
        name="heartbeat-interval",
        help="time between agent heartbeats (the controller tells its agents); longer for a fleet beyond"
        " --max-heartbeats-per-second",
    )
    host_down_after_s: float = setting(
        None,
        gt=0,
        default_text="3 heartbeat intervals",
        help="time without a heartbeat before a host is DOWN, at --heartbeat-interval (it grows with the"
        " interval); time this controller is behind on its agents does not count",
    )

    max_per_second: float = setting(
        DEFAULT_MAX_HEARTBEATS_PER_S,
        ge=0,
        name="max-heartbeats-per-second",
        unit="heartbeats a second",
        help="the most host heartbeats the controllers record a second: beyond it the interval (told to the"
        " agents) grows in whole intervals with the fleet, and the down-after time with it, as Nomad's"
        " max_heartbeats_per_second; 0: the interval never grows",
    )
    unhealthy_zone_threshold: float = setting(
        0.55,
        gt=0,
        le=1,
        help="share of a large zone's hosts DOWN or silent at once beyond which the silent ones are held UP"
        " (no events, one warning): more likely the network or the control plane than the hosts, as"
        " Kubernetes' --unhealthy-zone-threshold; 1: never held",
    )
    large_zone_size: int = setting(
        50,
        ge=1,
        help="zones with fewer hosts are never held; and a controller with fewer agents streaming to it"
        " infers no lag of its own from how many of them it hears an interval",
    )

    @model_validator(mode="before")
    @classmethod
    def _host_down_after(cls, data: Any) -> Any:
        return _derive(data, "host_down_after_s", "interval_s", 1.0)

    def policy(self) -> HealthPolicy:
        return HealthPolicy(
            interval_s=self.interval_s,
            down_after_s=self.host_down_after_s,
            max_per_second=self.max_per_second,
            unhealthy_zone_threshold=self.unhealthy_zone_threshold,
            large_zone_size=self.large_zone_size,
        )


class ControllerMetricsSettings(MetricsSettings):
    """Metrics: the agents' load samples, as the controller smooths and keeps them."""

    interval_s: float = setting(
        1.0,
        gt=0,
        name="metrics-interval",
        help="time between the agents' metrics samples (as the agents are set)",
    )
    stale_after_s: float = setting(
        None,
        gt=0,
        name="metrics-stale-after",
        default_text="3 metrics intervals",
        help="time without a sample before a host's load is unknown",
    )
    ewma_alpha: float = setting(
        0.3,
        gt=0,
        le=1,
        name="metrics-ewma-alpha",
        help="weight of the newest sample in the smoothed CPU utilisation",
    )
    persist_interval_s: float = setting(
        5.0,
        gt=0,
        name="metrics-persist-interval",
        help="time between metrics snapshots written to the database (shared with other replicas)",
    )

    @model_validator(mode="before")
    @classmethod
    def _stale_after(cls, data: Any) -> Any:
        return _derive(data, "stale_after_s", "interval_s", 1.0)


class CommandSettings(Group):
    """Commands: what the controller sends agents, and how long they may wait."""

    expiry_s: float = setting(
        600.0,
        ge=0,
        name="command-expiry",
        help="time a command may wait for its host, from when it was issued: then its server's"
        " task fails saying so (the host monitor sweeps DOWN hosts), and an agent that gets it"
        " later does not carry it out; 0: commands wait for ever",
    )


class HostFailureSettings(Group):
    """Host failure: what happens to the servers of a host that stays DOWN."""

    grace_s: float = setting(
        300.0,
        ge=0,
        name="host-failure-grace",
        help="time a host may stay DOWN before each of its servers is marked (fault, power state"
        " unknown, instance.host_down) and those whose host_failure_policy is EVACUATE are rebuilt"
        " on other hosts; 0: never (EvacuateHost still evacuates a DOWN host)",
    )


class SchedulerSettings(Group):
    """Scheduler: where it runs and how it reads."""

    mode: Where = setting(
        "process",
        name="scheduler",
        help="place servers from a child process with an event loop of its own (it reads the hosts' live"
        " load from shared memory), or on the controller's event loop",
    )
    workers: int = setting(
        2, ge=1, name="scheduler-workers", help="placement workers, each a batch at a time"
    )
    batch: int = setting(1000, ge=1, name="scheduler-batch", help="pending servers a worker claims at once")
    fleet_refresh_s: float = setting(
        1.0,
        gt=0,
        name="scheduler-fleet-refresh",
        help="how long the scheduler's in-memory host snapshot is used before it is read again",
    )
    wait_for_hosts_s: float = setting(
        30.0,
        ge=0,
        name="scheduler-wait-for-hosts",
        help="how long a server waits for a host while no host at all is usable (all down or disabled:"
        " more likely the control plane cut off from its fleet than every host failing) before it"
        " fails with No valid host; 0: at once",
    )


class PlacementSettings(Group):
    """Placement: how hosts are chosen, and how far they are overcommitted."""

    strategy: Strategy = setting(
        Strategy.SPREAD, name="placement-strategy", help="spread: emptiest hosts first; pack: fullest first"
    )
    ram_weight: float = setting(1.0, help="free-RAM weigher multiplier (the strategy gives its sign)")
    cpu_weight: float = setting(1.0, help="free-vcpus (CPU allocation) weigher multiplier")
    load_weight: float = setting(1.0, help="live CPU load weigher multiplier (pack: up to --load-target)")
    load_target: float = setting(
        DEFAULT_LOAD_TARGET, gt=0, lt=1, help="CPU utilisation the load weigher fills hosts up to (pack)"
    )
    soft_affinity_weight: float = setting(10.0, help="SOFT_AFFINITY server group weigher multiplier")
    soft_anti_affinity_weight: float = setting(
        10.0, help="SOFT_ANTI_AFFINITY server group weigher multiplier"
    )
    host_subset_size: int = setting(1, ge=1, help="choose at random among this many best hosts")
    cpu_allocation_ratio: float = setting(
        4.0, gt=0, help="vcpus per physical CPU (set on a host when it registers)"
    )
    ram_allocation_ratio: float = setting(1.0, gt=0, help="RAM overcommit (set on a host when it registers)")
    disk_allocation_ratio: float = setting(
        1.0, gt=0, help="disk overcommit (set on a host when it registers)"
    )

    def policy(self) -> SchedulerPolicy:
        return SchedulerPolicy(
            strategy=self.strategy,
            ram_weight=self.ram_weight,
            cpu_weight=self.cpu_weight,
            load_weight=self.load_weight,
            load_target=self.load_target,
            soft_affinity_weight=self.soft_affinity_weight,
            soft_anti_affinity_weight=self.soft_anti_affinity_weight,
            host_subset_size=self.host_subset_size,
        )


class ImageSettings(Group):
    """Images: where their data is kept."""

    store: str = setting(
        "./.overcast/images", name="image-store", help="directory of image data (shared by every replica)"
    )
    max_gib: float = setting(
        20.0, gt=0, name="image-max-gib", unit="GiB", help="largest image upload accepted"
    )


class AutoscalerSettings(Group):
    """Autoscaler: how often scaling groups are evaluated."""

    period_s: float = setting(
        5.0,
        gt=0,
        name="autoscaler-period",
        help="time between evaluations of every scaling group (a group whose CPU crosses its target"
        " is evaluated at once)",
    )
    metric_max_age_s: float = setting(
        60.0,
        gt=0,
        name="autoscaler-metric-max-age",
        help="how long a value pushed with RecordGroupMetric counts; older ones are missing metrics",
    )
    activity_retention_s: float = setting(
        42 * 86400.0,
        gt=0,
        name="scaling-activity-retention",
        help="how long a scaling group's history (ListScalingActivities) keeps an activity; older"
        " ones are forgotten (six weeks, as AWS Auto Scaling keeps them)",
    )


class ControllerSettings(DaemonSettings):
    prog = "overcast controller"
    command = "python -m controller"
    summary = "The Overcast controller: the API, the scheduler and the hosts' state."

    api: ApiSettings = Field(default_factory=ApiSettings)
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    bus: ControllerBusSettings = Field(default_factory=ControllerBusSettings)
    heartbeats: ControllerHeartbeatSettings = Field(default_factory=ControllerHeartbeatSettings)
    metrics: ControllerMetricsSettings = Field(default_factory=ControllerMetricsSettings)
    commands: CommandSettings = Field(default_factory=CommandSettings)
    host_failure: HostFailureSettings = Field(default_factory=HostFailureSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    placement: PlacementSettings = Field(default_factory=PlacementSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    autoscaler: AutoscalerSettings = Field(default_factory=AutoscalerSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @model_validator(mode="after")
    def _admission_from_pool(self) -> ControllerSettings:
        # Filled in here, not left None: the child processes get these settings as JSON.
        object.__setattr__(self, "admission", self.admission.derived(self.database.pool_size))
        return self
