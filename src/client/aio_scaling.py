"""The asynchronous client's scaling group calls, a part of `AsyncClient` kept apart for its
size (the sync `Client` has the same methods, in `sync_scaling`).

Policies and scheduled actions come from the helpers in `client.scaling`
(`target_tracking("cpu", target=60)`, `step(...)`, `simple(...)`, `scheduled(...)`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from overcast.v1 import scaling_group_pb2 as pb

from . import build_scaling as build
from .build import Listing, Unary
from .pages import Pages

T = TypeVar("T")


class ScalingGroupCalls:
    """Mixed into AsyncClient, which provides the project and the call plumbing below."""

    project: str

    async def _unary(self, rpc: Unary[T]) -> T:
        raise NotImplementedError

    def _list(self, rpc: Listing[T]) -> Pages[T]:
        raise NotImplementedError

    # --- scaling groups ----------------------------------------------------------------------

    async def create_scaling_group(
        self,
        group_id: str,
        *,
        flavor: str,
        image: str,
        max_size: int,
        min_size: int = 0,
        desired_size: int | None = None,
        project: str | None = None,
        metadata: Mapping[str, str] | None = None,
        availability_zone: str = "",
        placement_policy: int | str | None = None,
        policies: Iterable[pb.ScalingPolicy] = (),
        scheduled_actions: Iterable[pb.ScheduledAction] = (),
        scale_in_rule: int | str | None = None,
        health_grace: float | None = None,
        protected_members: Iterable[str] = (),
        request_id: str | None = None,
    ) -> pb.ScalingGroup:
        """A group of servers created from one template (`flavor`, `image`, `metadata`,
        `availability_zone`, `placement_policy` such as "anti-affinity"), kept between
        `min_size` and `max_size` members; it starts at `desired_size` (default `min_size`).
        `scale_in_rule`: "newest" (default), "oldest" or "least-loaded"; `health_grace`:
        seconds a member's host may be DOWN before it is replaced; `protected_members`:
        servers a scale-in never removes."""
        project = project or self.project
        call = build.create_scaling_group(
            group_id,
            flavor=flavor,
            image=image,
            max_size=max_size,
            min_size=min_size,
            desired_size=desired_size,
            project=project,
            metadata=metadata,
            availability_zone=availability_zone,
            placement_policy=placement_policy,
            policies=policies,
            scheduled_actions=scheduled_actions,
            scale_in_rule=scale_in_rule,
            health_grace=health_grace,
            protected_members=protected_members,
            request_id=request_id,
        )
        return await self._unary(call)

    async def get_scaling_group(self, name: str, project: str | None = None) -> pb.ScalingGroup:
        project = project or self.project
        return await self._unary(build.get_scaling_group(name, project))

    def list_scaling_groups(
        self, project: str | None = None, *, page_size: int | None = None
    ) -> Pages[pb.ScalingGroup]:
        project = project or self.project
        return self._list(build.list_scaling_groups(project, page_size))

    async def update_scaling_group(
        self,
        name: str,
        project: str | None = None,
        *,
        min_size: int | None = None,
        max_size: int | None = None,
        desired_size: int | None = None,
        template: pb.ServerTemplate | None = None,
        policies: Iterable[pb.ScalingPolicy] | None = None,
        scheduled_actions: Iterable[pb.ScheduledAction] | None = None,
        scale_in_rule: int | str | None = None,
        health_grace: float | None = None,
        protected_members: Iterable[str] | None = None,
        etag: str = "",
    ) -> pb.ScalingGroup:
        """Replace the fields given (the update_mask lists them, and only them); an empty list
        clears one. `template` replaces the whole template (`client.scaling.server_template`);
        members created from then on use it. A non-empty `etag` must match (else Aborted)."""
        project = project or self.project
        call = build.update_scaling_group(
            name,
            project,
            min_size=min_size,
            max_size=max_size,
            desired_size=desired_size,
            template=template,
            policies=policies,
            scheduled_actions=scheduled_actions,
            scale_in_rule=scale_in_rule,
            health_grace=health_grace,
            protected_members=protected_members,
            etag=etag,
        )
        return await self._unary(call)

    async def delete_scaling_group(
        self, name: str, project: str | None = None, *, keep_members: bool = False, etag: str = ""
    ) -> None:
        """Delete the group and its members, or with `keep_members` leave them running as
        ordinary servers."""
        project = project or self.project
        await self._unary(build.delete_scaling_group(name, project, keep_members=keep_members, etag=etag))

    async def set_desired_size(
        self, name: str, desired_size: int, project: str | None = None
    ) -> pb.ScalingGroup:
        """Ask for `desired_size` members now (within [min_size, max_size]); the group's
        policies may move it again later."""
        project = project or self.project
        return await self._unary(build.set_desired_size(name, desired_size, project))

    async def record_group_metric(
        self,
        name: str,
        metric: str,
        value: float,
        *,
        member: str | None = None,
        project: str | None = None,
    ) -> None:
        """Push a value of `metric` ("custom/{name}") for the whole group (its per-member value
        is `value` / current size) or for one `member` server."""
        project = project or self.project
        await self._unary(build.record_group_metric(name, metric, value, member, project))

    def list_scaling_activities(
        self, name: str, project: str | None = None, *, page_size: int | None = None
    ) -> Pages[pb.ScalingActivity]:
        """The group's history, newest first: decisions and members added, removed, replaced."""
        project = project or self.project
        return self._list(build.list_scaling_activities(name, project, page_size))
