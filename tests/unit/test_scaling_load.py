"""The simulated load balancer of a scaling group (devcluster.scaling_load): a demand D spread
over the serving members as min(1, D / their vcpus), rewritten when members or D change.

The balancer runs against an in-memory stand-in for the API (WatchServers and UpdateServer
only), so what it writes is checked without a controller; the integration tests use it for
real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from client import FailedPrecondition
from devcluster.scaling_load import DemandBalancer, plan, serving, share
from overcast.v1 import common_pb2, server_pb2

GROUP = "projects/p/scalingGroups/web"
ACTIVE, BUILDING, DELETED = (
    common_pb2.VM_STATE_ACTIVE,
    common_pb2.VM_STATE_BUILDING,
    common_pb2.VM_STATE_DELETED,
)
RUNNING = common_pb2.POWER_STATE_RUNNING
DELETING = common_pb2.TASK_STATE_DELETING


def member(
    n: int, *, vm: int = ACTIVE, task: int = 0, vcpus: int = 1, cpu: str | None = None
) -> server_pb2.Server:
    s = server_pb2.Server(
        name=f"projects/p/servers/web-{n}",
        vm_state=vm,
        task_state=task,
        power_state=RUNNING if vm == ACTIVE else 0,
        vcpus=vcpus,
        scaling_group=GROUP,
        metadata={"role": "web"},
    )
    if cpu is not None:
        s.metadata["sim.cpu"] = cpu
    return s


def test_share_is_the_demand_over_the_vcpus_capped_at_one() -> None:
    assert share(3.0, 6) == 0.5
    assert share(3.0, 2) == 1.0
    assert share(0.0, 4) == 0.0
    assert share(2.0, 0) == 0.0


def test_only_active_running_members_not_being_deleted_serve() -> None:
    assert serving(member(1))
    assert not serving(member(2, vm=BUILDING))
    assert not serving(member(3, task=DELETING))


def test_plan_writes_each_serving_members_share_keeping_its_other_metadata() -> None:
    members = [member(1), member(2, cpu="0.7000"), member(3, vm=BUILDING), member(4, task=DELETING)]
    updates = plan(members, 1.4, sent={})
    assert updates == {
        "projects/p/servers/web-1": {"role": "web", "sim.cpu": "0.7000"},
    }
    # Bigger members carry their vcpus' share: 3 vcpus in all, 1.5 of demand -> 50% each.
    assert (
        plan([member(1), member(2, vcpus=2)], 1.5, sent={})["projects/p/servers/web-2"]["sim.cpu"] == "0.5000"
    )
    # What was just sent counts until the watch shows it.
    assert plan([member(1, cpu="0.1000")], 0.7, sent={"projects/p/servers/web-1": "0.7000"}) == {}


class FakeApi:
    """WatchServers and UpdateServer over a dict of servers."""

    def __init__(self, servers: list[server_pb2.Server]) -> None:
        self.servers = {s.name: s for s in servers}
        self.queue: asyncio.Queue[server_pb2.Server] = asyncio.Queue()
        self.writes: list[tuple[str, str]] = []
        self.refuse: set[str] = set()

    async def watch_servers(self, project: str) -> AsyncGenerator[server_pb2.ServerChange, None]:
        for s in self.servers.values():
            yield server_pb2.ServerChange(kind=server_pb2.ServerChange.KIND_INITIAL, server=s)
        yield server_pb2.ServerChange(kind=server_pb2.ServerChange.KIND_SYNCED)
        while True:
            s = await self.queue.get()
            yield server_pb2.ServerChange(kind=server_pb2.ServerChange.KIND_CHANGED, server=s)

    def change(self, server: server_pb2.Server) -> None:
        self.servers[server.name] = server
        self.queue.put_nowait(server)

    async def update_server_metadata(self, name: str, metadata: dict[str, str], project: str) -> None:
        full = f"projects/{project}/servers/{name.rsplit('/', 1)[-1]}"
        if full in self.refuse:
            raise FailedPrecondition("a task is in flight")
        s = server_pb2.Server()
        s.CopyFrom(self.servers[full])
        s.metadata.clear()
        s.metadata.update(metadata)
        self.writes.append((full, metadata["sim.cpu"]))
        self.change(s)


async def test_the_balancer_follows_members_and_demand() -> None:
    api = FakeApi([member(1), member(2), member(9, vm=BUILDING)])
    api.servers["projects/p/servers/other"] = server_pb2.Server(
        name="projects/p/servers/other", vm_state=ACTIVE
    )
    errors: list[str] = []
    async with DemandBalancer(api, GROUP, demand=1.0, tick_s=0.05, on_error=errors.append) as lb:  # type: ignore[arg-type]
        await lb.settled(timeout=5)
        cpu = {n: s.metadata.get("sim.cpu") for n, s in api.servers.items()}
        assert cpu == {
            "projects/p/servers/web-1": "0.5000",
            "projects/p/servers/web-2": "0.5000",
            "projects/p/servers/web-9": None,  # still building: no traffic
            "projects/p/servers/other": None,  # not a member
        }
        # A third member comes up: everyone carries a third.
        api.change(member(9))
        await lb.wait_until(lambda b: len(b.serving()) == 3 and b.applied(), timeout=5)
        assert {s.metadata["sim.cpu"] for s in lb.serving()} == {"0.3333"}
        # Demand beyond the members' vcpus: each saturates.
        lb.set_demand(5.0)
        await lb.wait_until(lambda b: b.share == 1.0 and b.applied(), timeout=5)
        # A member being deleted leaves the rotation; one deleted is forgotten.
        lb.set_demand(1.0)
        api.change(member(1, task=DELETING, cpu="1.0000"))
        api.change(member(9, vm=DELETED))
        await lb.wait_until(lambda b: len(b.serving()) == 1 and b.applied(), timeout=5)
        assert api.servers["projects/p/servers/web-2"].metadata["sim.cpu"] == "1.0000"
        assert [m.name for m in lb.members()] == ["projects/p/servers/web-1", "projects/p/servers/web-2"]
    assert errors == []


async def test_a_refused_update_is_retried() -> None:
    api = FakeApi([member(1)])
    api.refuse.add("projects/p/servers/web-1")
    errors: list[str] = []
    async with DemandBalancer(api, GROUP, demand=0.25, tick_s=0.05, on_error=errors.append) as lb:  # type: ignore[arg-type]
        await asyncio.sleep(0.2)
        assert not lb.applied() and lb.stats.failures >= 2
        api.refuse.clear()
        await lb.settled(timeout=5)
    assert "a task is in flight" in errors[0]


def test_a_group_name_is_checked() -> None:
    with pytest.raises(ValueError, match="not a scaling group name"):
        DemandBalancer(None, "projects/p/servers/web")  # type: ignore[arg-type]
