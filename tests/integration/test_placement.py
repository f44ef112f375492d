"""Placement policy end to end on real controllers and agents: server groups (API, CLI, hard
affinity and anti-affinity), availability zones, and pack vs spread on the libvirt test driver."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from client import AlreadyExists, AsyncClient, FailedPrecondition, InvalidArgument, NotFound
from devcluster.processes import Cluster
from overcast.v1 import common_pb2, server_pb2

from .helpers import short

CLI = str(Path(sys.executable).with_name("overcast"))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def settle(api: AsyncClient, name: str) -> server_pb2.Server:
    server = await api.wait_for_server(name, timeout=30)
    assert server is not None, f"{name} disappeared"
    return server


async def create_all(api: AsyncClient, names: list[str], **kw: object) -> list[server_pb2.Server]:
    """Create the servers at once (one scheduling batch, as likely as not), then wait for each."""
    await asyncio.gather(*(api.create_server(n, flavor="m1.tiny", image="cirros", **kw) for n in names))  # type: ignore[arg-type]
    return [await settle(api, n) for n in names]


async def delete_all(api: AsyncClient, names: list[str]) -> None:
    for n in names:
        await api.delete_server(n)
    for n in names:
        assert await api.wait_for_server(n, timeout=30) is None


# ---- server groups on the shared three-host cluster -----------------------------------------


async def test_anti_affinity_group_puts_three_servers_on_three_hosts_and_refuses_a_fourth(
    api: AsyncClient, cluster: Cluster
) -> None:
    group = unique("apart")
    await api.create_server_group(group, "ANTI_AFFINITY")
    names = [unique("apart") for _ in range(3)]
    servers = await create_all(api, names, server_group=group)
    assert all(s.vm_state == common_pb2.VM_STATE_ACTIVE for s in servers), [s.fault for s in servers]
    assert sorted(short(s.host) for s in servers) == ["host-1", "host-2", "host-3"]
    assert all(s.server_group == f"projects/demo/serverGroups/{group}" for s in servers)

    fourth = unique("apart")
    await api.create_server(fourth, flavor="m1.tiny", image="cirros", server_group=group)
    failed = await settle(api, fourth)
    assert failed.vm_state == common_pb2.VM_STATE_ERROR
    assert failed.fault == "No valid host: 3 hosts: 3 removed by server group (anti-affinity)"

    shown = await api.get_server_group(group)
    assert sorted(shown.members) == sorted(f"projects/demo/servers/{n}" for n in [*names, fourth])
    with pytest.raises(FailedPrecondition, match="member"):
        await api.delete_server_group(group)
    await delete_all(api, [*names, fourth])
    await api.delete_server_group(group)
    with pytest.raises(NotFound):
        await api.get_server_group(group)


async def test_affinity_group_lands_together(api: AsyncClient, cluster: Cluster) -> None:
    group = unique("together")
    await api.create_server_group(group, "affinity")
    names = [unique("together") for _ in range(4)]
    servers = await create_all(api, names, server_group=group)
    assert all(s.vm_state == common_pb2.VM_STATE_ACTIVE for s in servers), [s.fault for s in servers]
    assert len({s.host for s in servers}) == 1
    # A later member follows the first ones, whatever the weighers prefer.
    late = unique("together")
    (joined,) = await create_all(api, [late], server_group=group)
    assert joined.host == servers[0].host
    await delete_all(api, [*names, late])
    await api.delete_server_group(group)


async def test_server_group_api_refuses_bad_requests(api: AsyncClient, cluster: Cluster) -> None:
    group = unique("g")
    created = await api.create_server_group(group, "SOFT_ANTI_AFFINITY", request_id=f"req-{group}")
    assert created.name == f"projects/demo/serverGroups/{group}" and created.etag
    again = await api.create_server_group(group, "SOFT_ANTI_AFFINITY", request_id=f"req-{group}")
    assert again.name == created.name  # a retried create returns the first result
    with pytest.raises(AlreadyExists):
        await api.create_server_group(group, "AFFINITY")
    with pytest.raises(InvalidArgument) as bad:
        await api.create_server_group("Bad_Id", 0)
    assert {f for f, _ in bad.value.field_violations} == {"server_group_id", "server_group.policy"}
    assert group in [short(g.name) for g in await api.list_server_groups()]

    with pytest.raises(NotFound, match="serverGroups/missing"):
        await api.create_server(unique("x"), flavor="m1.tiny", image="cirros", server_group="missing")
    with pytest.raises(InvalidArgument, match="server_group"):
        await api.create_server(
            unique("x"), flavor="m1.tiny", image="cirros", server_group="projects/other/serverGroups/g"
        )
    with pytest.raises(InvalidArgument, match="availability_zone"):
        await api.create_server(unique("x"), flavor="m1.tiny", image="cirros", availability_zone=" az ")
    with pytest.raises(NotFound):
        await api.delete_server_group("missing")
    await api.delete_server_group(group)


async def test_a_zone_no_host_has_is_accepted_then_fails_naming_the_zone(
    api: AsyncClient, cluster: Cluster
) -> None:
    name = unique("nozone")
    created = await api.create_server(name, flavor="m1.tiny", image="cirros", availability_zone="mars")
    assert created.availability_zone == "mars"
    failed = await settle(api, name)
    assert failed.vm_state == common_pb2.VM_STATE_ERROR
    assert failed.fault == "No valid host: 3 hosts: 3 removed by availability zone"
    await delete_all(api, [name])


async def test_an_image_for_another_architecture_fails_naming_the_filter(
    api: AsyncClient, cluster: Cluster
) -> None:
    image = unique("arm")
    await api.create_image(image, "qcow2", properties={"hw_architecture": "aarch64"})
    name = unique("arm")
    await api.create_server(name, flavor="m1.tiny", image=image)
    failed = await settle(api, name)
    assert failed.fault == "No valid host: 3 hosts: 3 removed by architecture"
    await delete_all(api, [name])
    await api.delete_image(image)


def overcast(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OVERCAST_ENDPOINT": cluster.endpoint}
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60)


def test_server_group_cli(cluster: Cluster, api: object) -> None:
    group, server = unique("cli"), unique("cli")
    made = overcast(cluster, "-o", "json", "server-group", "create", group, "--policy", "anti-affinity")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["policy"] == "SERVER_GROUP_POLICY_ANTI_AFFINITY"
    bad = overcast(cluster, "server-group", "create", unique("cli"), "--policy", "sideways")
    assert bad.returncode == 2 and "ANTI_AFFINITY" in bad.stderr and "Traceback" not in bad.stderr

    created = overcast(
        cluster, "server", "create", server, "-f", "m1.tiny", "-i", "cirros", "--server-group", group,
        "--availability-zone", "az1", "--wait",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    listed = overcast(cluster, "server-group", "list")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(group))
    assert "ANTI_AFFINITY" in row and server in row
    shown = overcast(cluster, "server-group", "show", group)
    assert server in shown.stdout
    refused = overcast(cluster, "server-group", "delete", group)
    assert refused.returncode == 1 and "member" in refused.stderr

    assert overcast(cluster, "server", "delete", server, "--wait").returncode == 0
    deleted = overcast(cluster, "server-group", "delete", group)
    assert deleted.returncode == 0, deleted.stderr
    assert overcast(cluster, "server-group", "show", group).returncode == 1


# ---- zones and strategies on a cluster of their own -----------------------------------------


@pytest.fixture(scope="module")
def zoned(clusters: object) -> Iterator[Cluster]:
    """A packing controller and three agents: zone-1 (z1-a, z1-b) and zone-2 (z2-a)."""
    c: Cluster = clusters("zones")  # type: ignore[operator]
    c.start_controller("--placement-strategy", "pack", "--load-weight", "0")
    c.wait_controller()
    zones = {"z1-a": "zone-1", "z1-b": "zone-1", "z2-a": "zone-2"}
    for host_id, zone in zones.items():
        c.start_agent(host_id, cpus=8, memory_gib=16, extra=("--availability-zone", zone))
    c.wait_hosts_up(list(zones))
    yield c
    unclean = clusters.teardown(c)  # type: ignore[attr-defined]
    c.controllers.clear()
    c.agents.clear()
    assert not unclean, f"processes did not shut down cleanly: {unclean}"


async def test_zones_and_pack_then_spread(zoned: Cluster) -> None:
    async with AsyncClient(zoned.endpoint, timeout=15) as api:
        await api.create_image("cirros", "qcow2")
        in_two = await create_all(api, [unique("z2") for _ in range(2)], availability_zone="zone-2")
        assert [short(s.host) for s in in_two] == ["z2-a", "z2-a"]
        # Pack: the zone's fullest host first, so all land on one host of zone-1.
        packed = await create_all(api, [unique("pack") for _ in range(3)], availability_zone="zone-1")
        assert all(s.vm_state == common_pb2.VM_STATE_ACTIVE for s in packed), [s.fault for s in packed]
        assert len({s.host for s in packed}) == 1 and short(packed[0].host).startswith("z1-")

    # The same fleet under a spreading controller: the emptier host of zone-1 first.
    zoned.controllers[0].stop()
    restarted = time.time()
    zoned.start_controller("--placement-strategy", "spread", "--load-weight", "0", replace=0)
    zoned.wait_controller()
    async with AsyncClient(zoned.endpoint, timeout=15) as api:
        await heartbeats_since(api, restarted, len(zoned.agents))
        spread = await create_all(api, [unique("spread") for _ in range(2)], availability_zone="zone-1")
        assert all(s.vm_state == common_pb2.VM_STATE_ACTIVE for s in spread), [s.fault for s in spread]
        other = ({"z1-a", "z1-b"} - {short(packed[0].host)}).pop()
        assert [short(s.host) for s in spread] == [other, other]


async def heartbeats_since(api: AsyncClient, since: float, count: int) -> None:
    """Wait until `count` hosts have sent a heartbeat to the (restarted) controller."""
    async with asyncio.timeout(30):
        while True:
            hosts = await api.list_hosts()
            beats = [h.last_heartbeat_time.seconds + h.last_heartbeat_time.nanos / 1e9 for h in hosts]
            if sum(b > since + 0.5 for b in beats) >= count:
                return
            await asyncio.sleep(0.2)
