"""Agent metrics: /proc parsing (and the real /proc), libvirt stats on the real test driver,
the agent's measuring metrics source, the reporting loop, and metrics as heartbeats on the
uplink. (The simulated source of a development cluster's agent: test_simulated_metrics.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from agent_testkit import FakeGateway, wait_for

from agent.convert import metrics_to_proto
from agent.hypervisor.base import DomainSpec
from agent.hypervisor.domain_xml import metadata_element_xml, metadata_from_xml
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.metrics.domstats import DomainStats, InstanceRates, parse_stats
from agent.metrics.libvirt_source import LibvirtMetrics, LibvirtStats
from agent.metrics.model import HostMetrics
from agent.metrics.procfs import ProcError, ProcSampler, cpu_util, parse_loadavg, parse_meminfo, parse_stat
from agent.metrics.reporter import report_metrics
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


async def test_the_agent_measures_the_host_from_proc_and_reports_no_made_up_instances(
    hypervisor: LibvirtHypervisor, new_uid: NewUid
) -> None:
    await hypervisor.spawn(
        DomainSpec(new_uid(), "projects/p/servers/s", 4, 4096, metadata={"sim.cpu": "0.75"})
    )
    source = LibvirtMetrics(LibvirtStats(hypervisor), clock=lambda: 42.0)
    for _ in range(2):  # the second sample would have rates, had libvirt given counters
        sample = await source.sample()
        assert not sample.simulated
        assert sample.sampled_at == 42.0
        # This machine's memory and load, not the node file's (64 GiB) ...
        assert sample.memory_used_mib + sample.memory_free_mib == pytest.approx(machine_memory_mib(), abs=2)
        assert 0.0 <= sample.cpu_util <= 1.0 and sample.load1 >= 0
        # ... and the test driver's domain, which has no counters, is not made up (sim.cpu is
        # not the agent's business).
        assert sample.instances == ()


async def test_the_agent_reports_a_missing_proc_as_a_failed_sample(
    hypervisor: LibvirtHypervisor, tmp_path: Path
) -> None:
    source = LibvirtMetrics(LibvirtStats(hypervisor), proc=ProcSampler(tmp_path))
    with pytest.raises(ProcError, match="cannot read"):
        await source.sample()


# -- reporting ------------------------------------------------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.samples: list[HostMetrics] = []

    def publish_metrics(self, sample: HostMetrics) -> bool:
        self.samples.append(sample)
        return True


class _FlakySource:
    def __init__(self) -> None:
        self.calls = 0

    async def sample(self) -> HostMetrics:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("libvirt hiccup")
        return HostMetrics(float(self.calls), 0.5, 1, 2, 0.0, 0.0, 0.0)

    def metadata_changed(self, instance_uid: str, metadata: Mapping[str, str]) -> None:
        pass


async def test_report_metrics_keeps_its_beat_through_failures() -> None:
    sink = _Sink()
    task = asyncio.create_task(report_metrics(_FlakySource(), sink, 0.02))
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
