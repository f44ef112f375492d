"""Live metrics end to end: agents sample (simulated on the test driver) every 0.2 s, the
controller's load view smooths them, the API shows them, UpdateServer changes the simulated
load, WatchHostMetrics streams them, and a frozen agent's load goes stale, then its host DOWN."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import TypeVar

import pytest

from client import AsyncClient, InvalidArgument, NotFound
from devcluster.events import EventTap
from devcluster.processes import Cluster
from overcast.v1 import common_pb2, host_pb2, server_pb2

from .helpers import short
from .test_cli import overcast

T = TypeVar("T")


async def eventually(
    read: Callable[[], Awaitable[T]], ok: Callable[[T], bool], within: float = 10.0, what: str = ""
) -> T:
    """Poll `read` until `ok` holds for its value; fail with the last value otherwise."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not met within {within}s; last: {value}")
        await asyncio.sleep(0.1)


async def loaded_server(api: AsyncClient, name: str, metadata: dict[str, str]) -> server_pb2.Server:
    await api.create_server(name, flavor="m1.large", image="cirros", metadata=metadata)
    server = await api.wait_for_server(name, timeout=30)
    assert server is not None and server.vm_state == common_pb2.VM_STATE_ACTIVE, server
    return server


def host_cpu_expected(servers: list[server_pb2.Server], host_vcpus: int) -> float:
    return sum(s.load.cpu_util * s.vcpus for s in servers if s.HasField("load")) / host_vcpus


async def test_simulated_load_shows_on_server_and_host_and_follows_update(
    cluster: Cluster, api: AsyncClient
) -> None:
    name = f"load-{uuid.uuid4().hex[:6]}"
    async with EventTap(cluster.amqp_url, cluster.bus_prefix) as tap:
        server = await loaded_server(api, name, {"sim.cpu": "0.7", "sim.mem": "0.5"})
        shown = await eventually(
            lambda: api.get_server(name),
            lambda s: s.HasField("load") and abs(s.load.cpu_util_ewma - 0.7) < 0.1,
            what="server load ≈ 0.7",
        )
        assert shown.load.simulated
        assert abs(shown.load.cpu_util - 0.7) < 0.15
        assert abs(shown.load.memory_rss_mib - 4096) < 820  # sim.mem 0.5 of 8 GiB
        assert shown.load.sampled_at.seconds > 0

        # The host's totals are derived from its instances (16 vcpus each in the test cluster).
        host_id = short(server.host)
        host = await api.get_host(host_id)
        assert host.HasField("load") and host.load.simulated and not host.load.stale
        on_host = await api.list_servers(host=host_id)
        assert abs(host.load.cpu_util - host_cpu_expected(on_host, host.vcpus)) < 0.06
        assert host.load.cpu_util >= 0.7 * 4 / 16 - 0.05
        assert host.load.memory_used_mib >= 3000
        assert host.load.memory_free_mib == host.memory_mib - host.load.memory_used_mib

        # UpdateServer: the agent follows the new profile within a few samples.
        updated = await api.update_server_metadata(name, {"sim.cpu": "0.1", "sim.mem": "0.5"})
        assert dict(updated.metadata) == {"sim.cpu": "0.1", "sim.mem": "0.5"}
        assert int(updated.etag) > int(shown.etag)
        lowered = await eventually(
            lambda: api.get_server(name),
            lambda s: s.load.cpu_util_ewma < 0.2,
            what="server load follows sim.cpu=0.1",
        )
        assert lowered.load.cpu_util < 0.25
        await tap.wait_for(lambda ev: any(e["eventType"] == "instance.update" for e in tap.of(server.name)))
        update_event = next(e for e in tap.of(server.name) if e["eventType"] == "instance.update")
        assert update_event["instance"]["version"] == updated.etag

    await api.delete_server(name)


async def test_update_server_rejects_bad_input(cluster: Cluster, api: AsyncClient) -> None:
    name = f"meta-{uuid.uuid4().hex[:6]}"
    await api.create_server(name, flavor="m1.tiny", image="cirros", metadata={"a": "1"})
    await api.wait_for_server(name, timeout=30)  # settled: nothing else changes its version
    stub = api._open().servers  # raw requests: the client library always sets a valid mask
    bad_mask = server_pb2.UpdateServerRequest(
        server=server_pb2.Server(name=f"projects/demo/servers/{name}", metadata={"b": "2"}, vcpus=64)
    )
    bad_mask.update_mask.paths.extend(["metadata", "vcpus"])
    with pytest.raises(Exception) as err:
        await stub.UpdateServer(bad_mask, timeout=10)
    assert "INVALID_ARGUMENT" in str(err.value) and "update_mask" in str(err.value)

    with pytest.raises(InvalidArgument) as too_long:
        await api.update_server_metadata(name, {"k": "v" * 5000})
    assert any("metadata" in f for f, _ in too_long.value.field_violations)
    # Nothing changed, and a no-op update changes nothing either.
    current = await api.get_server(name)
    assert dict(current.metadata) == {"a": "1"}
    same = await api.update_server_metadata(name, {"a": "1"})
    assert same.etag == current.etag
    await api.delete_server(name)


