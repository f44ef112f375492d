"""What one evaluation round of the autoscaler reads and writes (services.ports.AutoscalerStore):
every group not being deleted with its state, their members and the pushed metrics still fresh,
then, in one transaction, the round's outcomes (storage.scaling_groups holds the groups as the
API uses them; both read a group the same way)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence

import asyncpg

from controller.domain.messages import OutboxMessage
from controller.domain.model import PowerState, TaskState, VmState
from controller.domain.scaling.records import (
    Activity,
    GroupMetric,
    GroupOutcome,
    GroupRecord,
    MemberRow,
    scaling_event,
)
from controller.storage import rows
from controller.storage.scaling_groups import SELECT, group_record

MEMBER_COLUMNS = (
    "project, scaling_group, uid, server_id, created_at, vm_state, task_state, power_state, host_id, fault,"
    " host_failure_policy = 'EVACUATE' AS evacuates"
)

# Those of the `$2` oldest activities (the first ids: ids grow with occurred_at, both set at
# insert) that are due.
PRUNE_BATCH = 1000
PRUNE_ACTIVITIES = """
DELETE FROM scaling_activities WHERE id IN (
    SELECT id FROM scaling_activities ORDER BY id LIMIT $2
) AND occurred_at < now() - make_interval(secs => $1)
"""

# The sizes only where the group is as the round loaded it (`fresh`); state, status and
# last_scale_at always. The version moves when a size does (it is the etag).
SAVE = """
UPDATE scaling_groups g SET
    desired_size = CASE WHEN u.fresh THEN u.desired ELSE g.desired_size END,
    min_size = CASE WHEN u.fresh THEN u.min ELSE g.min_size END,
    max_size = CASE WHEN u.fresh THEN u.max ELSE g.max_size END,
    manual_desired = CASE WHEN u.fresh THEN NULL ELSE g.manual_desired END,
    version = CASE WHEN u.fresh AND (g.desired_size, g.min_size, g.max_size)
                                 IS DISTINCT FROM (u.desired, u.min, u.max)
                   THEN g.version + 1 ELSE g.version END,
    updated_at = CASE WHEN u.fresh AND (g.desired_size, g.min_size, g.max_size)
                                    IS DISTINCT FROM (u.desired, u.min, u.max)
                      THEN now() ELSE g.updated_at END,
    state = u.state::jsonb,
    status = u.status::jsonb,
    last_scale_at = CASE WHEN u.scaled THEN now() ELSE g.last_scale_at END
FROM unnest($1::text[], $2::text[], $3::bool[], $4::int[], $5::int[], $6::int[], $7::text[],
            $8::text[], $9::bool[]) AS u(project, id, fresh, desired, min, max, state, status, scaled)
