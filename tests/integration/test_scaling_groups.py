"""Scaling groups through the real controller: create (idempotent, with the server group its
members are placed by), read, page, update with a mask and an etag, set the desired size, push
custom metrics, read the history an evaluation round wrote (and its event on the bus), members
made as the autoscaler makes them and found with ListServers' filter, and delete with and
without the members."""

from __future__ import annotations

import asyncio
import math
import time

import aio_pika
import asyncpg
import grpc
import pytest
from google.protobuf import json_format

from client import (
    Aborted,
    AlreadyExists,
    AsyncClient,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from controller.domain.scaling.evaluation import Decision, GroupState, MetricReading
from controller.domain.scaling.records import (
    MEMBER_ADDED,
    GroupOutcome,
    GroupStatus,
    decision_activity,
    member_activity,
)
from controller.storage.scaling_rounds import PgAutoscalerStore
from devcluster.processes import Cluster
from overcast.v1 import common_pb2, events_pb2, server_group_pb2, server_pb2, server_pb2_grpc
from overcast.v1 import scaling_group_pb2 as pb

from .helpers import short
from .scaling import Groups, cpu_policy, group_name, template, unique

ANTI = server_group_pb2.SERVER_GROUP_POLICY_SOFT_ANTI_AFFINITY


async def active_member(api: AsyncClient, pool: asyncpg.Pool, group: pb.ScalingGroup) -> server_pb2.Server:
    """One more member, made as members are: the group asked for one more (SetDesiredSize) and
    the autoscaler creates it (a server created behind its back would be a scale-in victim)."""
    g = await api.get_scaling_group(group.name)
    before = set(g.members)
    await api.set_desired_size(group.name, g.desired_size + 1)
    deadline = time.monotonic() + 30
    while not (new := sorted(set((await api.get_scaling_group(group.name)).members) - before)):
        assert time.monotonic() < deadline, f"no new member of {group.name} within 30 s"
        await asyncio.sleep(0.2)
    server = await api.wait_for_server(new[0], timeout=30)
    assert server is not None and server.vm_state == common_pb2.VM_STATE_ACTIVE, server
    return server


def configured(g: pb.ScalingGroup) -> pb.ScalingGroup:
    """The group as configured: without what the autoscaler changes (members, status)."""
    out = pb.ScalingGroup()
    out.CopyFrom(g)
    for field in ("members", "status", "update_time"):
        out.ClearField(field)
    return out


async def test_create_get_list_and_the_owned_server_group(scaling: Groups, api: AsyncClient) -> None:
    gid = unique("crud")
    created = await scaling.create(
        gid,
        request_id=f"req-{gid}",
        template=template(metadata={"role": "web"}, placement_policy=ANTI),
        min_size=1,
        max_size=5,
        policies=[cpu_policy(55)],
        scheduled_actions=[pb.ScheduledAction(name="night", schedule="0 22 * * *", max_size=2)],
        scale_in_rule=pb.SCALE_IN_RULE_OLDEST_FIRST,
    )
    assert created.name == group_name(gid)
    assert created.desired_size == 1  # min_size when not given
    assert created.server_group == f"projects/demo/serverGroups/{gid}-members"
    assert created.etag == "1" and created.create_time.seconds > 0
    assert created.policies[0].target_tracking.target == 55
    assert created.policies[0].target_tracking.tolerance == pytest.approx(0.1)  # defaults shown
    assert created.scheduled_actions[0].time_zone == "UTC"
    assert list(created.members) == [] and created.status.current_size == 0

    # A retried create gets the first group (as it is now: the autoscaler may have given it its
    # member already); another create of the name is refused.
    assert configured(await scaling.create(gid, request_id=f"req-{gid}", max_size=9)) == configured(created)
    with pytest.raises(AlreadyExists, match=gid):
        await scaling.create(gid)
    assert configured(await scaling.get(created.name)) == configured(created)

    owned = await api.get_server_group(f"{gid}-members")
    assert owned.policy == ANTI
    with pytest.raises(FailedPrecondition, match="places the members of"):
        await api.delete_server_group(f"{gid}-members")

    await scaling.delete(created.name)
    with pytest.raises(NotFound):
        await scaling.get(created.name)
    with pytest.raises(NotFound):
        await api.get_server_group(f"{gid}-members")


async def test_list_pages_through_every_group(scaling: Groups) -> None:
    made = [unique("page") for _ in range(3)]
    for gid in made:
        await scaling.create(gid)
    seen: list[str] = []
    token = ""
    while True:
        page = await scaling.list(page_size=1, page_token=token)
        assert len(page.scaling_groups) <= 1
        seen += [short(g.name) for g in page.scaling_groups]
        token = page.next_page_token
        if not token:
            break
    assert set(made) <= set(seen) and seen == sorted(seen)
    for gid in made:
        await scaling.delete(group_name(gid))


async def test_update_replaces_the_masked_fields_under_the_etag(scaling: Groups) -> None:
    gid = unique("upd")
    created = await scaling.create(gid, min_size=1, max_size=4, desired_size=3, policies=[cpu_policy(50)])
    change = pb.ScalingGroup(name=created.name, max_size=2, policies=[cpu_policy(80, "hot")])
    updated = await scaling.update(change, ["max_size"], etag=created.etag)
    assert updated.max_size == 2 and updated.desired_size == 2  # brought within the new bounds
    assert [p.name for p in updated.policies] == ["cpu"]  # not in the mask: unchanged
    assert (
        updated.etag != created.etag
        and updated.update_time.ToNanoseconds() >= created.update_time.ToNanoseconds()
    )
    with pytest.raises(Aborted, match="has changed"):
        await scaling.update(change, ["policies"], etag=created.etag)
    updated = await scaling.update(change, ["policies"])  # no etag: the latest version
    assert [(p.name, p.target_tracking.target) for p in updated.policies] == [("hot", 80)]
    again = await scaling.update(
        pb.ScalingGroup(name=created.name, template=template(flavor="flavors/m1.small")), ["template"]
    )
    assert again.template.flavor == "flavors/m1.small" and again.max_size == 2
    await scaling.delete(created.name)


async def test_set_desired_size_within_the_bounds(scaling: Groups) -> None:
    gid = unique("desired")
    created = await scaling.create(gid, min_size=0, max_size=3)
    set_ = await scaling.set_desired(created.name, 2)
    assert set_.desired_size == 2 and set_.etag != created.etag
    with pytest.raises(FailedPrecondition, match=r"outside .*\[0, 3\]: change min_size or max_size"):
        await scaling.set_desired(created.name, 4)
    with pytest.raises(InvalidArgument) as bad:
        await scaling.set_desired(created.name, -1)
    assert [f for f, _ in bad.value.field_violations] == ["desired_size"]
    with pytest.raises(NotFound):
        await scaling.set_desired(group_name("never-made"), 1)
    await scaling.delete(created.name)


async def test_members_are_listed_filtered_and_counted(
    scaling: Groups, api: AsyncClient, cluster: Cluster, cluster_db: asyncpg.Pool
) -> None:
    gid = unique("mem")
    group = await scaling.create(gid, max_size=4, template=template(placement_policy=ANTI))
    a = await active_member(api, cluster_db, group)
    b = await active_member(api, cluster_db, group)
    plain = await api.create_server(unique("plain"), flavor="m1.tiny", image="cirros")  # not a member
    assert a.scaling_group == group.name and a.server_group == group.server_group

    shown = await scaling.get(group.name)
    assert sorted(shown.members) == sorted([a.name, b.name])
    assert (shown.status.current_size, shown.status.active_size) == (2, 2)
    assert sorted((await api.get_server_group(f"{gid}-members")).members) == sorted([a.name, b.name])

    async with grpc.aio.insecure_channel(cluster.endpoint) as ch:
        servers = server_pb2_grpc.ServerServiceStub(ch)
        req = server_pb2.ListServersRequest(parent="projects/demo", scaling_group=group.name, page_size=1)
        first = await servers.ListServers(req, timeout=10)
        rest = await servers.ListServers(
            server_pb2.ListServersRequest(
                parent="projects/demo", scaling_group=group.name, page_token=first.next_page_token
            ),
            timeout=10,
        )
        assert sorted(s.name for s in [*first.servers, *rest.servers]) == sorted([a.name, b.name])
        assert all(s.scaling_group == group.name for s in [*first.servers, *rest.servers])
        # A page token belongs to its filter; the filter is a scaling group of the same project.
        for bad, field, says in [
            (
                server_pb2.ListServersRequest(parent="projects/demo", page_token=first.next_page_token),
                "page_token",
                "different query",
            ),
            (
                server_pb2.ListServersRequest(parent="projects/demo", scaling_group="web"),
                "scaling_group",
                "projects/{project}/scalingGroups/",
            ),
            (
                server_pb2.ListServersRequest(
                    parent="projects/demo", scaling_group="projects/other/scalingGroups/g"
                ),
                "scaling_group",
                "must be a scaling group of projects/demo",
            ),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await servers.ListServers(bad, timeout=10)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in info.value.details() and says in info.value.details()
        none = await servers.ListServers(
            server_pb2.ListServersRequest(parent="projects/demo", scaling_group=group_name("no-such-group")),
            timeout=10,
        )
        assert list(none.servers) == []

        # Only the autoscaler makes members: the public CreateServer ignores scaling_group
        # (output only, AIP-203).
        outsider = await servers.CreateServer(
            server_pb2.CreateServerRequest(
                parent="projects/demo",
                server_id=unique("sneaky"),
                server=server_pb2.Server(
                    flavor="flavors/m1.tiny", image="images/cirros", scaling_group=group.name
                ),
            ),
            timeout=10,
        )
        assert outsider.scaling_group == ""
    assert len((await scaling.get(group.name)).members) == 2

    await scaling.delete(group.name)
    for s in (a, b):
        assert await api.wait_for_server(s.name, timeout=30) is None
    for name in (outsider.name, plain.name):
        await api.delete_server(name)


async def test_custom_metrics_are_recorded_per_group_and_member(
    scaling: Groups, api: AsyncClient, cluster_db: asyncpg.Pool
) -> None:
    group = await scaling.create(unique("metric"), max_size=2)
    member = await active_member(api, cluster_db, group)
    await scaling.record(group.name, "custom/queue_depth", 42.5)
    await scaling.record(group.name, "custom/queue_depth", 7, member=member.name)
    mine = {
        (m.member, m.metric): m.value
        for m in await PgAutoscalerStore(cluster_db).fresh_metrics(60)
        if m.group_id == short(group.name)
    }
    assert mine == {("", "custom/queue_depth"): 42.5, (short(member.name), "custom/queue_depth"): 7.0}

    with pytest.raises(InvalidArgument, match="member") as bad:
        await scaling.record(group.name, "custom/x", 1, member="projects/demo/servers/not-a-member")
    assert [f for f, _ in bad.value.field_violations] == ["member"]
    with pytest.raises(InvalidArgument) as bad:
        await scaling.record(group.name, "cpu_utilization", 50)
    assert "measured by the agents" in bad.value.field_violations[0][1]
    with pytest.raises(InvalidArgument) as bad:
        await scaling.record(group.name, "custom/x", math.nan)
    assert [f for f, _ in bad.value.field_violations] == ["value"]
    with pytest.raises(NotFound):
        await scaling.record(group_name("never-made"), "custom/x", 1)
    await scaling.delete(group.name)


async def _bus_queue(
    cluster: Cluster, routing_key: str
) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractQueue]:
    conn = await aio_pika.connect(cluster.amqp_url)
    channel = await conn.channel()
    exchange = await channel.get_exchange(f"{cluster.bus_prefix}.events")
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key)
    return conn, queue


