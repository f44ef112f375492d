"""The create path end to end: API → PostgreSQL → scheduler → RabbitMQ → agent → libvirt,
and the power operations and delete that follow it."""

from __future__ import annotations

import uuid

import pytest

from client import AlreadyExists, AsyncClient, NotFound
from controller.domain.lifecycle import event_catalogue
from devcluster.events import EventTap
from devcluster.processes import Cluster
from overcast.v1 import common_pb2

from .agents import domains
from .helpers import active_server, short

ACTIVE, STOPPED = common_pb2.VM_STATE_ACTIVE, common_pb2.VM_STATE_STOPPED


async def test_create_runs_a_domain_on_the_chosen_host(api: AsyncClient, cluster: Cluster) -> None:
    server = await active_server(api, f"life-{uuid.uuid4().hex[:6]}")

    assert server.vm_state == ACTIVE
    assert server.task_state == common_pb2.TASK_STATE_UNSPECIFIED
    assert server.power_state == common_pb2.POWER_STATE_RUNNING
    host_id = short(server.host)
    assert host_id in cluster.agents
    on_host = await domains(cluster.agent_admin[host_id])
    assert on_host.get(server.uid) == "RUNNING"
    for other in cluster.agents:
        if other != host_id:
            assert server.uid not in await domains(cluster.agent_admin[other])


async def test_stop_start_reboot_delete(api: AsyncClient, cluster: Cluster) -> None:
    async with EventTap(cluster.amqp_url, cluster.bus_prefix) as tap:
        server = await active_server(api, f"ops-{uuid.uuid4().hex[:6]}")
        admin = cluster.agent_admin[short(server.host)]

        await api.stop_server(server.name)
        stopped = await api.wait_for_server(server.name, until={STOPPED}, timeout=30)
        assert stopped is not None and stopped.vm_state == STOPPED
        assert stopped.power_state == common_pb2.POWER_STATE_SHUTDOWN
        assert (await domains(admin))[server.uid] == "SHUTDOWN"

        await api.start_server(server.name)
        started = await api.wait_for_server(server.name, until={ACTIVE}, timeout=30)
        assert started is not None and started.task_state == common_pb2.TASK_STATE_UNSPECIFIED
        assert (await domains(admin))[server.uid] == "RUNNING"

        await api.reboot_server(server.name)
        rebooted = await api.wait_for_server(server.name, until={ACTIVE}, timeout=30)
        assert rebooted is not None and rebooted.power_state == common_pb2.POWER_STATE_RUNNING

        await api.delete_server(server.name)
        assert await api.wait_for_server(server.name, timeout=30) is None
        with pytest.raises(NotFound):
            await api.get_server(server.name)
        assert server.uid not in await domains(admin)

        expected = [
            "instance.create.start",
            "instance.scheduled",
            "instance.create.end",
            "instance.power_off.start",
            "instance.power_off.end",
            "instance.power_on.start",
            "instance.power_on.end",
            "instance.reboot.start",
            "instance.reboot.end",
            "instance.delete.start",
            "instance.delete.end",
        ]
        events = await tap.wait_for(lambda _: len(tap.of(server.name)) >= len(expected))
        mine = tap.of(server.name)
        assert [e["eventType"] for e in mine] == expected
        versions = [int(e["instance"]["version"]) for e in mine]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        assert all(e["project"] == "demo" and e["version"] == "1.0" for e in mine)
        assert mine[-1]["instance"]["vmState"] == "VM_STATE_DELETED"
        raw = [m for m, e in zip(tap.raw, events, strict=True) if e.get("resource") == server.name]
        assert all(m.content_type == "application/json" for m in raw)
        assert [m.message_id for m in raw] == [e["eventId"] for e in mine]
        assert [m.type for m in raw] == expected
        assert {e["eventType"] for e in tap.events} <= set(event_catalogue())


async def test_disabled_host_gets_no_new_placements(api: AsyncClient, cluster: Cluster) -> None:
    await api.disable_host("host-1", reason="maintenance")
    await api.disable_host("host-2", reason="maintenance")
    try:
        placed = [await active_server(api, f"maint-{i}-{uuid.uuid4().hex[:4]}") for i in range(3)]
        assert {short(s.host) for s in placed} == {"host-3"}
        host1 = await api.get_host("host-1")
        assert not host1.enabled and host1.disabled_reason == "maintenance"
    finally:
        await api.enable_host("host-1")
        await api.enable_host("host-2")
    for s in placed:
        await api.delete_server(s.name)


