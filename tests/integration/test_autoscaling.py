"""Scaling groups end to end on the fleet simulation: a real controller (autoscaler every 1 s,
metrics every 1 s) and two fleet processes of two simulated hosts each, so that one fleet can be
frozen (SIGSTOP) to put its hosts DOWN.

Members report simulated CPU (`sim.cpu`), which a simulated load balancer
(devcluster.scaling_load.DemandBalancer) spreads over them as a real one would: a demand of D
vcpus gives each of n one-vcpu members min(1, D / n). With a 50% target the group needs
ceil(D / 0.5) members, and the tests check that it gets there, stays there, shrinks after its
stabilisation window, replaces members that die or whose host goes DOWN, follows a custom metric,
and says why when its template can never be placed instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aio_pika
import pytest

from client import AsyncClient, NotFound
from client.scaling import target_tracking
from devcluster.events import EventTap
from devcluster.processes import Cluster, Proc
from devcluster.scaling_load import DemandBalancer
from overcast.v1 import common_pb2

from ..conftest import ClusterFactory
from .group_waits import describe, history, holds, settled_at, wait_group
from .helpers import short

PERIOD_S = 1.0  # --autoscaler-period
WINDOW_S = 5.0  # the scale-down stabilisation window of the CPU groups here
FLEET_FLAGS = ("--shape", "16:32:400", "--op-delay", "0.01", "--stats-interval", "1")


@pytest.fixture(scope="module")
def scaling_cluster(clusters: ClusterFactory) -> Iterator[Cluster]:
    c = clusters("autoscale")
    c.host_queue_type = "transient"
    c.metrics_interval = 1.0  # agents' samples, as in production
    c.start_controller("--autoscaler-period", str(PERIOD_S))
    c.wait_controller()
    c.start_fleet(2, *FLEET_FLAGS, host_prefix="asa")
    c.start_fleet(2, *FLEET_FLAGS, host_prefix="asb")
    c.wait_fleet_up(timeout=60)
    yield c
    for fleet in c.fleets:
        if fleet.popen is not None and fleet.popen.poll() is None:
            fleet.resume()  # a test that failed while its fleet was frozen
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


@pytest.fixture
async def api(scaling_cluster: Cluster) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(scaling_cluster.endpoint, timeout=15) as client:
        if not await client.list_images():
            await client.create_image("cirros", "qcow2")
        yield client


@contextlib.asynccontextmanager
async def scaling_group(api: AsyncClient, group_id: str, **spec: Any) -> AsyncIterator[str]:
    """A group made for one test and deleted with its members afterwards, pass or fail."""
    spec.setdefault("flavor", "m1.tiny")
    spec.setdefault("image", "cirros")
    g = await api.create_scaling_group(group_id, **spec)
    try:
        yield g.name
    finally:
        with contextlib.suppress(NotFound):
            await api.delete_scaling_group(g.name)


def cpu_policy() -> Any:
    # A short window and scale-up period (defaults 300 s and 15 s) so the test takes seconds.
    return target_tracking(
        "cpu",
        target=50,
        scale_down_stabilization=WINDOW_S,
        scale_up_members=10,
        scale_up_period=2,
        warmup=1,  # simulated members have no boot: their first sample is their share
    )


async def test_cpu_group_grows_to_the_computed_size_stays_and_shrinks_after_the_window(
    scaling_cluster: Cluster, api: AsyncClient
) -> None:
    c = scaling_cluster
    async with (
        EventTap(c.amqp_url, c.bus_prefix) as tap,
        scaling_group(
            api, "web", min_size=1, max_size=10, metadata={"sim.cpu": "0"}, policies=[cpu_policy()]
        ) as name,
        DemandBalancer(api, name) as lb,
    ):
        await wait_group(api, name, settled_at(1), "at its min size, ACTIVE")

        demand = 2.8  # vcpus: 6 members at 46.7% hold a 50% target, 5 would carry 56%
        want = math.ceil(demand / 0.5)
        lb.set_demand(demand)
        raised = time.monotonic()
        most = 0

        def grown(g: Any) -> bool:
            nonlocal most
            most = max(most, g.desired_size, g.status.current_size)
            return settled_at(want)(g)

        g = await wait_group(api, name, grown, f"grown to {want} ACTIVE members", timeout=90)
        print(f"{want} members ACTIVE {time.monotonic() - raised:.1f}s after the demand was raised")
        await lb.settled()
        await holds(api, name, settled_at(want), f"at {want}", seconds=5 * PERIOD_S)
        assert most == want, f"overshot: the group went to {most} on its way to {want}"
        g = await api.get_scaling_group(name)
        (cpu,) = g.status.metrics
        assert cpu.metric == "cpu_utilization" and cpu.target == 50
        assert cpu.reporting_members == want
        assert abs(cpu.value - 100 * demand / want) < 5, describe(g)

        # Every decision is published: the one that chose `want` says from what and why.
        def decided(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                e["scaling"] for e in events if e["eventType"] == "scaling.decision" and e["resource"] == name
            ]

        await tap.wait_for(lambda ev: any(d.get("desiredSize") == want for d in decided(ev)), timeout=10)
        to_want = next(d for d in decided(tap.events) if d.get("desiredSize") == want)
        assert to_want["rule"].startswith("target_tracking/"), to_want
        assert 0 < to_want.get("currentSize", 0) < want, to_want
        (reading,) = to_want["metrics"]
        assert reading["metric"] == "cpu_utilization" and reading["target"] == 50
        assert reading["value"] > 50 * 1.1, to_want  # beyond the tolerance band: why it grew

        # Drop the demand: the group shrinks to ceil(0.8 / 0.5) = 2, not before its window.
        lb.set_demand(0.8)
        dropped = time.monotonic()
        await wait_group(api, name, lambda g: g.desired_size < want, "deciding to shrink", timeout=30)
        waited = time.monotonic() - dropped
        # The window runs from the last round that still recommended `want`: rounds are a period
        # apart, so the last one may precede the drop (its members' samples still the old load)
        # by up to a period.
        assert waited >= WINDOW_S - PERIOD_S, f"scaled in {waited:.1f}s after the drop, within its window"
        await wait_group(api, name, settled_at(2), "shrunk to 2", timeout=30)
        await holds(api, name, settled_at(2), "at 2", seconds=WINDOW_S + 2 * PERIOD_S)
        print(f"scale-in decided {waited:.1f}s after the demand dropped (window {WINDOW_S:g}s)")


async def test_a_custom_metric_sizes_the_group(api: AsyncClient) -> None:
    policy = target_tracking("custom/queue_depth", target=100, scale_up_members=20, scale_up_period=2)
    async with scaling_group(api, "queue", min_size=1, max_size=20, policies=[policy]) as name:
        await wait_group(api, name, settled_at(1), "at its min size, ACTIVE")
        # A group-wide value: per member it is 1000 / members, held at 100 by 10 members.
        await api.record_group_metric(name, "custom/queue_depth", 1000)
        await wait_group(api, name, settled_at(10), "at 10 members for 1000 at 100 each", timeout=60)
        await holds(api, name, settled_at(10), "at 10", seconds=4 * PERIOD_S)
        g = await api.get_scaling_group(name)
        (reading,) = g.status.metrics
        assert reading.metric == "custom/queue_depth" and reading.target == 100
        assert reading.value == pytest.approx(100), describe(g)


async def test_a_size_set_by_hand_is_a_decision_in_the_history(api: AsyncClient) -> None:
    async with scaling_group(api, "manual", min_size=1, max_size=5) as name:
        await wait_group(api, name, settled_at(1), "at its min size, ACTIVE")
        await api.set_desired_size(name, 3)
        await wait_group(api, name, settled_at(3), "at 3 ACTIVE members", timeout=30)
        # Every decision is explained, a person's too: from 1 to 3, by hand.
        log = await history(api, name)
        manual = [
            a
            async for a in api.list_scaling_activities(name)
            if a.kind == "scaling.decision" and a.rule == "manual"
        ]
        assert [(a.previous_desired, a.desired_size) for a in manual] == [(1, 3)], log


async def test_a_member_deleted_behind_the_groups_back_is_replaced(api: AsyncClient) -> None:
    async with scaling_group(api, "svc", min_size=3, max_size=3) as name:
        g = await wait_group(api, name, settled_at(3), "at 3 ACTIVE members")
        before, victim = list(g.members), g.members[0]
        await api.delete_server(short(victim))
        g = await wait_group(
            api, name, lambda g: settled_at(3)(g) and victim not in g.members, "with a replacement"
        )
        (newcomer,) = set(g.members) - set(before)
        # The history says the group made it (as an addition: the old one is gone, not failed).
        history = [a async for a in api.list_scaling_activities(name)]
        made = [
            a
            for a in history
            if (a.kind == "scaling.member.added" and a.member == newcomer)
            or (a.kind == "scaling.member.replaced" and a.replacement == newcomer)
        ]
        assert made, [(a.kind, a.member, a.replacement, a.reason) for a in history]


async def test_members_on_a_host_down_are_replaced_elsewhere(
    scaling_cluster: Cluster, api: AsyncClient
) -> None:
    c = scaling_cluster
    # Soft anti-affinity spreads the four members over the four hosts, two per fleet.
    async with scaling_group(
        api, "ha", min_size=4, max_size=4, placement_policy="soft-anti-affinity", health_grace=2
    ) as name:
        g = await wait_group(api, name, settled_at(4), "at 4 ACTIVE members")
        hosts = {m: short((await api.get_server(short(m))).host) for m in g.members}
        fleet = next(f for f in c.fleets if any(h.startswith(_prefix(f)) for h in hosts.values()))
        doomed = {m for m, h in hosts.items() if h.startswith(_prefix(fleet))}
        fleet.pause()  # its hosts stop heartbeating: DOWN after 3 intervals, then the grace
        frozen = time.monotonic()
        try:
            deadline = frozen + 60
            while True:
                g = await api.get_scaling_group(name)
                placed = {
                    s.name: short(s.host)
                    for s in await api.list_servers(scaling_group=name)
                    if s.task_state != common_pb2.TASK_STATE_DELETING
                }
                if settled_at(4)(g) and len(placed) == 4 and not doomed & set(placed):
                    break
                assert time.monotonic() < deadline, f"not replaced after 60s: {describe(g)} {placed}"
                await asyncio.sleep(0.5)
            print(f"{len(doomed)} members replaced {time.monotonic() - frozen:.1f}s after their host froze")
            assert not any(h.startswith(_prefix(fleet)) for h in placed.values()), placed
        finally:
            fleet.resume()
        history = [a async for a in api.list_scaling_activities(name)]
        replaced = {a.member: a.reason for a in history if a.kind == "scaling.member.replaced"}
        assert set(replaced) == doomed, [(a.kind, a.member, a.reason) for a in history]
        assert all("DOWN" in reason for reason in replaced.values()), replaced
        # Back up, its hosts delete the members replaced meanwhile: four servers in the group.
        deadline = time.monotonic() + 30
        while len(servers := await api.list_servers(scaling_group=name)) != 4:
            assert time.monotonic() < deadline, [(s.name, s.vm_state, s.task_state) for s in servers]
            await asyncio.sleep(0.5)


def _prefix(fleet: Proc) -> str:
    return fleet.argv[fleet.argv.index("--host-prefix") + 1] + "-"


async def test_a_template_no_host_can_take_says_why_and_backs_off(api: AsyncClient) -> None:
    # 128 vcpus: more than any host takes (16 vcpus at the default allocation ratio of 4).
    await api.create_flavor("as.huge", vcpus=128, memory_mib=1024, disk_gib=1)
    seen: set[str] = set()
    async with scaling_group(api, "huge", flavor="as.huge", min_size=1, max_size=3) as name:

        async def watch() -> None:
            async for change in api.watch_servers():
                if change.server.scaling_group == name:
                    seen.add(change.server.name)

        watcher = asyncio.create_task(watch())
        try:
            g = await wait_group(api, name, lambda g: bool(g.status.fault), "at fault", timeout=30)
            assert g.status.fault.startswith("No valid host"), g.status.fault
            assert "removed by capacity (vcpus)" in g.status.fault, g.status.fault
            # Ten autoscaler periods later: no stream of doomed servers (the retry backs off).
            await asyncio.sleep(10 * PERIOD_S)
            g = await api.get_scaling_group(name)
            assert "No valid host" in g.status.fault, describe(g)
            assert g.status.active_size == 0
            assert len(seen) <= 2, sorted(seen)
            print(f"{len(seen)} member(s) tried in the {10 * PERIOD_S:g}s after the fault showed")
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