async def test_an_evaluation_round_shows_in_the_history_status_and_on_the_bus(
    scaling: Groups, cluster: Cluster, cluster_db: asyncpg.Pool
) -> None:
    # At 0 members the live autoscaler has nothing to do until the round written here.
    group = await scaling.create(unique("hist"), min_size=0, max_size=10, policies=[cpu_policy(60)])
    gid = short(group.name)
    store = PgAutoscalerStore(cluster_db)
    (loaded,) = [r for r in await store.load_all() if r.group.id == gid]
    conn, queue = await _bus_queue(cluster, "scaling.#")
    async with conn:
        d = Decision(
            current=1,
            previous_desired=1,
            desired=3,
            rule="target_tracking/cpu",
            metrics=(MetricReading("cpu", "cpu_utilization", 95.0, 60.0, 1),),
            clamped=("scale-up limit 2 per 15 s",),
            add=2,
        )
        activities = (
            decision_activity(d),
            member_activity(MEMBER_ADDED, d, f"{gid}-aaaaa"),
            member_activity(MEMBER_ADDED, d, f"{gid}-bbbbb"),
        )
        outcome = GroupOutcome(
            "demo", gid, loaded.group.version, 3, 1, 10, GroupState(evaluated_at=1.0),
            GroupStatus(d.metrics, "cpu 95% above 60%: 1 → 3", ""), scaled=True, activities=activities,
        )  # fmt: skip
        assert await store.save_decisions([outcome]) == []

        shown = await scaling.get(group.name)
        assert shown.desired_size == 3 and shown.etag != group.etag
        assert shown.status.last_decision == "cpu 95% above 60%: 1 → 3"
        assert shown.status.metrics[0].value == 95 and shown.status.last_scale_time.seconds > 0

        page = await scaling.activities(group.name, page_size=2)
        history = list(page.activities)
        while page.next_page_token:
            page = await scaling.activities(group.name, page_token=page.next_page_token)
            history.extend(page.activities)
        # The live autoscaler then carries the round out (members of its own): the entries
        # written here are these, newest first.
        injected = {f"projects/demo/servers/{gid}-aaaaa", f"projects/demo/servers/{gid}-bbbbb"}
        history = [a for a in history if a.member in injected or list(a.clamped) == list(d.clamped)]
        assert [a.kind for a in history] == [
            "scaling.member.added",
            "scaling.member.added",
            "scaling.decision",
        ]
        assert history[0].member == f"projects/demo/servers/{gid}-bbbbb"
        assert history[2].rule == "target_tracking/cpu" and list(history[2].clamped) == [
            "scale-up limit 2 per 15 s"
        ]
        assert (history[2].previous_desired, history[2].desired_size) == (1, 3)

        got: list[events_pb2.Event] = []
        async with asyncio.timeout(20), queue.iterator() as messages:  # the relay publishes within ms
            async for message in messages:
                async with message.process():
                    event = json_format.Parse(message.body, events_pb2.Event())
                    if event.resource == group.name and (
                        event.scaling.member in injected or list(event.scaling.clamped) == list(d.clamped)
                    ):
                        got.append(event)
                if len(got) == 3:
                    break
        assert [e.event_type for e in got] == [
            "scaling.decision",
            "scaling.member.added",
            "scaling.member.added",
        ]
        assert got[0].scaling.desired_size == 3 and got[0].scaling.metrics[0].value == 95
        assert got[1].scaling.member == f"projects/demo/servers/{gid}-aaaaa"
    await scaling.delete(group.name)
    with pytest.raises(NotFound):
        await scaling.activities(group.name)


