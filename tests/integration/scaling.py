"""Scaling groups through the public gRPC API (the client library has no scaling calls yet), and
members made as the autoscaler makes them: through ServerService with `scaling_group` set,
against the cluster's own database."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import asyncpg
import grpc
from google.protobuf import field_mask_pb2

from client.errors import from_rpc_error
from controller.domain.model import Instance
from controller.services.servers import CreateServer, ServerService
from controller.storage.catalog import PgCatalogStore
from controller.storage.instances import PgInstanceStore
from controller.storage.server_groups import PgServerGroupStore
from overcast.v1 import scaling_group_pb2 as pb
from overcast.v1 import scaling_group_pb2_grpc

T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def group_name(group_id: str, project: str = "demo") -> str:
    return f"projects/{project}/scalingGroups/{group_id}"


def template(**kw: Any) -> pb.ServerTemplate:
    fields: dict[str, Any] = {"flavor": "flavors/m1.tiny", "image": "images/cirros"}
    fields.update(kw)
    return pb.ServerTemplate(**fields)


def cpu_policy(target: float = 60, name: str = "cpu") -> pb.ScalingPolicy:
    return pb.ScalingPolicy(
        name=name, target_tracking=pb.TargetTrackingPolicy(metric="cpu_utilization", target=target)
    )


class Groups:
    """ScalingGroupService calls that raise the client library's errors (OvercastError)."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.stub: Any = scaling_group_pb2_grpc.ScalingGroupServiceStub(channel)

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc

    async def create(
        self, group_id: str, *, request_id: str = "", project: str = "demo", **fields: Any
    ) -> pb.ScalingGroup:
        group: dict[str, Any] = {"template": template(), "min_size": 0, "max_size": 4}
        group.update(fields)
        request = pb.CreateScalingGroupRequest(
            parent=f"projects/{project}",
            scaling_group_id=group_id,
            scaling_group=pb.ScalingGroup(**group),
            request_id=request_id,
        )
        return await self._call(self.stub.CreateScalingGroup(request, timeout=15))

    async def get(self, name: str) -> pb.ScalingGroup:
        return await self._call(self.stub.GetScalingGroup(pb.GetScalingGroupRequest(name=name), timeout=15))

    async def list(self, page_size: int = 0, page_token: str = "") -> pb.ListScalingGroupsResponse:
        request = pb.ListScalingGroupsRequest(
            parent="projects/demo", page_size=page_size, page_token=page_token
        )
        return await self._call(self.stub.ListScalingGroups(request, timeout=15))

    async def update(self, group: pb.ScalingGroup, paths: list[str], etag: str = "") -> pb.ScalingGroup:
        request = pb.UpdateScalingGroupRequest(
            scaling_group=group, update_mask=field_mask_pb2.FieldMask(paths=paths), etag=etag
        )
        return await self._call(self.stub.UpdateScalingGroup(request, timeout=15))

    async def delete(self, name: str, *, etag: str = "", keep_members: bool = False) -> None:
        request = pb.DeleteScalingGroupRequest(name=name, etag=etag, keep_members=keep_members)
        await self._call(self.stub.DeleteScalingGroup(request, timeout=30))

    async def set_desired(self, name: str, desired: int) -> pb.ScalingGroup:
        request = pb.SetDesiredSizeRequest(name=name, desired_size=desired)
        return await self._call(self.stub.SetDesiredSize(request, timeout=15))

    async def record(self, name: str, metric: str, value: float, member: str = "") -> None:
        request = pb.RecordGroupMetricRequest(name=name, metric=metric, value=value, member=member)
        await self._call(self.stub.RecordGroupMetric(request, timeout=15))

    async def activities(
        self, name: str, page_size: int = 0, page_token: str = ""
    ) -> pb.ListScalingActivitiesResponse:
        request = pb.ListScalingActivitiesRequest(name=name, page_size=page_size, page_token=page_token)
        return await self._call(self.stub.ListScalingActivities(request, timeout=15))


async def create_member(pool: asyncpg.Pool, group: pb.ScalingGroup) -> Instance:
    """A member as the autoscaler creates one: "{group}-{5 characters}", from the template, in
    the group's server group, through ServerService (the public API cannot set scaling_group)."""
    project, group_id = group.name.split("/")[1], group.name.rsplit("/", 1)[1]
    servers = ServerService(PgInstanceStore(pool), PgCatalogStore(pool), PgServerGroupStore(pool))
    return await servers.create(
        CreateServer(
            parent=f"projects/{project}",
            server_id=f"{group_id}-{uuid.uuid4().hex[:5]}",
            flavor=group.template.flavor,
            image=group.template.image,
            metadata=dict(group.template.metadata),
            request_id="",
            server_group=group.server_group,
            scaling_group=group.name,
        )
    )
