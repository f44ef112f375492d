"""Server groups in PostgreSQL. Members are not stored twice: they are the live instances whose
`server_group` names the group."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

import asyncpg

from controller.domain.errors import AlreadyExists, EtagMismatch, FailedPrecondition, NotFound
from controller.domain.requests import RequestRecord
from controller.domain.scaling.model import scaling_group_name
from controller.domain.server_groups import GroupPolicy, ServerGroup, server_group_name
from controller.storage import request_ids

# One row per group with its members' server ids (sorted), for Get and List alike.
SELECT = """
SELECT g.project, g.id, g.policy, g.version, g.created_at, g.request_id,
    coalesce((SELECT array_agg(i.server_id ORDER BY i.server_id) FROM instances i
              WHERE i.project = g.project AND i.server_group = g.id AND i.server_group <> ''
                AND i.deleted_at IS NULL),
             '{}') AS members
FROM server_groups g
"""


def _group(r: asyncpg.Record) -> ServerGroup:
    return ServerGroup(
        project=r["project"],
        id=r["id"],
        policy=GroupPolicy(r["policy"]),
        members=tuple(r["members"]),
        version=r["version"],
        created_at=r["created_at"],
    )


class PgServerGroupStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, group: ServerGroup, request_id: str | None, params: Mapping[str, Any] | None = None
    ) -> ServerGroup:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if request_id:
                    await request_ids.remember(
                        conn, "server_group", group.project, request_id, group.name, params
                    )
                await conn.execute(
                    "INSERT INTO server_groups (project, id, policy, request_id) VALUES ($1, $2, $3, $4)",
                    group.project,
                    group.id,
                    group.policy.value,
                    request_id,
                )
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyExists(group.name) from exc
        return await self.get(group.project, group.id)

    async def find_request(self, project: str, request_id: str) -> RequestRecord | None:
        return await request_ids.find(self._pool, "server_group", project, request_id)

    async def get(self, project: str, group_id: str) -> ServerGroup:
        row = await self._pool.fetchrow(SELECT + " WHERE g.project = $1 AND g.id = $2", project, group_id)
        if row is None:
            raise NotFound(server_group_name(project, group_id))
        return _group(row)

    async def list(self, project: str, *, after: str | None, limit: int) -> builtins.list[ServerGroup]:
        found = await self._pool.fetch(
            SELECT + " WHERE g.project = $1 AND ($2::text IS NULL OR g.id > $2) ORDER BY g.id LIMIT $3",
            project,
            after,
            limit,
        )
        return [_group(r) for r in found]

    async def delete(self, project: str, group_id: str, etag: str) -> None:
        name = server_group_name(project, group_id)
        async with self._pool.acquire() as conn, conn.transaction():
            # The row lock orders this delete with scheduling batches placing the members.
            version = await conn.fetchval(
                "SELECT version FROM server_groups WHERE project = $1 AND id = $2 FOR UPDATE",
                project,
                group_id,
            )
            if version is None:
                raise NotFound(name)
            if etag and etag != str(version):
                raise EtagMismatch(name, etag, str(version))
            owner = await conn.fetchval(
                "SELECT id FROM scaling_groups WHERE project = $1 AND server_group = $2", project, group_id
            )
            if owner is not None:
                raise FailedPrecondition(
                    f"{name} places the members of {scaling_group_name(project, owner)}: it is deleted "
                    "with that scaling group",
                    reason="SERVER_GROUP_IN_USE",
                )
            members = await conn.fetchval(
                "SELECT count(*) FROM instances"
                " WHERE project = $1 AND server_group = $2 AND server_group <> '' AND deleted_at IS NULL",
                project,
                group_id,
            )
            if members:
                raise FailedPrecondition(
                    f"{name} has {members} member server(s): delete them first",
                    reason="SERVER_GROUP_IN_USE",
                )
            await conn.execute("DELETE FROM server_groups WHERE project = $1 AND id = $2", project, group_id)
