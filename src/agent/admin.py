"""AgentAdmin: what libvirt itself says about this host's Overcast domains."""

from __future__ import annotations

import grpc
import structlog

from agent.convert import power_state_to_proto
from agent.hypervisor.base import Hypervisor, HypervisorError
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc

log = structlog.get_logger("agent.admin")


class AgentAdminService(agent_pb2_grpc.AgentAdminServicer):  # type: ignore[misc]  # generated servicers are untyped
    def __init__(self, hypervisor: Hypervisor) -> None:
        self._hypervisor = hypervisor

    async def ListDomains(
        self,
        request: agent_pb2.ListDomainsRequest,
        context: grpc.aio.ServicerContext[agent_pb2.ListDomainsRequest, agent_pb2.ListDomainsResponse],
    ) -> agent_pb2.ListDomainsResponse:
        try:
            domains = await self._hypervisor.list_domains()
        except HypervisorError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return agent_pb2.ListDomainsResponse(
            domains=[
                agent_pb2.LibvirtDomain(
                    uuid=d.uuid,
                    name=d.name,
                    power_state=power_state_to_proto(d.power_state),
                    persistent=d.persistent,
                    vcpus=d.vcpus,
                    memory_mib=d.memory_mib,
                )
                for d in domains
            ],
            hypervisor_uri=self._hypervisor.uri,
        )


class AdminServer:
    def __init__(self, hypervisor: Hypervisor, listen: str) -> None:
        self._server = grpc.aio.server()
        agent_pb2_grpc.add_AgentAdminServicer_to_server(AgentAdminService(hypervisor), self._server)
        self._listen = listen
        self.port = 0

    async def start(self) -> int:
        """Bind and serve; returns the bound port (useful with port 0)."""
        try:
            self.port = self._server.add_insecure_port(self._listen)
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {self._listen}: {exc}") from None
        await self._server.start()
        log.info("admin.serving", listen=self._listen, port=self.port)
        return self.port

    async def stop(self, grace: float = 1.0) -> None:
        await self._server.stop(grace)
