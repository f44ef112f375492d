"""The agent of a development cluster (python -m devcluster.agent): the real agent with a
metrics source that simulates load from server metadata (sim.cpu, sim.mem) on libvirt's test
driver, and the load simulation it shares with the fleet simulation (devcluster.load)."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.commands import execute
from agent.hypervisor.base import DomainSpec, PowerState
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.metrics.libvirt_source import LibvirtStats
from agent.model import Command, Op
from devcluster.agent import SimulatedMetrics
from devcluster.load import DEFAULT_MEM, LoadProfile, LoadSimulator, SimulatedHost, profile_from_metadata
from devcluster.simulation.hypervisor import SimulatedHypervisor

NewUid = Callable[[], str]
SRC = str(Path(__file__).resolve().parents[3] / "src")


# -- the load simulation --------------------------------------------------------------------------


def test_profiles_from_metadata_clamp_and_ignore_garbage() -> None:
    assert profile_from_metadata({}) == LoadProfile(0.0, DEFAULT_MEM)
    assert profile_from_metadata({"sim.cpu": "0.7", "sim.mem": "0.5"}) == LoadProfile(0.7, 0.5)
    assert profile_from_metadata({"sim.cpu": "3", "sim.mem": "-1"}) == LoadProfile(1.0, 0.0)
    assert profile_from_metadata({"sim.cpu": "lots", "sim.mem": "nan"}) == LoadProfile(0.0, DEFAULT_MEM)


def test_simulated_instances_follow_their_profile_with_a_little_noise() -> None:
    sim = LoadSimulator(rng=random.Random(7))
    sim.set_metadata("u1", {"sim.cpu": "0.7", "sim.mem": "0.5"})
    samples = [sim.instance("u1", vcpus=4, memory_mib=8192) for _ in range(200)]
    cpus = [s.cpu_util for s in samples]
    assert all(s.simulated for s in samples)
    assert sum(cpus) / len(cpus) == pytest.approx(0.7, abs=0.01)
    assert 0.6 < min(cpus) < max(cpus) < 0.8  # noise, but small
    assert sum(s.memory_rss_mib for s in samples) / len(samples) == pytest.approx(4096, rel=0.02)
    assert sim.instance("u1", vcpus=4, memory_mib=8192, running=False).cpu_util == 0.0  # paused


def test_adopt_never_overrides_a_profile_set_by_a_command() -> None:
    sim = LoadSimulator(noise=0)
    assert sim.adopt("u1", {"sim.cpu": "0.2"})
    sim.set_metadata("u1", {"sim.cpu": "0.9"})
    assert not sim.adopt("u1", {"sim.cpu": "0.2"})  # e.g. stale XML read in parallel
    assert sim.profile("u1").cpu == 0.9
    sim.set_metadata("u2", {})
    sim.retain({"u2"})
    assert sim.known() == {"u2"}
    sim.forget("u2")
    assert sim.known() == frozenset()
    assert sim.instance("gone", vcpus=1, memory_mib=100).cpu_util == 0.0


def test_simulated_host_totals_come_from_its_instances() -> None:
    sim = LoadSimulator(noise=0)
    sim.set_metadata("a", {"sim.cpu": "0.5", "sim.mem": "1"})
    sim.set_metadata("b", {"sim.cpu": "1", "sim.mem": "0.5"})
    host = SimulatedHost(vcpus=16, memory_mib=32768)
    pairs = [
        (sim.instance("a", vcpus=4, memory_mib=4096), 4),
        (sim.instance("b", vcpus=2, memory_mib=2048), 2),
    ]
    totals = host.totals(pairs, now=0.0)
    assert totals.cpu_util == pytest.approx((0.5 * 4 + 1 * 2) / 16)
    assert (totals.memory_used_mib, totals.memory_free_mib) == (5120, 32768 - 5120)
    assert totals.load1 == totals.load5 == totals.load15 == pytest.approx(4.0)
    idle = host.totals([], now=60.0)  # a minute without load: load1 decays by 1/e, load15 barely
    assert idle.cpu_util == 0.0 and idle.memory_used_mib == 0
    assert idle.load1 == pytest.approx(4.0 / 2.718281828, rel=1e-6)
    assert idle.load1 < idle.load5 < idle.load15 < 4.0


# -- the simulated metrics source on the test driver ----------------------------------------------


async def test_samples_follow_the_profiles_in_the_domains_xml(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    busy, idle, paused = new_uid(), new_uid(), new_uid()
    await hypervisor.spawn(DomainSpec(busy, "projects/p/servers/busy", 4, 4096, metadata={"sim.cpu": "0.75"}))
    await hypervisor.spawn(DomainSpec(idle, "projects/p/servers/idle", 2, 2048))
    await hypervisor.spawn(DomainSpec(paused, "projects/p/servers/stopped", 1, 1024))
    await hypervisor.stop(paused)  # not active: not sampled
    # A fresh source, as after an agent restart: profiles come from the domains' XML.
    source = SimulatedMetrics(
        LibvirtStats(hypervisor), vcpus=32, memory_mib=65536, loads=LoadSimulator(noise=0), clock=lambda: 42.0
    )
    sample = await source.sample()
    by_uid = {i.instance_uid: i for i in sample.instances}
    assert set(by_uid) == {busy, idle}
    assert by_uid[busy].cpu_util == 0.75 and by_uid[idle].cpu_util == 0.0
    assert by_uid[busy].memory_rss_mib == round(4096 * DEFAULT_MEM)
    assert sample.simulated and all(i.simulated for i in sample.instances)
    assert sample.sampled_at == 42.0
    # The host's totals are its instances' (the node file's host), not this machine's.
    assert sample.cpu_util == pytest.approx(0.75 * 4 / 32)
    assert sample.memory_used_mib == round(4096 * DEFAULT_MEM) + round(2048 * DEFAULT_MEM)
    assert sample.memory_used_mib + sample.memory_free_mib == 65536


async def test_update_metadata_changes_the_load_and_survives_a_restart(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    uid = new_uid()
    stats = LibvirtStats(hypervisor)
    source = SimulatedMetrics(stats, vcpus=32, memory_mib=65536, loads=LoadSimulator(noise=0))

    async def cpu_of(s: SimulatedMetrics) -> list[float]:
        return [i.cpu_util for i in (await s.sample()).instances]

    spawn = Command(
        "c1", Op.SPAWN, uid, "projects/p/servers/s", vcpus=2, memory_mib=512, metadata={"sim.cpu": "0.9"}
    )
    assert (await execute(hypervisor, spawn, source)).ok
    assert await cpu_of(source) == [0.9]
    update = Command(
        "c2", Op.UPDATE_METADATA, uid, "projects/p/servers/s", image="images/i", metadata={"sim.cpu": "0.1"}
    )
    result = await execute(hypervisor, update, source)
    assert (result.ok, result.op, result.power_state) == (True, Op.UPDATE_METADATA, PowerState.RUNNING)
    assert await cpu_of(source) == [0.1]
    # After a restart (a new source) the domain's XML holds the updated profile.
    fresh = SimulatedMetrics(stats, vcpus=32, memory_mib=65536, loads=LoadSimulator(noise=0))
    assert await cpu_of(fresh) == [0.1]
    # An update for an instance this host does not have is fine (nothing to change) ...
    missing = await execute(hypervisor, Command("c3", Op.UPDATE_METADATA, new_uid(), metadata={}), source)
    assert (missing.ok, missing.power_state) == (True, PowerState.MISSING)
    # ... an invalid uid is not; a deleted instance leaves the samples and the profiles.
    assert not (await execute(hypervisor, Command("c4", Op.UPDATE_METADATA, "nope"), source)).ok
    assert (await execute(hypervisor, Command("c5", Op.DELETE, uid), source)).ok
    assert await cpu_of(source) == []
    assert source.loads.known() == frozenset()


async def test_the_development_agent_takes_the_agents_flags() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "devcluster.agent",
        "--disk-gib",
        "lots",
        env={**os.environ, "PYTHONPATH": SRC},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"--disk-gib" in err and b"Traceback" not in err


async def test_the_fleets_simulated_hypervisor_keeps_its_domains_loads(new_uid: NewUid) -> None:
    # As the fleet simulation runs commands: no metadata listener, the hypervisor is the host.
    hv = SimulatedHypervisor("sim-1", vcpus=8, memory_mib=8192, loads=LoadSimulator(noise=0))
    uid = new_uid()
    spawn = Command(
        "c1", Op.SPAWN, uid, "projects/p/servers/s", vcpus=2, memory_mib=1024, metadata={"sim.cpu": "0.5"}
    )
    assert (await execute(hv, spawn)).ok
    sample = hv.sample()
    assert [i.cpu_util for i in sample.instances] == [0.5] and sample.cpu_util == pytest.approx(0.5 * 2 / 8)
    update = Command("c2", Op.UPDATE_METADATA, uid, "projects/p/servers/s", metadata={"sim.cpu": "1"})
    assert (await execute(hv, update)).ok
    assert [i.cpu_util for i in hv.sample().instances] == [1.0]
    assert (await execute(hv, Command("c3", Op.UPDATE_METADATA, new_uid(), metadata={}))).ok  # not here
    assert (await execute(hv, Command("c4", Op.DELETE, uid))).ok
    assert hv.sample().instances == () and hv.loads.known() == frozenset()
