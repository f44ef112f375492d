"""Simulated demand for a scaling group: a load balancer that spreads a total demand over the
group's serving members, for the fleet simulation and the test-driver agents (simulation).

A group whose members report simulated CPU (`sim.cpu`, see devcluster.load) keeps its load only
if something spreads the load over its members as a real load balancer would: add a member and
the others carry less. `DemandBalancer` does that from outside, through the public API only:

- the demand D is in vcpus' worth of CPU (D = 3: three vcpus kept busy in all);
- a member serves once it is ACTIVE and running and until it is being deleted (a load balancer
  sends nothing to a server still booting or going away);
- every serving member gets the same fraction of its vcpus, min(1, D / the serving members'
  vcpus) (members of one vcpu: min(1, D / members)), written into its `sim.cpu` metadata with
  UpdateServer whenever the members or D change; the agent hears of it as UPDATE_METADATA and
  its next metrics sample carries the new load.

Members are followed with WatchServers (re-opened when it drops: its snapshot is the truth
again); the metadata a member shows there is what counts as applied.

    async with DemandBalancer(api, "projects/demo/scalingGroups/web") as lb:
        lb.set_demand(2.8)           # 6 members at 50% each hold it at a 50% target
        await lb.settled()           # every serving member shows its share
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from client import AsyncClient, NotFound, OvercastError
from devcluster.load import SIM_CPU
from overcast.v1 import common_pb2, server_pb2

_INITIAL = server_pb2.ServerChange.KIND_INITIAL
_SYNCED = server_pb2.ServerChange.KIND_SYNCED


def serving(server: Any) -> bool:
    """ACTIVE, running and not being deleted: a member a load balancer sends work to."""
    return bool(
        server.vm_state == common_pb2.VM_STATE_ACTIVE
        and server.power_state == common_pb2.POWER_STATE_RUNNING
        and server.task_state != common_pb2.TASK_STATE_DELETING
    )


def share(demand: float, vcpus: int) -> float:
    """The fraction of its vcpus each serving member keeps busy: D spread over `vcpus` in all."""
    if vcpus <= 0 or demand <= 0:
        return 0.0
    return min(1.0, demand / vcpus)


def as_text(fraction: float) -> str:
    return f"{fraction:.4f}"


def plan(members: Iterable[Any], demand: float, sent: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The metadata to write: server name → its whole new metadata, for every serving member
    whose `sim.cpu` (or the value last sent to it) is not its share of `demand`."""
    live = [m for m in members if serving(m)]
    value = as_text(share(demand, sum(max(1, m.vcpus) for m in live)))
    updates = {}
    for m in live:
        if sent.get(m.name, m.metadata.get(SIM_CPU)) != value:
            updates[m.name] = {**m.metadata, SIM_CPU: value}
    return updates


@dataclass
class BalancerStats:
    updates: int = 0  # UpdateServer calls that succeeded
    failures: int = 0  # ... and failed (retried on the next change or tick)
    watches: int = 0  # WatchServers streams opened


