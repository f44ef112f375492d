"""Many instance changes in one transaction: agents' results arrive by the thousand when a
fleet spawns, and one transaction per result (lock, update, release, outbox, commit) is what
limited how fast servers became ACTIVE.

Locks are taken in a fixed order — instances by uid, then hosts by id — as every other writer
does (the scheduler locks hosts by id too), so batches cannot deadlock with each other or with
single changes. Changes to one instance in one batch are applied in the order given, each seeing
the one before (their messages too).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from controller.domain.model import Instance
from controller.services.ports import MutateFn, Mutation
from controller.storage import rows
from controller.storage.rows import INSTANCE_COLUMNS

LOCK_INSTANCES = (
    f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE uid = ANY($1::uuid[]) ORDER BY uid FOR UPDATE"
)

# Each row once, from the version read under the lock to the last change's version.
UPDATE_INSTANCES = """
UPDATE instances i SET vm_state = u.vm_state, task_state = u.task_state, power_state = u.power_state,
    host_id = u.host_id, allocated = u.allocated, task_command = u.task_command, fault = u.fault,
    metadata = u.metadata::jsonb, generation = u.generation,
    host_failure_policy = u.host_failure_policy, host_down_at = u.host_down_at,
    host_down_power = u.host_down_power, version = u.new_version, updated_at = now(),
    deleted_at = CASE WHEN u.vm_state = 'DELETED' THEN now() ELSE NULL END
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::bool[], $9::uuid[], $10::text[], $11::text[], $12::bigint[], $13::text[],
            $14::timestamptz[], $15::text[])
    AS u(uid, version, new_version, vm_state, task_state, power_state, host_id, allocated,
         task_command, fault, metadata, generation, host_failure_policy, host_down_at,
         host_down_power)
WHERE i.uid = u.uid AND i.version = u.version
RETURNING i.uid
"""

LOCK_HOSTS = "SELECT id FROM hosts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"

RELEASE_CLAIMS = """
UPDATE hosts h SET vcpus_used = h.vcpus_used - r.v, memory_mib_used = h.memory_mib_used - r.m,
    disk_gib_used = h.disk_gib_used - r.d, servers = h.servers - r.n, version = h.version + 1
FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::int[]) AS r(id, v, m, d, n)
WHERE h.id = r.id
"""


async def mutate_many(conn: rows.Conn, changes: Sequence[tuple[UUID, MutateFn]]) -> list[Instance | None]:
    """Apply each change to its instance (inside the caller's transaction); returns each
    instance as the change left it (None: no such instance)."""
    found = await conn.fetch(LOCK_INSTANCES, sorted({uid for uid, _ in changes}))
    read = {r["uid"]: rows.instance(r) for r in found}
    current: dict[UUID, Instance] = dict(read)
    messages = []
    released: dict[str, list[int]] = {}
    out: list[Instance | None] = []
    for uid, fn in changes:
        inst = current.get(uid)
        mutation: Mutation | None = None if inst is None else fn(inst)
        if inst is None or mutation is None:
            out.append(inst)
            continue
        if mutation.release_allocation and inst.allocated and inst.host_id:
            r = released.setdefault(inst.host_id, [0, 0, 0, 0])
            r[0] += inst.vcpus
            r[1] += inst.memory_mib
            r[2] += inst.disk_gib
            r[3] += 1
        current[uid] = mutation.instance
        messages.extend(mutation.messages)
        out.append(mutation.instance)
    changed = [(read[uid], new) for uid, new in current.items() if new is not read[uid]]
    if changed:
        done = await conn.fetch(
            UPDATE_INSTANCES,
            [old.uid for old, _ in changed],
            [old.version for old, _ in changed],
            [new.version for _, new in changed],
            [new.vm_state.value for _, new in changed],
            [new.task_state.value if new.task_state else None for _, new in changed],
            [new.power_state.value for _, new in changed],
            [new.host_id for _, new in changed],
            [new.allocated for _, new in changed],
            [new.task_command for _, new in changed],
            [new.fault for _, new in changed],
            [json.dumps(new.metadata) for _, new in changed],
            [new.generation for _, new in changed],
            [new.host_failure_policy.value for _, new in changed],
            [new.host_down_at for _, new in changed],
            [new.host_down_power.value if new.host_down_power else None for _, new in changed],
        )
        if len(done) != len(changed):  # the rows are locked: cannot happen
            raise RuntimeError(f"{len(changed) - len(done)} instances changed under their row locks")
    if released:
        hosts = sorted(released)
        await conn.execute(LOCK_HOSTS, hosts)
        await conn.execute(
            RELEASE_CLAIMS,
            hosts,
            [released[h][0] for h in hosts],
            [released[h][1] for h in hosts],
            [released[h][2] for h in hosts],
            [released[h][3] for h in hosts],
        )
    await rows.insert_outbox(conn, messages)
    return out
