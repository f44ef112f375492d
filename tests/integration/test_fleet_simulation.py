"""The fleet simulation against a real controller: 50 simulated hosts (python -m
devcluster.simulation, one process, each host with its own stream and command queue) come UP,
200 servers are placed and go ACTIVE on them, no host is over capacity, deletes work; a
controller frozen for several times the hosts' window takes none of them DOWN when it resumes;
and the whole fleet falling silent at once (its process stopped, as a cut network would look)
is held UP with one warning per zone, not a host.down per host."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import aio_pika
import pytest

from client import AsyncClient
from devcluster.processes import Cluster
from overcast.v1 import common_pb2

from ..conftest import ClusterFactory

HOSTS = 50
SERVERS = 200
PREFIX = "simtest"


@pytest.fixture(scope="module")
def fleet_cluster(clusters: ClusterFactory) -> Iterator[Cluster]:
    c = clusters("fleet")
    c.host_queue_type = "transient"  # thousands of host queues in real runs: no disk
    c.start_controller("--large-zone-size", "20")  # the zones have 25 hosts each
    c.wait_controller()
    # Two kinds of host, two zones; spawns take a little time, as a hypervisor's would.
    c.start_fleet(
        HOSTS,
        "--shape", "8:16:200:3",
        "--shape", "16:32:400:1",
        "--zones", "az1,az2",
        "--op-delay", "0.01",
        "--stats-interval", "0.5",
        host_prefix=PREFIX,
    )  # fmt: skip
    c.wait_fleet_up(timeout=60)
    yield c
    asyncio.run(_delete_queues(c))
    unclean = clusters.teardown(c)
    c.controllers.clear()
    c.fleets.clear()
    assert not unclean, f"processes did not shut down cleanly: {unclean}"


async def _delete_queues(c: Cluster) -> None:
    conn = await aio_pika.connect(c.amqp_url)
    async with conn:
        ch = await conn.channel()
        for host_id in c.fleet_hosts:
            await ch.queue_delete(f"{c.bus_prefix}.host.{host_id}")


def fleet_stats(c: Cluster) -> dict[str, object]:
    stats: dict[str, object] = json.loads((c.workdir / "fleet-1.json").read_text())
    return stats


async def wait_stats(c: Cluster, key: str, value: int) -> None:
    """Until the fleet's stats file (written every 0.5 s) shows `value` for `key` (20 s at most)."""
    deadline = time.monotonic() + 20
    while fleet_stats(c).get(key) != value:
        assert time.monotonic() < deadline, f"fleet {key} never reached {value}: {fleet_stats(c)}"
        await asyncio.sleep(0.2)


