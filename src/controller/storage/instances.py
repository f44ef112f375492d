"""Instances in PostgreSQL: every write is one transaction with its outbox rows."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from uuid import UUID

import asyncpg

from controller.domain.errors import AlreadyExists, FailedPrecondition, NotFound
from controller.domain.messages import OutboxMessage
from controller.domain.model import Instance, VmState
from controller.domain.scaling.model import scaling_group_name
from controller.services.ports import MutateFn, Mutation
from controller.storage import bulk_mutations, rows
from controller.storage.rows import INSTANCE_COLUMNS


class PgInstanceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, inst: Instance, messages: Sequence[OutboxMessage]) -> Instance:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if inst.scaling_group:
                    await _check_scaling_group(conn, inst.project, inst.scaling_group)
                row = await conn.fetchrow(
                    f"INSERT INTO instances (uid, project, server_id, flavor_id, image_id, vcpus,"
                    f" memory_mib, disk_gib, vm_state, task_state, metadata, request_id,"
                    f" availability_zone, server_group, boot, required_arch, required_hypervisor_type,"
                    f" scaling_group)"
                    f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
                    f" $16, $17, $18)"
                    f" RETURNING {INSTANCE_COLUMNS}",
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
                )
                if row is None:  # INSERT ... RETURNING always yields the row
                    raise RuntimeError(f"inserting {inst.name} returned no row")
                await rows.insert_outbox(conn, messages)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "instances_request_id" and inst.request_id:
                existing = await self.find_by_request_id(inst.project, inst.request_id)
                if existing is not None:
                    return existing
            raise AlreadyExists(inst.name) from exc
        return rows.instance(row)

    async def find_by_request_id(self, project: str, request_id: str) -> Instance | None:
        row = await self._pool.fetchrow(
            f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE project = $1 AND request_id = $2",
            project,
            request_id,
        )
        return rows.instance(row) if row else None

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

    async def list(
        self,
        project: str,
        *,
        vm_state: VmState | None,
        host_id: str | None,
        after: str | None,
        limit: int,
        scaling_group: str | None = None,
    ) -> list[Instance]:
        found = await self._pool.fetch(
            f"SELECT {INSTANCE_COLUMNS} FROM instances"
            " WHERE project = $1 AND deleted_at IS NULL"
            " AND ($2::text IS NULL OR vm_state = $2) AND ($3::text IS NULL OR host_id = $3)"
            " AND ($4::text IS NULL OR server_id > $4)"
            " AND ($6::text IS NULL OR scaling_group = $6)"
            " ORDER BY server_id LIMIT $5",
            project,
            vm_state.value if vm_state else None,
            host_id,
            after,
            limit,
            scaling_group,
        )
        return [rows.instance(r) for r in found]

    # `builtins.`: inside the class, `list` names the method above.
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
