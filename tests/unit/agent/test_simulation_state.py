"""A simulated hypervisor with a state directory keeps its domains when its process goes (as
libvirtd's outlive the agent), and an agent process runs on it (python -m
devcluster.simulation.agent); without one, everything is lost with the process (the "host lost
its disks" case, as on libvirt's test driver)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.commands import execute
from agent.hypervisor.base import DomainMissing, PowerState
from agent.model import Command, Op
from devcluster.load import LoadSimulator
from devcluster.simulation.host_state import HostState
from devcluster.simulation.hypervisor import SimulatedHypervisor

NewUid = Callable[[], str]
SRC = str(Path(__file__).resolve().parents[3] / "src")


def host(state_dir: Path | None) -> SimulatedHypervisor:
    return SimulatedHypervisor(
        "sim-1", vcpus=8, memory_mib=8192, loads=LoadSimulator(noise=0), state_dir=state_dir
    )


async def test_domains_outlive_the_hypervisor_object_with_a_state_dir(
    tmp_path: Path, new_uid: NewUid
) -> None:
    a, b = new_uid(), new_uid()
    first = host(tmp_path)
    spawn_a = Command(
        "c1", Op.SPAWN, a, "projects/p/servers/a", vcpus=2, memory_mib=1024, metadata={"sim.cpu": "0.5"}
    )
    assert (await execute(first, spawn_a)).ok
    assert (
        await execute(first, Command("c2", Op.SPAWN, b, "projects/p/servers/b", vcpus=1, memory_mib=512))
    ).ok
    assert (await execute(first, Command("c3", Op.STOP, b))).ok
    assert (await execute(first, Command("c4", Op.UPDATE_METADATA, a, metadata={"sim.cpu": "1"}))).ok

    # The process is gone (nothing closed, nothing flushed): a new one starts from the file.
    again = host(tmp_path)
    assert {d.uuid: d.power_state for d in await again.list_domains()} == {
        a: PowerState.RUNNING,
        b: PowerState.SHUTDOWN,
    }
    assert again.vcpus_used == 3 and again.memory_mib_used == 1536
    assert [i.cpu_util for i in again.sample().instances if i.instance_uid == a] == [1.0]  # its profile too
    assert (await execute(again, Command("c5", Op.START, b))).ok
    assert (await execute(again, Command("c6", Op.DELETE, a))).ok
    third = host(tmp_path)
    assert {d.uuid: d.power_state for d in await third.list_domains()} == {b: PowerState.RUNNING}
    # A snapshot (put in place whole: no temporary file left beside it) and a journal.
    assert sorted(os.listdir(tmp_path)) == ["sim-1.journal", "sim-1.json"]
    assert [d["uid"] for d in json.loads((tmp_path / "sim-1.json").read_text())["domains"]] == [b]


async def test_a_journal_cut_short_by_a_kill_loses_only_its_last_change(
    tmp_path: Path, new_uid: NewUid
) -> None:
    a, b = new_uid(), new_uid()
    hv = host(tmp_path)
    for n, uid in enumerate((a, b)):
        spawn = Command(f"c{n}", Op.SPAWN, uid, "projects/p/servers/x", vcpus=1, memory_mib=256)
        assert (await execute(hv, spawn)).ok
    journal = tmp_path / "sim-1.journal"
    journal.write_bytes(journal.read_bytes()[:-20])  # the second line half written
    assert [d.uuid for d in await host(tmp_path).list_domains()] == [a]
    # A line that is not the last one is not guessed at.
    journal.write_bytes(b"garbage\n" + journal.read_bytes())
    state = HostState(tmp_path, "sim-1")
    with pytest.raises(Exception, match="line 1"):
        state.load()


async def test_the_journal_is_compacted_into_the_snapshot(tmp_path: Path, new_uid: NewUid) -> None:
    uid = new_uid()
    hv = host(tmp_path)
    assert (
        await execute(hv, Command("c0", Op.SPAWN, uid, "projects/p/servers/x", vcpus=1, memory_mib=256))
    ).ok
    for n in range(300):  # more changes than the journal's slack
        assert (await execute(hv, Command(f"s{n}", Op.STOP if n % 2 == 0 else Op.START, uid))).ok
    assert len((tmp_path / "sim-1.journal").read_bytes().splitlines()) < 300
    assert {d.uuid: d.power_state for d in await host(tmp_path).list_domains()} == {uid: PowerState.RUNNING}


async def test_without_a_state_dir_a_new_hypervisor_has_lost_every_domain(new_uid: NewUid) -> None:
    uid = new_uid()
    first = host(None)
    assert (
        await execute(first, Command("c1", Op.SPAWN, uid, "projects/p/servers/a", vcpus=1, memory_mib=256))
    ).ok
    again = host(None)
    assert await again.list_domains() == []
    with pytest.raises(DomainMissing):
        await again.start(uid)


async def test_an_unreadable_state_file_is_said_not_guessed(tmp_path: Path) -> None:
    (tmp_path / "sim-1.json").write_text("{not json")
    with pytest.raises(Exception, match="unreadable simulation state"):
        host(tmp_path)


async def test_an_agent_process_runs_on_the_simulation_and_needs_its_state_dir(tmp_path: Path) -> None:
    # Without --simulation-state-dir: a usage error naming it, no traceback.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devcluster.simulation.agent",
        "--host-id",
        "sim-1",
        env={**os.environ, "PYTHONPATH": SRC},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"--simulation-state-dir" in err and b"Traceback" not in err