async def test_no_valid_host_says_which_filter_removed_hosts(api: AsyncClient) -> None:
    name = f"huge-{uuid.uuid4().hex[:6]}"
    flavor = f"f{uuid.uuid4().hex[:6]}"
    await api.create_flavor(flavor, vcpus=2, memory_mib=1024 * 1024, disk_gib=1)
    await api.create_server(name, flavor=flavor, image="cirros")
    server = await api.wait_for_server(name, timeout=30)
    assert server is not None and server.vm_state == common_pb2.VM_STATE_ERROR
    assert server.fault == "No valid host: 3 hosts: 3 removed by capacity (memory)"
    await api.delete_server(name)
    assert await api.wait_for_server(name, timeout=30) is None


async def test_request_id_makes_create_idempotent(api: AsyncClient) -> None:
    request_id = str(uuid.uuid4())
    name = f"idem-{uuid.uuid4().hex[:6]}"
    first = await api.create_server(name, flavor="m1.tiny", image="cirros", request_id=request_id)
    again = await api.create_server(name, flavor="m1.tiny", image="cirros", request_id=request_id)
    assert again.uid == first.uid
    await api.wait_for_server(name, timeout=30)
    await api.delete_server(name)
    assert await api.wait_for_server(name, timeout=30) is None
    # Retried after the server is gone: the same server, as it is now (AIP-155, EC2's
    # ClientToken), not a second one.
    late = await api.create_server(name, flavor="m1.tiny", image="cirros", request_id=request_id)
    assert late.uid == first.uid and late.vm_state == common_pb2.VM_STATE_DELETED
    with pytest.raises(NotFound):
        await api.get_server(name)


async def test_a_request_id_reused_for_another_server_is_refused(api: AsyncClient) -> None:
    """Issue 14, defect 3: a create of r2 with the request id of r1 answered r1."""
    request_id = str(uuid.uuid4())
    r1, r2 = f"reuse-{uuid.uuid4().hex[:6]}", f"reuse-{uuid.uuid4().hex[:6]}"
    first = await api.create_server(r1, flavor="m1.tiny", image="cirros", request_id=request_id)
    with pytest.raises(AlreadyExists) as refused:
        await api.create_server(r2, flavor="m1.small", image="cirros", request_id=request_id)
    assert refused.value.reason == "REQUEST_ID_REUSED"
    assert "server.flavor, server_id differ" in str(refused.value)
    assert refused.value.metadata["resource"] == first.name
    with pytest.raises(NotFound):
        await api.get_server(r2)
    await api.delete_server(r1)


async def test_list_filters_and_pages(api: AsyncClient) -> None:
    names = [f"page-{i:02d}-{uuid.uuid4().hex[:4]}" for i in range(5)]
    placed = [await active_server(api, n) for n in names]
    listed = [s.name async for s in api.list_servers(page_size=2)]
    assert len(listed) == len(set(listed))
    assert {f"projects/demo/servers/{n}" for n in names} <= set(listed)
    # Filtered by the host one of them landed on (where the scheduler puts them depends on what
    # earlier tests left running): ours there, and nothing from another host.
    host = short(placed[0].host)
    on_host = [s async for s in api.list_servers(host=host)]
    assert {s.name for s in placed if short(s.host) == host} <= {s.name for s in on_host}
    assert all(s.host == f"hosts/{host}" for s in on_host)
    active = [s async for s in api.list_servers(vm_state=ACTIVE)]
    assert all(s.vm_state == ACTIVE for s in active)
    for n in names:
        await api.delete_server(n)


async def test_watch_starts_with_current_state_then_streams_changes(api: AsyncClient) -> None:
    existing = await active_server(api, f"watch-old-{uuid.uuid4().hex[:4]}")
    new_name = f"projects/demo/servers/watch-new-{uuid.uuid4().hex[:4]}"
    seen_initial: set[str] = set()
    states: list[int] = []
    synced = False
    async for change in api.watch_servers():
        if change.kind == change.KIND_INITIAL:
            seen_initial.add(change.server.name)
        elif change.kind == change.KIND_SYNCED:
            synced = True
            assert existing.name in seen_initial
            await api.create_server(short(new_name), flavor="m1.tiny", image="cirros")
        elif change.server.name == new_name:
            states.append(change.server.vm_state)
            if change.server.vm_state == ACTIVE:
                break
    assert synced
    assert states[0] == common_pb2.VM_STATE_BUILDING and states[-1] == ACTIVE
    await api.delete_server(new_name)
    await api.delete_server(existing.name)
