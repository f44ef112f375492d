"""The scheduler's transaction: lock a batch of pending instances and their server groups, read
the fleet, then claim capacity for the whole batch in a handful of statements.

Locks are always taken in one order — pending instances (SKIP LOCKED: never waits), server
groups by (project, id), hosts by id — so concurrent batches on any number of controller
replicas cannot deadlock. The claim is one conditional UPDATE over the per-host sums of the
batch: it succeeds only while each host has room, so two batches racing for the last slot on a
host cannot both win (the CHECK constraints on hosts back it up). Then one statement records
the placements and writes their messages (PLACE), one the failures (FAIL).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from itertools import islice
from uuid import UUID

import asyncpg

from controller.domain.errors import Unavailable
from controller.domain.model import Host
from controller.domain.placements import Failure, PendingServer, Placement
from controller.domain.server_groups import GroupPlacement, GroupPolicy, group_key
from controller.scheduler.hosts import HostColumns
from controller.storage import rows
from controller.storage.rows import HOST_COLUMNS

# Only what the scheduler decides on (domain.placements.PendingServer, in its field order):
# decoding whole rows (metadata and boot as JSON, timestamps, enums) was a fifth of its CPU.
PENDING = """
SELECT uid, version, project, server_id, vcpus, memory_mib, disk_gib, availability_zone,
    server_group, required_arch, required_hypervisor_type
FROM instances WHERE task_state = 'SCHEDULING'
ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED
"""

# Group rows are locked so that members of one group are placed by one batch at a time: the
# members read next are then exact, and anti-affinity cannot be broken by two batches that
# each saw the other's host free.
LOCK_GROUPS = """
SELECT project, id, policy FROM server_groups
WHERE (project, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
ORDER BY project, id FOR UPDATE
"""

GROUP_MEMBERS = """
SELECT project, server_group, host_id FROM instances
WHERE (project, server_group) IN (SELECT * FROM unnest($1::text[], $2::text[]))
  AND server_group <> '' AND deleted_at IS NULL AND host_id IS NOT NULL
"""

# The fleet as the scheduler reads it every batch: only the columns it needs, in id order (byte
# order, as Python sorts), usable = enabled, UP and heartbeats younger than $1 seconds. One row
# of one array per column: the driver builds each column's list straight away, with no row
# objects to make and transpose (10,000 records a second at 10,000 hosts while placing; the
# scheduler process's memory after a 100,000-server burst went from 334-440 to 291 MiB).
FLEET = """
SELECT array_agg(id), array_agg(availability_zone), array_agg(arch), array_agg(hypervisor_type),
    array_agg(usable), array_agg(vcpus), array_agg(memory_mib), array_agg(disk_gib),
    array_agg(cpu_allocation_ratio), array_agg(ram_allocation_ratio),
    array_agg(disk_allocation_ratio), array_agg(vcpus_used), array_agg(memory_mib_used),
    array_agg(disk_gib_used)
FROM (
    SELECT h.id, h.availability_zone, h.arch, h.hypervisor_type,
        h.enabled AND s.state = 'UP' AND s.last_heartbeat > now() - make_interval(secs => $1)
            AS usable,
        h.vcpus, h.memory_mib, h.disk_gib, h.cpu_allocation_ratio, h.ram_allocation_ratio,
        h.disk_allocation_ratio, h.vcpus_used, h.memory_mib_used, h.disk_gib_used
    FROM hosts h JOIN host_status s USING (id)
    ORDER BY h.id COLLATE "C"
) fleet
"""

# Only the hosts rows: host_status (heartbeats) must never wait behind a claim.
LOCK_HOSTS = f"""
SELECT {HOST_COLUMNS} FROM hosts JOIN host_status USING (id)
WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE OF hosts
"""

CLAIM = """
WITH want AS (
    SELECT host_id, sum(v) AS v, sum(m) AS m, sum(d) AS d, count(*) AS n
    FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) AS t(host_id, v, m, d)
    GROUP BY host_id
)
UPDATE hosts h SET vcpus_used = h.vcpus_used + w.v, memory_mib_used = h.memory_mib_used + w.m,
    disk_gib_used = h.disk_gib_used + w.d, servers = h.servers + w.n, version = h.version + 1
FROM want w
WHERE h.id = w.host_id AND h.enabled
  AND (SELECT state FROM host_status s WHERE s.id = h.id) = 'UP'
  AND h.vcpus_used + w.v <= h.vcpus * h.cpu_allocation_ratio
  AND h.memory_mib_used + w.m <= h.memory_mib * h.ram_allocation_ratio
  AND h.disk_gib_used + w.d <= h.disk_gib * h.disk_allocation_ratio