WHERE g.project = u.project AND g.id = u.id
"""

INSERT_ACTIVITIES = """
INSERT INTO scaling_activities (project, group_id, kind, payload)
SELECT p, g, k, d::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS t(p, g, k, d, n)
ORDER BY n
"""


def _member(r: asyncpg.Record) -> MemberRow:
    task = r["task_state"]
    return MemberRow(
        project=r["project"],
        group_id=r["scaling_group"],
        uid=r["uid"],
        server_id=r["server_id"],
        created_at=r["created_at"],
        vm_state=VmState(r["vm_state"]),
        task_state=TaskState(task) if task else None,
        power_state=PowerState(r["power_state"]),
        host_id=r["host_id"],
        fault=r["fault"],
        evacuates=r["evacuates"],
    )


class PgAutoscalerStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def load_all(self) -> builtins.list[GroupRecord]:
        """Every group not being deleted, with its state and pending manual_desired."""
        found = await self._pool.fetch(SELECT + " WHERE g.deleting_at IS NULL ORDER BY g.project, g.id")
        return [group_record(r) for r in found]

    async def members_of(
        self, groups: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], builtins.list[MemberRow]]:
        """The live members (being deleted too) of these (project, group id) pairs, oldest
        first; every pair asked for is a key."""
        out: dict[tuple[str, str], builtins.list[MemberRow]] = {key: [] for key in groups}
        if not groups:
            return out
        found = await self._pool.fetch(
            f"SELECT {MEMBER_COLUMNS} FROM instances"
            " WHERE (project, scaling_group) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
            " AND scaling_group <> '' AND deleted_at IS NULL ORDER BY created_at, server_id",
            [p for p, _ in groups],
            [g for _, g in groups],
        )
        for r in found:
            out[(r["project"], r["scaling_group"])].append(_member(r))
        return out

    async def fresh_metrics(self, max_age_s: float) -> builtins.list[GroupMetric]:
        """Pushed metric values recorded within the last `max_age_s` seconds."""
        found = await self._pool.fetch(
            "SELECT project, group_id, metric, member, value, recorded_at FROM group_metrics"
            " WHERE recorded_at > now() - make_interval(secs => $1)",
            max_age_s,
        )
        return [
            GroupMetric(r["project"], r["group_id"], r["metric"], r["member"], r["value"], r["recorded_at"])
            for r in found
        ]

    async def prune_metrics(self, max_age_s: float) -> int:
        """Forget pushed values older than `max_age_s` (members gone, clients stopped)."""
        status = await self._pool.execute(
            "DELETE FROM group_metrics WHERE recorded_at < now() - make_interval(secs => $1)", max_age_s
        )
        return int(status.split()[-1])

    async def prune_activities(self, max_age_s: float, batch: int = PRUNE_BATCH) -> int:
        """Forget activities older than `max_age_s`, oldest first, `batch` rows a statement.
        Ids grow with time, so the oldest rows are the first of the primary key: each batch is
        an index range, and a history with nothing due costs one index probe."""
        pruned = 0
        while True:
            status = await self._pool.execute(PRUNE_ACTIVITIES, max_age_s, batch)
            done = int(status.split()[-1])
            pruned += done
            if done < batch:
                return pruned

    async def save_decisions(self, outcomes: Sequence[GroupOutcome]) -> builtins.list[str]:
        """One round's outcomes in one transaction: sizes, state, status, last_scale_at, the
        activities and their `scaling.*` events (see GroupOutcome). Returns the names of the
        groups whose sizes were not written (changed or deleted since they were loaded)."""
        if not outcomes:
            return []
        async with self._pool.acquire() as conn, conn.transaction():
            # Locked in key order, so concurrent writers cannot deadlock; not blocking the
            # key share lock a member's create takes.
            found = await conn.fetch(
                "SELECT project, id, version FROM scaling_groups"
                " WHERE (project, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
                " AND deleting_at IS NULL ORDER BY project, id FOR NO KEY UPDATE",
                [o.project for o in outcomes],
                [o.group_id for o in outcomes],
            )
            versions = {(r["project"], r["id"]): r["version"] for r in found}
            live = [o for o in outcomes if (o.project, o.group_id) in versions]
            fresh = [versions[(o.project, o.group_id)] == o.version for o in live]
            await conn.execute(
                SAVE,
                [o.project for o in live],
                [o.group_id for o in live],
                fresh,
                [o.desired_size for o in live],
                [o.min_size for o in live],
                [o.max_size for o in live],
                [json.dumps(o.state.to_json()) for o in live],
                [json.dumps(o.status.to_json()) for o in live],
                [o.scaled for o in live],
            )
            done = [(o, a) for o in live for a in o.activities]
            if done:
                await conn.execute(
                    INSERT_ACTIVITIES,
                    [o.project for o, _ in done],
                    [o.group_id for o, _ in done],
                    [a.kind for _, a in done],
                    [json.dumps(a.to_json()) for _, a in done],
                )
                events: list[OutboxMessage] = [scaling_event(o.project, o.group_id, a) for o, a in done]
                await rows.insert_outbox(conn, events)
        applied = {(o.project, o.group_id) for o, ok in zip(live, fresh, strict=True) if ok}
        return [o.name for o in outcomes if (o.project, o.group_id) not in applied]

    async def record_activities(self, activities: Sequence[tuple[str, str, Activity]]) -> None:
        """Member activities (added, removed, replaced) of (project, group id), with their
        events, once the members they name exist or are being deleted."""
        if not activities:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                INSERT_ACTIVITIES,
                [p for p, _, _ in activities],
                [g for _, g, _ in activities],
                [a.kind for _, _, a in activities],
                [json.dumps(a.to_json()) for _, _, a in activities],
            )
            await rows.insert_outbox(conn, [scaling_event(p, g, a) for p, g, a in activities])

    async def hosts_down_since(self) -> dict[str, float]:
        """DOWN hosts and since when they have been silent (their last heartbeat; epoch s)."""
        found = await self._pool.fetch(
            "SELECT id, extract(epoch FROM last_heartbeat) AS since FROM host_status"
            " WHERE state = 'DOWN' AND last_heartbeat IS NOT NULL"
        )
        return {r["id"]: float(r["since"]) for r in found}
