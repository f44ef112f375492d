"""Instances in PostgreSQL: every write is one transaction with its outbox rows."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import asyncpg

from controller.domain.errors import AlreadyExists, FailedPrecondition, NotFound
from controller.domain.messages import OutboxMessage
from controller.domain.model import Instance
from controller.domain.requests import RequestRecord
from controller.domain.scaling.model import scaling_group_name
from controller.services.ports import MutateFn, Mutation, WaitingTask
from controller.storage import bulk_mutations, request_ids, rows
from controller.storage.rows import INSTANCE_COLUMNS

INSERT = (
    "INSERT INTO instances (uid, project, server_id, flavor_id, image_id, vcpus, memory_mib,"
    " disk_gib, vm_state, task_state, metadata, request_id, availability_zone, server_group, boot,"
    " required_arch, required_hypervisor_type, scaling_group, host_failure_policy)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
)


def _insert_values(inst: Instance) -> tuple[Any, ...]:
    return (
        inst.uid,
        inst.project,
        inst.server_id,
        inst.flavor_id,
        inst.image_id,
        inst.vcpus,
        inst.memory_mib,
        inst.disk_gib,
        inst.vm_state.value,
        inst.task_state.value if inst.task_state else None,
        inst.metadata,
        inst.request_id,
        inst.availability_zone,
        inst.server_group,
        rows.boot_json(inst.boot),
        inst.required_arch,
        inst.required_hypervisor_type,
        inst.scaling_group,
        inst.host_failure_policy.value,
    )


class PgInstanceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self,
        inst: Instance,
        messages: Sequence[OutboxMessage],
        params: Mapping[str, Any] | None = None,
    ) -> Instance:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if inst.scaling_group:
                    await _check_scaling_group(conn, inst.project, inst.scaling_group)
                if inst.request_id:
                    await request_ids.remember(
                        conn, "server", inst.project, inst.request_id, inst.name, params, inst.uid
                    )
                row = await conn.fetchrow(f"{INSERT} RETURNING {INSTANCE_COLUMNS}", *_insert_values(inst))
                if row is None:  # INSERT ... RETURNING always yields the row
                    raise RuntimeError(f"inserting {inst.name} returned no row")
                await rows.insert_outbox(conn, messages)
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyExists(inst.name) from exc
        return rows.instance(row)

    async def create_many(
        self, insts: Sequence[Instance], messages: Sequence[OutboxMessage]
    ) -> list[Instance]:
        """Insert instances without request ids (a scaling group's new members) with their
        messages, in one transaction; AlreadyExists when a name is taken (nothing is written)."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                for group in sorted({(i.project, i.scaling_group) for i in insts if i.scaling_group}):
                    await _check_scaling_group(conn, *group)
                await conn.executemany(INSERT, [_insert_values(i) for i in insts])
                await rows.insert_outbox(conn, messages)
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyExists(
                ", ".join(i.name for i in insts[:3]) + (" ..." if len(insts) > 3 else "")
            ) from exc
        return list(insts)

    async def find_request(self, project: str, request_id: str) -> RequestRecord | None:
        return await request_ids.find(self._pool, "server", project, request_id)

    async def get(self, project: str, server_id: str) -> Instance:
        row = await self._pool.fetchrow(
            f"SELECT {INSTANCE_COLUMNS} FROM instances"
            " WHERE project = $1 AND server_id = $2 AND deleted_at IS NULL",
            project,
            server_id,
        )
        if row is None:
            raise NotFound(f"projects/{project}/servers/{server_id}")
        return rows.instance(row)

    async def get_many(self, uids: Sequence[UUID]) -> list[Instance]:
        found = await self._pool.fetch(
            f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE uid = ANY($1::uuid[])", list(uids)
        )
        return [rows.instance(r) for r in found]

    async def list_on_host(self, host_id: str) -> builtins.list[Instance]:
        found = await self._pool.fetch(
            f"SELECT {INSTANCE_COLUMNS} FROM instances"
            " WHERE host_id = $1 AND deleted_at IS NULL ORDER BY created_at",
            host_id,
        )
        return [rows.instance(r) for r in found]

    async def mutate(self, project: str, server_id: str, fn: MutateFn) -> Instance:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {INSTANCE_COLUMNS} FROM instances"
                " WHERE project = $1 AND server_id = $2 AND deleted_at IS NULL FOR UPDATE",
                project,
                server_id,
            )
            if row is None:
                raise NotFound(f"projects/{project}/servers/{server_id}")
            return await _apply(conn, rows.instance(row), fn)

    async def waiting_on_down_hosts(self, longer_than_s: float, limit: int) -> builtins.list[WaitingTask]:
        # updated_at is the task's start (the transaction that wrote its command), or later if
        # its metadata changed since: a command never looks older than it is.
        found = await self._pool.fetch(
            "SELECT i.uid, i.task_command, extract(epoch FROM now() - i.updated_at)::float8 AS waited_s"
            " FROM instances i JOIN host_status s ON s.id = i.host_id"
            " WHERE s.state = 'DOWN' AND i.deleted_at IS NULL AND i.task_state IS NOT NULL"
            " AND i.task_command IS NOT NULL AND i.updated_at < now() - make_interval(secs => $1)"
            " ORDER BY i.updated_at LIMIT $2",
            longer_than_s,
            limit,
        )
        return [WaitingTask(r["uid"], r["task_command"], r["waited_s"]) for r in found]

    async def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await rows.insert_outbox(conn, messages)

    async def mutate_uids(self, changes: Sequence[tuple[UUID, MutateFn]]) -> builtins.list[Instance | None]:
        """Many changes in one transaction (bulk_mutations); each as `mutate_uid` would."""
        async with self._pool.acquire() as conn, conn.transaction():
            return await bulk_mutations.mutate_many(conn, changes)

    async def mutate_uid(self, uid: UUID, fn: MutateFn) -> Instance | None:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE uid = $1 FOR UPDATE", uid
            )
            if row is None:
                return None
            return await _apply(conn, rows.instance(row), fn)


