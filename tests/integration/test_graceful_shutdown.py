"""SIGTERM in the middle of work: a controller (a second replica running), an agent, and the
other replica's relay and scheduler child processes stop within their drain time, with status 0
and no error logged, the controller's children with it; and every acknowledged request still
ends where it leads."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import time
from dataclasses import dataclass, field

from client import AsyncClient, NotFound, OvercastError
from devcluster.processes import Proc
from overcast.v1 import common_pb2

from .helpers import alive, child_running, short

GRACE_S = 3.0  # the controller's --grace and the agent's --shutdown-grace
RETRIED = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "RESOURCE_EXHAUSTED"}
IN_FLIGHT_TASKS = {common_pb2.TASK_STATE_UNSPECIFIED}
BAD_LINES = ("[error", "crashed", "api.bug", "Traceback")


@dataclass
class Burst:
    """Creates (each with its request id) and deletes of servers created earlier, sent to
    either replica; a call that fails because its replica is stopping is sent again to the
    other, as it is."""

    clients: list[AsyncClient]
    created: dict[str, str] = field(default_factory=dict)  # acknowledged: server id -> uid
    deleted: set[str] = field(default_factory=set)  # acknowledged deletes
    retried: int = 0

    async def call(self, op: str, sid: str, first: int) -> None:
        for attempt in range(60):
            api = self.clients[(first + attempt) % len(self.clients)]
            try:
                if op == "create":
                    s = await api.create_server(sid, flavor="m1.tiny", image="cirros", request_id=f"rq-{sid}")
                    self.created[sid] = s.uid
                else:
                    await api.delete_server(sid)
                    self.deleted.add(sid)
                return
            except NotFound:
                if op == "delete" and attempt > 0:  # an earlier attempt did it
                    self.deleted.add(sid)
                    return
                raise
            except OvercastError as err:
                if err.code_name not in RETRIED:
                    raise
                self.retried += 1
                await asyncio.sleep(0.2)
        raise AssertionError(f"{op} {sid}: no replica took it")


async def _exit_within(proc: Proc, seconds: float) -> tuple[int | None, float]:
    assert proc.popen is not None
    started = time.monotonic()
    proc.popen.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(proc.popen.wait, seconds + 30)
    return code, time.monotonic() - started


def _bad_lines(proc: Proc) -> list[str]:
    return [
        ln for ln in proc.log_path.read_text(errors="replace").splitlines() if any(b in ln for b in BAD_LINES)
    ]


async def test_sigterm_of_a_controller_and_an_agent_mid_burst_loses_nothing(clusters) -> None:  # type: ignore[no-untyped-def]
    c = clusters("drain")
    grace = ("--grace", str(GRACE_S), "--database-pool-size", "6")  # PostgreSQL is shared here
    c.start_controller(*grace)
    c.start_controller(*grace)
    c.wait_controller(0)
    c.wait_controller(1)
    c.start_agent("host-d1", controller=0, cpus=64, memory_gib=128, extra=("--shutdown-grace", str(GRACE_S)))
    c.start_agent("host-d2", controller=1, cpus=64, memory_gib=128)  # takes what host-d1 cannot
    c.wait_hosts_up(["host-d1", "host-d2"])
    first, second, agent = c.controllers[0], c.controllers[1], c.agents["host-d1"]
    assert first.popen is not None and second.popen is not None
    kids = [
        child_running(first.popen.pid, "controller.processes.scheduler_process"),
        child_running(first.popen.pid, "controller.processes.relay_process"),
    ]
    relay = child_running(second.popen.pid, "controller.processes.relay_process")
    scheduler = child_running(second.popen.pid, "controller.processes.scheduler_process")
    rng = random.Random(14)

    async with AsyncClient(c.endpoints[0]) as api0, AsyncClient(c.endpoints[1]) as api1:
        await api0.create_image("cirros", "qcow2")
        burst = Burst([api0, api1])
        stopped: dict[str, tuple[int | None, float]] = {}

        async def stop_both() -> None:
            await asyncio.sleep(1.0)  # the second replica's children first: it starts them again
            for child in (relay, scheduler):
                os.kill(child, signal.SIGTERM)
            await asyncio.sleep(0.5)
            controller = asyncio.create_task(_exit_within(first, GRACE_S))
            await asyncio.sleep(0.5)
            stopped["agent"] = await _exit_within(agent, GRACE_S)
            stopped["controller"] = await controller

        stopper = asyncio.create_task(stop_both())
        calls = []
        chosen: set[str] = set()  # for a delete, once
        for i in range(160):  # 40 a second for 4 s, mostly to the replica that will stop
            sid = f"d-{i}"
            older = [s for s in burst.created if s not in chosen]
            if i % 4 == 3 and older:
                chosen.add(victim := rng.choice(older))
                calls.append(asyncio.create_task(burst.call("delete", victim, 0)))
            calls.append(asyncio.create_task(burst.call("create", sid, 0 if i % 5 else 1)))
            await asyncio.sleep(0.025)
        await asyncio.gather(*calls)
        await stopper

        # Both stopped promptly and cleanly, the controller's children with it.
        code, took = stopped["controller"]
        assert code == 0 and took < 2 * GRACE_S + 2, (code, took, first.log_tail())  # calls, children
        code, took = stopped["agent"]
        assert code == 0 and took < GRACE_S + 2, (code, took, agent.log_tail())
        assert not [k for k in kids if alive(k)]
        for child in (relay, scheduler):  # gone cleanly (a loaded machine may take seconds), replaced
            deadline = time.monotonic() + 20
            while not re.search(rf"pid {child}\) exited with status 0", second.log_path.read_text()):
                assert time.monotonic() < deadline, (child, second.log_tail())
                await asyncio.sleep(0.2)
        child_running(second.popen.pid, "controller.processes.relay_process", other_than=relay)
        child_running(second.popen.pid, "controller.processes.scheduler_process", other_than=scheduler)
        assert _bad_lines(first) == [] and _bad_lines(agent) == []

        # The agent back (the test driver's domains went with it: those servers are lost); the
        # second replica serves alone.
        c.start_agent("host-d1", controller=1)
        deadline = time.monotonic() + 60
        while (await api1.get_host("host-d1")).state != common_pb2.HOST_STATE_UP:
            assert time.monotonic() < deadline and c.agents["host-d1"].running, c.agents["host-d1"].log_tail()
            await asyncio.sleep(0.2)

        deadline = time.monotonic() + 60
        while True:
            servers = {short(s.name): s async for s in _servers(api1)}
            busy = [n for n, s in servers.items() if s.task_state not in IN_FLIGHT_TASKS]
            if not busy:
                break
            assert time.monotonic() < deadline, f"still in flight: {busy}"
            await asyncio.sleep(0.5)

    print(
        f"controller stopped in {stopped['controller'][1]:.2f} s, agent in {stopped['agent'][1]:.2f} s;"
        f" {burst.retried} calls sent again; {len(burst.deleted)} deleted"
    )
    # Every acknowledged request ended where it leads, and each once.
    assert len(burst.created) == 160 and burst.deleted and burst.retried, burst.retried
    for sid in burst.deleted:
        assert sid not in servers, servers[sid]
    for sid, uid in burst.created.items():
        if sid in burst.deleted:
            continue
        s = servers[sid]
        assert s.uid == uid
        lost = s.vm_state == common_pb2.VM_STATE_ERROR and s.fault.startswith("domain missing on host-d1")
        assert s.vm_state == common_pb2.VM_STATE_ACTIVE or lost, (
            sid,
            s.vm_state,
            s.task_state,
            s.fault,
            s.host,
        )
    assert set(servers) <= set(burst.created)
    for proc in [*c.controllers, *c.agents.values()]:
        assert _bad_lines(proc) == [], proc.name


async def _servers(api: AsyncClient):  # type: ignore[no-untyped-def]
    async for s in api.list_servers():
        yield s
