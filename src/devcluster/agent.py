"""The agent of a development cluster: `python -m agent` with simulated metrics.

libvirt's test driver, which the demo, the tests and the benchmarks run their agents on, has
no numbers to measure: its domains use no CPU, and its node file describes a host that is not
this machine. This entry point runs the real agent (same flags) with a metrics source that
simulates them instead: each active domain's load from its profile (server metadata `sim.cpu`,
`sim.mem`; see devcluster.load), the host's totals from its instances; every sample says
`simulated=true`.

    python -m devcluster.agent --host-id host-1 --libvirt-uri test:///path/host-1.xml
"""

from __future__ import annotations

import os

# As the agent's own entry point: before grpc is imported (gRPC's C core would log routine
# connection events as raw lines on stderr).
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import time
import uuid
from collections.abc import Callable, Mapping, Sequence

from agent.app import HypervisorBackend
from agent.app import main as run_agent
from agent.hypervisor.base import HypervisorInfo
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.metrics.libvirt_source import LibvirtStats
from agent.metrics.model import HostMetrics
from agent.metrics.source import MetricsSource
from agent.qemu_host import open_hypervisor
from devcluster.load import LoadSimulator, SimulatedHost


class SimulatedMetrics:
    """A MetricsSource over libvirt's listing of the active domains. A domain's profile is read
    once from its XML (where the agent keeps its metadata, so profiles outlive an agent
    restart) and then follows what commands tell (`metadata_changed`)."""

    def __init__(
        self,
        stats: LibvirtStats,
        *,
        vcpus: int,
        memory_mib: int,
        loads: LoadSimulator | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stats = stats
        self.loads = loads or LoadSimulator()
        self._host = SimulatedHost(vcpus=vcpus, memory_mib=memory_mib)
        self._clock = clock

    async def sample(self) -> HostMetrics:
        known = self.loads.known()
        read_at, domains = await self._stats.domain_stats(lambda uid: uid not in known)
        pairs = []
        for d in domains:
            if d.metadata is not None:
                self.loads.adopt(d.uid, d.metadata)  # never over what a command told meanwhile
            sample = self.loads.instance(d.uid, vcpus=d.vcpus, memory_mib=d.memory_mib, running=d.running)
            pairs.append((sample, d.vcpus))
        # A stopped domain is not listed: its profile is read again from its XML once it runs.
        self.loads.retain({d.uid for d in domains})
        return self._host.sample(pairs, read_at, sampled_at=self._clock())

    def metadata_changed(self, instance_uid: str, metadata: Mapping[str, str]) -> None:
        try:
            uid = str(uuid.UUID(instance_uid))  # as libvirt's UUIDString gives it
        except ValueError:
            return  # the command itself failed on it
        self.loads.set_metadata(uid, metadata)


def simulated_metrics(hypervisor: LibvirtHypervisor, info: HypervisorInfo) -> MetricsSource:
    return SimulatedMetrics(LibvirtStats(hypervisor), vcpus=info.vcpus, memory_mib=info.memory_mib)


def main(argv: Sequence[str] | None = None) -> None:
    run_agent(argv, backend=HypervisorBackend(open_hypervisor, simulated_metrics))


if __name__ == "__main__":
    main()
