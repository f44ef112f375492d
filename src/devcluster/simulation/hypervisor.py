"""SimulatedHypervisor: the Hypervisor port over a dict of domains (simulation).

Spawn, start, stop, reboot and delete change the state at once, or after a configurable delay
(as a slow hypervisor would); they are idempotent like the libvirt driver's. Nothing happens on
its own, so `domain_changes` never yields. Every number it reports is made up, and the metrics
samples it builds say so (`simulated=True`), from each instance's load profile (server metadata
`sim.cpu`, `sim.mem`; see devcluster.load), which spawn and update_metadata set and delete
forgets.

With a `state_dir` the domains outlive the process, as libvirtd's outlive the agent: every
change is written there (devcluster.simulation.host_state) before the operation returns, so
before the agent reports it, and a new SimulatedHypervisor of the same host starts from what
was written. Without a `state_dir` everything is in memory and lost with the process (libvirt's
test driver does the same: that is the "host lost its disks" case).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.hypervisor.base import (
    DomainChange,
    DomainInfo,
    DomainMissing,
    DomainSpec,
    HypervisorError,
    HypervisorInfo,
    PowerState,
    domain_name,
)
from agent.hypervisor.instance_files import InstanceFiles
from agent.metrics.model import HostMetrics
from devcluster.load import LoadSimulator, SimulatedHost
from devcluster.simulation.host_state import HostState, UnreadableState

HYPERVISOR_TYPE = "simulated"
DOMAIN_TYPE = "test"  # nothing to boot: the controller sends no images to fetch


@dataclass
class SimulatedDomain:
    uid: str
    name: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    power: PowerState
    metadata: dict[str, str] = field(default_factory=dict)  # the load profile's source
    generation: int = 0  # the placement generation it was spawned with (fencing)

    def to_json(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict (deep copies) cost ~4x the rest of a simulated spawn.
        return {
            "uid": self.uid,
            "name": self.name,
            "vcpus": self.vcpus,
            "memory_mib": self.memory_mib,
            "disk_gib": self.disk_gib,
            "power": self.power.value,
            "metadata": self.metadata,
            "generation": self.generation,
        }

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> SimulatedDomain:
        return cls(
            uid=str(row["uid"]),
            name=str(row["name"]),
            vcpus=int(row["vcpus"]),
            memory_mib=int(row["memory_mib"]),
            disk_gib=int(row["disk_gib"]),
            power=PowerState(row["power"]),
            metadata={str(k): str(v) for k, v in dict(row.get("metadata") or {}).items()},
            generation=int(row.get("generation") or 0),
        )


class SimulatedHypervisor:
    """One simulated host. `delay`: seconds each operation takes (0 = instant); `state_dir`:
    where its domains persist (None: in memory only)."""

    def __init__(
        self,
        host_id: str,
        *,
        vcpus: int,
        memory_mib: int,
        arch: str = "x86_64",
        delay: float = 0.0,
        loads: LoadSimulator | None = None,
        state_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if vcpus < 1 or memory_mib < 1:
            raise ValueError("a simulated host needs at least 1 vcpu and 1 MiB of memory")
        self.host_id = host_id
        self._info = HypervisorInfo(
            hostname=host_id,
            arch=arch,
            hypervisor_type=HYPERVISOR_TYPE,
            uri=f"sim:///{host_id}",
            vcpus=vcpus,
            memory_mib=memory_mib,
            domain_type=DOMAIN_TYPE,
        )
        self._delay = delay
        self.domains: dict[str, SimulatedDomain] = {}
        self.loads = loads or LoadSimulator()
        self._host = SimulatedHost(vcpus=vcpus, memory_mib=memory_mib)
        self._closed = asyncio.Event()
        self.operations = 0  # commands that reached the hypervisor, for the fleet's stats
        # What an agent process on this hypervisor watches (agent.app): a simulated host has no
        # instance files and no connection to lose.
        self.files: InstanceFiles | None = None
        self.connection_lost = asyncio.Event()
        self._state = None if state_dir is None else HostState(state_dir, host_id)
        if self._state is not None:
            self._load(self._state)

    # -- what the host holds ------------------------------------------------------------------

    @property
    def uri(self) -> str:
        return self._info.uri

    @property
    def vcpus_used(self) -> int:
        return sum(d.vcpus for d in self.domains.values())

    @property
    def memory_mib_used(self) -> int:
        return sum(d.memory_mib for d in self.domains.values())

    async def inventory(self) -> HypervisorInfo:
        return self._info

    async def list_domains(self) -> list[DomainInfo]:
        return [self._info_of(d) for d in self.domains.values()]

    async def power_state(self, instance_uid: str) -> PowerState:
        d = self.domains.get(_canonical(instance_uid))
        return PowerState.MISSING if d is None else d.power

    async def generation(self, instance_uid: str) -> int:
        d = self.domains.get(_canonical(instance_uid))
        return 0 if d is None else d.generation

    # -- operations (idempotent, as at-least-once delivery needs) ------------------------------

    async def spawn(self, spec: DomainSpec) -> None:
        uid = _canonical(spec.instance_uid)
        await self._work()
        d = self.domains.get(uid)
        if d is None:
            d = self.domains[uid] = SimulatedDomain(
                uid=uid,
                name=domain_name(uid),
                vcpus=spec.vcpus,
                memory_mib=spec.memory_mib,
                disk_gib=spec.disk_gib,
                power=PowerState.RUNNING,
                metadata=dict(spec.metadata),
                generation=spec.generation,
            )
        else:
            d.power = PowerState.RUNNING
        # A redelivered spawn keeps a profile an update_metadata gave it since.
        self.loads.adopt(uid, spec.metadata)
        self._put(d)

    async def start(self, instance_uid: str) -> None:
        d = self._existing(instance_uid)
        await self._work()
        d.power = PowerState.RUNNING
        self._put(d)

    async def stop(self, instance_uid: str) -> None:
        d = self._existing(instance_uid)
        await self._work()
        d.power = PowerState.SHUTDOWN
        self._put(d)

    async def reboot(self, instance_uid: str) -> None:
        d = self._existing(instance_uid)
        if d.power is not PowerState.RUNNING:
            raise HypervisorError(f"domain {d.name} is not running")
        await self._work()

    async def delete(self, instance_uid: str) -> None:
        uid = _canonical(instance_uid)
        await self._work()
        if self.domains.pop(uid, None) is not None and self._state is not None:
            self._state.drop(uid, len(self.domains))
            self._compact_if_due()
        self.loads.forget(uid)

    async def update_metadata(
        self, instance_uid: str, instance_name: str, image: str, metadata: Mapping[str, str]
    ) -> None:
        # No delay and not counted in `operations`: nothing a hypervisor would do slowly.
        uid = _canonical(instance_uid)
        d = self.domains.get(uid)
        if d is not None:
            d.metadata = dict(metadata)
            self._put(d)
            self.loads.set_metadata(uid, metadata)

    async def domain_changes(self) -> AsyncIterator[DomainChange]:
        # A simulated guest never changes on its own: wait for close(), yield nothing.
        await self._closed.wait()
        return
        yield  # pragma: no cover  (makes this an async generator)

    async def close(self) -> None:
        self._closed.set()
        if self._state is not None:
            self._state.close()

    # -- metrics (simulated) --------------------------------------------------------------------

    def sample(self, *, with_instances: bool = True) -> HostMetrics:
        """One simulated metrics sample of the host and its domains."""
        pairs = [
            (
                self.loads.instance(
                    d.uid, vcpus=d.vcpus, memory_mib=d.memory_mib, running=d.power is PowerState.RUNNING
                ),
                d.vcpus,
            )
            for d in self.domains.values()
        ]
        now = time.monotonic()
        return self._host.sample(pairs, now, sampled_at=time.time(), with_instances=with_instances)

    # -- persistence (with a state directory) --------------------------------------------------

    def _load(self, state: HostState) -> None:
        try:
            rows = state.load()
            for row in rows.values():
                d = SimulatedDomain.from_json(row)
                self.domains[d.uid] = d
                self.loads.adopt(d.uid, d.metadata)
        except (UnreadableState, ValueError, KeyError, TypeError) as exc:
            raise HypervisorError(f"unreadable simulation state: {exc}") from exc
        state.open(d.to_json() for d in self.domains.values())

    def _put(self, d: SimulatedDomain) -> None:
        if self._state is not None:
            self._state.put(d.to_json(), len(self.domains))
            self._compact_if_due()

    def _compact_if_due(self) -> None:
        assert self._state is not None
        if self._state.needs_compaction:
            self._state.compact(d.to_json() for d in self.domains.values())

    # -- helpers ------------------------------------------------------------------------------

    async def _work(self) -> None:
        self.operations += 1
        if self._delay > 0:
            await asyncio.sleep(self._delay)

    def _existing(self, instance_uid: str) -> SimulatedDomain:
        d = self.domains.get(_canonical(instance_uid))
        if d is None:
            raise DomainMissing(f"no domain for instance {instance_uid}")
        return d

    def _info_of(self, d: SimulatedDomain) -> DomainInfo:
        return DomainInfo(
            uuid=d.uid,
            name=d.name,
            power_state=d.power,
            persistent=True,
            vcpus=d.vcpus,
            memory_mib=d.memory_mib,
            generation=d.generation,
        )


def _canonical(uid: str) -> str:
    """libvirt's UUIDString form; an invalid uid fails the command like libvirt would."""
    try:
        return str(uuid.UUID(uid))
    except ValueError:
        raise HypervisorError(f"invalid instance uid {uid!r}") from None
