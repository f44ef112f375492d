"""The status codes each public RPC may answer a fuzzed request with.

Never `UNKNOWN` or `INTERNAL` (a bug, or an exception nobody mapped), never `DATA_LOSS`,
never `UNIMPLEMENTED` for a method the server lists, never `UNAUTHENTICATED` or
`PERMISSION_DENIED` (the API has no identity yet), never `CANCELLED` by the server, and
`UNAVAILABLE` or `DEADLINE_EXCEEDED` only where the call itself waits on an agent (every
service the controller depends on runs during the fuzz). `RESOURCE_EXHAUSTED` is always
allowed: a message over the 16 MiB receive limit, or the controller shedding load.

Every public method has its own entry: a new RPC fails `tests/unit/test_fuzz_kit.py` until
someone decides what it may answer.
"""

from __future__ import annotations

import grpc

C = grpc.StatusCode

REFUSALS = frozenset(
    {
        C.OK,
        C.INVALID_ARGUMENT,
        C.NOT_FOUND,
        C.ALREADY_EXISTS,
        C.FAILED_PRECONDITION,
        C.ABORTED,  # an etag that does not match (AIP-154)
        C.OUT_OF_RANGE,
        C.RESOURCE_EXHAUSTED,
    }
)
READ = REFUSALS - {C.ALREADY_EXISTS, C.ABORTED}  # reads create nothing and compare no etag
WAITS_ON_AGENT = REFUSALS | {C.UNAVAILABLE, C.DEADLINE_EXCEEDED}

ALLOWED: dict[str, frozenset[grpc.StatusCode]] = {
    "/overcast.v1.ServerService/CreateServer": REFUSALS,
    "/overcast.v1.ServerService/GetServer": READ,
    "/overcast.v1.ServerService/ListServers": READ,
    "/overcast.v1.ServerService/DeleteServer": REFUSALS,
    "/overcast.v1.ServerService/StartServer": REFUSALS,
    "/overcast.v1.ServerService/StopServer": REFUSALS,
    "/overcast.v1.ServerService/RebootServer": REFUSALS,
    "/overcast.v1.ServerService/WatchServers": READ,
    "/overcast.v1.ServerService/UpdateServer": REFUSALS,
    "/overcast.v1.ServerService/GetConsoleLog": WAITS_ON_AGENT - {C.ALREADY_EXISTS, C.ABORTED},
    "/overcast.v1.FlavorService/ListFlavors": READ,
    "/overcast.v1.FlavorService/GetFlavor": READ,
    "/overcast.v1.FlavorService/CreateFlavor": REFUSALS,
    "/overcast.v1.FlavorService/DeleteFlavor": REFUSALS,
    "/overcast.v1.ImageService/CreateImage": REFUSALS,
    "/overcast.v1.ImageService/ListImages": READ,
    "/overcast.v1.ImageService/GetImage": READ,
    "/overcast.v1.ImageService/DeleteImage": REFUSALS,
    "/overcast.v1.ImageService/UploadImageData": REFUSALS,
    "/overcast.v1.ImageService/DownloadImageData": READ,
    "/overcast.v1.HostService/ListHosts": READ,
    "/overcast.v1.HostService/GetHost": READ,
    "/overcast.v1.HostService/EnableHost": REFUSALS,
    "/overcast.v1.HostService/DisableHost": REFUSALS,
    "/overcast.v1.HostService/EvacuateHost": REFUSALS,  # an UP host: FAILED_PRECONDITION
    "/overcast.v1.HostService/WatchHostMetrics": READ,
    "/overcast.v1.ServerGroupService/CreateServerGroup": REFUSALS,
    "/overcast.v1.ServerGroupService/GetServerGroup": READ,
    "/overcast.v1.ServerGroupService/ListServerGroups": READ,
    "/overcast.v1.ServerGroupService/DeleteServerGroup": REFUSALS,
    "/overcast.v1.ScalingGroupService/CreateScalingGroup": REFUSALS,
    "/overcast.v1.ScalingGroupService/GetScalingGroup": READ,
    "/overcast.v1.ScalingGroupService/ListScalingGroups": READ,
    "/overcast.v1.ScalingGroupService/UpdateScalingGroup": REFUSALS,
    "/overcast.v1.ScalingGroupService/DeleteScalingGroup": REFUSALS,
    "/overcast.v1.ScalingGroupService/SetDesiredSize": REFUSALS,
    "/overcast.v1.ScalingGroupService/RecordGroupMetric": REFUSALS,
    "/overcast.v1.ScalingGroupService/ListScalingActivities": READ,
    # grpcio's health service: NOT_FOUND for a service it does not know. Its asyncio servicer
    # (grpcio-health-checking 1.85) has no List, which the health proto added in 2024.
    "/grpc.health.v1.Health/Check": READ,
    "/grpc.health.v1.Health/Watch": READ,
    "/grpc.health.v1.Health/List": READ | {C.UNIMPLEMENTED},
}
# Services whose refusals come from a library with messages of its own (or none): their codes
# are judged, their messages are not.
LIBRARIES = ("/grpc.health.v1.",)

NEVER = frozenset({C.UNKNOWN, C.INTERNAL, C.DATA_LOSS})


def allowed(path: str) -> frozenset[grpc.StatusCode]:
    """The codes `path` may answer; KeyError for a method nobody has decided on."""
    return ALLOWED[path]


def problem(path: str, code: grpc.StatusCode, details: str) -> str | None:
    """What is wrong with `path` ending a call `code` with `details`, or None."""
    if code == C.OK:
        return None
    if code in NEVER or code not in allowed(path):
        return f"answered {code.name}, which it may not (devcluster.fuzz.expected)"
    if "metadata size exceeds" in details:
        # gRPC's client refused the answer: the status quotes too much of the request.
        return f"answered a status larger than gRPC's metadata limit ({details})"
    if not details.strip() and not path.startswith(LIBRARIES):
        return f"answered {code.name} without a message saying what to fix"
    return None