RETURNING h.id
"""

# Servers no host can take: ERROR, no task, the reason as their fault (after an evacuated
# server's "evacuating from host …", domain.host_failure.EVACUATING), and their
# instance.create.error events (domain.placements.failed and failure_messages), in one statement.
# The payloads name enums as the protos do (VM_STATE_ERROR; domain.messages lists them) while
# the columns hold the domain's names (ERROR, and POWER_STATE_UNSPECIFIED for an unknown power
# state): the prefix is added here, and test_placement_write.py compares the two.
FAIL = """
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::uuid[])
        WITH ORDINALITY AS t(uid, version, fault, event_id, n)
), failed AS (
    UPDATE instances i SET vm_state = 'ERROR', task_state = NULL,
        fault = CASE WHEN starts_with(i.fault, 'evacuating from host ') THEN i.fault || '; ' || u.fault
            ELSE u.fault END,
        version = i.version + 1, updated_at = now()
    FROM u
    WHERE i.uid = u.uid AND i.version = u.version
    RETURNING u.n, u.event_id, i.uid, i.project,
        'projects/' || i.project || '/servers/' || i.server_id AS name, i.flavor_id, i.image_id,
        i.host_id, i.vm_state, i.power_state, i.fault, i.version
), announced AS (
    INSERT INTO outbox (kind, message_id, message_type, routing_key, project, resource, payload)
    SELECT 'event', f.event_id, 'instance.create.error', 'instance.create.error', f.project, f.name,
        json_build_object(
            'uid', f.uid::text, 'name', f.name, 'flavor', 'flavors/' || f.flavor_id,
            'image', 'images/' || f.image_id, 'host', coalesce('hosts/' || f.host_id, ''),
            'vm_state', 'VM_STATE_' || f.vm_state, 'task_state', 'TASK_STATE_UNSPECIFIED',
            'power_state', CASE WHEN f.power_state = 'POWER_STATE_UNSPECIFIED' THEN f.power_state
                ELSE 'POWER_STATE_' || f.power_state END, 'fault', f.fault, 'version', f.version::text)
    FROM failed f
    ORDER BY f.n
)
SELECT uid FROM failed
"""

# A batch's placements, recorded and announced in one statement: each instance gets its host,
# its claim and task (SPAWNING, the spawn command's id) and a new version, and the outbox gets
# its spawn command and instance.scheduled event, in the batch's order, with payloads built here
# from the updated rows: exactly what domain.placements.placed() and placement_messages() say
# (tests/unit/controller/test_placement_write.py compares them message by message). Built in
# Python, those payloads and their JSON were a third of the scheduler's CPU per placement.
PLACE = """
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::uuid[], $5::uuid[])
        WITH ORDINALITY AS t(uid, version, host_id, command_id, event_id, n)
), placed AS (
    UPDATE instances i SET task_state = 'SPAWNING', host_id = u.host_id, allocated = true,
        task_command = u.command_id, version = i.version + 1, updated_at = now()
    FROM u
    WHERE i.uid = u.uid AND i.version = u.version
    RETURNING u.n, u.command_id, u.event_id, i.uid, i.project,
        'projects/' || i.project || '/servers/' || i.server_id AS name, i.flavor_id, i.image_id,
        i.vcpus, i.memory_mib, i.disk_gib, i.vm_state, i.task_state, i.power_state, i.host_id,
        i.fault, i.metadata, i.boot, i.version, i.generation
), announced AS (
    INSERT INTO outbox (kind, message_id, message_type, routing_key, project, resource, payload)
    SELECT m.kind, m.message_id, m.message_type, m.routing_key, p.project, p.name, m.payload
    FROM placed p CROSS JOIN LATERAL (VALUES
        (0, 'command', p.command_id, 'command.spawn', p.host_id, json_strip_nulls(json_build_object(
            'command_id', p.command_id::text, 'op', 'COMMAND_OP_SPAWN', 'instance_uid', p.uid::text,
            'instance_name', p.name, 'vcpus', p.vcpus, 'memory_mib', p.memory_mib::text,
            'disk_gib', p.disk_gib::text, 'image', 'images/' || p.image_id,
            'metadata', p.metadata, 'kernel_args', coalesce(p.boot->>'kernel_args', ''),
            'root_image', p.boot->'root_image', 'kernel', p.boot->'kernel',
            'ramdisk', p.boot->'ramdisk', 'generation', p.generation::text))),
        (1, 'event', p.event_id, 'instance.scheduled', 'instance.scheduled', json_build_object(
            'uid', p.uid::text, 'name', p.name, 'flavor', 'flavors/' || p.flavor_id,
            'image', 'images/' || p.image_id, 'host', 'hosts/' || p.host_id,
            'vm_state', 'VM_STATE_' || p.vm_state, 'task_state', 'TASK_STATE_' || p.task_state,
            'power_state', CASE WHEN p.power_state = 'POWER_STATE_UNSPECIFIED' THEN p.power_state
                ELSE 'POWER_STATE_' || p.power_state END,
            'fault', p.fault, 'version', p.version::text))
    ) AS m(k, kind, message_id, message_type, routing_key, payload)
    ORDER BY p.n, m.k
)
SELECT uid FROM placed
"""


class PgSchedulingBatch:
    def __init__(
        self,
        conn: rows.Conn,
        pending: list[PendingServer],
        hosts: HostColumns | None,
        groups: dict[str, GroupPlacement],
    ) -> None:
        self._conn = conn
        self.pending = pending
        self.hosts = hosts
        self.groups = groups
        self._locked: set[str] = set()

    async def lock_hosts(self, host_ids: Sequence[str]) -> list[Host]:
        wanted = sorted(set(host_ids) - self._locked)
        if wanted and self._locked and wanted[0] < max(self._locked):
            # Locking below a held lock would break the id order: refuse rather than risk a
            # deadlock (the service locks every host it needs at once).
            raise RuntimeError(f"hosts {wanted} would be locked out of id order")
        found = await self._conn.fetch(LOCK_HOSTS, wanted) if wanted else []
        self._locked.update(wanted)
        return [rows.host(r) for r in found]

    async def claim(self, placements: Sequence[Placement]) -> set[UUID]:
        if not placements:
            return set()
        hosts = [p.host_id for p in placements]
        await self.lock_hosts(hosts)
        insts = [p.server for p in placements]
        won = await self._conn.fetch(
            CLAIM,
            hosts,
            [i.vcpus for i in insts],
            [i.memory_mib for i in insts],
            [i.disk_gib for i in insts],
        )
        ok_hosts = {r["id"] for r in won}
        # A host that turned out full places nothing of this batch: those stay pending.
        placed = [p for p in placements if p.host_id in ok_hosts]
        if not placed:
            return set()
        done = await self._conn.fetch(
            PLACE,
            [p.server.uid for p in placed],
            [p.server.version for p in placed],
            [p.host_id for p in placed],
            [p.command_id for p in placed],
            [p.event_id for p in placed],
        )
        _check(len(placed), done)
        return {p.server.uid for p in placed}

    async def fail(self, failures: Sequence[Failure]) -> None:
        if not failures:
            return
        done = await self._conn.fetch(
            FAIL,
            [f.server.uid for f in failures],
            [f.server.version for f in failures],
            [f.reason for f in failures],
            [f.event_id for f in failures],
        )
        _check(len(failures), done)


def _check(wanted: int, done: list[asyncpg.Record]) -> None:
    if len(done) != wanted:  # the rows are locked by this transaction: cannot happen
        raise RuntimeError(f"{wanted - len(done)} instances changed while locked for scheduling")


async def _groups(conn: rows.Conn, pending: list[PendingServer]) -> dict[str, GroupPlacement]:
    wanted = sorted({(i.project, i.server_group) for i in pending if i.server_group})
    if not wanted:
        return {}
    projects, ids = [p for p, _ in wanted], [g for _, g in wanted]
    found = await conn.fetch(LOCK_GROUPS, projects, ids)
    hosts: dict[str, list[str]] = defaultdict(list)
    for r in await conn.fetch(GROUP_MEMBERS, projects, ids):
        hosts[group_key(r["project"], r["server_group"])].append(r["host_id"])
    out = {}
    for r in found:
        key = group_key(r["project"], r["id"])
        out[key] = GroupPlacement(key, GroupPolicy(r["policy"]), tuple(sorted(hosts[key])))
    return out


def _columns(found: asyncpg.Record | None) -> HostColumns:
    if found is None or found[0] is None:  # no hosts: array_agg of no rows is NULL
        return _NO_HOSTS
    columns = [found[k] for k in range(14)]  # FLEET's column order is HostColumns'
    ids = columns[0]
    if any(a >= b for a, b in zip(ids, islice(ids, 1, None), strict=False)):
        # PostgreSQL aggregates a sorted subquery in its order, but does not promise to.
        order = sorted(range(len(ids)), key=ids.__getitem__)
        columns = [[c[i] for i in order] for c in columns]
    return HostColumns(*columns)


_NO_HOSTS = HostColumns([], [], [], [], [], [], [], [], [], [], [], [], [], [])


class PgSchedulingStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def batch(
        self, limit: int, up_within_s: float, *, read_fleet: bool = True
    ) -> AsyncIterator[PgSchedulingBatch]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                pending = [PendingServer(*r) for r in await conn.fetch(PENDING, limit)]
                groups: dict[str, GroupPlacement] = {}
                hosts: HostColumns | None = None
                if pending:
                    groups = await _groups(conn, pending)
                    if read_fleet:
                        hosts = _columns(await conn.fetchrow(FLEET, up_within_s))
                yield PgSchedulingBatch(conn, pending, hosts, groups)
        except (
            asyncpg.DeadlockDetectedError,
            asyncpg.SerializationError,
            asyncpg.CheckViolationError,
        ) as exc:
            # Not expected (locks are ordered, claims conditional), but if the database says
            # so, the whole batch rolled back: its instances are pending again.
            raise Unavailable(f"scheduling batch rolled back: {exc}") from exc
