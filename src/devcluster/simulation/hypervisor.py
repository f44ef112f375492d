"""SimulatedHypervisor: the Hypervisor port over an in-memory dict of domains (simulation).

Spawn, start, stop, reboot and delete change the in-memory state at once, or after a
configurable delay (as a slow hypervisor would); they are idempotent like the libvirt driver's.
Nothing happens on its own, so `domain_changes` never yields. Every number it reports is made
up, and the metrics samples it builds say so (`simulated=True`), from each instance's load
profile (server metadata `sim.cpu`, `sim.mem`; see devcluster.load), which spawn and
update_metadata set and delete forgets.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

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
from agent.metrics.model import HostMetrics
from devcluster.load import LoadSimulator, SimulatedHost

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
    generation: int = 0  # the placement generation it was spawned with (fencing)


class SimulatedHypervisor:
    """One simulated host. `delay`: seconds each operation takes (0 = instant)."""

    def __init__(
        self,
        host_id: str,
        *,
        vcpus: int,
        memory_mib: int,
        arch: str = "x86_64",
        delay: float = 0.0,
        loads: LoadSimulator | None = None,
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
            self.domains[uid] = SimulatedDomain(
                uid=uid,
                name=domain_name(uid),
                vcpus=spec.vcpus,
                memory_mib=spec.memory_mib,
                disk_gib=spec.disk_gib,
                power=PowerState.RUNNING,
                generation=spec.generation,
            )
        else:
            d.power = PowerState.RUNNING
        # A redelivered spawn keeps a profile an update_metadata gave it since.
        self.loads.adopt(uid, spec.metadata)

    async def start(self, instance_uid: str) -> None:
        d = self._existing(instance_uid)
        await self._work()
        d.power = PowerState.RUNNING

    async def stop(self, instance_uid: str) -> None:
        d = self._existing(instance_uid)
        await self._work()
        d.power = PowerState.SHUTDOWN

    async def reboot(self, instance_uid: str) -> None:
        d = self._existing(instance_uid)
        if d.power is not PowerState.RUNNING:
            raise HypervisorError(f"domain {d.name} is not running")
        await self._work()

    async def delete(self, instance_uid: str) -> None:
        uid = _canonical(instance_uid)
        await self._work()
        self.domains.pop(uid, None)
        self.loads.forget(uid)

    async def update_metadata(
        self, instance_uid: str, instance_name: str, image: str, metadata: Mapping[str, str]
    ) -> None:
        # No delay and not counted in `operations`: nothing a hypervisor would do slowly.
        uid = _canonical(instance_uid)
        if uid in self.domains:
            self.loads.set_metadata(uid, metadata)

    async def domain_changes(self) -> AsyncIterator[DomainChange]:
        # A simulated guest never changes on its own: wait for close(), yield nothing.
        await self._closed.wait()
        return
        yield  # pragma: no cover  (makes this an async generator)

    async def close(self) -> None:
        self._closed.set()

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
