"""GetConsoleLog: the controller asks the agent of the server's host over its stream and passes
the answer (or the agent's reason) on; what it cannot ask says why."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest

from client import AsyncClient, OvercastError
from overcast.v1 import common_pb2

from .helpers import active_server

FP = grpc.StatusCode.FAILED_PRECONDITION


async def test_console_log_comes_from_the_servers_host(api: AsyncClient) -> None:
    server = await active_server(api, f"console-{uuid.uuid4().hex[:6]}")
    started = time.monotonic()
    try:
        log = await api.get_console_log(server.name, tail_lines=20)
    except OvercastError as err:
        # A host without console logs (the libvirt test driver) answers with its reason.
        assert err.code == FP, f"{err.code}: {err.message}"
        assert f"{server.host} cannot read the console of {server.name}: " in err.message
        assert err.reason == "CONSOLE_LOG_UNAVAILABLE"
    else:
        assert isinstance(log.text, str)
    assert time.monotonic() - started < 5, "the agent's answer should come at once, not by timeout"
    await api.delete_server(server.name)


async def test_what_cannot_be_asked_says_why(api: AsyncClient) -> None:
    for name, tail, code, says in (
        ("no-such-server", 0, grpc.StatusCode.NOT_FOUND, "not found"),
        ("projects/demo/nope", 0, grpc.StatusCode.INVALID_ARGUMENT, "projects/{project}/servers/{server}"),
        ("web-1", -1, grpc.StatusCode.INVALID_ARGUMENT, "tail_lines"),
    ):
        with pytest.raises(OvercastError) as info:
            await api.get_console_log(name, tail_lines=tail)
        assert info.value.code == code and says in str(info.value)

    # A server no host took (nothing fits) has no console.
    flavor = f"huge-{uuid.uuid4().hex[:6]}"
    await api.create_flavor(flavor, vcpus=1024, memory_mib=1024 * 1024, disk_gib=1)
    name = f"nohost-{uuid.uuid4().hex[:6]}"
    await api.create_server(name, flavor=flavor, image="cirros")
    server = await api.wait_for_server(name, timeout=30)
    assert server is not None and server.vm_state == common_pb2.VM_STATE_ERROR and not server.host
    with pytest.raises(OvercastError) as info:
        await api.get_console_log(name)
    assert info.value.code == FP and "not on a host yet (ERROR)" in info.value.message
    await api.delete_server(name)
    await api.wait_for_server(name, timeout=30)
    await api.delete_flavor(flavor)


async def test_an_agent_connected_elsewhere_is_unavailable(clusters) -> None:  # type: ignore[no-untyped-def]
    c = clusters("console")
    c.start_controller()
    c.start_controller()
    c.wait_controller(0)
    c.wait_controller(1)
    c.start_agent("host-c", controller=0)  # connected to controller 0 only
    c.wait_hosts_up(["host-c"])
    async with AsyncClient(c.endpoints[0]) as first, AsyncClient(c.endpoints[1]) as second:
        await first.create_image("cirros", "qcow2")
        server = await active_server(first, "console-elsewhere")
        with pytest.raises(OvercastError) as info:
            await second.get_console_log(server.name)
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
        assert "hosts/host-c is not connected to this controller" in info.value.message
    unclean = c.stop()  # its database and queues go at the end of the session
    assert not unclean, unclean
