"""The public RPCs a controller serves, found as a client finds them: server reflection.

Every service the controller lists is public except the agents' gateway (its own protocol,
fuzzed apart: tests/integration/test_fuzz.py) and reflection itself (grpcio's, and
what this module speaks). The descriptors come from the controller too, so the fuzz covers
whatever the running controller serves, a new RPC included, without a line changed here.
`committed_services` lists what the protos in the tree define, so a test can also tell a
service defined but not served (or not listed).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, ServiceDescriptor
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

import overcast.v1

NOT_PUBLIC = ("overcast.agent.v1.AgentGateway",)
REFLECTION = ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection")


@dataclass(frozen=True)
class Method:
    service: str  # overcast.v1.ServerService
    name: str  # CreateServer
    input: Descriptor
    output: Descriptor
    client_streaming: bool
    server_streaming: bool

    @property
    def path(self) -> str:
        """As on the wire: /overcast.v1.ServerService/CreateServer."""
        return f"/{self.service}/{self.name}"

    @property
    def kind(self) -> str:
        return {
            (False, False): "unary",
            (False, True): "server-streaming",
            (True, False): "client-streaming",
            (True, True): "bidirectional",
        }[(self.client_streaming, self.server_streaming)]


def _methods(service: ServiceDescriptor) -> list[Method]:
    return [
        Method(service.full_name, m.name, m.input_type, m.output_type, m.client_streaming, m.server_streaming)
        for m in service.methods
    ]


def public_methods(channel: grpc.Channel) -> list[Method]:
    """Every method of every public service the server behind `channel` lists."""
    database = ProtoReflectionDescriptorDatabase(channel)
    pool = descriptor_pool.DescriptorPool(database)
    names = [s for s in database.get_services() if s not in NOT_PUBLIC and s not in REFLECTION]
    return [m for name in sorted(names) for m in _methods(pool.FindServiceByName(name))]


def in_lifecycle_order(methods: list[Method]) -> list[Method]:
    """Creates first, deletes last (AIP-133, AIP-135 verbs), the rest between: what the creates
    made is there for the gets, updates and actions to act on before a delete removes it."""

    def stage(m: Method) -> int:
        return 0 if m.name.startswith("Create") else 2 if m.name.startswith("Delete") else 1

    return sorted(methods, key=stage)


def committed_methods() -> list[Method]:
    """The methods of the public API's services as the protos of this tree define them
    (overcast.v1), whatever a running controller serves."""
    found = []
    for module in pkgutil.iter_modules(overcast.v1.__path__):
        if module.name.endswith("_pb2"):
            file = importlib.import_module(f"overcast.v1.{module.name}").DESCRIPTOR
            for service in file.services_by_name.values():
                found += _methods(service)
    return found


def committed_services() -> list[str]:
    return sorted({m.service for m in committed_methods()})
