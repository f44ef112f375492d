"""The faults a run injects (`FAULTS`), each with the cluster it needs: the private services
stopped or restarted, a process of the cluster killed or paused, the agents' link to the
controller cut. A fault returns when it is over (what it broke answers again), so the run can
time the recovery from there."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from controller.storage.leadership import Role
from devcluster.processes import Proc

if TYPE_CHECKING:
    from .run import FaultRun


@dataclass(frozen=True)
class Fault:
    inject: Callable[[FaultRun], Awaitable[None]]
    controllers: int = 1  # replicas the cluster runs
    simulation: bool = False  # agents on simulated hypervisors whose domains outlive them
    link_proxy: bool = False  # agents reach the controller through LinkProxies (run.proxies)


# -- the services ------------------------------------------------------------------------------


async def rabbitmq_stop_start(run: FaultRun) -> None:
    """The broker stopped (gracefully: connections closed) and started again."""
    await asyncio.to_thread(run.services.rabbit.stop)
    await asyncio.to_thread(run.services.rabbit.start)


async def postgres_restart(run: FaultRun) -> None:
    """PostgreSQL restarted (a fast shutdown: every session terminated, then up again)."""
    await asyncio.to_thread(run.services.postgres.restart)


async def postgres_down_10s(run: FaultRun) -> None:
    """PostgreSQL stopped (fast) for 10 s, then started."""
    await asyncio.to_thread(run.services.postgres.stop)
    await asyncio.sleep(10.0)
    await asyncio.to_thread(run.services.postgres.start)


# -- the processes -----------------------------------------------------------------------------


async def controller_sigkill(run: FaultRun) -> None:
    """The replica that leads (holds the host monitor's advisory lock) SIGKILLed with a second
    replica running; over once the other replica leads. Then the killed one is started again
    on its address (as its supervisor would), so the cluster ends with two replicas."""
    leader = await leading_controller(run)
    if leader is None:
        raise RuntimeError("no controller holds the host monitor's leadership lock")
    leader.kill()
    others = [c for c in run.cluster.controllers if c is not leader]
    deadline = time.monotonic() + 30
    while await leading_controller(run, among=others) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no other replica took the lead within 30 s")
        await asyncio.sleep(0.1)
    run.cluster.restart(leader)


async def agent_sigstop(run: FaultRun) -> None:
    """An agent paused (SIGSTOP) for 20 s, then continued: its stream and its AMQP connection
    go silent without closing, its host goes DOWN meanwhile."""
    agent = run.cluster.agents[run.host_ids[0]]
    agent.pause()
    try:
        await asyncio.sleep(AGENT_PAUSE_S)
    finally:
        agent.resume()


AGENT_PAUSE_S = 20.0


async def agent_sigkill_restart(run: FaultRun) -> None:
    """An agent SIGKILLed mid-command and started again on the same (simulated) hypervisor,
    whose domains outlived it: its unacknowledged commands come again, nothing is lost."""
    agent = run.cluster.agents[run.host_ids[0]]
    agent.kill()
    run.cluster.restart(agent)


async def link_cut(run: FaultRun) -> None:
    """Every agent's link to the controller cut (both ends reset, new connections refused) for
    10 s, then restored: the control plane cut off from its whole fleet, which it sees DOWN
    (the scheduler keeps new servers waiting for a host meanwhile: wait_for_hosts_s). The
    agents' AMQP connections stay up, so commands still reach them."""
    await cut_links(run, run.host_ids)


LINK_CUT_S = 10.0


async def cut_links(run: FaultRun, host_ids: list[str]) -> None:
    proxies = [run.proxies[h] for h in host_ids]
    await asyncio.gather(*(asyncio.to_thread(p.cut) for p in proxies))
    await asyncio.sleep(LINK_CUT_S)
    await asyncio.gather(*(asyncio.to_thread(p.restore) for p in proxies))


async def relay_child_sigkill(run: FaultRun) -> None:
    """The controller's outbox relay child process SIGKILLed; over once a new one runs."""
    await kill_child(run, "controller.processes.relay_process")


async def scheduler_child_sigkill(run: FaultRun) -> None:
    """The controller's scheduler child process SIGKILLed; over once a new one runs."""
    await kill_child(run, "controller.processes.scheduler_process")


FAULTS: dict[str, Fault] = {
    "rabbitmq_stop_start": Fault(rabbitmq_stop_start),
    "postgres_restart": Fault(postgres_restart),
    "postgres_down_10s": Fault(postgres_down_10s),
    "controller_sigkill": Fault(controller_sigkill, controllers=2),
    "agent_sigstop": Fault(agent_sigstop),
    "agent_sigkill_restart": Fault(agent_sigkill_restart, simulation=True),
    "link_cut": Fault(link_cut, link_proxy=True),
    "relay_child_sigkill": Fault(relay_child_sigkill),
    "scheduler_child_sigkill": Fault(scheduler_child_sigkill),
}


# -- finding the processes ---------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(FileNotFoundError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def runs_module(pid: int, module: str) -> bool:
    try:
        return module.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def child_running(proc: Proc, module: str) -> int | None:
    """The pid of `proc`'s child process running `python -m module`, if there is one."""
    if proc.popen is None or not proc.running:
        return None
    return next((k for k in children(proc.popen.pid) if runs_module(k, module)), None)


async def kill_child(run: FaultRun, module: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    controller = run.cluster.controllers[0]
    pid = child_running(controller, module)
    if pid is None:
        raise RuntimeError(f"{controller.name} runs no {module}")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while child_running(controller, module) in (None, pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{controller.name} did not start {module} again within {timeout:g} s")
        await asyncio.sleep(0.05)


async def leading_controller(run: FaultRun, among: list[Proc] | None = None) -> Proc | None:
    """The controller process holding the host monitor's leadership lock, as PostgreSQL shows
    it: the advisory lock's backend, its client port, the process with that socket open."""
    key = int(Role.HOST_MONITOR)
    conn = await asyncpg.connect(run.cluster.database_url)
    try:
        port = await conn.fetchval(
            """SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND l.classid = $1 AND l.objid = $2""",
            key >> 32,
            key & 0xFFFF_FFFF,
        )
    finally:
        await conn.close()
    candidates = among if among is not None else run.cluster.controllers
    if port is not None:
        inodes = _socket_inodes(int(port))
        for proc in candidates:
            if proc.running and proc.popen is not None and _holds(proc.popen.pid, inodes):
                return proc
    return None


def _socket_inodes(local_port: int) -> set[str]:
    """Inodes of the TCP sockets bound to `local_port` on this machine (/proc/net/tcp*)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                    inodes.add(fields[9])
    return inodes


def _holds(pid: int, inodes: set[str]) -> bool:
    with contextlib.suppress(FileNotFoundError, PermissionError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(FileNotFoundError):
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return True
    return False
