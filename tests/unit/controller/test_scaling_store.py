"""Scaling groups in PostgreSQL against the real database: what the API stores and reads back
(storage.scaling_groups), and what one evaluation round of the autoscaler loads and saves
(storage.scaling_rounds: sizes only onto the group it loaded, state and status always, history
and events together)."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import asyncpg
import pytest
from google.protobuf import json_format
from scheduler_testkit import pending

from controller.domain.errors import (
    AlreadyExists,
    EtagMismatch,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from controller.domain.model import Instance, TaskState
from controller.domain.scaling.evaluation import Decision, GroupState, MetricReading
from controller.domain.scaling.model import ScalingGroup, ServerTemplate
from controller.domain.scaling.records import (
    MEMBER_ADDED,
    SCALING_DECISION,
    GroupOutcome,
    GroupStatus,
    decision_activity,
    member_activity,
)
from controller.domain.server_groups import GroupPolicy
from controller.storage.instances import PgInstanceStore
from controller.storage.scaling_groups import PgScalingGroupStore
from controller.storage.scaling_rounds import PgAutoscalerStore as Rounds
from controller.storage.server_groups import PgServerGroupStore
from overcast.v1 import events_pb2


def group(group_id: str = "web", *, policy: GroupPolicy | None = None, **kw: object) -> ScalingGroup:
    fields: dict[str, object] = dict(
        project="demo",
        id=group_id,
        template=ServerTemplate("m1.tiny", "cirros", placement_policy=policy),
        min_size=1,
        max_size=10,
        desired_size=2,
    )
    fields.update(kw)
    return ScalingGroup(**fields)  # type: ignore[arg-type]


async def member(pool: asyncpg.Pool, n: int, group_id: str = "web", **kw: object) -> Instance:
    return await PgInstanceStore(pool).create(
        pending(n, server_id=f"{group_id}-{n:05d}", scaling_group=group_id, **kw), []
    )


async def outbox(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT message_type, project, resource, payload FROM outbox ORDER BY id")


async def test_create_get_and_the_owned_server_group(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    created = await store.create(group(policy=GroupPolicy.ANTI_AFFINITY), "req-1")
    assert created.group.server_group_id == "web-members" and created.group.version == 1
    assert created.members == () and created.current_size == 0 and not created.deleting
    assert (await PgServerGroupStore(pool).get("demo", "web-members")).policy is GroupPolicy.ANTI_AFFINITY
    again = await store.create(group(policy=GroupPolicy.ANTI_AFFINITY), "req-1")  # a retry (AIP-155)
    assert again == created
    with pytest.raises(AlreadyExists):
        await store.create(group(), "req-2")
    # Deleting the owned server group directly would strand the members the group places.
    with pytest.raises(FailedPrecondition, match="places the members of projects/demo/scalingGroups/web"):
        await PgServerGroupStore(pool).delete("demo", "web-members", "")


async def test_a_taken_server_group_name_refuses_the_create_and_leaves_nothing(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "INSERT INTO server_groups (project, id, policy) VALUES ('demo', 'api-members', 'AFFINITY')"
    )
    store = PgScalingGroupStore(pool)
    with pytest.raises(FailedPrecondition, match="serverGroups/api-members already exists"):
        await store.create(group("api", policy=GroupPolicy.AFFINITY), None)
    with pytest.raises(NotFound):
        await store.get("demo", "api")


async def test_update_is_compare_and_swap_on_the_version(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    g = (await store.create(group(), None)).group
    updated = await store.update(
        dataclasses.replace(g, max_size=20, desired_size=5), version=1, manual_desired=True
    )
    assert (updated.group.max_size, updated.group.version, updated.manual_desired) == (20, 2, 5)
    with pytest.raises(EtagMismatch, match="etag '1', current '2'"):
        await store.update(dataclasses.replace(g, max_size=30), version=1, manual_desired=False)
    kept = await store.update(dataclasses.replace(updated.group, min_size=2), version=2, manual_desired=False)
    assert kept.manual_desired == 5  # a pending SetDesiredSize stays pending


async def test_set_desired_records_a_manual_size_within_the_bounds(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    await store.create(group(), None)
    set_ = await store.set_desired("demo", "web", 7)
    assert (set_.group.desired_size, set_.manual_desired, set_.group.version) == (7, 7, 2)
    with pytest.raises(
        FailedPrecondition, match=r"outside projects/demo/scalingGroups/web's range \[1, 10\]"
    ):
        await store.set_desired("demo", "web", 11)
    with pytest.raises(NotFound):
        await store.set_desired("demo", "nope", 1)


async def test_members_are_the_live_servers_naming_the_group(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    await store.create(group(), None)
    await store.create(group("api"), None)
    a, b = await member(pool, 1), await member(pool, 2)
    other = await member(pool, 3, "api")
    await pool.execute("UPDATE instances SET task_state = 'DELETING' WHERE uid = $1", b.uid)
    gone = await member(pool, 4)
    await pool.execute(
        "UPDATE instances SET vm_state = 'DELETED', deleted_at = now() WHERE uid = $1", gone.uid
    )
    await PgInstanceStore(pool).create(pending(9), [])  # no group

    record = await store.get("demo", "web")
    assert record.members == (a.server_id, b.server_id)
    assert record.current_size == 1  # the one being deleted does not count
    assert record.active_size == 0  # none is ACTIVE and running

    found = await Rounds(pool).members_of([("demo", "web"), ("demo", "api"), ("demo", "empty")])
    assert [m.server_id for m in found[("demo", "web")]] == [a.server_id, b.server_id]
    assert [m.uid for m in found[("demo", "api")]] == [other.uid]
    assert found[("demo", "empty")] == []
    row = found[("demo", "web")][1]
    assert (row.task_state, row.vm_state.value, row.host_id, row.fault) == (
        TaskState.DELETING,
        "BUILDING",
        None,
        "",
    )
    assert row.group_id == "web" and row.created_at is not None


async def test_a_member_cannot_join_a_missing_or_deleting_group(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    with pytest.raises(NotFound, match="scalingGroups/web"):
        await member(pool, 1)
    await store.create(group(), None)
    await store.begin_delete("demo", "web", "")
    with pytest.raises(FailedPrecondition, match="being deleted"):
        await member(pool, 2)


async def test_pushed_metrics_are_kept_per_member_and_read_while_fresh(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    await store.create(group(), None)
    a = await member(pool, 1)
    await store.record_metric("demo", "web", "custom/rps", "", 120.0)
    await store.record_metric("demo", "web", "custom/rps", a.server_id, 40.0)
    await store.record_metric("demo", "web", "custom/rps", a.server_id, 45.0)  # the latest wins
    fresh = {(m.member, m.metric): m.value for m in await Rounds(pool).fresh_metrics(60)}
    assert fresh == {("", "custom/rps"): 120.0, (a.server_id, "custom/rps"): 45.0}
    with pytest.raises(InvalidArgument, match="is not a member of"):
        await store.record_metric("demo", "web", "custom/rps", "stranger", 1.0)
    with pytest.raises(NotFound):
        await store.record_metric("demo", "nope", "custom/rps", "", 1.0)
    await pool.execute(
        "UPDATE group_metrics SET recorded_at = now() - interval '10 minutes' WHERE member = ''"
    )
    assert [m.member for m in await Rounds(pool).fresh_metrics(60)] == [a.server_id]
    assert await Rounds(pool).prune_metrics(300) == 1


def _decision(previous: int, desired: int) -> Decision:
    return Decision(
        current=previous,
        previous_desired=previous,
        desired=desired,
        rule="target_tracking/cpu",
        metrics=(MetricReading("cpu", "cpu_utilization", 88.0, 60.0, 2),),
        clamped=("max_size 10 (wanted 14)",),
        add=desired - previous,
    )


async def test_a_round_saves_sizes_state_status_history_and_events_in_one_go(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    await store.create(group(), None)
    await store.set_desired("demo", "web", 3)  # version 2, manual 3
    (loaded,) = await Rounds(pool).load_all()
    assert loaded.manual_desired == 3 and loaded.group.version == 2
    d = _decision(3, 5)
    state = GroupState(recommendations=[(1000.0, 5)], evaluated_at=1000.0)
    outcome = GroupOutcome(
        "demo",
        "web",
        loaded.group.version,
        desired_size=5,
        min_size=1,
        max_size=10,
        state=state,
        status=GroupStatus(d.metrics, "cpu 88% > 60%", ""),
        scaled=True,
        activities=(
            decision_activity(d),
            member_activity(MEMBER_ADDED, d, "web-aaaaa"),
            member_activity(MEMBER_ADDED, d, "web-bbbbb"),
        ),
    )
    assert await Rounds(pool).save_decisions([outcome]) == []

    saved = await store.get("demo", "web")
    assert (saved.group.desired_size, saved.manual_desired, saved.group.version) == (5, None, 3)
    assert saved.state == state and saved.status == outcome.status
    assert saved.last_scale_at is not None

    history = await store.list_activities("demo", "web", before=None, limit=10)
    assert [a.kind for a in history] == [MEMBER_ADDED, MEMBER_ADDED, SCALING_DECISION]  # newest first
    assert history[0].member == "web-bbbbb" and history[2].clamped == ("max_size 10 (wanted 14)",)
    older = await store.list_activities("demo", "web", before=history[0].id, limit=1)
    assert [a.member for a in older] == ["web-aaaaa"]

    events = await outbox(pool)
    assert [e["message_type"] for e in events] == [SCALING_DECISION, MEMBER_ADDED, MEMBER_ADDED]
    assert {(e["project"], e["resource"]) for e in events} == {("demo", "projects/demo/scalingGroups/web")}
    payload = json_format.ParseDict(events[1]["payload"], events_pb2.ScalingPayload())
    assert payload.member == "projects/demo/servers/web-aaaaa" and payload.desired_size == 5


async def test_a_group_changed_during_the_round_keeps_its_new_sizes(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    await store.create(group(), None)
    await store.create(group("api"), None)
    loaded = {r.group.id: r for r in await Rounds(pool).load_all()}
    await store.set_desired("demo", "web", 8)  # meanwhile, by a user
    await store.begin_delete("demo", "api", "")  # and another group is being deleted
    state = GroupState(evaluated_at=5.0)
    outcomes = [
        GroupOutcome(
            "demo",
            gid,
            loaded[gid].group.version,
            4,
            1,
            10,
            state,
            activities=(decision_activity(_decision(2, 4)),),
        )
        for gid in ("web", "api")
    ]
    assert await Rounds(pool).save_decisions(outcomes) == [
        "projects/demo/scalingGroups/web",
        "projects/demo/scalingGroups/api",
    ]
    web = await store.get("demo", "web")
    assert (web.group.desired_size, web.manual_desired) == (8, 8)  # for the next round
    assert web.state == state  # what the round learnt is kept
    assert len(await store.list_activities("demo", "web", before=None, limit=10)) == 1
    api = await store.get("demo", "api")
    assert api.state == GroupState() and api.group.desired_size == 2  # nothing for a group being deleted
    assert [e["resource"] for e in await outbox(pool)] == ["projects/demo/scalingGroups/web"]
    assert [r.group.id for r in await Rounds(pool).load_all()] == ["web"]


async def test_an_unchanged_size_keeps_the_etag(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    await store.create(group(), None)
    (loaded,) = await Rounds(pool).load_all()
    outcome = GroupOutcome("demo", "web", loaded.group.version, 2, 1, 10, GroupState(evaluated_at=1.0))
    await Rounds(pool).save_decisions([outcome])
    assert (await store.get("demo", "web")).group.version == 1
    await Rounds(pool).save_decisions(
        [dataclasses.replace(outcome, min_size=2, max_size=3)]
    )  # a scheduled action
    saved = await store.get("demo", "web")
    assert (saved.group.min_size, saved.group.max_size, saved.group.version) == (2, 3, 2)
    assert saved.last_scale_at is None


async def test_a_delete_marks_the_group_then_removes_it_with_its_history(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    await store.create(group(policy=GroupPolicy.SOFT_ANTI_AFFINITY), None)
    a = await member(pool, 1, server_group="web-members")
    await store.record_metric("demo", "web", "custom/rps", "", 1.0)
    await Rounds(pool).save_decisions(
        [
            GroupOutcome(
                "demo", "web", 1, 2, 1, 10, GroupState(), activities=(decision_activity(_decision(1, 2)),)
            )
        ]
    )
    with pytest.raises(EtagMismatch):
        await store.begin_delete("demo", "web", "99")
    assert await store.begin_delete("demo", "web", "1") == [a.server_id]
    assert await store.begin_delete("demo", "web", "1") == [a.server_id]  # an interrupted delete, again
    assert (await store.get("demo", "web")).deleting
    assert await Rounds(pool).load_all() == []
    with pytest.raises(FailedPrecondition, match="being deleted"):
        await store.set_desired("demo", "web", 3)

    # The member is being deleted (as ServerService.act would leave it): the server group goes.
    await pool.execute("UPDATE instances SET task_state = 'DELETING' WHERE uid = $1", a.uid)
    await store.finish_delete("demo", "web")
    with pytest.raises(NotFound):
        await store.get("demo", "web")
    with pytest.raises(NotFound):
        await PgServerGroupStore(pool).get("demo", "web-members")
    for table in ("scaling_activities", "group_metrics"):
        assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 0
    await store.finish_delete("demo", "web")  # finishing twice is harmless


async def test_a_delete_keeping_members_makes_them_ordinary_servers(pool: asyncpg.Pool) -> None:
    store = PgScalingGroupStore(pool)
    await store.create(group(policy=GroupPolicy.ANTI_AFFINITY), None)
    a = await member(pool, 1, server_group="web-members")
    await pool.execute("DELETE FROM outbox")
    assert await store.delete_keeping_members("demo", "web", "") == [a.server_id]
    kept = await PgInstanceStore(pool).get("demo", a.server_id)
    assert kept.scaling_group == "" and kept.version == a.version + 1
    (event,) = await outbox(pool)
    assert event["message_type"] == "instance.update" and event["resource"] == a.name
    assert json.loads(json.dumps(event["payload"]))["version"] == str(kept.version)
    # The kept server is still placed by the server group: it stays, an ordinary one now.
    assert (await PgServerGroupStore(pool).get("demo", "web-members")).members == (a.server_id,)
    with pytest.raises(FailedPrecondition, match="has 1 member"):
        await PgServerGroupStore(pool).delete("demo", "web-members", "")
    with pytest.raises(NotFound):
        await store.get("demo", "web")


async def test_a_new_group_and_a_size_set_by_hand_wake_the_autoscaler_but_its_rounds_do_not(
    pool: asyncpg.Pool,
) -> None:
    """NOTIFY overcast_scaling (every replica's listener wakes its autoscaler): a group created
    or sized by hand is acted on at once, not at the next period."""
    heard: list[str] = []

    def hear(_c: object, _p: object, _ch: object, payload: str) -> None:
        heard.append(payload)

    async with pool.acquire() as conn:
        await conn.add_listener("overcast_scaling", hear)
        store = PgScalingGroupStore(pool)
        await store.create(group("web", max_size=5), None)
        await store.set_desired("demo", "web", 3)
        record = await store.get("demo", "web")
        await Rounds(pool).save_decisions(
            [GroupOutcome("demo", "web", record.group.version, 3, record.group.min_size, 5, GroupState())]
        )
        for _ in range(50):
            if len(heard) >= 2:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # a notification from the round would have come by now
        await conn.remove_listener("overcast_scaling", hear)
        assert heard == ["demo/web", "demo/web"]


async def test_history_older_than_its_retention_is_forgotten_oldest_first(pool: asyncpg.Pool) -> None:
    await PgScalingGroupStore(pool).create(group(), None)
    await pool.execute(
        "INSERT INTO scaling_activities (project, group_id, kind, occurred_at, payload)"
        " SELECT 'demo', 'web', 'decision', now() - make_interval(days => 50 - n), '{}'"
        " FROM generate_series(1, 25) AS n"
    )  # one a day from 49 days ago to 25 days ago: 49-42 are due (42 since a moment ago)
    assert await Rounds(pool).prune_activities(42 * 86400, batch=4) == 8
    left = await pool.fetch(
        "SELECT extract(day FROM now() - occurred_at)::int AS age FROM scaling_activities ORDER BY id"
    )
    assert [r["age"] for r in left] == list(range(41, 24, -1))
    assert await Rounds(pool).prune_activities(42 * 86400) == 0