async def _check_scaling_group(conn: rows.Conn, project: str, group_id: str) -> None:
    """A member joins a group that exists and is not being deleted. The key share lock holds
    off a delete until the member is inserted, so the delete finds it."""
    deleting = await conn.fetchval(
        "SELECT deleting_at IS NOT NULL FROM scaling_groups WHERE project = $1 AND id = $2 FOR KEY SHARE",
        project,
        group_id,
    )
    name = scaling_group_name(project, group_id)
    if deleting is None:
        raise NotFound(name)
    if deleting:
        raise FailedPrecondition(
            f"{name} is being deleted: no member can join it", reason="SCALING_GROUP_DELETING"
        )


async def _apply(conn: rows.Conn, current: Instance, fn: MutateFn) -> Instance:
    mutation: Mutation | None = fn(current)
    if mutation is None:
        return current
    return await write_mutation(conn, current, mutation)


async def write_mutation(conn: rows.Conn, current: Instance, mutation: Mutation) -> Instance:
    """Write a decided change (the row is locked by the caller's transaction)."""
    new = mutation.instance
    row = await conn.fetchrow(rows.UPDATE_INSTANCE, current.uid, current.version, *rows.instance_values(new))
    if row is None:  # cannot happen under FOR UPDATE; refuse rather than write blindly
        raise RuntimeError(f"{current.name} changed under a row lock")
    if mutation.release_allocation and current.allocated and current.host_id:
        await conn.execute(
            rows.RELEASE_CLAIM,
            current.host_id,
            current.vcpus,
            current.memory_mib,
            current.disk_gib,
        )
    await rows.insert_outbox(conn, mutation.messages)
    return rows.instance(row)
