"""overcast.v1.ServerGroupService."""

from __future__ import annotations

from google.protobuf import empty_pb2

from controller.api import convert, enums
from controller.api.errors import Ctx, unary
from controller.services.server_groups import ServerGroupService
from overcast.v1 import server_group_pb2, server_group_pb2_grpc


def _policy_name(value: int) -> str:
    """The domain's policy name: unspecified is none given, a number these stubs lack stays a
    number (the service refuses both and lists the policies)."""
    if value == server_group_pb2.SERVER_GROUP_POLICY_UNSPECIFIED:
        return ""
    policy = enums.GROUP_POLICY_OF.get(value)
    return policy.value if policy is not None else str(value)


class ServerGroupApi(server_group_pb2_grpc.ServerGroupServiceServicer):  # type: ignore[misc]  # generated servicers are untyped
    def __init__(self, groups: ServerGroupService) -> None:
        self._groups = groups

    @unary
    async def CreateServerGroup(
        self, req: server_group_pb2.CreateServerGroupRequest, ctx: Ctx
    ) -> server_group_pb2.ServerGroup:
        group = await self._groups.create(
            req.parent, req.server_group_id, _policy_name(req.server_group.policy), req.request_id
        )
        return convert.server_group(group)

    @unary
    async def GetServerGroup(
        self, req: server_group_pb2.GetServerGroupRequest, ctx: Ctx
    ) -> server_group_pb2.ServerGroup:
        return convert.server_group(await self._groups.get(req.name))

    @unary
    async def ListServerGroups(
        self, req: server_group_pb2.ListServerGroupsRequest, ctx: Ctx
    ) -> server_group_pb2.ListServerGroupsResponse:
        page, token = await self._groups.list(req.parent, req.page_size, req.page_token)
        return server_group_pb2.ListServerGroupsResponse(
            server_groups=[convert.server_group(g) for g in page], next_page_token=token
        )

    @unary
    async def DeleteServerGroup(
        self, req: server_group_pb2.DeleteServerGroupRequest, ctx: Ctx
    ) -> empty_pb2.Empty:
        await self._groups.delete(req.name, req.etag)
        return empty_pb2.Empty()
