"""The outbox relay runs in a child process of the controller: killed, it is restarted and
nothing waiting in the outbox is lost; the controller killed, the relay does not outlive it."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from client import AsyncClient
from overcast.v1 import common_pb2

from .helpers import alive, child_running


def _relay_of(controller_pid: int, *, other_than: int = 0) -> int:
    return child_running(controller_pid, "controller.relay_process", other_than=other_than)


async def test_a_killed_relay_is_restarted_and_a_dead_controller_leaves_none(clusters) -> None:  # type: ignore[no-untyped-def]
    c = clusters("relayproc")
    ctl = c.start_controller()
    c.wait_controller()
    c.start_agent("host-r")
    c.wait_hosts_up(["host-r"])
    assert ctl.popen is not None
    first = _relay_of(ctl.popen.pid)

    async with AsyncClient(c.endpoint) as api:
        await api.create_image("cirros", "qcow2")
        os.kill(first, signal.SIGKILL)
        # Created while no relay runs: the spawn command waits in the outbox.
        await api.create_server("relay-1", flavor="m1.tiny", image="cirros")
        second = _relay_of(ctl.popen.pid, other_than=first)
        server = await api.wait_for_server("relay-1", timeout=60)
        assert server is not None and server.vm_state == common_pb2.ACTIVE

    ctl.kill()  # SIGKILL: no chance to stop its child
    deadline = time.monotonic() + 15
    while alive(second) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not alive(second), "the relay process outlived its controller"