async def test_fleet_places_runs_and_deletes_servers(fleet_cluster: Cluster) -> None:
    c = fleet_cluster
    async with AsyncClient(c.endpoint, timeout=30, max_concurrency=32) as api:
        hosts = [h for h in await api.list_hosts() if h.name.startswith(f"hosts/{PREFIX}-")]
        assert len(hosts) == HOSTS
        assert all(h.state == common_pb2.HOST_STATE_UP for h in hosts)
        assert {h.hypervisor_type for h in hosts} == {"simulated"}
        assert {h.availability_zone for h in hosts} == {"az1", "az2"}
        assert {(h.vcpus, h.memory_mib) for h in hosts} == {(8, 16384), (16, 32768)}

        if not await api.list_images():
            await api.create_image("cirros", "qcow2")
        flavors = ["m1.tiny", "m1.small", "m1.medium"]
        names = [f"fleet-{i:03d}" for i in range(SERVERS)]
        await asyncio.gather(
            *(
                api.create_server(
                    n, flavor=flavors[i % len(flavors)], image="cirros", metadata={"sim.cpu": "0.5"}
                )
                for i, n in enumerate(names)
            )
        )
        deadline = time.monotonic() + 60
        while True:
            servers = [s for s in await api.list_servers(page_size=500) if s.name.rsplit("/", 1)[1] in names]
            if all(s.vm_state == common_pb2.VM_STATE_ACTIVE and not s.task_state for s in servers):
                break
            errors = [f"{s.name}: {s.fault}" for s in servers if s.vm_state == common_pb2.VM_STATE_ERROR]
            assert not errors, errors[:5]
            assert time.monotonic() < deadline, "servers not ACTIVE after 60 s"
            await asyncio.sleep(0.2)
        assert len(servers) == SERVERS
        assert all(s.host.startswith(f"hosts/{PREFIX}-") for s in servers)
        assert len({s.host for s in servers}) > 1
        await wait_stats(c, "domains", SERVERS)

        # Nobody over capacity, as the controller accounts it.
        for h in await api.list_hosts():
            if h.name.startswith(f"hosts/{PREFIX}-"):
                assert h.vcpus_used <= h.vcpus * h.cpu_allocation_ratio, h.name
                assert h.memory_mib_used <= h.memory_mib * h.ram_allocation_ratio, h.name
                assert h.disk_gib_used <= h.disk_gib * h.disk_allocation_ratio, h.name
        used = sum(h.servers for h in await api.list_hosts() if h.name.startswith(f"hosts/{PREFIX}-"))
        assert used == SERVERS

        await asyncio.gather(*(api.delete_server(n) for n in names))
        deadline = time.monotonic() + 60
        while [s for s in await api.list_servers(page_size=500) if s.name.rsplit("/", 1)[1] in names]:
            assert time.monotonic() < deadline, "servers not deleted after 60 s"
            await asyncio.sleep(0.2)
        await wait_stats(c, "domains", 0)
        hosts = [h for h in await api.list_hosts() if h.name.startswith(f"hosts/{PREFIX}-")]
        assert sum(h.servers for h in hosts) == 0
        assert sum(h.vcpus_used for h in hosts) == 0


def log_lines(c: Cluster, event: str) -> list[str]:
    """The controller's log lines of one event (it logs for people: the event comes first)."""
    text = c.controllers[0].log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if f" {event} " in line]


async def fleet_hosts_up(c: Cluster) -> int:
    async with AsyncClient(c.endpoint, timeout=30) as api:
        hosts = [h for h in await api.list_hosts() if h.name.startswith(f"hosts/{PREFIX}-")]
    assert len(hosts) == HOSTS
    return sum(h.state == common_pb2.HOST_STATE_UP for h in hosts)


async def test_a_controller_frozen_for_four_windows_takes_no_host_down(fleet_cluster: Cluster) -> None:
    """SIGSTOP the controller for four times the hosts' window (3 heartbeat intervals): on the
    wall clock every host has been silent that long when it resumes."""
    c = fleet_cluster
    window_s = 3 * c.heartbeat_interval
    before = len(log_lines(c, "host.down"))
    c.controllers[0].pause()
    try:
        await asyncio.sleep(4 * window_s)
    finally:
        c.controllers[0].resume()
    await asyncio.sleep(4 * window_s)  # the backlog read, several sweeps of the monitor
    assert await fleet_hosts_up(c) == HOSTS
    assert len(log_lines(c, "host.down")) == before


async def test_the_whole_fleet_falling_silent_is_held_with_a_warning_per_zone(fleet_cluster: Cluster) -> None:
    """The fleet process stopped: every host silent at once. The controller hears none of its
    streams, so its liveness clock crawls, and none of them is heard for a window on the wall
    clock: both zones held, one warning each; resumed, nobody was DOWN, nothing to announce."""
    c = fleet_cluster
    downs, ups = len(log_lines(c, "host.down")), len(log_lines(c, "host.up"))
    c.fleets[0].pause()
    try:
        deadline = time.monotonic() + 20
        while len(log_lines(c, "host_monitor.zone_disrupted")) < 2:
            assert time.monotonic() < deadline, c.controllers[0].log_tail()
            await asyncio.sleep(0.5)
        assert await fleet_hosts_up(c) == HOSTS
    finally:
        c.fleets[0].resume()
    await asyncio.sleep(8 * c.heartbeat_interval)  # they beat again; the zones' grace passes
    assert await fleet_hosts_up(c) == HOSTS
    warned = log_lines(c, "host_monitor.zone_disrupted")
    assert len(warned) == 2 and {"zone=az1" in w or "zone=az2" in w for w in warned} == {True}
    assert len(log_lines(c, "host.down")) == downs and len(log_lines(c, "host.up")) == ups