class DemandBalancer:
    """Spreads a demand over a scaling group's members (see the module docstring)."""

    def __init__(
        self,
        api: AsyncClient,
        group: str,
        *,
        demand: float = 0.0,
        tick_s: float = 1.0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """`group`: the group's full name, "projects/{p}/scalingGroups/{g}"; `tick_s`: how
        often the members are checked again without a change (an update that failed)."""
        parts = group.split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] != "scalingGroups":
            raise ValueError(f"not a scaling group name: {group!r}")
        self.api = api
        self.group = group
        self.project = parts[1]
        self.stats = BalancerStats()
        self._demand = demand
        self._tick_s = tick_s
        self._on_error = on_error
        self._members: dict[str, Any] = {}  # name → latest Server seen
        self._sent: dict[str, str] = {}  # name → sim.cpu last written (until the watch shows it)
        self._synced = asyncio.Event()
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- control --------------------------------------------------------------------------------

    @property
    def demand(self) -> float:
        return self._demand

    def set_demand(self, demand: float) -> None:
        self._demand = max(0.0, demand)
        self._wake.set()

    @property
    def share(self) -> float:
        """The fraction of its vcpus each serving member should show now."""
        return share(self._demand, sum(max(1, m.vcpus) for m in self.serving()))

    def members(self) -> list[Any]:
        """The group's live members as last seen (any state but DELETED)."""
        return list(self._members.values())

    def serving(self) -> list[Any]:
        return [m for m in self._members.values() if serving(m)]

    def applied(self) -> bool:
        """Every serving member shows its share in its metadata (as WatchServers sent it)."""
        value = as_text(self.share)
        return self._synced.is_set() and all(m.metadata.get(SIM_CPU) == value for m in self.serving())

    async def wait_until(
        self,
        predicate: Callable[[DemandBalancer], bool],
        timeout: float = 30.0,  # noqa: ASYNC109 - a built-in deadline: no caller can hang
    ) -> None:
        """Until `predicate(self)` holds after some change seen on the watch."""
        async with asyncio.timeout(timeout):
            while not (self._synced.is_set() and predicate(self)):
                self._changed.clear()
                if self._task is not None and self._task.done():
                    self._task.result()  # raises what ended it
                    raise RuntimeError("the balancer stopped")
                await self._changed.wait()

    async def settled(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await self.wait_until(DemandBalancer.applied, timeout)

    # -- running --------------------------------------------------------------------------------

    async def __aenter__(self) -> DemandBalancer:
        self._task = asyncio.create_task(self.run(), name=f"balancer {self.group}")
        await self.wait_until(lambda _: True)  # the first snapshot
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._watch())
                tg.create_task(self._balance())
        finally:
            self._changed.set()  # wake waiters: wait_until reports how it ended

    async def _watch(self) -> None:
        while True:
            self.stats.watches += 1
            snapshot: dict[str, Any] = {}
            try:
                async for change in self.api.watch_servers(self.project):
                    if change.kind == _SYNCED:
                        self._members = snapshot
                        self._sent = {k: v for k, v in self._sent.items() if k in snapshot}
                        self._synced.set()
                    elif change.kind == _INITIAL:
                        self._see(snapshot, change.server)
                    else:
                        self._see(self._members, change.server)
                    if self._synced.is_set():
                        self._wake.set()
                        self._changed.set()
            except OvercastError as err:
                self._error(f"watch: {err}")
            await asyncio.sleep(0.5)

    def _see(self, members: dict[str, Any], server: Any) -> None:
        if server.scaling_group != self.group:
            return
        if server.vm_state == common_pb2.VM_STATE_DELETED:
            members.pop(server.name, None)
            self._sent.pop(server.name, None)
            return
        members[server.name] = server
        if server.name in self._sent and self._sent[server.name] == server.metadata.get(SIM_CPU):
            del self._sent[server.name]  # the watch shows it now

    async def _balance(self) -> None:
        await self._synced.wait()
        while True:
            updates = plan(self._members.values(), self._demand, self._sent)
            if updates:
                await asyncio.gather(*(self._update(name, md) for name, md in updates.items()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._tick_s):
                    await self._wake.wait()

    async def _update(self, name: str, metadata: dict[str, str]) -> None:
        self._sent[name] = metadata[SIM_CPU]
        try:
            await self.api.update_server_metadata(name, metadata, self.project)
        except NotFound:
            self._sent.pop(name, None)
        except OvercastError as err:
            # Being deleted, or any other refusal: try again on the next change or tick.
            self._sent.pop(name, None)
            self.stats.failures += 1
            self._error(f"update {name}: {err}")
        else:
            self.stats.updates += 1

    def _error(self, message: str) -> None:
        if self._on_error is not None:
            self._on_error(f"{time.strftime('%H:%M:%S')} {message}")
