"""Both clients against the fake controller: pages, deadlines, concurrency, waiting."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest
from client_fakes import FakeController, server

import client
from overcast.v1 import common_pb2, host_pb2, server_pb2


def _five(fake: FakeController) -> None:
    fake.servers.add(*(server(f"web-{i}") for i in range(5)))
    fake.servers.add(server("off", common_pb2.VM_STATE_STOPPED, power=common_pb2.POWER_STATE_SHUTDOWN))


def test_sync_list_walks_every_page(fake: FakeController) -> None:
    _five(fake)
    with client.Client(fake.endpoint) as oc:
        names = [s.name for s in oc.list_servers(page_size=2)]
        assert len(names) == 6
        assert fake.servers.page_tokens_seen == ["", "2", "4"]
        stopped = [s.name for s in oc.list_servers(vm_state="stopped")]
        assert stopped == ["projects/demo/servers/off"]


async def test_async_list_walks_every_page(fake: FakeController) -> None:
    _five(fake)
    async with client.AsyncClient(fake.endpoint) as oc:
        names = [s.name async for s in oc.list_servers(host="host-1")]
        assert len(names) == 6
        pages = oc.list_servers(page_size=4)
        assert [s.name for s in await pages] == names  # awaiting gives a list
        assert [s.name async for s in pages] == names  # each use starts from the first page


def test_unknown_state_filter_is_invalid_argument() -> None:
    with pytest.raises(client.InvalidArgument) as info:
        client.Client("127.0.0.1:1").list_servers(vm_state="SLEEPY")
    assert "ACTIVE" in info.value.message


def test_every_call_has_a_deadline(fake: FakeController) -> None:
    with client.Client(fake.endpoint, timeout=0.2) as oc, pytest.raises(client.DeadlineExceeded):
        oc.get_server("slow")


async def test_async_concurrency_is_bounded(fake: FakeController) -> None:
    async with client.AsyncClient(fake.endpoint, max_concurrency=3) as oc:
        results = await asyncio.gather(*(oc.get_server("busy") for _ in range(12)))
    assert len(results) == 12
    assert fake.servers.max_in_flight <= 3


def _create_script(fake: FakeController) -> None:
    fake.servers.script = [
        (
            0.02,
            server(
                "web-1",
                common_pb2.VM_STATE_BUILDING,
                common_pb2.TASK_STATE_SPAWNING,
                common_pb2.POWER_STATE_UNSPECIFIED,
            ),
        ),
        (0.02, server("other", common_pb2.VM_STATE_ERROR)),  # someone else's change: ignored
        (0.02, server("web-1", common_pb2.VM_STATE_ACTIVE, power=common_pb2.POWER_STATE_RUNNING)),
    ]


def test_sync_wait_until_active(fake: FakeController) -> None:
    _create_script(fake)
    seen: list[server_pb2.Server | None] = []
    with client.Client(fake.endpoint) as oc:
        oc.create_server("web-1", flavor="m1.small", image="cirros")
        final = oc.wait_for_server("web-1", on_change=seen.append, timeout=5)
    assert final is not None and final.vm_state == common_pb2.VM_STATE_ACTIVE
    states = [s.task_state for s in seen if s is not None]
    assert states == [
        common_pb2.TASK_STATE_SCHEDULING,
        common_pb2.TASK_STATE_SPAWNING,
        common_pb2.TASK_STATE_UNSPECIFIED,
    ]


async def test_async_wait_until_active(fake: FakeController) -> None:
    _create_script(fake)
    async with client.AsyncClient(fake.endpoint) as oc:
        await oc.create_server("web-1", flavor="m1.small", image="cirros")
        final = await oc.wait_for_server("web-1", timeout=5)
    assert final is not None and final.vm_state == common_pb2.VM_STATE_ACTIVE


async def test_wait_for_absent_server_returns_none(fake: FakeController) -> None:
    async with client.AsyncClient(fake.endpoint) as oc:
        assert await oc.wait_for_server("ghost", timeout=5) is None
    with client.Client(fake.endpoint) as oc:
        assert oc.wait_for_server("ghost", timeout=5) is None


def test_wait_sees_deletion(fake: FakeController) -> None:
    fake.servers.add(server("web-1", task=common_pb2.TASK_STATE_DELETING))
    fake.servers.script = [
        (0.02, server("web-1", common_pb2.VM_STATE_DELETED, power=common_pb2.POWER_STATE_UNSPECIFIED))
    ]
    gone: list[server_pb2.Server | None] = []
    with client.Client(fake.endpoint) as oc:
        assert oc.wait_for_server("web-1", until=(), on_change=gone.append, timeout=5) is None
    assert gone[-1] is None


async def test_wait_times_out(fake: FakeController) -> None:
    fake.servers.add(server("web-1", common_pb2.VM_STATE_BUILDING, common_pb2.TASK_STATE_SPAWNING))
    async with client.AsyncClient(fake.endpoint) as oc:
        with pytest.raises(client.DeadlineExceeded, match="waiting for server web-1"):
            await oc.wait_for_server("web-1", timeout=0.3)
    with client.Client(fake.endpoint) as oc, pytest.raises(client.DeadlineExceeded):
        oc.wait_for_server("web-1", timeout=0.3)


async def test_watch_is_cancellable(fake: FakeController) -> None:
    fake.servers.add(server("web-1"))
    async with client.AsyncClient(fake.endpoint) as oc:
        async with aclosing(oc.watch_servers()) as changes:
            kinds = []
            async for change in changes:
                kinds.append(change.kind)
                if change.kind == server_pb2.ServerChange.KIND_SYNCED:
                    break
        assert kinds == [server_pb2.ServerChange.KIND_INITIAL, server_pb2.ServerChange.KIND_SYNCED]

        async def forever() -> None:
            async for _ in oc.watch_servers():
                pass

        task = asyncio.create_task(forever())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_health_unimplemented_on_fake(fake: FakeController) -> None:
    async with client.AsyncClient(fake.endpoint) as oc:
        with pytest.raises(client.Unimplemented):
            await oc.health()


async def test_async_update_metadata_and_watch_host_metrics(fake: FakeController) -> None:
    fake.servers.add(server("web-1"))
    async with client.AsyncClient(fake.endpoint) as oc:
        updated = await oc.update_server_metadata("web-1", {"sim.cpu": "0.5"})
        assert dict(updated.metadata) == {"sim.cpu": "0.5"}
        with pytest.raises(client.Aborted):
            await oc.update_server_metadata("web-1", {}, etag="999")
        watch = oc.watch_host_metrics(["host-1", "hosts/host-2"], include_instances=True)
        seen: list[host_pb2.HostMetricsUpdate] = []
        async with aclosing(watch) as updates:
            async for update in updates:
                seen.append(update)
                if len(seen) == 2:
                    break
    assert [len(u.instances) for u in seen] == [1, 1]
    (request,) = fake.hosts.watch_requests
    assert list(request.hosts) == ["hosts/host-1", "hosts/host-2"] and request.include_instances


def test_sync_watch_host_metrics_stops_when_closed(fake: FakeController) -> None:
    with client.Client(fake.endpoint) as oc:
        stream = oc.watch_host_metrics()
        first = next(stream)
        stream.close()
    assert first.host == "hosts/host-1" and not first.instances
