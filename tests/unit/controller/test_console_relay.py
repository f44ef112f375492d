"""Console-log queries routed to the agent stream of the server's host, replies by request id."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from controller.domain.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument, Unavailable
from controller.domain.model import Instance, TaskState, VmState
from controller.services.console import (
    MAX_TEXT_BYTES,
    ConsoleLog,
    ConsoleQuery,
    ConsoleRelay,
    ConsoleReply,
    ConsoleService,
)


async def test_reply_reaches_the_query_with_its_request_id() -> None:
    relay = ConsoleRelay(timeout_s=5)
    sent: list[ConsoleQuery] = []
    relay.attach("host-1", sent.append)
    uid = uuid.uuid4()
    task = asyncio.create_task(relay.query("host-1", uid, 20))
    await asyncio.sleep(0)
    (q,) = sent
    assert (q.instance_uid, q.tail_lines) == (uid, 20)
    relay.reply(ConsoleReply("someone-else", "no", False, ""))
    relay.reply(ConsoleReply(q.request_id, "login:", True, ""))
    assert await task == ConsoleReply(q.request_id, "login:", True, "")


async def test_unknown_host_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="not connected to this controller"):
        await ConsoleRelay().query("host-9", uuid.uuid4(), 0)


async def test_no_reply_is_a_deadline() -> None:
    relay = ConsoleRelay(timeout_s=0.05)
    relay.attach("host-1", lambda q: None)
    with pytest.raises(DeadlineExceeded, match=r"within 0\.05 s"):
        await relay.query("host-1", uuid.uuid4(), 0)


async def test_a_closing_stream_fails_its_queries_but_not_a_newer_stream() -> None:
    relay = ConsoleRelay(timeout_s=5)
    old = relay.attach("host-1", lambda q: None)
    task = asyncio.create_task(relay.query("host-1", uuid.uuid4(), 0))
    await asyncio.sleep(0)
    relay.attach("host-1", lambda q: None)  # the agent reconnected before the old stream closed
    relay.detach("host-1", old)
    with pytest.raises(Unavailable, match="disconnected"):
        await task
    assert relay.connected("host-1")


class OneServer:
    """The one InstanceStore method the console service reads."""

    def __init__(self, host_id: str | None) -> None:
        self.inst = Instance(
            uid=uuid.uuid4(),
            project="demo",
            server_id="web-1",
            flavor_id="m1.tiny",
            image_id="cirros",
            vcpus=1,
            memory_mib=512,
            disk_gib=1,
            vm_state=VmState.ACTIVE if host_id else VmState.BUILDING,
            task_state=None if host_id else TaskState.SCHEDULING,
            host_id=host_id,
        )

    async def get(self, project: str, server_id: str) -> Instance:
        return self.inst


def answering(relay: ConsoleRelay, text: str = "", error: str = "") -> None:
    relay.attach("host-1", lambda q: relay.reply(ConsoleReply(q.request_id, text, False, error)))


async def test_service_reads_the_log_of_a_placed_server() -> None:
    relay = ConsoleRelay(timeout_s=5)
    answering(relay, "boot ok\n")
    console = ConsoleService(OneServer("host-1"), relay)  # type: ignore[arg-type]
    assert await console.get_console_log("projects/demo/servers/web-1", 10) == ConsoleLog("boot ok\n")


async def test_service_refusals_say_what_to_fix() -> None:
    relay = ConsoleRelay(timeout_s=5)
    answering(relay, error="no such domain")
    placed = ConsoleService(OneServer("host-1"), relay)  # type: ignore[arg-type]
    with pytest.raises(FailedPrecondition, match=r"cannot read the console of .*: no such domain"):
        await placed.get_console_log("projects/demo/servers/web-1", 0)
    with pytest.raises(InvalidArgument, match="tail_lines"):
        await placed.get_console_log("projects/demo/servers/web-1", -1)
    with pytest.raises(InvalidArgument, match=re.escape("projects/{project}/servers/{server}")):
        await placed.get_console_log("web-1", 0)
    pending = ConsoleService(OneServer(None), relay)  # type: ignore[arg-type]
    with pytest.raises(FailedPrecondition, match="not on a host yet"):
        await pending.get_console_log("projects/demo/servers/web-1", 0)


async def test_an_overlong_log_keeps_its_last_lines() -> None:
    relay = ConsoleRelay(timeout_s=5)
    lines = "".join(f"line {i:08d}\n" for i in range(200_000))  # 2.8 MB
    answering(relay, lines)
    log = await ConsoleService(OneServer("host-1"), relay).get_console_log(  # type: ignore[arg-type]
        "projects/demo/servers/web-1", 0
    )
    assert log.truncated and len(log.text.encode()) <= MAX_TEXT_BYTES
    assert log.text.startswith("line ") and log.text.endswith("line 00199999\n")
