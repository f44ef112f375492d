"""What the services need from storage, as small Protocols the storage adapters implement."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from controller.domain.host_health import ZoneCount
from controller.domain.messages import OutboxMessage
from controller.domain.model import Flavor, Host, HostInventory, Image, Instance
from controller.domain.placements import Failure, PendingServer, Placement
from controller.domain.requests import RequestRecord
from controller.domain.scaling.model import ScalingGroup
from controller.domain.scaling.records import Activity, GroupMetric, GroupOutcome, GroupRecord, MemberRow
from controller.domain.server_groups import GroupPlacement
from controller.scheduler.hosts import HostColumns
from controller.services.load_view import HostLoadView, InstanceLoadView


@dataclass
class Mutation:
    """What a read-modify-write on one instance decided, applied in one transaction."""

    instance: Instance
    messages: list[OutboxMessage] = field(default_factory=list)
    release_allocation: bool = False


MutateFn = Callable[[Instance], Mutation | None]


@dataclass(frozen=True)
class WaitingTask:
    """A server's task whose command has waited for a DOWN host (domain.expiry)."""

    uid: UUID
    task_command: UUID
    waited_s: float  # since the task's last change (its start, unless its metadata changed since)


class InstanceStore(Protocol):
    async def create(
        self,
        inst: Instance,
        messages: Sequence[OutboxMessage],
        params: Mapping[str, Any] | None = None,
    ) -> Instance:
        """Insert the instance with its messages and, when it has a request id, remember the
        id with `params` (domain.requests); RequestIdTaken when another create has the id."""
        ...

    async def create_many(
        self, insts: Sequence[Instance], messages: Sequence[OutboxMessage]
    ) -> list[Instance]:
        """Instances without request ids, with their messages, in one transaction."""
        ...

    async def find_request(self, project: str, request_id: str) -> RequestRecord | None:
        """What a server's request id remembers (domain.requests)."""
        ...

    async def get_many(self, uids: Sequence[UUID]) -> list[Instance]:
        """These instances, deleted ones too."""
        ...

    async def get(self, project: str, server_id: str) -> Instance: ...
    async def list_on_host(self, host_id: str) -> builtins.list[Instance]: ...
    async def mutate(self, project: str, server_id: str, fn: MutateFn) -> Instance: ...
    async def mutate_uid(self, uid: UUID, fn: MutateFn) -> Instance | None: ...
    async def mutate_uids(self, changes: Sequence[tuple[UUID, MutateFn]]) -> builtins.list[Instance | None]:
        """Many changes in one transaction, in order (a uid may appear more than once)."""
        ...

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        """Outbox messages that change no instance (e.g. removing an orphaned domain)."""
        ...

    async def waiting_on_down_hosts(self, longer_than_s: float, limit: int) -> builtins.list[WaitingTask]:
        """Tasks in flight on hosts that are DOWN, whose command has waited longer than
        `longer_than_s` (by the database's clock), longest first."""
        ...


class SchedulingBatch(Protocol):
    """One scheduler worker's batch, inside one transaction: the pending instances it locked,
    the fleet as read, and the server groups of those instances (by group key; a group
    missing here was deleted; groups are locked so members of one group place one batch at
    a time)."""

    pending: list[PendingServer]
    hosts: HostColumns | None  # the whole fleet, when asked for and something is pending
    groups: dict[str, GroupPlacement]

    async def lock_hosts(self, host_ids: Sequence[str]) -> list[Host]:
        """Lock these hosts (in id order, so batches cannot deadlock) and read them afresh."""
        ...

    async def claim(self, placements: Sequence[Placement]) -> set[UUID]:
        """Claim capacity on each placement's host, record the placements and write their
        messages (domain.placements: `placed`, `placement_messages`); returns the uids placed
        (none on a host found full)."""
        ...

    async def fail(self, failures: Sequence[Failure]) -> None:
        """Record the failures and write their messages (`failed`, `failure_messages`)."""
        ...


class SchedulingStore(Protocol):
    def batch(
        self, limit: int, up_within_s: float, *, read_fleet: bool = True
    ) -> AbstractAsyncContextManager[SchedulingBatch]:
        """Lock up to `limit` pending instances and, with `read_fleet`, read the fleet (a host
        counts as usable when enabled, UP and its last heartbeat younger than `up_within_s`)."""
        ...


