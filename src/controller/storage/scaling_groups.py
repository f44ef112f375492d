"""Scaling groups in PostgreSQL as the API uses them (services.ports.ScalingGroupStore):
configuration, status, history and pushed metrics. Members are not stored twice: they are the
live instances whose `scaling_group` names the group (created through ServerService; the
instance store checks, under a key share lock, that the group exists and is not being
deleted). What the autoscaler reads and writes each round: storage.scaling_rounds.
"""

from __future__ import annotations

import builtins

import asyncpg

from controller.domain.errors import (
    AlreadyExists,
    EtagMismatch,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from controller.domain.lifecycle import INSTANCE_UPDATE
from controller.domain.messages import instance_event
from controller.domain.names import server_name
from controller.domain.scaling.evaluation import GroupState
from controller.domain.scaling.model import ScaleInRule, ScalingGroup, scaling_group_name
from controller.domain.scaling.records import (
    Activity,
    GroupRecord,
    GroupStatus,
)
from controller.domain.server_groups import server_group_name
from controller.storage import rows, scaling_json
from controller.storage.rows import INSTANCE_COLUMNS

# One row per group with its live members, for every read (the members through the partial
# index instances_scaling_group).
SELECT = """
SELECT g.project, g.id, g.template, g.min_size, g.max_size, g.desired_size, g.policies,
    g.scheduled_actions, g.scale_in_rule, g.health_grace_s, g.protected, g.state, g.status,
    g.manual_desired, g.version, g.created_at, g.updated_at, g.last_scale_at,
    g.deleting_at IS NOT NULL AS deleting, m.members, m.current_size, m.active_size
FROM scaling_groups g
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(i.server_id ORDER BY i.server_id), '{}') AS members,
        count(*) FILTER (WHERE i.task_state IS DISTINCT FROM 'DELETING') AS current_size,
        count(*) FILTER (WHERE i.vm_state = 'ACTIVE' AND i.power_state = 'RUNNING'
                         AND i.task_state IS NULL) AS active_size
    FROM instances i
    -- `<> ''` lets the planner use the partial index (it cannot tell g.id is never empty).
    WHERE i.project = g.project AND i.scaling_group = g.id AND i.scaling_group <> ''
        AND i.deleted_at IS NULL
) m
"""

INSERT = """
INSERT INTO scaling_groups (project, id, template, min_size, max_size, desired_size, policies,
    scheduled_actions, scale_in_rule, health_grace_s, protected, server_group, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""

UPDATE = """
UPDATE scaling_groups SET template = $4, min_size = $5, max_size = $6, desired_size = $7,
    policies = $8, scheduled_actions = $9, scale_in_rule = $10, health_grace_s = $11,
    protected = $12, manual_desired = CASE WHEN $13 THEN $7 ELSE manual_desired END,
    version = version + 1, updated_at = now()
WHERE project = $1 AND id = $2 AND version = $3 AND deleting_at IS NULL
"""


def group_record(r: asyncpg.Record) -> GroupRecord:
    group = ScalingGroup(
        project=r["project"],
        id=r["id"],
        template=scaling_json.template(r["template"]),
        min_size=r["min_size"],
        max_size=r["max_size"],
        desired_size=r["desired_size"],
        policies=scaling_json.policies(r["policies"]),
        scheduled_actions=scaling_json.scheduled_actions(r["scheduled_actions"]),
        scale_in_rule=ScaleInRule(r["scale_in_rule"]),
        health_grace_s=r["health_grace_s"],
        protected=frozenset(r["protected"]),
        version=r["version"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )
    return GroupRecord(
        group=group,
        status=GroupStatus.from_json(r["status"]),
        state=GroupState.from_json(r["state"]),
        manual_desired=r["manual_desired"],
        last_scale_at=r["last_scale_at"],
        deleting=r["deleting"],
        members=tuple(r["members"]),
        current_size=r["current_size"],
        active_size=r["active_size"],
    )


def _config(g: ScalingGroup) -> tuple[object, ...]:
    """The configuration columns, in INSERT's order from $3 (and UPDATE's from $4)."""
    return (
        scaling_json.template_json(g.template),
        g.min_size,
        g.max_size,
        g.desired_size,
        scaling_json.policies_json(g.policies),
        scaling_json.scheduled_actions_json(g.scheduled_actions),
        g.scale_in_rule.value,
        g.health_grace_s,
        sorted(g.protected),
    )


class PgScalingGroupStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # --- the API's ------------------------------------------------------------------------

    async def create(self, group: ScalingGroup, request_id: str | None) -> GroupRecord:
        """The group and, when its template has a placement policy, the server group it owns
        ("{group}-members"), in one transaction; a retried request_id gets the first group."""
        if request_id:
            found = await self.by_request_id(group.project, request_id)
            if found is not None:
                return found  # a retry of a create that already happened (AIP-155)
        owned = group.server_group_id
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(INSERT, group.project, group.id, *_config(group), owned, request_id)
                if owned:
                    policy = group.template.placement_policy
                    assert policy is not None  # server_group_id is "" without one
                    await conn.execute(
                        "INSERT INTO server_groups (project, id, policy) VALUES ($1, $2, $3)",
                        group.project,
                        owned,
                        policy.value,
                    )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "scaling_groups_request_id" and request_id:
                found = await self.by_request_id(group.project, request_id)
                if found is not None:
                    return found
            if exc.constraint_name == "server_groups_pkey":
                raise FailedPrecondition(
                    f"{server_group_name(group.project, owned)} already exists: {group.name} needs that "
                    "name for the server group it places its members with; delete that server group "
                    "or choose another scaling group id",
                    reason="SERVER_GROUP_NAME_TAKEN",
                ) from exc
            raise AlreadyExists(group.name) from exc
        return await self.get(group.project, group.id)

    async def by_request_id(self, project: str, request_id: str) -> GroupRecord | None:
        row = await self._pool.fetchrow(
            SELECT + " WHERE g.project = $1 AND g.request_id = $2", project, request_id
        )
        return group_record(row) if row else None

    async def get(self, project: str, group_id: str) -> GroupRecord:
        row = await self._pool.fetchrow(SELECT + " WHERE g.project = $1 AND g.id = $2", project, group_id)
        if row is None:
            raise NotFound(scaling_group_name(project, group_id))
        return group_record(row)

    async def list(self, project: str, *, after: str | None, limit: int) -> builtins.list[GroupRecord]:
        found = await self._pool.fetch(
            SELECT + " WHERE g.project = $1 AND ($2::text IS NULL OR g.id > $2) ORDER BY g.id LIMIT $3",
            project,
            after,
            limit,
        )
        return [group_record(r) for r in found]

    async def update(self, group: ScalingGroup, *, version: int, manual_desired: bool) -> GroupRecord:
        """Write `group`'s configuration if the stored group is still at `version`
        (EtagMismatch otherwise). `manual_desired`: its desired size was set by the caller, to
        be honoured by the autoscaler as SetDesiredSize is."""
        status = await self._pool.execute(
            UPDATE, group.project, group.id, version, *_config(group), manual_desired
        )
        if status == "UPDATE 0":
            current = await self.get(group.project, group.id)  # NotFound when gone
            _refuse_deleting(current)
            raise EtagMismatch(group.name, str(version), str(current.group.version))
        return await self.get(group.project, group.id)

    async def set_desired(self, project: str, group_id: str, desired: int) -> GroupRecord:
        status = await self._pool.execute(
            "UPDATE scaling_groups SET desired_size = $3, manual_desired = $3, version = version + 1,"
            " updated_at = now()"
            " WHERE project = $1 AND id = $2 AND deleting_at IS NULL AND $3 BETWEEN min_size AND max_size",
            project,
            group_id,
            desired,
        )
        current = await self.get(project, group_id)
        if status == "UPDATE 0":
            _refuse_deleting(current)
            g = current.group
            raise FailedPrecondition(
                f"desired_size {desired} is outside {g.name}'s range [{g.min_size}, {g.max_size}]: "
                "change min_size or max_size with UpdateScalingGroup first",
                reason="DESIRED_SIZE_OUT_OF_RANGE",
            )
        return current

    async def begin_delete(self, project: str, group_id: str, etag: str) -> builtins.list[str]:
        """Mark the group as being deleted (the autoscaler leaves it alone, no member can be
        added) and return its live members' server ids, for the caller to delete. Repeatable:
        a delete interrupted before `finish_delete` is taken up again by the next one."""
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock(conn, project, group_id, etag)
            await conn.execute(
                "UPDATE scaling_groups SET deleting_at = coalesce(deleting_at, now())"
                " WHERE project = $1 AND id = $2",
                project,
                group_id,
            )
            found = await conn.fetch(
                "SELECT server_id FROM instances"
                " WHERE project = $1 AND scaling_group = $2 AND deleted_at IS NULL ORDER BY server_id",
                project,
                group_id,
            )
        return [r["server_id"] for r in found]

    async def finish_delete(self, project: str, group_id: str) -> None:
        """Remove the group, its history and metrics, and the server group it owns unless a
        live server that is not being deleted is still in it."""
        async with self._pool.acquire() as conn, conn.transaction():
            owned = await conn.fetchval(
                "DELETE FROM scaling_groups WHERE project = $1 AND id = $2 RETURNING server_group",
                project,
                group_id,
            )
            if owned is None:
                return  # finished by another delete
            await _forget(conn, project, group_id)
            if owned:
                await conn.execute(
                    "DELETE FROM server_groups WHERE project = $1 AND id = $2 AND NOT EXISTS ("
                    " SELECT 1 FROM instances WHERE project = $1 AND server_group = $2 AND server_group <> ''"
                    " AND deleted_at IS NULL AND task_state IS DISTINCT FROM 'DELETING')",
                    project,
                    owned,
                )

    async def delete_keeping_members(self, project: str, group_id: str, etag: str) -> builtins.list[str]:
        """Remove the group and make its members ordinary servers (scaling_group cleared, an
        instance.update event each), in one transaction; the server group it owns stays while
        it has members (the kept servers are still placed by it). Returns the kept server ids."""
        async with self._pool.acquire() as conn, conn.transaction():
            await _lock(conn, project, group_id, etag)
            kept = await conn.fetch(
                f"UPDATE instances SET scaling_group = '', version = version + 1, updated_at = now()"
                f" WHERE project = $1 AND scaling_group = $2 AND deleted_at IS NULL"
                f" RETURNING {INSTANCE_COLUMNS}",
                project,
                group_id,
            )
            instances = [rows.instance(r) for r in kept]
            await rows.insert_outbox(conn, [instance_event(i, INSTANCE_UPDATE) for i in instances])
            owned = await conn.fetchval(
                "DELETE FROM scaling_groups WHERE project = $1 AND id = $2 RETURNING server_group",
                project,
                group_id,
            )
            await _forget(conn, project, group_id)
            if owned:
                await conn.execute(
                    "DELETE FROM server_groups WHERE project = $1 AND id = $2 AND NOT EXISTS ("
                    " SELECT 1 FROM instances WHERE project = $1 AND server_group = $2 AND server_group <> ''"
                    " AND deleted_at IS NULL)",
                    project,
                    owned,
                )
        return sorted(i.server_id for i in instances)

    async def record_metric(
        self, project: str, group_id: str, metric: str, member: str, value: float
    ) -> None:
        """The latest value of `metric` for a member (server id) or the whole group ("")."""
        row = await self._pool.fetchrow(
            "INSERT INTO group_metrics (project, group_id, metric, member, value)"
            " SELECT $1, $2, $3, $4, $5"
            " WHERE EXISTS (SELECT 1 FROM scaling_groups WHERE project = $1 AND id = $2)"
            " AND ($4 = '' OR EXISTS (SELECT 1 FROM instances WHERE project = $1 AND server_id = $4"
            "      AND scaling_group = $2 AND deleted_at IS NULL))"
            " ON CONFLICT (project, group_id, metric, member)"
            " DO UPDATE SET value = EXCLUDED.value, recorded_at = now()"
            " RETURNING 1",
            project,
            group_id,
            metric,
            member,
            value,
        )
        if row is None:
            await self.get(project, group_id)  # NotFound when the group is
            raise InvalidArgument.single(
                "member",
                f"{server_name(project, member)} is not a member of {scaling_group_name(project, group_id)}: "
                "name one of its members (GetScalingGroup lists them), or none for a group-wide value",
            )

    async def list_activities(
        self, project: str, group_id: str, *, before: int | None, limit: int
    ) -> builtins.list[Activity]:
        """Newest first: the activities with an id below `before` (None: from the newest)."""
        async with self._pool.acquire() as conn:
            exists = await conn.fetchval(
                "SELECT 1 FROM scaling_groups WHERE project = $1 AND id = $2", project, group_id
            )
            if exists is None:
                raise NotFound(scaling_group_name(project, group_id))
            found = await conn.fetch(
                "SELECT id, kind, occurred_at, payload FROM scaling_activities"
                " WHERE project = $1 AND group_id = $2 AND ($3::bigint IS NULL OR id < $3)"
                " ORDER BY id DESC LIMIT $4",
                project,
                group_id,
                before,
                limit,
            )
        return [
            Activity.from_json(r["kind"], r["payload"], id=r["id"], occurred_at=r["occurred_at"])
            for r in found
        ]


def _refuse_deleting(record: GroupRecord) -> None:
    if record.deleting:
        raise FailedPrecondition(f"{record.group.name} is being deleted", reason="SCALING_GROUP_DELETING")


async def _lock(conn: rows.Conn, project: str, group_id: str, etag: str) -> None:
    """Lock the group for a delete: NotFound, or EtagMismatch on a stale etag."""
    version = await conn.fetchval(
        "SELECT version FROM scaling_groups WHERE project = $1 AND id = $2 FOR UPDATE", project, group_id
    )
    name = scaling_group_name(project, group_id)
    if version is None:
        raise NotFound(name)
    if etag and etag != str(version):
        raise EtagMismatch(name, etag, str(version))


async def _forget(conn: rows.Conn, project: str, group_id: str) -> None:
    """A deleted group's history and pushed metrics."""
    await conn.execute(
        "DELETE FROM scaling_activities WHERE project = $1 AND group_id = $2", project, group_id
    )
    await conn.execute("DELETE FROM group_metrics WHERE project = $1 AND group_id = $2", project, group_id)
