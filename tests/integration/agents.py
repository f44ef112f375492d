"""What libvirt itself says on an agent's host, read through the agent's admin service."""

from __future__ import annotations

import grpc

from overcast.agent.v1 import agent_pb2, agent_pb2_grpc
from overcast.v1 import common_pb2


async def domains(admin_endpoint: str) -> dict[str, str]:
    """uuid → power state (short name: RUNNING) of every Overcast domain defined on that host's libvirt."""
    async with grpc.aio.insecure_channel(admin_endpoint) as ch:
        resp = await agent_pb2_grpc.AgentAdminStub(ch).ListDomains(agent_pb2.ListDomainsRequest(), timeout=10)
    return {
        d.uuid: common_pb2.PowerState.Name(d.power_state).removeprefix("POWER_STATE_") for d in resp.domains
    }
