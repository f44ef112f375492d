"""The load view (pure, injected clock): EWMA, staleness, instances, remote snapshots,
persistence bookkeeping, listeners; and the sanity checks on samples coming from agents."""

from __future__ import annotations

import math

import pytest

from controller.api import loads
from controller.services.load_view import HostSample, HostUpdate, InstanceSample, LoadView
from controller.settings import ControllerSettings
from overcast.agent.v1 import agent_pb2

U1 = "11111111-1111-1111-1111-111111111111"
U2 = "22222222-2222-2222-2222-222222222222"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def host(cpu: float, at: float = 0.0, simulated: bool = True) -> HostSample:
    return HostSample(at, cpu, 1000, 3000, 1.0, 0.5, 0.25, simulated)


def inst(uid: str, cpu: float) -> InstanceSample:
    return InstanceSample(uid, cpu, 256, 0, 0, 0, 0, True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fleet(clock: Clock) -> LoadView:
    return LoadView(stale_after_s=3.0, alpha=0.5, remote_grace_s=2.0, clock=clock)


def test_unknown_host_has_no_load(fleet: LoadView) -> None:
    assert fleet.load_of("h1") is None
    assert fleet.instance_load(U1) is None


def test_ewma_starts_at_the_first_sample_and_smooths_the_rest(fleet: LoadView, clock: Clock) -> None:
    fleet.absorb("h1", host(0.8), [])
    view = fleet.load_of("h1")
    assert view is not None and view.fresh and not view.stale
    assert (view.cpu_util, view.cpu_util_ewma) == (0.8, 0.8)
    fleet.absorb("h1", host(0.0), [])
    fleet.absorb("h1", host(0.0), [])
    view = fleet.load_of("h1")
    assert view is not None
    assert view.cpu_util == 0.0 and view.cpu_util_ewma == pytest.approx(0.2)  # 0.8 * 0.5 * 0.5
    assert view.received_at == clock.now and view.sample.simulated


def test_a_host_is_stale_after_its_window_and_fresh_again_with_a_sample(
    fleet: LoadView, clock: Clock
) -> None:
    fleet.absorb("h1", host(0.5), [inst(U1, 0.7)])
    clock.now += 3.0
    assert fleet.load_of("h1").fresh  # type: ignore[union-attr]  # exactly 3 intervals: not yet
    assert fleet.fresh_cpu_utils(["h1"]) == [0.5]  # what the scheduler reads: the same rule
    clock.now += 0.01
    stale = fleet.load_of("h1")
    assert stale is not None and stale.stale and stale.cpu_util_ewma == 0.5  # last values kept
    assert all(math.isnan(u) for u in fleet.fresh_cpu_utils(["h1", "never-seen"]))
    assert fleet.instance_load(U1).stale  # type: ignore[union-attr]
    shown = loads.instance_load(fleet.instance_load(U1))  # type: ignore[arg-type]  # server show
    assert shown.stale and shown.cpu_util == 0.7  # the last values, said to be stale
    fleet.absorb("h1", host(0.5), [inst(U1, 0.7)])
    assert fleet.load_of("h1").fresh  # type: ignore[union-attr]


def test_instances_are_smoothed_and_dropped_when_they_leave_the_sample(fleet: LoadView) -> None:
    fleet.absorb("h1", host(0.5, at=10.0), [inst(U1, 1.0), inst(U2, 0.2)])
    fleet.absorb("h1", host(0.5, at=11.0), [inst(U1, 0.0)])
    one = fleet.instance_load(U1)
    assert one is not None and one.host_id == "h1"
    assert (one.sample.cpu_util, one.cpu_util_ewma, one.sampled_at) == (0.0, 0.5, 11.0)
    assert fleet.instance_load(U2) is None  # stopped or deleted: no sample, no load
    # Moved to another host: found there, and the old host's next sample does not unlink it.
    fleet.absorb("h2", host(0.1), [inst(U1, 0.3)])
    fleet.absorb("h1", host(0.5), [])
    moved = fleet.instance_load(U1)
    assert moved is not None and moved.host_id == "h2" and moved.cpu_util_ewma == 0.3


def test_remote_snapshots_fill_in_hosts_connected_elsewhere(fleet: LoadView, clock: Clock) -> None:
    fleet.merge_remote("h9", host(0.4), 0.35, received_at=clock.now - 4.0)
    remote = fleet.load_of("h9")
    # Older than 3 s but within the grace a persisted snapshot gets.
    assert remote is not None and remote.fresh and remote.cpu_util_ewma == 0.35
    assert fleet.fresh_cpu_utils(["h9"]) == [0.35]
    clock.now += 1.01
    assert fleet.load_of("h9").stale  # type: ignore[union-attr]
    assert math.isnan(fleet.fresh_cpu_utils(["h9"])[0])
    assert fleet.remote_stale(clock.now - 5.01) and not fleet.remote_stale(clock.now - 4.99)
    fleet.merge_remote("h9", host(0.9), 0.8, received_at=clock.now - 6.0)  # older: ignored
    assert fleet.load_of("h9").cpu_util == 0.4  # type: ignore[union-attr]
    # A local sample takes over; its own snapshot coming back from the database changes nothing.
    fleet.absorb("h9", host(0.6), [inst(U1, 0.5)])
    fleet.merge_remote("h9", host(0.0), 0.0, received_at=clock.now + 0.0004)
    local = fleet.load_of("h9")
    assert local is not None and local.cpu_util == 0.6 and fleet.instance_load(U1) is not None
    # Even a newer snapshot does not replace fresh local samples ...
    clock.now += 1.0
    fleet.merge_remote("h9", host(0.0), 0.0, received_at=clock.now)
    assert fleet.load_of("h9").cpu_util == 0.6  # type: ignore[union-attr]
    # ... but once ours are stale (the agent moved to another replica), the newer one wins.
    clock.now += 5.0
    fleet.merge_remote("h9", host(0.1), 0.15, received_at=clock.now - 0.5)
    adopted = fleet.load_of("h9")
    assert adopted is not None and adopted.cpu_util == 0.1 and adopted.fresh
    assert fleet.instance_load(U1) is None


def test_take_dirty_returns_each_locally_sampled_host_once(fleet: LoadView) -> None:
    fleet.absorb("h2", host(0.2), [inst(U2, 0.1)])
    fleet.absorb("h1", host(0.1), [inst(U1, 0.5)])
    fleet.absorb("h1", host(0.3), [inst(U1, 0.5)])
    fleet.merge_remote("h3", host(0.9), 0.9, received_at=999.0)
    dirty = fleet.views_of(fleet.take_dirty_ids())
    assert [h.host_id for h, _ in dirty] == ["h1", "h2"]
    assert [[i.sample.uid for i in inst] for _, inst in dirty] == [[U1], [U2]]
    assert dirty[0][0].cpu_util == 0.3
    assert fleet.views_of(fleet.take_dirty_ids()) == []


def test_listeners_hear_every_absorbed_sample(fleet: LoadView) -> None:
    heard: list[HostUpdate] = []
    fleet.add_listener(heard.append)
    fleet.absorb("h1", host(0.1), [inst(U1, 0.2)])
    fleet.merge_remote("h2", host(0.3), 0.3, received_at=1000.0)
    fleet.remove_listener(heard.append)
    fleet.absorb("h1", host(0.1), [])
    assert [u.host.host_id for u in heard] == ["h1", "h2"]
    assert [i.sample.uid for i in heard[0].instances] == [U1]
    assert fleet.absorbed == 2


def test_host_samples_and_the_instance_samples_they_carry_are_counted_apart(fleet: LoadView) -> None:
    fleet.absorb("h1", host(0.1), [inst(U1, 0.2), inst(U2, 0.4)])
    fleet.absorb("h2", host(0.3), [])
    fleet.absorb("h1", host(0.2), [inst(U1, 0.1)])
    fleet.merge_remote("h3", host(0.5), 0.5, received_at=1000.0)  # another replica's: not absorbed
    assert (fleet.absorbed, fleet.absorbed_instances) == (3, 3)
    assert fleet.host_count() == 3


def test_alpha_must_be_a_weight() -> None:
    with pytest.raises(ValueError):
        LoadView(alpha=0.0)


def test_samples_from_agents_are_sanitised() -> None:
    m = agent_pb2.HostMetricsSample(
        cpu_util=math.nan, memory_used_mib=-5, memory_free_mib=10, load1=math.inf, load5=-1.0, load15=2.0
    )
    m.sampled_at.FromNanoseconds(1_500_000_000)
    m.instances.add(instance_uid=U1, cpu_util=7.0, memory_rss_mib=-1, simulated=True)
    m.instances.add(instance_uid="x" * 100_000, cpu_util=0.5)  # not a uuid: dropped
    host_sample, instances = loads.samples(m)
    assert host_sample.sampled_at == 1.5
    assert (host_sample.cpu_util, host_sample.memory_used_mib, host_sample.load1, host_sample.load5) == (
        0.0,
        0,
        0.0,
        0.0,
    )
    assert [(i.uid, i.cpu_util, i.memory_rss_mib) for i in instances] == [(U1, 1.0, 0)]


def test_metrics_settings() -> None:
    m = ControllerSettings.load(["--metrics-interval", "0.5"], env={}).metrics
    assert (m.interval_s, m.stale_after_s, m.ewma_alpha) == (0.5, 1.5, 0.3)
    given = ["--metrics-stale-after", "9", "--metrics-ewma-alpha", "1"]
    assert ControllerSettings.load(given, env={}).metrics.stale_after_s == 9
    with pytest.raises(SystemExit):
        ControllerSettings.load(["--metrics-ewma-alpha", "1.5"], env={})
