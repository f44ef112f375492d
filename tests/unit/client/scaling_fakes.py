"""A fake ScalingGroupService for the client tests: it keeps groups as the API describes them
(names, etags, update masks, pages) and records every request, so tests check what the client
sent. Registered on `client_fakes.FakeController`."""

from __future__ import annotations

import threading
from typing import Any

import grpc
from google.protobuf import any_pb2, empty_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from overcast.v1 import scaling_group_pb2 as pb
from overcast.v1 import scaling_group_pb2_grpc

PROJECT = "projects/demo"


def _bad_request(field: str, description: str) -> Any:
    bad = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field=field, description=description)]
    )
    detail = any_pb2.Any()
    detail.Pack(bad)
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message=f"{field}: {description}", details=[detail]
    )
    return rpc_status.to_status(status)


def group(
    gid: str, *, min_size: int = 1, max_size: int = 4, desired: int = 2, current: int = 2
) -> pb.ScalingGroup:
    g = pb.ScalingGroup(
        name=f"{PROJECT}/scalingGroups/{gid}",
        template=pb.ServerTemplate(flavor="flavors/m1.small", image="images/cirros", metadata={"app": "web"}),
        min_size=min_size,
        max_size=max_size,
        desired_size=desired,
        etag="1",
    )
    g.status.current_size = current
    g.status.active_size = current
    return g


def _page(items: list[Any], token: str, size: int) -> tuple[list[Any], str]:
    start = int(token or 0)
    end = start + (size or 2)
    return items[start:end], (str(end) if end < len(items) else "")


class FakeScalingGroups(scaling_group_pb2_grpc.ScalingGroupServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.groups: dict[str, pb.ScalingGroup] = {}
        self.activities: dict[str, list[pb.ScalingActivity]] = {}
        self.requests: list[Any] = []
        self.abort_updates = 0  # the next N updates fail as if somebody changed the group first
        self._lock = threading.Lock()

    def add(self, *groups: pb.ScalingGroup) -> None:
        for g in groups:
            self.groups[g.name] = g

    def of(self, kind: type[Any]) -> list[Any]:
        return [r for r in self.requests if isinstance(r, kind)]

    def _get(self, name: str, context: Any) -> pb.ScalingGroup:
        if name not in self.groups:
            context.abort(grpc.StatusCode.NOT_FOUND, f"scaling group {name} not found")
        return self.groups[name]

    def CreateScalingGroup(self, request: Any, context: Any) -> pb.ScalingGroup:
        self.requests.append(request)
        g = pb.ScalingGroup()
        g.CopyFrom(request.scaling_group)
        if g.max_size < g.min_size:
            context.abort_with_status(
                _bad_request("scaling_group.max_size", f"must be at least min_size ({g.min_size})")
            )
        g.name = f"{request.parent}/scalingGroups/{request.scaling_group_id}"
        if g.name in self.groups:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"scaling group {g.name} already exists")
        g.desired_size = g.desired_size or g.min_size
        g.etag = "1"
        self.add(g)
        return g

    def GetScalingGroup(self, request: Any, context: Any) -> pb.ScalingGroup:
        self.requests.append(request)
        return self._get(request.name, context)

    def ListScalingGroups(self, request: Any, context: Any) -> pb.ListScalingGroupsResponse:
        self.requests.append(request)
        mine = [g for g in self.groups.values() if g.name.startswith(request.parent + "/")]
        page, token = _page(mine, request.page_token, request.page_size)
        return pb.ListScalingGroupsResponse(scaling_groups=page, next_page_token=token)

    def UpdateScalingGroup(self, request: Any, context: Any) -> pb.ScalingGroup:
        with self._lock:
            self.requests.append(request)
            g = self._get(request.scaling_group.name, context)
            if self.abort_updates:
                self.abort_updates -= 1
                g.etag = str(int(g.etag) + 1)
            if request.etag and request.etag != g.etag:
                context.abort(grpc.StatusCode.ABORTED, f"{g.name} has changed (etag {g.etag})")
            for path in request.update_mask.paths:
                g.ClearField(path)
                value = getattr(request.scaling_group, path)
                if isinstance(value, int | str):
                    setattr(g, path, value)
                elif hasattr(value, "extend"):
                    getattr(g, path).extend(value)
                else:
                    getattr(g, path).CopyFrom(value)
            g.etag = str(int(g.etag) + 1)
            return g

    def DeleteScalingGroup(self, request: Any, context: Any) -> empty_pb2.Empty:
        self.requests.append(request)
        self._get(request.name, context)
        del self.groups[request.name]
        return empty_pb2.Empty()

    def SetDesiredSize(self, request: Any, context: Any) -> pb.ScalingGroup:
        self.requests.append(request)
        g = self._get(request.name, context)
        if not g.min_size <= request.desired_size <= g.max_size:  # as the controller: the bounds may move
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"desired_size {request.desired_size} is outside [{g.min_size}, {g.max_size}]:"
                " change max_size first",
            )
        g.desired_size = request.desired_size
        return g

    def RecordGroupMetric(self, request: Any, context: Any) -> empty_pb2.Empty:
        self.requests.append(request)
        self._get(request.name, context)
        return empty_pb2.Empty()

    def ListScalingActivities(self, request: Any, context: Any) -> pb.ListScalingActivitiesResponse:
        self.requests.append(request)
        self._get(request.name, context)
        page, token = _page(self.activities.get(request.name, []), request.page_token, request.page_size)
        return pb.ListScalingActivitiesResponse(activities=page, next_page_token=token)