async def test_delete_deletes_the_members(
    scaling: Groups, api: AsyncClient, cluster_db: asyncpg.Pool
) -> None:
    group = await scaling.create(unique("del"), max_size=3, template=template(placement_policy=ANTI))
    members = [await active_member(api, cluster_db, group) for _ in range(2)]
    with pytest.raises(Aborted):
        await scaling.delete(group.name, etag="999")
    await scaling.delete(group.name, etag=(await scaling.get(group.name)).etag)
    with pytest.raises(NotFound):
        await scaling.get(group.name)
    with pytest.raises(NotFound):
        await api.get_server_group(short(group.server_group))
    for m in members:  # each through DeleteServer's path: DELETING, then gone once its agent confirms
        assert await api.wait_for_server(m.name, timeout=30) is None


async def test_delete_keeping_members_leaves_them_as_ordinary_servers(
    scaling: Groups, api: AsyncClient, cluster_db: asyncpg.Pool
) -> None:
    group = await scaling.create(unique("keep"), max_size=3, template=template(placement_policy=ANTI))
    m = await active_member(api, cluster_db, group)
    await scaling.delete(group.name, keep_members=True)
    with pytest.raises(NotFound):
        await scaling.get(group.name)
    kept = await api.get_server(m.name)
    assert kept.scaling_group == "" and kept.vm_state == common_pb2.VM_STATE_ACTIVE
    assert kept.etag != m.etag
    assert kept.server_group == group.server_group  # still placed by it, an ordinary server group now
    assert list((await api.get_server_group(short(group.server_group))).members) == [m.name]
    await api.delete_server(m.name)
    assert await api.wait_for_server(m.name, timeout=30) is None
    await api.delete_server_group(short(group.server_group))
