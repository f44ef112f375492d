"""One agent process on a simulated hypervisor (simulation): the real agent (`python -m agent`,
same flags, same uplink, command queue and admin service) over a SimulatedHypervisor whose
domains persist in a state directory, as libvirtd's outlive the agent. Killing this process and
starting it again is an agent restart, not a host that lost its disks (libvirt's test driver
starts every agent from no domains: that case stays with devcluster.agent).

    python -m devcluster.simulation.agent --simulation-state-dir DIR \\
        [--simulation-vcpus 16] [--simulation-memory-gib 32] --host-id host-1 [agent flags]

The host's domains are in DIR/<host id>.json; its metrics are simulated (`simulated=true`),
from each server's load profile (metadata `sim.cpu`, `sim.mem`; see devcluster.load).
"""

from __future__ import annotations

import os

# As the agent's own entry point: before grpc is imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import argparse
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

from agent.app import HypervisorBackend
from agent.app import main as run_agent
from agent.hypervisor.base import HypervisorInfo
from agent.metrics.model import HostMetrics
from agent.metrics.source import MetricsSource
from agent.settings import AgentSettings
from devcluster.simulation.hypervisor import SimulatedHypervisor


class SimulatedHostMetrics:
    """A MetricsSource over a simulated hypervisor: its own samples. The hypervisor hears of
    metadata from the commands themselves (spawn, update_metadata), so nothing to do here."""

    def __init__(self, hypervisor: SimulatedHypervisor) -> None:
        self._hypervisor = hypervisor

    async def sample(self) -> HostMetrics:
        return self._hypervisor.sample()

    def metadata_changed(self, instance_uid: str, metadata: Mapping[str, str]) -> None:
        return None


async def open_simulated(
    settings: AgentSettings, *, state_dir: Path, vcpus: int, memory_gib: int
) -> SimulatedHypervisor:
    return SimulatedHypervisor(
        settings.host.id, vcpus=vcpus, memory_mib=memory_gib * 1024, state_dir=state_dir
    )


def simulated_host_metrics(hypervisor: SimulatedHypervisor, info: HypervisorInfo) -> MetricsSource:
    return SimulatedHostMetrics(hypervisor)


def parse(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The simulation's own flags, and the rest for the agent."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--simulation-state-dir", type=Path, required=True)
    parser.add_argument("--simulation-vcpus", type=int, default=16)
    parser.add_argument("--simulation-memory-gib", type=int, default=32)
    return parser.parse_known_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    ours, rest = parse(argv)
    opener = functools.partial(
        open_simulated,
        state_dir=ours.simulation_state_dir.absolute(),
        vcpus=ours.simulation_vcpus,
        memory_gib=ours.simulation_memory_gib,
    )
    run_agent(rest, backend=HypervisorBackend(opener, simulated_host_metrics))


if __name__ == "__main__":
    main()
