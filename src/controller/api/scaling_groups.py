"""overcast.v1.ScalingGroupService."""

from __future__ import annotations

from google.protobuf import empty_pb2

from controller.api import scaling_convert as sc
from controller.api.errors import Ctx, unary
from controller.domain import names
from controller.services.scaling_groups import ScalingGroupService
from overcast.v1 import scaling_group_pb2 as pb
from overcast.v1 import scaling_group_pb2_grpc


class ScalingGroupApi(scaling_group_pb2_grpc.ScalingGroupServiceServicer):  # type: ignore[misc]  # generated servicers are untyped
    def __init__(self, groups: ScalingGroupService) -> None:
        self._groups = groups

    @unary
    async def CreateScalingGroup(self, req: pb.CreateScalingGroupRequest, ctx: Ctx) -> pb.ScalingGroup:
        record = await self._groups.create(
            req.parent, req.scaling_group_id, sc.group_spec(req.scaling_group), req.request_id
        )
        return sc.scaling_group(record)

    @unary
    async def GetScalingGroup(self, req: pb.GetScalingGroupRequest, ctx: Ctx) -> pb.ScalingGroup:
        return sc.scaling_group(await self._groups.get(req.name))

    @unary
    async def ListScalingGroups(
        self, req: pb.ListScalingGroupsRequest, ctx: Ctx
    ) -> pb.ListScalingGroupsResponse:
        page, token = await self._groups.list(req.parent, req.page_size, req.page_token)
        return pb.ListScalingGroupsResponse(
            scaling_groups=[sc.scaling_group(r) for r in page], next_page_token=token
        )

    @unary
    async def UpdateScalingGroup(self, req: pb.UpdateScalingGroupRequest, ctx: Ctx) -> pb.ScalingGroup:
        record = await self._groups.update(
            req.scaling_group.name,
            sc.group_spec(req.scaling_group),
            list(req.update_mask.paths),
            req.etag or req.scaling_group.etag,
        )
        return sc.scaling_group(record)

    @unary
    async def DeleteScalingGroup(self, req: pb.DeleteScalingGroupRequest, ctx: Ctx) -> empty_pb2.Empty:
        await self._groups.delete(req.name, req.etag, req.keep_members)
        return empty_pb2.Empty()

    @unary
    async def SetDesiredSize(self, req: pb.SetDesiredSizeRequest, ctx: Ctx) -> pb.ScalingGroup:
        return sc.scaling_group(await self._groups.set_desired_size(req.name, req.desired_size))

    @unary
    async def RecordGroupMetric(self, req: pb.RecordGroupMetricRequest, ctx: Ctx) -> empty_pb2.Empty:
        await self._groups.record_metric(req.name, req.metric, req.value, req.member)
        return empty_pb2.Empty()

    @unary
    async def ListScalingActivities(
        self, req: pb.ListScalingActivitiesRequest, ctx: Ctx
    ) -> pb.ListScalingActivitiesResponse:
        page, token = await self._groups.list_activities(req.name, req.page_size, req.page_token)
        project, _ = names.parse_scaling_group(req.name)
        return pb.ListScalingActivitiesResponse(
            activities=[sc.activity(project, a) for a in page], next_page_token=token
        )