class HostStore(Protocol):
    async def register(
        self,
        inv: HostInventory,
        ratios: tuple[float, float, float],
        on_up: Callable[[Host], OutboxMessage],
    ) -> Host: ...
    async def heartbeat(
        self, host_ids: Sequence[str], at: datetime, on_up: Callable[[Host], OutboxMessage]
    ) -> list[Host]: ...
    async def count_up(self) -> int: ...
    async def zone_health(
        self, silent_since: datetime, unheard_since: datetime, heard: Collection[str] = ()
    ) -> builtins.list[ZoneCount]:
        """`heard`: hosts heard but not recorded yet, counted neither silent nor unheard."""
        ...

    async def mark_down_silent(
        self,
        silent_since: datetime,
        zones: Sequence[str],
        on_down: Callable[[Host], OutboxMessage],
        heard: Collection[str] = (),
    ) -> builtins.list[Host]:
        """`heard`: hosts heard but not recorded yet, never marked."""
        ...

    async def get(self, host_id: str) -> Host: ...
    async def list(self, *, after: str | None, limit: int) -> list[Host]: ...
    async def set_enabled(
        self,
        host_id: str,
        enabled: bool,
        reason: str,
        etag: str,
        event: Callable[[Host], OutboxMessage],
    ) -> Host: ...


class CatalogStore(Protocol):
    async def create_flavor(
        self, flavor: Flavor, request_id: str | None, params: Mapping[str, Any] | None = None
    ) -> Flavor:
        """RequestIdTaken when another create has the request id (see InstanceStore.create)."""
        ...

    async def find_request(self, kind: Literal["flavor", "image"], request_id: str) -> RequestRecord | None:
        """What a flavor's or image's request id remembers (`kind`: "flavor" or "image")."""
        ...

    async def get_flavor(self, flavor_id: str) -> Flavor: ...
    async def list_flavors(self, *, after: str | None, limit: int) -> list[Flavor]: ...
    async def delete_flavor(self, flavor_id: str, etag: str) -> None: ...
    async def create_image(
        self, image: Image, request_id: str | None, params: Mapping[str, Any] | None = None
    ) -> Image: ...
    async def get_image(self, image_id: str) -> Image: ...
    async def list_images(self, *, after: str | None, limit: int) -> list[Image]: ...
    async def delete_image(self, image_id: str, etag: str) -> None: ...


class MetricsStore(Protocol):
    """Metrics snapshots (storage.metrics): written at a low rate, read by other replicas."""

    async def save(self, hosts: Sequence[HostLoadView], instances: Sequence[InstanceLoadView]) -> None: ...
    async def hosts(self) -> builtins.list[HostLoadView]: ...
    async def instances(self, uids: Sequence[str]) -> builtins.list[InstanceLoadView]: ...
    async def prune(self, older_than: datetime) -> int: ...


class ScalingGroupStore(Protocol):
    """Scaling groups as the API uses them (storage.scaling_groups)."""

    async def by_request_id(self, project: str, request_id: str) -> GroupRecord | None: ...
    async def create(self, group: ScalingGroup, request_id: str | None) -> GroupRecord:
        """With the server group it owns, if its template has a placement policy."""
        ...

    async def get(self, project: str, group_id: str) -> GroupRecord: ...
    async def list(self, project: str, *, after: str | None, limit: int) -> builtins.list[GroupRecord]: ...
    async def update(self, group: ScalingGroup, *, version: int, manual_desired: bool) -> GroupRecord:
        """EtagMismatch unless the stored group is at `version`."""
        ...

    async def set_desired(self, project: str, group_id: str, desired: int) -> GroupRecord:
        """FailedPrecondition outside [min_size, max_size]."""
        ...

    async def begin_delete(self, project: str, group_id: str, etag: str) -> builtins.list[str]:
        """Mark it deleting; its live members' server ids, for the caller to delete."""
        ...

    async def finish_delete(self, project: str, group_id: str) -> None: ...
    async def delete_keeping_members(self, project: str, group_id: str, etag: str) -> builtins.list[str]: ...
    async def record_metric(
        self, project: str, group_id: str, metric: str, member: str, value: float
    ) -> None:
        """InvalidArgument ("member") when `member` is not a live member of the group."""
        ...

    async def list_activities(
        self, project: str, group_id: str, *, before: int | None, limit: int
    ) -> builtins.list[Activity]: ...


class AutoscalerStore(Protocol):
    """What one evaluation round of the autoscaler reads and writes (storage.scaling_rounds)."""

    async def load_all(self) -> builtins.list[GroupRecord]: ...
    async def members_of(
        self, groups: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], builtins.list[MemberRow]]: ...
    async def fresh_metrics(self, max_age_s: float) -> builtins.list[GroupMetric]: ...
    async def prune_metrics(self, max_age_s: float) -> int: ...
    async def prune_activities(self, max_age_s: float) -> int: ...
    async def save_decisions(self, outcomes: Sequence[GroupOutcome]) -> builtins.list[str]: ...
    async def record_activities(self, activities: Sequence[tuple[str, str, Activity]]) -> None: ...
    async def hosts_down_since(self) -> dict[str, float]: ...
