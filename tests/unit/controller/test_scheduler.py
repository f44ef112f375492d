"""Placement (controller.scheduler): filters, weighers, ranking, the NoValidHost message, and
batch placement against an in-memory fleet; plus the conversions the scheduler workers feed it
(controller.services.scheduling.host_view / placement_request)."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from scheduler_testkit import host, pending, req

from controller.domain.model import Host, HostState, Instance
from controller.domain.placements import PendingServer
from controller.domain.server_groups import GroupPlacement, GroupPolicy
from controller.scheduler.hosts import HostColumns, HostView, PlacementRequest
from controller.scheduler.placement import Scheduler
from controller.scheduler.snapshot import HostSnapshot
from controller.scheduler.weighers import Weigher, free_ram, free_vcpus, totals, weigh
from controller.services.scheduling import host_columns, host_view, placement_request

SPREAD = Scheduler(weighers=(free_ram(1.0),))
PACK = Scheduler(weighers=(free_ram(-1.0),))


# ---- filters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "request_", "filter_name"),
    [
        (host("bad", up=False), req(), "down or disabled"),
        (host("bad", enabled=False), req(), "down or disabled"),
        (host("bad", availability_zone="az2"), req(availability_zone="az1"), "availability zone"),
        (host("bad", arch="aarch64"), req(arch="x86_64"), "architecture"),
        (host("bad", vcpus=2), req(vcpus=4), "capacity (vcpus)"),
        (host("bad", vcpus_used=7), req(vcpus=2), "capacity (vcpus)"),
        (host("bad", memory_mib=1024), req(memory_mib=2048), "capacity (memory)"),
        (host("bad", memory_mib_used=16000), req(memory_mib=512), "capacity (memory)"),
        (host("bad", disk_gib=10), req(disk_gib=20), "capacity (disk)"),
        (host("bad", disk_gib_used=95), req(disk_gib=10), "capacity (disk)"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_filter_removes_host_that_cannot_take_the_request(
    bad: HostView, request_: PlacementRequest, filter_name: str
) -> None:
    good = host("good", vcpus=64, memory_mib=65536, disk_gib=1000)
    ranking = SPREAD.rank([bad, good], request_)
    assert ranking.candidates == ["good"]
    assert ranking.removed == Counter({filter_name: 1})
    assert ranking.considered == 2


def test_no_zone_or_arch_asked_means_any() -> None:
    hosts = [
        host("a", availability_zone="az1", arch="x86_64"),
        host("b", availability_zone="az9", arch="aarch64"),
    ]
    assert sorted(SPREAD.rank(hosts, req()).candidates) == ["a", "b"]


def test_exact_fit_is_accepted() -> None:
    h = host("h", vcpus=4, memory_mib=4096, disk_gib=40, vcpus_used=2, memory_mib_used=2048, disk_gib_used=20)
    assert SPREAD.rank([h], req(vcpus=2, memory_mib=2048, disk_gib=20)).candidates == ["h"]
    assert SPREAD.rank([h], req(vcpus=3, memory_mib=2048, disk_gib=20)).candidates == []


@pytest.mark.parametrize(
    ("h", "one", "fits"),
    [
        (host("h", vcpus=4, cpu_allocation_ratio=4.0), req(vcpus=1, memory_mib=1, disk_gib=0), 16),
        (host("h", memory_mib=1000, ram_allocation_ratio=1.5), req(vcpus=0, memory_mib=100, disk_gib=0), 15),
        (host("h", disk_gib=10, disk_allocation_ratio=2.0), req(vcpus=0, memory_mib=0, disk_gib=1), 20),
        (host("h", vcpus=8, cpu_allocation_ratio=0.5), req(vcpus=1, memory_mib=1, disk_gib=0), 4),
    ],
    ids=["vcpus x4", "memory x1.5", "disk x2", "vcpus x0.5"],
)
def test_allocation_ratios_set_the_capacity(h: HostView, one: PlacementRequest, fits: int) -> None:
    placed = 0
    while SPREAD.rank([h], one).candidates == ["h"]:
        h = h.claimed(one)
        placed += 1
        assert placed <= fits, "overcommitted beyond the allocation ratio"
    assert placed == fits


def test_each_host_is_counted_once_under_the_first_filter_that_removes_it() -> None:
    # Down *and* too small: reported as down, not as both.
    ranking = SPREAD.rank([host("x", up=False, memory_mib=1)], req(memory_mib=512))
    assert ranking.removed == Counter({"down or disabled": 1})


# The order in which NoValidHost names the reasons: a host that fails several filters is
# counted under the first of them. Each row: what makes host "x" fail that filter.
REASONS_IN_ORDER: list[tuple[str, dict[str, object]]] = [
    ("down or disabled", {"up": False}),
    ("availability zone", {"availability_zone": "az2"}),
    ("architecture", {"arch": "aarch64"}),
    ("hypervisor type", {"hypervisor_type": "test"}),
    ("server group (affinity)", {}),  # group members on another host (the request's group)
    ("server group (anti-affinity)", {}),  # a group member on x already
    ("capacity (vcpus)", {"vcpus": 1}),
    ("capacity (memory)", {"memory_mib": 256}),
    ("capacity (disk)", {"disk_gib": 0}),
]


@pytest.mark.parametrize("first", range(len(REASONS_IN_ORDER)), ids=lambda i: REASONS_IN_ORDER[i][0])
def test_a_host_failing_several_filters_is_reported_under_the_first_in_order(first: int) -> None:
    """Host x fails the filter `first` and every filter after it (both group filters cannot
    apply to one request: the one that does not comes after `first` or is left out)."""
    failing = REASONS_IN_ORDER[first:]
    changes: dict[str, object] = {}
    for _, change in failing:
        changes.update(change)
    names = [name for name, _ in failing]
    if "server group (affinity)" in names:
        policy, members = GroupPolicy.AFFINITY, ["other"]
    elif "server group (anti-affinity)" in names:
        policy, members = GroupPolicy.ANTI_AFFINITY, ["x"]
    else:
        policy, members = None, []
    hosts = [host("x", **changes), host("other")]
    s = HostSnapshot(hosts, members={"p/g": members})
    request = req(
        vcpus=2, memory_mib=512, disk_gib=1, availability_zone="az1", arch="x86_64",
        hypervisor_type="qemu", group="p/g" if policy else None, group_policy=policy,
    )  # fmt: skip
    ranking = SPREAD.rank_in(s, request)
    assert ranking.candidates == ["other"]
    assert ranking.removed == Counter({REASONS_IN_ORDER[first][0]: 1})


# ---- weighers and ranking -------------------------------------------------------------------


def fleet_with_free_ram() -> list[HostView]:
    return [
        host("a", memory_mib_used=8192),  # 8 GiB free
        host("b", memory_mib_used=1024),  # 15 GiB free
        host("c", memory_mib_used=12288),  # 4 GiB free
        host("d", memory_mib_used=16000),  # too full for the request
    ]


def test_positive_free_ram_multiplier_spreads() -> None:
    assert SPREAD.rank(fleet_with_free_ram(), req(memory_mib=1024)).candidates == ["b", "a", "c"]


def test_negative_free_ram_multiplier_packs() -> None:
    assert PACK.rank(fleet_with_free_ram(), req(memory_mib=1024)).candidates == ["c", "a", "b"]


def test_ram_allocation_ratio_counts_as_free_ram() -> None:
    hosts = [
        host("small-overcommitted", memory_mib=8192, ram_allocation_ratio=3.0, memory_mib_used=8192),
        host("big", memory_mib_used=8192),
    ]
    assert SPREAD.rank(hosts, req()).candidates[0] == "small-overcommitted"  # 2/3 free > 1/2


def test_free_ram_is_weighed_as_a_share_of_each_host() -> None:
    # The big host has more MiB free, the small one a larger share: spreading by share evens
    # out utilisation across hosts of different sizes (and packing fills the fullest).
    hosts = [host("big", memory_mib=65536, memory_mib_used=32768), host("small", memory_mib_used=4096)]
    assert SPREAD.rank(hosts, req()).candidates == ["small", "big"]
    assert PACK.rank(hosts, req()).candidates == ["big", "small"]


@pytest.mark.parametrize("scheduler", [SPREAD, PACK], ids=["spread", "pack"])
def test_ties_break_on_host_id_whatever_the_input_order(scheduler: Scheduler) -> None:
    hosts = [host(f"h{i}") for i in (3, 1, 4, 0, 2)]
    for seed in range(5):
        random.Random(seed).shuffle(hosts)
        assert scheduler.rank(hosts, req()).candidates == ["h0", "h1", "h2", "h3", "h4"]


def test_weighers_are_normalised_then_multiplied_and_summed() -> None:
    hosts = [
        host("a", memory_mib_used=0, vcpus_used=8),  # most RAM, no vcpus
        host("b", memory_mib_used=8192, vcpus_used=4),
        host("c", memory_mib_used=16384, vcpus_used=0),  # no RAM, most vcpus
    ]
    assert weigh(hosts, [free_ram(1.0)]) == [1.0, 0.5, 0.0]
    assert weigh(hosts, [free_ram(2.0), free_vcpus(1.0)]) == [2.0, 1.5, 1.0]
    assert weigh(hosts, [free_ram(1.0), free_vcpus(3.0)]) == [1.0, 2.0, 3.0]
    assert weigh(hosts, [free_vcpus(0.0)]) == [0.0, 0.0, 0.0]  # a zero multiplier is off
    assert weigh([], [free_ram(1.0)]) == []


def test_a_one_vcpu_host_empty_is_wholly_free() -> None:
    hosts = [host("tiny", vcpus=1), host("half", vcpus=8, vcpus_used=4)]
    assert weigh(hosts, [free_vcpus(1.0)]) == [1.0, 0.0]  # shares 1 and 1/2
    s = HostSnapshot(hosts)
    weigh_in(s, [free_vcpus(1.0)])  # the snapshot now keeps the shares, updated per claim
    tiny, one = s.ids.index("tiny"), req(vcpus=1, memory_mib=0, disk_gib=0)
    s.claim(tiny, one)
    assert weigh_in(s, [free_vcpus(1.0)]) == {"half": 1.0, "tiny": 0.0}  # shares 1/2 and 0
    s.claim(tiny, one, -1)  # the claim given back (refused by the database)
    assert weigh_in(s, [free_vcpus(1.0)]) == {"half": 0.0, "tiny": 1.0}


def weigh_in(s: HostSnapshot, weighers: list[Weigher]) -> dict[str, float]:
    return dict(zip(s.ids, totals(s, req(), None, weighers).tolist(), strict=True))


def test_scores_are_normalised_to_0_1_over_the_candidates_whatever_their_spread() -> None:
    # Free RAM shares 3/4, 1/2 and 1/4 (a range of 1/2, not 1): still scored 1, 0.5 and 0, so
    # a weigher's multiplier alone says how much it counts against the others.
    hosts = [host(n, memory_mib_used=used) for n, used in (("a", 4096), ("b", 8192), ("c", 12288))]
    assert weigh(hosts, [free_ram(1.0)]) == [1.0, 0.5, 0.0]
    assert weigh(hosts, [free_ram(-2.0)]) == [-2.0, -1.0, 0.0]
    # Free vcpu shares 1/4, 3/8 and 5/8 (a range of 3/8): scored 0, 1/3 and 1, times 3.
    hosts = [replace(h, vcpus_used=u) for h, u in zip(hosts, (6, 5, 3), strict=True)]
    assert weigh(hosts, [free_ram(1.0), free_vcpus(3.0)]) == pytest.approx([1.0, 1.5, 3.0])
    # A placement updates the claimed host's share (1/4 free after 8 GiB more on "a").
    s = HostSnapshot(hosts)
    big = req(memory_mib=8192, vcpus=1, disk_gib=0)
    i = SPREAD.select(s, big)
    assert i is not None and s.ids[i] == "a"
    s.claim(i, big)
    assert SPREAD.rank_in(s, req()).candidates == ["b", "a", "c"]  # a ties with c, first on its id


# ---- NoValidHost ----------------------------------------------------------------------------


def test_no_valid_host_counts_hosts_removed_per_filter() -> None:
    hosts = [host(f"full{i}", memory_mib_used=16384) for i in range(3)]
    hosts += [host("down", up=False), host("off", enabled=False)]
    ranking = SPREAD.rank(hosts, req())
    assert ranking.candidates == []
    assert ranking.no_valid_host() == (
        "No valid host: 5 hosts: 3 removed by capacity (memory), 2 removed by down or disabled"
    )


def test_no_valid_host_with_one_host() -> None:
    ranking = SPREAD.rank([host("h", availability_zone="az2")], req(availability_zone="az1"))
    assert ranking.no_valid_host() == "No valid host: 1 host: 1 removed by availability zone"


def test_a_zone_no_host_is_in_matches_no_host() -> None:
    hosts = [host("a", availability_zone="az1"), host("b", availability_zone="az2")]
    ranking = SPREAD.rank(hosts, req(availability_zone="az3"))
    assert ranking.no_valid_host() == "No valid host: 2 hosts: 2 removed by availability zone"


@pytest.mark.parametrize(
    ("h", "one"),
    [
        (host("h", vcpus=4), req(vcpus=1, memory_mib=1, disk_gib=0)),
        (host("h", memory_mib=2048), req(vcpus=0, memory_mib=512, disk_gib=0)),
        (host("h", disk_gib=8), req(vcpus=0, memory_mib=1, disk_gib=2)),
    ],
    ids=["vcpus", "memory", "disk"],
)
def test_a_batch_fills_a_host_exactly(h: HostView, one: PlacementRequest) -> None:
    decisions = SPREAD.place(HostSnapshot([h]), [one] * 5)
    assert [d.host_id for d in decisions] == ["h", "h", "h", "h", None]  # the 4th takes the last of it


def test_a_batch_fills_disk_too() -> None:
    decisions = SPREAD.place(HostSnapshot([host("h", disk_gib=10)]), [req(disk_gib=4) for _ in range(3)])
    assert [d.host_id for d in decisions] == ["h", "h", None]
    assert [d.reason for d in decisions[:2]] == ["", ""]
    assert decisions[2].reason == "No valid host: 1 host: 1 removed by capacity (disk)"


def test_no_valid_host_with_no_hosts() -> None:
    assert SPREAD.rank([], req()).no_valid_host() == "No valid host: no hosts are registered"


# ---- batches --------------------------------------------------------------------------------


def within_ratios(h: HostView) -> bool:
    return (
        h.vcpus_used <= h.vcpus * h.cpu_allocation_ratio
        and h.memory_mib_used <= h.memory_mib * h.ram_allocation_ratio
        and h.disk_gib_used <= h.disk_gib * h.disk_allocation_ratio
    )


def fits(h: HostView, r: PlacementRequest) -> bool:
    return h.up and h.enabled and within_ratios(h.claimed(r))


@pytest.mark.parametrize("scheduler", [SPREAD, PACK], ids=["spread", "pack"])
def test_a_batch_never_overcommits_any_host(scheduler: Scheduler) -> None:
    rng = random.Random(20240607)
    fleet = {
        h.id: h
        for h in [
            host("big", vcpus=32, memory_mib=131072, disk_gib=2000, cpu_allocation_ratio=4.0),
            host(
                "mid",
                vcpus=16,
                memory_mib=65536,
                disk_gib=1000,
                cpu_allocation_ratio=8.0,
                ram_allocation_ratio=1.5,
            ),
            host(
                "small",
                vcpus=4,
                memory_mib=8192,
                disk_gib=100,
                cpu_allocation_ratio=16.0,
                disk_allocation_ratio=2.0,
            ),
            host("busy", vcpus=8, memory_mib=16384, disk_gib=200, vcpus_used=6, memory_mib_used=12000),
            host("down", up=False, vcpus=64, memory_mib=262144, disk_gib=4000),
        ]
    }
    placed: Counter[str] = Counter()
    refused = 0
    for _ in range(400):
        r = req(rng.choice([1, 1, 2, 4]), rng.choice([512, 1024, 2048, 4096]), rng.choice([1, 10, 20, 40]))
        ranking = scheduler.rank(list(fleet.values()), r)
        if not ranking.candidates:
            refused += 1
            # A refusal must be true: no host had room for it.
            assert not any(fits(h, r) for h in fleet.values()), ranking.no_valid_host()
            assert sum(ranking.removed.values()) == len(fleet)
            continue
        chosen = ranking.candidates[0]
        fleet[chosen] = fleet[chosen].claimed(r)
        placed[chosen] += 1
        assert all(within_ratios(h) for h in fleet.values()), fleet[chosen]
    assert set(placed) == {"big", "mid", "small", "busy"}  # every up host took some, "down" none
    assert sum(placed.values()) > 100 and refused > 0  # and the fleet filled up along the way


@pytest.mark.parametrize("n", [3, 10, 31, 90])
def test_spread_over_equal_hosts_is_even(n: int) -> None:
    fleet = {h.id: h for h in (host("h1"), host("h2"), host("h3"))}
    placed = Counter({h: 0 for h in fleet})
    r = req(vcpus=0, memory_mib=128, disk_gib=0)
    for _ in range(n):
        chosen = SPREAD.rank(list(fleet.values()), r).candidates[0]
        fleet[chosen] = fleet[chosen].claimed(r)
        placed[chosen] += 1
        assert max(placed.values()) - min(placed.values()) <= 1, placed
    assert sum(placed.values()) == n


def test_pack_fills_one_host_before_the_next() -> None:
    fleet = {h.id: h for h in (host("h1", vcpus=2), host("h2", vcpus=2))}
    r = req(vcpus=1, memory_mib=1024, disk_gib=0)
    order = []
    for _ in range(4):
        chosen = PACK.rank(list(fleet.values()), r).candidates[0]
        fleet[chosen] = fleet[chosen].claimed(r)
        order.append(chosen)
    assert order == ["h1", "h1", "h2", "h2"]


# ---- what the scheduler workers feed in -----------------------------------------------------

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def db_host(**kw: object) -> Host:
    fields: dict[str, object] = dict(
        id="h1",
        hostname="node1",
        arch="x86_64",
        hypervisor_type="qemu",
        hypervisor_uri="test:///default",
        availability_zone="az1",
        vcpus=32,
        memory_mib=65536,
        disk_gib=500,
        cpu_allocation_ratio=4.0,
        ram_allocation_ratio=1.5,
        disk_allocation_ratio=1.0,
        vcpus_used=3,
        memory_mib_used=4096,
        disk_gib_used=40,
        state=HostState.UP,
        last_heartbeat=NOW,
    )
    fields.update(kw)
    return Host(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "age_s", "up"),
    [
        ({}, 1.0, True),
        ({}, 3.0, False),  # stale: heartbeat as old as the limit
        ({}, 60.0, False),
        ({"state": HostState.DOWN}, 1.0, False),
        ({"last_heartbeat": None}, 0.0, False),
    ],
    ids=["fresh", "at limit", "stale", "down", "never seen"],
)
def test_host_view_is_up_only_when_up_and_fresh(changes: dict[str, object], age_s: float, up: bool) -> None:
    h = replace(db_host(), **changes)  # type: ignore[arg-type]
    assert host_view(h, NOW.timestamp() + age_s, stale_after_s=3.0).up is up


def test_host_view_carries_capacity_usage_and_placement_traits() -> None:
    v = host_view(
        db_host(enabled=False, availability_zone="az7", disk_allocation_ratio=2.0), NOW.timestamp(), 3.0
    )
    assert (v.id, v.availability_zone, v.arch, v.enabled) == ("h1", "az7", "x86_64", False)
    assert (v.free_vcpus, v.free_memory_mib, v.free_disk_gib) == (
        32 * 4 - 3,
        65536 * 1.5 - 4096,
        500 * 2 - 40,
    )


def instance(**kw: object) -> Instance:
    fields: dict[str, object] = dict(
        uid=uuid.UUID(int=1), project="acme", server_id="web", flavor_id="m1.small", image_id="debian"
    )
    return pending(0, **{**fields, "memory_mib": 2048, "disk_gib": 20, "task_state": None, **kw})


def test_placement_request_from_instance_without_constraints() -> None:
    r = placement_request(PendingServer.of(instance(metadata={"availability_zone": "az2"})))
    assert (r.uid, r.vcpus, r.memory_mib, r.disk_gib) == (uuid.UUID(int=1), 2, 2048, 20)
    assert (r.availability_zone, r.arch, r.hypervisor_type, r.group, r.group_policy) == (None,) * 5


def test_placement_request_carries_zone_image_traits_and_group() -> None:
    inst = instance(
        availability_zone="az2",
        required_arch="aarch64",
        required_hypervisor_type="qemu",
        server_group="web",
    )
    group = GroupPlacement("acme/web", GroupPolicy.ANTI_AFFINITY, ("h1",))
    r = placement_request(PendingServer.of(inst), group)
    assert (r.availability_zone, r.arch, r.hypervisor_type) == ("az2", "aarch64", "qemu")
    assert (r.group, r.group_policy) == ("acme/web", GroupPolicy.ANTI_AFFINITY)


def test_unknown_load_is_estimated_from_allocation_and_fresh_load_taken_as_measured() -> None:
    rows = [db_host(id="a", vcpus=4, vcpus_used=2), db_host(id="b", vcpus=4, vcpus_used=2)]
    s = HostSnapshot.of_columns(host_columns(rows, NOW.timestamp(), 3.0), [math.nan, 0.9])
    assert s.load_fresh.tolist() == [False, True]
    assert s.util.tolist() == [0.5, 0.9]


def test_a_batch_snapshot_reuses_the_previous_one_only_where_nothing_changed() -> None:
    rows = [db_host(id="a", availability_zone="az1"), db_host(id="b", availability_zone="az1")]
    cols = host_columns(rows, NOW.timestamp(), 3.0)
    first = HostSnapshot.of_columns(cols, [math.nan] * 2)
    same = HostSnapshot.of_columns(host_columns(rows, NOW.timestamp(), 3.0), [math.nan] * 2, previous=first)
    assert same.zone_is("az1").tolist() == [True, True] and same.index is first.index
    # Host b moved to another zone, then host c joined: both seen in the next batch.
    rows[1] = replace(rows[1], availability_zone="az2")
    moved = HostSnapshot.of_columns(host_columns(rows, NOW.timestamp(), 3.0), [math.nan] * 2, previous=same)
    assert moved.zone_is("az2").tolist() == [False, True]
    rows.append(db_host(id="c", availability_zone="az2", arch="aarch64"))
    grown = HostSnapshot.of_columns(host_columns(rows, NOW.timestamp(), 3.0), [math.nan] * 3, previous=moved)
    assert grown.ids == ["a", "b", "c"] and grown.index["c"] == 2
    assert grown.zone_is("az2").tolist() == [False, True, True]
    assert grown.arch_is("arm64").tolist() == [False, False, True]


def test_a_host_read_afresh_is_seen_as_read_plus_the_claims_not_yet_committed() -> None:
    s = HostSnapshot([host("a"), host("b", cpu_util=0.25, load_fresh=True)])
    row = host(
        "a", vcpus=16, memory_mib=8192, disk_gib=50, vcpus_used=4, memory_mib_used=1024, disk_gib_used=10
    )
    row.cpu_allocation_ratio, row.ram_allocation_ratio, row.disk_allocation_ratio = 2.0, 1.5, 2.0
    s.replace_row(0, HostColumns.of([row]), 0, extra=(2, 512, 5))
    assert s.usage("a") == (6, 1536, 15)
    assert (s.free_v[0], s.free_m[0], s.free_d[0]) == (16 * 2.0 - 6, 8192 * 1.5 - 1536, 50 * 2.0 - 15)
    assert s.util[0] == pytest.approx(6 / 16)  # no live load: estimated from what is allocated
    # A host with live load: the new allocations add to it (the metrics have not seen them yet).
    s.replace_row(1, HostColumns.of([host("b", vcpus=8, vcpus_used=2)]), 0)
    s.replace_row(1, HostColumns.of([host("b", vcpus=8, vcpus_used=6)]), 0)
    assert s.usage("b") == (6, 0, 0) and s.util[1] == pytest.approx(0.25 + 6 / 8)
    # Read as down: no longer chosen, whatever the snapshot had cached for it.
    plain = req(vcpus=1, memory_mib=1, disk_gib=0)
    assert SPREAD.select(s, plain) == 1
    s.replace_row(1, HostColumns.of([host("b", up=False)]), 0)
    assert SPREAD.select(s, plain) == 0


def test_host_columns_must_be_in_id_order_and_of_one_length() -> None:
    cols = host_columns([db_host(id="a"), db_host(id="b")], NOW.timestamp(), 3.0)
    with pytest.raises(ValueError, match="host columns must be in strictly increasing id order"):
        HostColumns(**{f: list(reversed(getattr(cols, f))) for f in HostColumns.__slots__})
    with pytest.raises(ValueError, match="strictly increasing"):  # one host twice
        HostColumns(**{f: getattr(cols, f)[:1] * 2 for f in HostColumns.__slots__})
    with pytest.raises(ValueError, match="host columns of different lengths"):
        HostColumns(
            **{f: getattr(cols, f)[:1] if f == "zones" else getattr(cols, f) for f in HostColumns.__slots__}
        )
