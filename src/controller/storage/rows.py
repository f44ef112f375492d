"""Database rows ↔ domain objects, and the outbox insert shared by every write."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias, TypeVar

import asyncpg
import asyncpg.pool

from controller.domain.messages import OutboxMessage
from controller.domain.model import (
    BootSpec,
    Flavor,
    Host,
    HostFailurePolicy,
    HostState,
    Image,
    ImageRef,
    ImageStatus,
    Instance,
    PowerState,
    TaskState,
    VmState,
)

# A dedicated connection or one borrowed from the pool (`pool.acquire()` yields a proxy).
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"

INSTANCE_COLUMNS = (
    "uid, project, server_id, flavor_id, image_id, vcpus, memory_mib, disk_gib, vm_state,"
    " task_state, power_state, host_id, allocated, task_command, fault, metadata, request_id,"
    " version, created_at, updated_at, availability_zone, server_group, boot, required_arch,"
    " required_hypervisor_type, scaling_group, generation, host_failure_policy, host_down_at,"
    " host_down_power"
)


def _image_ref(d: dict[str, Any] | None) -> ImageRef | None:
    return ImageRef(**d) if d else None


_NO_BOOT = BootSpec()  # most servers' (frozen: one will do for all)


def boot_spec(d: dict[str, Any]) -> BootSpec:
    if not d:
        return _NO_BOOT
    return BootSpec(
        root_image=_image_ref(d.get("root_image")),
        kernel=_image_ref(d.get("kernel")),
        ramdisk=_image_ref(d.get("ramdisk")),
        kernel_args=d.get("kernel_args", ""),
    )


def boot_json(b: BootSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"kernel_args": b.kernel_args}
    for key in ("root_image", "kernel", "ramdisk"):
        ref = getattr(b, key)
        if ref is not None:
            out[key] = dataclasses.asdict(ref)
    return out


def _names(columns: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in columns.split(","))


_T = TypeVar("_T")


def _frozen_maker(cls: type[_T], names: tuple[str, ...]) -> Callable[[dict[str, Any]], _T]:
    """Instances of the frozen dataclass `cls` made from a dict of all its fields, which
    becomes the object's __dict__. Its __init__ would do the same with one object.__setattr__
    per field: for a row of 25 columns that costs more than reading the row (the scheduler
    reads a thousand instances a batch). Only for a plain frozen dataclass whose fields are
    `names`: no __post_init__, no slots."""
    fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    plain = "__post_init__" not in vars(cls) and "__slots__" not in vars(cls)
    if not plain or set(fields) != set(names) or len(fields) != len(names):
        raise TypeError(f"{cls.__name__} cannot be made from {names}")
    new, set_attr = object.__new__, object.__setattr__

    def make(d: dict[str, Any]) -> _T:
        obj = new(cls)
        set_attr(obj, "__dict__", d)
        return obj

    return make


_INSTANCE_FIELDS = _names(INSTANCE_COLUMNS)
_new_instance = _frozen_maker(Instance, _INSTANCE_FIELDS)
# Enum lookups by value as dicts (calling the Enum class costs several times more).
_VM_STATES = {s.value: s for s in VmState}
_TASK_STATES = {s.value: s for s in TaskState}
_POWER_STATES = {s.value: s for s in PowerState}
_HOST_STATES = {s.value: s for s in HostState}


def instance(r: asyncpg.Record) -> Instance:
    d = {k: r[k] for k in _INSTANCE_FIELDS}
    v = d["vm_state"]
    d["vm_state"] = _VM_STATES.get(v) or VmState(v)
    v = d["task_state"]
    d["task_state"] = (_TASK_STATES.get(v) or TaskState(v)) if v else None
    v = d["power_state"]
    d["power_state"] = _POWER_STATES.get(v) or PowerState(v)
    d["metadata"] = dict(d["metadata"])
    d["boot"] = boot_spec(d["boot"])
    d["host_failure_policy"] = HostFailurePolicy(d["host_failure_policy"])
    v = d["host_down_power"]
    d["host_down_power"] = (_POWER_STATES.get(v) or PowerState(v)) if v else None
    return _new_instance(d)


def instance_values(i: Instance) -> tuple[Any, ...]:
    """The mutable columns, in the order of `UPDATE_INSTANCE`'s parameters $3…"""
    return (
        i.vm_state.value,
        i.task_state.value if i.task_state else None,
        i.power_state.value,
        i.host_id,
        i.allocated,
        i.task_command,
        i.fault,
        i.metadata,
        i.generation,
        i.host_failure_policy.value,
        i.host_down_at,
        i.host_down_power.value if i.host_down_power else None,
    )


