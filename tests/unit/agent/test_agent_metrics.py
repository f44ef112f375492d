"""Agent metrics: /proc parsing (and the real /proc), libvirt stats on the real test driver,
the load simulation, the sampler, the reporting loop, and metrics as heartbeats on the uplink."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from agent_testkit import FakeGateway, wait_for

from agent.commands import execute
from agent.convert import metrics_to_proto
from agent.hypervisor.base import DomainSpec, PowerState
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.metrics.domstats import (
    DomainStats,
    InstanceRates,
    metadata_element_xml,
    metadata_from_xml,
    parse_stats,
)
from agent.metrics.model import HostMetrics
from agent.metrics.procfs import ProcError, ProcSampler, cpu_util, parse_loadavg, parse_meminfo, parse_stat
from agent.metrics.sampler import InstanceProfiles, LibvirtStats, MetricsSampler, report_metrics
from agent.metrics.simulation import (
    DEFAULT_MEM,
    LoadProfile,
    LoadSimulator,
    SimulatedHost,
    profile_from_metadata,
)
from agent.model import Command, Op
from agent.settings import AgentSettings
from agent.uplink import Uplink
from daemon.supervision import Backoff

NewUid = Callable[[], str]

STAT = """cpu  100 10 50 800 40 0 0 0 0 0
cpu0 50 5 25 400 20 0 0 0 0 0
intr 12345
"""


def machine_memory_mib() -> int:
    return int(Path("/proc/meminfo").read_text().split()[1]) // 1024


# -- /proc ----------------------------------------------------------------------------------------


def test_parse_stat_counts_idle_and_iowait_as_not_busy() -> None:
    times = parse_stat(STAT)
    assert (times.busy, times.total) == (160, 1000)


def test_cpu_util_from_deltas_and_since_boot() -> None:
    before = parse_stat(STAT)
    after = parse_stat("cpu  175 10 75 850 40 0 0 0\n")  # +100 busy, +50 idle
    assert cpu_util(before, after) == pytest.approx(100 / 150)
    assert cpu_util(None, before) == pytest.approx(0.16)
    assert cpu_util(after, after) == 0.0  # no time passed


@pytest.mark.parametrize("text", ["", "intr 1\n", "cpu a b c d\n", "cpu 1 2\n"])
def test_parse_stat_refuses_garbage(text: str) -> None:
    with pytest.raises(ProcError):
        parse_stat(text)


def test_parse_meminfo_uses_available_memory() -> None:
    memory = parse_meminfo("MemTotal: 2097152 kB\nMemFree: 100 kB\nMemAvailable: 1048576 kB\n")
    assert (memory.used_mib, memory.free_mib) == (1024, 1024)
    old_kernel = parse_meminfo("MemTotal: 4096 kB\nMemFree: 1024 kB\nBuffers: 1024 kB\nCached: 0 kB\n")
    assert old_kernel.available_kib == 2048
    with pytest.raises(ProcError):
        parse_meminfo("MemFree: 1 kB\n")


def test_parse_loadavg() -> None:
    assert parse_loadavg("0.50 0.25 0.10 1/123 4567\n") == (0.5, 0.25, 0.1)
    with pytest.raises(ProcError):
        parse_loadavg("nonsense")


def test_proc_sampler_reads_the_real_proc() -> None:
    sampler = ProcSampler()
    first = sampler.sample()
    busy = sum(i * i for i in range(200_000))  # burn a little CPU between two readings
    second = sampler.sample()
    assert busy > 0
    for sample in (first, second):
        assert 0.0 <= sample.cpu_util <= 1.0
        assert sample.memory_used_mib > 0 and sample.memory_free_mib > 0
        assert sample.load1 >= 0 and sample.load5 >= 0 and sample.load15 >= 0
    assert second.memory_used_mib + second.memory_free_mib == pytest.approx(machine_memory_mib(), abs=2)


def test_proc_sampler_reports_a_missing_proc(tmp_path: Path) -> None:
    with pytest.raises(ProcError, match="cannot read"):
        ProcSampler(tmp_path).sample()


# -- simulation -----------------------------------------------------------------------------------


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
    sim.forget("u1")
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


# -- libvirt stats --------------------------------------------------------------------------------


def test_parse_stats_sums_devices_and_keeps_missing_numbers_missing() -> None:
    raw = {
        "state.state": 1,
        "cpu.time": 5_000_000_000,
        "balloon.rss": 524288,
        "block.count": 2,
        "block.0.rd.bytes": 100,
        "block.0.wr.bytes": 10,
        "block.1.rd.bytes": 1,
        "net.count": 1,
        "net.0.rx.bytes": 7,
        "net.0.tx.bytes": 3,
    }
    stats = parse_stats("u1", raw, vcpus=2, memory_mib=1024)
    assert stats.running and stats.cpu_time_ns == 5_000_000_000 and stats.rss_kib == 524288
    assert (stats.disk_read_bytes, stats.disk_write_bytes) == (101, 10)
    assert (stats.net_rx_bytes, stats.net_tx_bytes) == (7, 3)
    bare = parse_stats("u2", {"state.state": 3}, vcpus=1, memory_mib=1)  # paused, test driver
    assert not bare.running and bare.cpu_time_ns is None and bare.rss_kib is None


def test_instance_cpu_from_cpu_time_deltas() -> None:
    rates = InstanceRates()

    def stats(cpu_ns: int) -> DomainStats:
        return DomainStats("u1", True, 2, 1024, cpu_time_ns=cpu_ns, rss_kib=2048 * 1024)

    assert rates.measure(stats(0), now=10.0) is None  # no rate from a single reading
    measured = rates.measure(stats(1_000_000_000), now=11.0)  # 1 s of CPU in 1 s on 2 vcpus
    assert measured is not None and not measured.simulated
    assert measured.cpu_util == pytest.approx(0.5)
    assert measured.memory_rss_mib == 2048
    restarted = rates.measure(stats(10), now=12.0)  # counter went backwards: domain restarted
    assert restarted is not None and restarted.cpu_util == 0.0
    rates.retain(set())
    assert rates.measure(stats(20), now=13.0) is None


def test_metadata_xml_round_trip_escapes_everything() -> None:
    metadata = {"sim.cpu": "0.3", "a<b": "&'\""}
    element = metadata_element_xml("u1", "projects/p/servers/s", "images/i", metadata)
    assert "xmlns" not in element  # setMetadata refuses a declared namespace
    assert metadata_from_xml(element) == metadata
    assert metadata_from_xml("<not xml") == {}


async def test_sampler_simulates_the_test_driver_and_adopts_profiles_from_domain_xml(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    busy, idle, paused = new_uid(), new_uid(), new_uid()
    await hypervisor.spawn(DomainSpec(busy, "projects/p/servers/busy", 4, 4096, metadata={"sim.cpu": "0.75"}))
    await hypervisor.spawn(DomainSpec(idle, "projects/p/servers/idle", 2, 2048))
    await hypervisor.spawn(DomainSpec(paused, "projects/p/servers/stopped", 1, 1024))
    await hypervisor.stop(paused)  # not active: not sampled
    # A fresh simulator, as after an agent restart: profiles come from the domains' XML.
    sim = LoadSimulator(noise=0)
    sampler = MetricsSampler(
        LibvirtStats(hypervisor),
        sim,
        host_vcpus=32,
        host_memory_mib=65536,
        simulate_host=True,
        clock=lambda: 42.0,
    )
    sample = await sampler.sample()
    by_uid = {i.instance_uid: i for i in sample.instances}
    assert set(by_uid) == {busy, idle}
    assert by_uid[busy].cpu_util == 0.75 and by_uid[idle].cpu_util == 0.0
    assert by_uid[busy].memory_rss_mib == round(4096 * DEFAULT_MEM)
    assert sample.simulated and all(i.simulated for i in sample.instances)
    assert sample.sampled_at == 42.0
    assert sample.cpu_util == pytest.approx(0.75 * 4 / 32)
    assert sample.memory_used_mib == round(4096 * DEFAULT_MEM) + round(2048 * DEFAULT_MEM)
    assert sim.known() == {busy, idle}


async def test_update_metadata_changes_the_profile_and_survives_a_restart(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    uid = new_uid()
    stats = LibvirtStats(hypervisor)
    sim = LoadSimulator(noise=0)
    profiles = InstanceProfiles(sim, stats)
    spawn = Command(
        "c1", Op.SPAWN, uid, "projects/p/servers/s", vcpus=2, memory_mib=512, metadata={"sim.cpu": "0.9"}
    )
    assert (await execute(hypervisor, spawn, profiles)).ok
    assert sim.profile(uid).cpu == 0.9
    update = Command(
        "c2", Op.UPDATE_METADATA, uid, "projects/p/servers/s", image="images/i", metadata={"sim.cpu": "0.1"}
    )
    result = await execute(hypervisor, update, profiles)
    assert (result.ok, result.op, result.power_state) == (True, Op.UPDATE_METADATA, PowerState.RUNNING)
    assert sim.profile(uid).cpu == 0.1
    # After a restart (a new simulator) the XML holds the updated profile.
    fresh = LoadSimulator(noise=0)
    sampler = MetricsSampler(stats, fresh, host_vcpus=32, host_memory_mib=65536, simulate_host=True)
    (only,) = (await sampler.sample()).instances
    assert only.cpu_util == 0.1
    # An update for an instance this host does not have is fine (nothing to change) ...
    missing = await execute(hypervisor, Command("c3", Op.UPDATE_METADATA, new_uid(), metadata={}), profiles)
    assert (missing.ok, missing.power_state) == (True, PowerState.MISSING)
    # ... an invalid uid is not, and delete forgets the profile.
    assert not (await execute(hypervisor, Command("c4", Op.UPDATE_METADATA, "nope"), profiles)).ok
    assert (await execute(hypervisor, Command("c5", Op.DELETE, uid), profiles)).ok
    assert uid not in sim.known()


async def test_sampler_measures_the_host_from_proc_on_a_real_hypervisor(
    hypervisor: LibvirtHypervisor,
) -> None:
    sampler = MetricsSampler(
        LibvirtStats(hypervisor), LoadSimulator(), host_vcpus=32, host_memory_mib=65536, simulate_host=False
    )
    sample = await sampler.sample()
    assert not sample.simulated
    # This machine's memory, not the node file's.
    assert sample.memory_used_mib + sample.memory_free_mib == pytest.approx(machine_memory_mib(), abs=2)


# -- reporting ------------------------------------------------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.samples: list[HostMetrics] = []

    def publish_metrics(self, sample: HostMetrics) -> bool:
        self.samples.append(sample)
        return True


class _FlakySampler:
    def __init__(self) -> None:
        self.calls = 0

    async def sample(self) -> HostMetrics:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("libvirt hiccup")
        return HostMetrics(float(self.calls), 0.5, 1, 2, 0.0, 0.0, 0.0)


async def test_report_metrics_keeps_its_beat_through_failures() -> None:
    sink = _Sink()
    sampler = _FlakySampler()
    task = asyncio.create_task(report_metrics(sampler, sink, 0.02))  # type: ignore[arg-type]
    try:
        await wait_for(lambda: len(sink.samples) >= 4, within=2)
    finally:
        task.cancel()
        await asyncio.wait([task])
    assert [s.sampled_at for s in sink.samples[:3]] == [1.0, 3.0, 4.0]  # the failed beat is skipped


def test_metrics_to_proto() -> None:
    sample = HostMetrics(1_700_000_000.25, 0.5, 100, 200, 1.0, 0.5, 0.25, simulated=True)
    proto = metrics_to_proto(sample)
    assert proto.sampled_at.ToNanoseconds() == 1_700_000_000_250_000_000
    assert (proto.cpu_util, proto.memory_used_mib, proto.memory_free_mib, proto.simulated) == (
        0.5,
        100,
        200,
        True,
    )


async def test_metrics_replace_heartbeats_on_the_uplink(
    gateway: FakeGateway, hypervisor: LibvirtHypervisor
) -> None:
    uplink = Uplink(
        target=f"127.0.0.1:{gateway.port}",
        host_id="host-1",
        availability_zone="az1",
        disk_gib=10,
        hypervisor=hypervisor,
        heartbeat_interval=0.1,
        backoff=Backoff(initial=0.05, maximum=0.2),
    )
    running = asyncio.create_task(uplink.run())
    try:
        assert not uplink.publish_metrics(HostMetrics(1.0, 0.1, 1, 1, 0, 0, 0))  # not connected yet
        await asyncio.wait_for(uplink.registered.wait(), 5)
        for n in range(12):  # a sample every 0.05 s: inside every heartbeat interval
            assert uplink.publish_metrics(HostMetrics(float(n), 0.1, 1, 1, 0, 0, 0))
            await asyncio.sleep(0.05)
        assert len(gateway.of_kind("metrics")) == 12
        assert len(gateway.of_kind("heartbeat")) <= 1  # at most one before the first sample
        beats = len(gateway.of_kind("heartbeat"))
        await wait_for(lambda: len(gateway.of_kind("heartbeat")) >= beats + 2, within=2)  # samples stopped
    finally:
        await uplink.close()
        await asyncio.wait([running])


async def test_samples_published_faster_than_the_stream_writes_are_coalesced_and_samplers_run_late(
    gateway: FakeGateway, hypervisor: LibvirtHypervisor
) -> None:
    uplink = Uplink(
        target=f"127.0.0.1:{gateway.port}",
        host_id="host-1",
        availability_zone="az1",
        disk_gib=10,
        hypervisor=hypervisor,
        heartbeat_interval=10.0,
        backoff=Backoff(initial=0.05, maximum=0.2),
    )
    taken: list[int] = []

    def sampler(n: int) -> Callable[[], HostMetrics]:
        def take() -> HostMetrics:
            taken.append(n)
            return HostMetrics(float(n), 0.1, 1, 1, 0, 0, 0)

        return take

    running = asyncio.create_task(uplink.run())
    try:
        await asyncio.wait_for(uplink.registered.wait(), 5)
        for n in range(5):  # all before the stream gets to write any of them
            assert uplink.publish_metrics(sampler(n))
        await wait_for(lambda: len(gateway.of_kind("metrics")) >= 1, within=2)
        assert uplink.publish_metrics(HostMetrics(9.0, 0.1, 1, 1, 0, 0, 0))  # a sample, as agents send
        await wait_for(lambda: len(gateway.of_kind("metrics")) >= 2, within=2)
    finally:
        await uplink.close()
        await asyncio.wait([running])
    assert [m.metrics.sampled_at.seconds for m in gateway.of_kind("metrics")] == [4, 9]  # the newest
    assert taken == [4]  # only the sampler whose message was written ran
    assert uplink.metrics_sent == 2


def test_metrics_interval_setting() -> None:
    assert AgentSettings.load([], env={}).metrics.interval_s == 1.0
    # 0: heartbeats only
    assert AgentSettings.load(["--metrics-interval", "0"], env={}).metrics.interval_s == 0.0
    assert AgentSettings.load([], env={"OVERCAST_METRICS_INTERVAL": "0.2"}).metrics.interval_s == 0.2
    with pytest.raises(SystemExit):
        AgentSettings.load(["--metrics-interval", "-1"], env={})