async def test_watch_host_metrics_streams_samples_of_a_host(cluster: Cluster, api: AsyncClient) -> None:
    name = f"watch-{uuid.uuid4().hex[:6]}"
    server = await loaded_server(api, name, {"sim.cpu": "0.5"})
    host_id = short(server.host)
    updates: list[host_pb2.HostMetricsUpdate] = []
    started = time.monotonic()
    async with aclosing(api.watch_host_metrics([host_id], include_instances=True)) as stream:
        async for update in stream:
            updates.append(update)
            if len(updates) == 5:
                break
    elapsed = time.monotonic() - started
    assert {u.host for u in updates} == {f"hosts/{host_id}"}
    assert elapsed < 5.0  # an update per 0.2 s sample (1 s), with room for a busy machine
    mine = [i for u in updates for i in u.instances if i.uid == server.uid]
    assert len(mine) == 5 and all(i.server == server.name and i.load.simulated for i in mine)
    assert all(abs(i.load.cpu_util - 0.5) < 0.15 for i in mine)
    stamps = [u.load.sampled_at.ToNanoseconds() for u in updates]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5

    with pytest.raises(InvalidArgument):
        async with aclosing(api.watch_host_metrics(["Not A Host"])) as bad:
            async for _ in bad:
                break
    with pytest.raises(NotFound):  # at once: not a stream that waits for a host that never reports
        async with asyncio.timeout(10), aclosing(api.watch_host_metrics([host_id, "nope"])) as missing:
            async for _ in missing:
                break
    await api.delete_server(name)


def test_cli_shows_load_and_sets_metadata(cluster: Cluster, api: object) -> None:
    name = f"cli-load-{uuid.uuid4().hex[:6]}"
    created = overcast(
        cluster, "server", "create", name, "-f", "m1.medium", "-i", "cirros", "-m", "sim.cpu=0.6", "--wait"
    )
    assert created.returncode == 0, created.stderr
    set_meta = overcast(cluster, "server", "set-meta", name, "sim.cpu=0.3", "owner=me")
    assert set_meta.returncode == 0, set_meta.stderr
    assert "owner=me" in set_meta.stdout and "sim.cpu=0.3" in set_meta.stdout

    deadline = time.monotonic() + 10
    while True:
        shown = overcast(cluster, "server", "show", name)
        load = next(line for line in shown.stdout.splitlines() if line.startswith("load"))
        if ("simulated" in load and "rss" in load) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "cpu " in load and "rss" in load and "simulated" in load, load

    hosts = overcast(cluster, "host", "list")
    header, *rows = hosts.stdout.splitlines()
    assert "CPU%" in header and "CPU% EWMA" in header and "METRICS" in header
    mine = [row.split() for row in rows if row.split()[0] in ("host-1", "host-2", "host-3")]
    assert len(mine) == 3 and all(row[9] == "sim" for row in mine), rows  # simulated and fresh

    watched = overcast(cluster, "-o", "json", "host", "watch-metrics", "--count", "3", "--instances")
    assert watched.returncode == 0, watched.stderr
    lines = watched.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith('{"host": "hosts/') for line in lines)
    assert overcast(cluster, "server", "delete", name).returncode == 0


async def test_frozen_agent_load_goes_stale_then_host_down(clusters) -> None:  # type: ignore[no-untyped-def]
    """One agent on controller-1, a second controller that only sees the persisted snapshot."""
    c: Cluster = clusters("metrics")
    c.metrics_persist_interval = 0.5
    c.start_controller()
    c.start_controller()
    c.wait_controller(0)
    c.wait_controller(1)
    c.start_agent("host-m", cpus=8, memory_gib=16)
    c.wait_hosts_up(["host-m"])
    async with AsyncClient(c.endpoints[0]) as api1, AsyncClient(c.endpoints[1]) as api2:
        # The replica the agent is not connected to knows its load from the snapshot.
        remote = await eventually(
            lambda: api2.get_host("host-m"),
            lambda h: h.HasField("load") and not h.load.stale,
            what="controller-2 sees host-m's persisted load",
        )
        assert remote.load.simulated

        c.agents["host-m"].pause()  # SIGSTOP: no samples, no heartbeats
        try:
            stale = await eventually(
                lambda: api1.get_host("host-m"), lambda h: h.load.stale, within=5, what="load stale"
            )
            assert stale.state == common_pb2.HOST_STATE_UP  # stale metrics come before DOWN (0.6 s vs 1.5 s)
            listed = await asyncio.to_thread(overcast, c, "host", "list")
            assert "stale" in listed.stdout, listed.stdout
            down = await eventually(
                lambda: api1.get_host("host-m"),
                lambda h: h.state == common_pb2.HOST_STATE_DOWN,
                within=10,
                what="host DOWN after missed samples",
            )
            assert down.load.stale
            await eventually(
                lambda: api2.get_host("host-m"), lambda h: h.load.stale, within=10, what="stale on replica 2"
            )
        finally:
            c.agents["host-m"].resume()
        back = await eventually(
            lambda: api1.get_host("host-m"),
            lambda h: h.state == common_pb2.HOST_STATE_UP and not h.load.stale,
            what="host UP with fresh load again",
        )
        assert back.load.simulated
