"""Channel settings and stubs shared by the sync and async clients."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grpc_health.v1 import health_pb2_grpc

from overcast.v1 import (
    flavor_pb2_grpc,
    host_pb2_grpc,
    image_pb2_grpc,
    scaling_group_pb2_grpc,
    server_group_pb2_grpc,
    server_pb2_grpc,
)

from .errors import Internal

DEFAULT_ENDPOINT = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_CONCURRENCY = 64
DEFAULT_WAIT_TIMEOUT = 600.0

# Reads are safe to retry when the controller was briefly unreachable (a replica restarting) or
# answered UNAVAILABLE (its database or broker restarting); writes are not retried here: the
# caller owns that decision (and its request_id: a create retried with the same one is never
# carried out twice). gRPC waits between attempts as long as the controller's
# `grpc-retry-pushback-ms` trailer says (the RetryInfo it sends: 1 s), else backs off from
# 0.1 s; five attempts (gRPC's limit) ride out a restart of a few seconds, always within the
# call's deadline.
_RETRIED_READS = {
    "overcast.v1.ServerService": ("GetServer", "ListServers"),
    "overcast.v1.FlavorService": ("GetFlavor", "ListFlavors"),
    "overcast.v1.ImageService": ("GetImage", "ListImages"),
    "overcast.v1.HostService": ("GetHost", "ListHosts"),
    "overcast.v1.ServerGroupService": ("GetServerGroup", "ListServerGroups"),
    "overcast.v1.ScalingGroupService": ("GetScalingGroup", "ListScalingGroups", "ListScalingActivities"),
}

_SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [
                {"service": service, "method": method}
                for service, methods in _RETRIED_READS.items()
                for method in methods
            ],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}


def channel_options() -> list[tuple[str, Any]]:
    """gRPC channel arguments for talking to the controller.

    Keepalive pings only while calls are in flight (a WatchServers stream may sit idle for
    minutes and must notice a dead controller); 60 s stays well above what a server accepts
    once it sets `grpc.http2.min_recv_ping_interval_without_data_ms` to 30 s or less.
    """
    return [
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(_SERVICE_CONFIG)),
        ("grpc.primary_user_agent", "overcast-client/0.1"),
    ]


@dataclass(frozen=True)
class Stubs:
    """One stub per service over a single channel (sync or grpc.aio alike)."""

    servers: Any
    flavors: Any
    images: Any
    hosts: Any
    health: Any
    server_groups: Any
    scaling_groups: Any

    @classmethod
    def for_channel(cls, channel: Any) -> Stubs:
        return cls(
            servers=server_pb2_grpc.ServerServiceStub(channel),
            flavors=flavor_pb2_grpc.FlavorServiceStub(channel),
            images=image_pb2_grpc.ImageServiceStub(channel),
            hosts=host_pb2_grpc.HostServiceStub(channel),
            health=health_pb2_grpc.HealthStub(channel),
            server_groups=server_group_pb2_grpc.ServerGroupServiceStub(channel),
            scaling_groups=scaling_group_pb2_grpc.ScalingGroupServiceStub(channel),
        )


class PageTokens:
    """Tracks `next_page_token`s so a misbehaving server cannot loop a listing forever."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def advance(self, request: Any, next_page_token: str) -> bool:
        """Put the next token on `request`; False when the listing is complete."""
        if not next_page_token:
            return False
        if next_page_token in self._seen:
            raise Internal(f"server repeated page token {next_page_token!r}")
        self._seen.add(next_page_token)
        request.page_token = next_page_token
        return True
