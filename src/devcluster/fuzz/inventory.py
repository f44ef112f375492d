"""What a cluster holds, to tell what the fuzz left behind: rows, domains and files.

`take` reads the database (live servers, flavors, images, server and scaling groups, group
metrics, the outbox not yet published, disabled hosts), every agent's libvirt domains
(AgentAdmin.ListDomains: what the hypervisor itself says) and the image store's files.
`Ledger` remembers what accepted calls made: the name in every OK answer of a `Create*`
method (AIP-133). `unaccounted` is what exists now that did not before and no accepted call
made (a failed call that left a row behind); servers and server groups a scaling group made
for itself are its own. `clean_up` deletes, through the public API as a user would, everything
that was not there before, and `differences` says what still differs once it is done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from google.protobuf import message_factory

from devcluster.fuzz.calls import code_of
from devcluster.fuzz.surface import Method
from overcast.agent.v1 import agent_pb2, agent_pb2_grpc
from overcast.v1 import (
    flavor_pb2,
    flavor_pb2_grpc,
    host_pb2,
    host_pb2_grpc,
    image_pb2,
    image_pb2_grpc,
    scaling_group_pb2,
    scaling_group_pb2_grpc,
    server_group_pb2,
    server_group_pb2_grpc,
    server_pb2,
    server_pb2_grpc,
)

KINDS = ("servers", "flavors", "images", "server_groups", "scaling_groups")


@dataclass
class Snapshot:
    servers: set[str] = field(default_factory=set)
    flavors: set[str] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    server_groups: set[str] = field(default_factory=set)
    scaling_groups: set[str] = field(default_factory=set)
    # What a scaling group made for itself (members, its own server group).
    owned: set[str] = field(default_factory=set)
    group_metrics: int = 0
    outbox: int = 0
    disabled_hosts: set[str] = field(default_factory=set)
    domains: dict[str, set[str]] = field(default_factory=dict)  # host → domain uuids
    files: set[str] = field(default_factory=set)

    def of(self, kind: str) -> set[str]:
        found: set[str] = getattr(self, kind)
        return found


async def _rows(database_url: str) -> Snapshot:
    conn = await asyncpg.connect(database_url)
    try:
        s = Snapshot()
        for r in await conn.fetch(
            "SELECT project, server_id, scaling_group FROM instances WHERE deleted_at IS NULL"
        ):
            name = f"projects/{r['project']}/servers/{r['server_id']}"
            s.servers.add(name)
            if r["scaling_group"]:
                s.owned.add(name)
        s.flavors = {f"flavors/{r['id']}" for r in await conn.fetch("SELECT id FROM flavors")}
        s.images = {f"images/{r['id']}" for r in await conn.fetch("SELECT id FROM images")}
        s.server_groups = {
            f"projects/{r['project']}/serverGroups/{r['id']}"
            for r in await conn.fetch("SELECT project, id FROM server_groups")
        }
        for r in await conn.fetch("SELECT project, id, server_group FROM scaling_groups"):
            s.scaling_groups.add(f"projects/{r['project']}/scalingGroups/{r['id']}")
            if r["server_group"]:
                s.owned.add(r["server_group"])
        s.group_metrics = await conn.fetchval("SELECT count(*) FROM group_metrics")
        s.outbox = await conn.fetchval("SELECT count(*) FROM outbox")
        s.disabled_hosts = {r["id"] for r in await conn.fetch("SELECT id FROM hosts WHERE NOT enabled")}
        return s
    finally:
        await conn.close()


def _domains(agent_admin: dict[str, str]) -> dict[str, set[str]]:
    found = {}
    for host, address in agent_admin.items():
        with grpc.insecure_channel(address) as ch:
            reply = agent_pb2_grpc.AgentAdminStub(ch).ListDomains(agent_pb2.ListDomainsRequest(), timeout=10)
            found[host] = {d.uuid for d in reply.domains}
    return found


def take(database_url: str, agent_admin: dict[str, str], image_store: Path) -> Snapshot:
    s = asyncio.run(_rows(database_url))
    s.domains = _domains(agent_admin)
    if image_store.exists():
        s.files = {str(p.relative_to(image_store)) for p in image_store.rglob("*") if p.is_file()}
    return s


class Ledger:
    """Names in the answers of accepted `Create*` calls (AIP-133), and in the requests of
    accepted `Delete*` calls (AIP-135)."""

    def __init__(self) -> None:
        self.created: set[str] = set()
        self.deleted: set[str] = set()

    def saw(self, method: Method, request: bytes | list[bytes], responses: Iterable[bytes]) -> None:
        if method.name.startswith("Create") and "name" in method.output.fields_by_name:
            cls = message_factory.GetMessageClass(method.output)
            self.created.update(str(getattr(cls.FromString(raw), "name")) for raw in responses)  # noqa: B009
        elif method.name.startswith("Delete") and "name" in method.input.fields_by_name:
            cls = message_factory.GetMessageClass(method.input)
            for raw in request if isinstance(request, list) else [request]:
                self.deleted.add(str(getattr(cls.FromString(raw), "name")))  # noqa: B009


def unaccounted(before: Snapshot, now: Snapshot, ledger: Ledger) -> dict[str, set[str]]:
    """Per kind, what exists now, did not before, and no accepted create made."""
    found = {}
    for kind in KINDS:
        extra = now.of(kind) - before.of(kind) - ledger.created - now.owned
        if extra:
            found[kind] = extra
    return found


def differences(
    before: Snapshot, after: Snapshot, deleted: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """What differs between two snapshots, one line each; what was there before and is gone
    is a difference unless it is in `deleted` (an accepted delete removed it)."""
    lines = []
    for kind in KINDS:
        for name in sorted(after.of(kind) - before.of(kind)):
            lines.append(f"{kind}: {name} left behind")
        for name in sorted(before.of(kind) - after.of(kind) - deleted):
            lines.append(f"{kind}: {name} (there before the fuzz) is gone, and no accepted call deleted it")
    if after.group_metrics != before.group_metrics:
        lines.append(f"group_metrics: {after.group_metrics} rows, {before.group_metrics} before")
    if after.outbox:
        lines.append(f"outbox: {after.outbox} rows never published")
    if after.disabled_hosts != before.disabled_hosts:
        lines.append(
            f"disabled hosts: {sorted(after.disabled_hosts)}, before {sorted(before.disabled_hosts)}"
        )
    for host in sorted(after.domains):
        extra = after.domains[host] - before.domains.get(host, set())
        if extra:
            lines.append(f"{host}: {len(extra)} libvirt domains left behind: {sorted(extra)[:5]}")
    for name in sorted(after.files - before.files):
        lines.append(f"image store: {name} left behind")
    return lines


def _call(fn: object, request: object) -> grpc.StatusCode:
    try:
        fn(request, timeout=15)  # type: ignore[operator]
    except grpc.RpcError as exc:
        return code_of(exc)
    return grpc.StatusCode.OK


def clean_up(
    channel: grpc.Channel, before: Snapshot, take_now: object, deleted: set[str], timeout: float = 90.0
) -> Snapshot:
    """Delete through the API what was not there before, until nothing differs or `timeout`
    passes; returns the last snapshot. `take_now()` takes a snapshot."""
    scaling = scaling_group_pb2_grpc.ScalingGroupServiceStub(channel)
    servers = server_pb2_grpc.ServerServiceStub(channel)
    groups = server_group_pb2_grpc.ServerGroupServiceStub(channel)
    flavors = flavor_pb2_grpc.FlavorServiceStub(channel)
    images = image_pb2_grpc.ImageServiceStub(channel)
    hosts = host_pb2_grpc.HostServiceStub(channel)
    deadline = time.monotonic() + timeout
    while True:
        now: Snapshot = take_now()  # type: ignore[operator]
        if not differences(before, now, deleted) or time.monotonic() > deadline:
            return now
        # Order matters: a group's members, then servers, then what servers refer to.
        for name in now.scaling_groups - before.scaling_groups:
            _call(scaling.DeleteScalingGroup, scaling_group_pb2.DeleteScalingGroupRequest(name=name))
        for name in now.servers - before.servers - now.owned:
            _call(servers.DeleteServer, server_pb2.DeleteServerRequest(name=name))
        for name in now.server_groups - before.server_groups - now.owned:
            _call(groups.DeleteServerGroup, server_group_pb2.DeleteServerGroupRequest(name=name))
        for name in now.flavors - before.flavors:
            _call(flavors.DeleteFlavor, flavor_pb2.DeleteFlavorRequest(name=name))
        for name in now.images - before.images:
            _call(images.DeleteImage, image_pb2.DeleteImageRequest(name=name))
        for host in now.disabled_hosts - before.disabled_hosts:
            _call(hosts.EnableHost, host_pb2.EnableHostRequest(name=f"hosts/{host}"))
        time.sleep(0.5)