UPDATE_INSTANCE = f"""
UPDATE instances SET vm_state = $3, task_state = $4, power_state = $5, host_id = $6,
    allocated = $7, task_command = $8, fault = $9, metadata = $10, generation = $11,
    host_failure_policy = $12, host_down_at = $13, host_down_power = $14, version = version + 1,
    updated_at = now(),
    deleted_at = CASE WHEN $3 = 'DELETED' THEN now() ELSE NULL END
WHERE uid = $1 AND version = $2
RETURNING {INSTANCE_COLUMNS}
"""

RELEASE_CLAIM = """
UPDATE hosts SET vcpus_used = vcpus_used - $2, memory_mib_used = memory_mib_used - $3,
    disk_gib_used = disk_gib_used - $4, servers = servers - 1, version = version + 1
WHERE id = $1
"""

HOST_COLUMNS = (
    "id, hostname, arch, hypervisor_type, hypervisor_uri, availability_zone, vcpus, memory_mib,"
    " disk_gib, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, vcpus_used,"
    " memory_mib_used, disk_gib_used, servers, enabled, disabled_reason, state, last_heartbeat,"
    " version, created_at, domain_type"
)


_HOST_FIELDS = _names(HOST_COLUMNS)
_new_host = _frozen_maker(Host, _HOST_FIELDS)


def host(r: asyncpg.Record) -> Host:
    d = {k: r[k] for k in _HOST_FIELDS}
    v = d["state"]
    d["state"] = _HOST_STATES.get(v) or HostState(v)
    return _new_host(d)


def flavor(r: asyncpg.Record) -> Flavor:
    return Flavor(
        id=r["id"],
        vcpus=r["vcpus"],
        memory_mib=r["memory_mib"],
        disk_gib=r["disk_gib"],
        description=r["description"],
        version=r["version"],
        created_at=r["created_at"],
    )


def image(r: asyncpg.Record) -> Image:
    return Image(
        id=r["id"],
        disk_format=r["disk_format"],
        min_disk_gib=r["min_disk_gib"],
        min_memory_mib=r["min_memory_mib"],
        status=ImageStatus(r["status"]),
        size_bytes=r["size_bytes"],
        checksum_sha256=r["checksum_sha256"],
        properties=dict(r["properties"]),
        version=r["version"],
        created_at=r["created_at"],
        kernel_image=r["kernel_image"],
        ramdisk_image=r["ramdisk_image"],
        kernel_args=r["kernel_args"],
        virtual_size_bytes=r["virtual_size_bytes"],
    )


INSERT_OUTBOX = """
INSERT INTO outbox (kind, message_id, message_type, routing_key, project, resource, payload)
SELECT k, mid, mt, rk, pr, rs, p::json
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
    WITH ORDINALITY AS t(k, mid, mt, rk, pr, rs, p, n)
ORDER BY n
"""


async def insert_outbox(conn: Conn, messages: Sequence[OutboxMessage]) -> None:
    """Every message in one statement, in order (the relay publishes in id order)."""
    if not messages:
        return
    await conn.execute(
        INSERT_OUTBOX,
        [m.kind for m in messages],
        [m.message_id for m in messages],
        [m.message_type for m in messages],
        [m.routing_key for m in messages],
        [m.project for m in messages],
        [m.resource for m in messages],
        [json.dumps(m.payload) for m in messages],
    )
