"""The API contract as clients in other languages meet it: a Node.js client built only from the
protos the package ships, and server reflection under both of its names."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2

from client import AsyncClient
from devcluster.processes import Cluster
from overcast import protos

ROOT = Path(__file__).resolve().parents[2]


def _node_tools() -> None:
    if shutil.which("node") is None:
        pytest.fail("node not found: the Node client test needs Node.js 18+ (CI installs it)")
    subprocess.run([ROOT / "scripts" / "node_tools.sh"], check=True, capture_output=True, timeout=300)


async def test_a_node_client_from_the_shipped_protos(cluster: Cluster, api: AsyncClient) -> None:
    _node_tools()
    server_id = f"node-{uuid.uuid4().hex[:8]}"
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "tests" / "node" / "client.mjs"),
        cluster.endpoint,
        str(protos.path()),
        "nodejs",
        server_id,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    result = json.loads(out)

    name = f"projects/nodejs/servers/{server_id}"
    assert result["created"] == name
    assert result["createdState"] == "VM_STATE_BUILDING"
    assert result["states"][-1] == "VM_STATE_ACTIVE"
    assert result["active"]["powerState"] == "POWER_STATE_RUNNING"
    assert result["active"]["host"].startswith("hosts/")

    bad = result["badRequest"]
    assert bad["grpcCode"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert bad["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    fields = {v["field"] for v in bad["violations"]}
    assert {"server_id", "server.flavor"} <= fields, bad
    assert all(v["description"] for v in bad["violations"])


def _reflect(
    endpoint: str, service: str, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    # v1 and v1alpha share their messages (only the package differs): the v1alpha classes
    # speak both, the method path says which service answers.
    with grpc.insecure_channel(endpoint) as channel:
        call = channel.stream_stream(
            f"/{service}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        (reply,) = list(call(iter([request]), timeout=10))
        return reply


@pytest.mark.parametrize(
    "service", ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]
)
def test_reflection_answers_v1_and_v1alpha(cluster: Cluster, service: str) -> None:
    listed = _reflect(cluster.endpoint, service, reflection_pb2.ServerReflectionRequest(list_services=""))
    names = {s.name for s in listed.list_services_response.service}
    public = {f"overcast.v1.{n}" for n in ("ServerService", "ServerGroupService", "ScalingGroupService")}
    assert {*public, "overcast.agent.v1.AgentGateway", service} <= names
    assert not any(n.startswith("overcast.v1.Agent") for n in names)

    found = _reflect(
        cluster.endpoint,
        service,
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="overcast.v1.ServerService"),
    )
    assert not found.HasField("error_response"), found.error_response
    assert found.file_descriptor_response.file_descriptor_proto  # server.proto and its imports
