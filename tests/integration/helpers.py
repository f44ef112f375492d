from __future__ import annotations

from client import AsyncClient
from overcast.v1 import common_pb2, server_pb2


def short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


async def active_server(api: AsyncClient, name: str, flavor: str = "m1.tiny") -> server_pb2.Server:
    """Create a server and wait until it is ACTIVE (failing with its fault otherwise)."""
    await api.create_server(name, flavor=flavor, image="cirros")
    server = await api.wait_for_server(name, timeout=30)
    assert server is not None, f"{name} disappeared"
    assert server.vm_state == common_pb2.ACTIVE, f"{name}: {server.fault}"
    return server
