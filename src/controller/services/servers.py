"""Server use cases: create, read, list, power operations, delete, and agent results."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple
from uuid import UUID

import structlog

from controller.domain import limits, names
from controller.domain.boot import check_kernel_args
from controller.domain.errors import (
    EtagMismatch,
    InvalidArgument,
    NotFound,
    ViolationCollector,
)
from controller.domain.lifecycle import (
    INSTANCE_LOST,
    INSTANCE_UPDATE,
    POWER_STATE_UPDATE,
    apply_result,
    bump,
    check_action,
    mark_lost,
    needs_agent_for_delete,
    sync_power,
)
from controller.domain.messages import command, instance_event, orphan_delete
from controller.domain.model import (
    CommandFailure,
    CommandOp,
    HostFailurePolicy,
    Instance,
    PowerState,
    TaskState,
    VmState,
)
from controller.domain.reconcile import compare
from controller.domain.requests import RequestIdTaken, RequestRecord, parameters
from controller.domain.scaling.model import ScalingGroup
from controller.domain.server_groups import server_group_name
from controller.scheduler.hosts import image_requirements
from controller.services.boot import bootable, resolve_boot
from controller.services.group_commit import GroupCommit
from controller.services.ports import CatalogStore, InstanceStore, MutateFn, Mutation
from controller.services.request_ids import raced, replay
from controller.services.server_groups import ServerGroupStore, check_availability_zone, check_group_of

log = structlog.get_logger(__name__)

UPDATABLE = frozenset({"metadata", "host_failure_policy"})  # UpdateServer's update_mask paths


@dataclass(frozen=True)
class CreateServer:
    parent: str
    server_id: str
    flavor: str
    image: str
    metadata: Mapping[str, str]
    request_id: str
    kernel_image: str = ""  # "images/{aki}": overrides the image's kernel
    ramdisk_image: str = ""  # "images/{ari}": overrides the image's ramdisk
    kernel_args: str = ""  # overrides the image's kernel_args
    availability_zone: str = ""  # "" = any zone
    server_group: str = ""  # "projects/{project}/serverGroups/{group}"; "" = none
    # "projects/{project}/scalingGroups/{group}": a member the autoscaler creates (never set
    # through the public API); "" = none
    scaling_group: str = ""
    host_failure_policy: str = ""  # HostFailurePolicy's value; "" = NONE


class _Checked(NamedTuple):
    """A CreateServer's names, parsed and checked (no I/O)."""

    project: str
    server_id: str
    flavor_id: str
    image_id: str
    kernel_id: str
    ramdisk_id: str
    zone: str
    group_id: str
    scaling_id: str
    host_failure_policy: HostFailurePolicy


def _check(req: CreateServer) -> _Checked:
    v = ViolationCollector()
    project = v.check(lambda: names.parse_project(req.parent, "parent"))
    server_id = v.check(lambda: names.check_id(req.server_id, "server_id"))
    flavor_id = v.check(lambda: names.parse_flavor(req.flavor, "server.flavor"))
    image_id = v.check(lambda: names.parse_image(req.image, "server.image"))
    limits.check_metadata(v, "server.metadata", dict(req.metadata))
    limits.check_request_id(v, req.request_id)
    kernel_id = v.check(lambda: _optional_image(req.kernel_image, "server.kernel_image"))
    ramdisk_id = v.check(lambda: _optional_image(req.ramdisk_image, "server.ramdisk_image"))
    check_kernel_args(v, "server.kernel_args", req.kernel_args)
    zone = check_availability_zone(v, "server.availability_zone", req.availability_zone)
    group_id = check_group_of(v, "server.server_group", req.server_group, project)
    scaling_id = _scaling_group_of(v, "server.scaling_group", req.scaling_group, project)
    policy = _host_failure_policy(v, "server.host_failure_policy", req.host_failure_policy)
    v.raise_if_any()
    return _Checked(
        project, server_id, flavor_id, image_id, kernel_id, ramdisk_id, zone, group_id, scaling_id, policy
    )


def _host_failure_policy(v: ViolationCollector, field: str, value: str) -> HostFailurePolicy:
    if not value:
        return HostFailurePolicy.NONE
    try:
        return HostFailurePolicy(value)
    except ValueError:
        choices = ", ".join(f"HOST_FAILURE_POLICY_{p.value}" for p in HostFailurePolicy)
        v.add(field, f"no host failure policy {value!r}; one of {choices}")
        return HostFailurePolicy.NONE


@dataclass(frozen=True)
class AgentResult:
    command_id: UUID
    op: CommandOp
    instance_uid: UUID
    ok: bool
    error: str
    power_state: PowerState
    failure: CommandFailure = CommandFailure.OTHER


class ServerService:
    def __init__(
        self, instances: InstanceStore, catalog: CatalogStore, groups: ServerGroupStore | None = None
    ) -> None:
        self._instances = instances
        self._catalog = catalog
        self._groups = groups
        # Agents' results, written together when they arrive together (a fleet spawning).
        self._results: GroupCommit[tuple[UUID, MutateFn], Instance | None]
        self._results = GroupCommit(instances.mutate_uids)
        self._reads: GroupCommit[UUID, Instance | None] = GroupCommit(self._get_in_order)

    async def _get_in_order(self, uids: Sequence[UUID]) -> list[Instance | None]:
        found = {i.uid: i for i in await self._instances.get_many(list(set(uids)))}
        return [found.get(u) for u in uids]

    async def create(self, req: CreateServer) -> Instance:
        checked = _check(req)
        # What the request id remembers is every field of the request (domain.requests).
        given = parameters(req)
        retry = functools.partial(
            replay,
            req.request_id,
            given,
            find=lambda: self._instances.find_request(checked.project, req.request_id),
            made=self._made,
            field_name=_server_field,
        )
        if (done := await retry()) is not None:
            return done
        inst = await self._new_instance(req, checked)
        # The store checks the scaling group in the insert's transaction (it may be deleted meanwhile).
        try:
            return await self._instances.create(inst, [instance_event(inst, "instance.create.start")], given)
        except RequestIdTaken:
            return await raced(req.request_id, retry)

    async def create_members(self, group: ScalingGroup, server_ids: Sequence[str]) -> list[Instance]:
        """A scaling group's new members, from its template, in one transaction (a large step
        is one batch for the scheduler too), checked once: they share the template."""
        if not server_ids:
            return []
        t = group.template
        req = CreateServer(
            parent=f"projects/{group.project}",
            server_id=server_ids[0],
            flavor=f"flavors/{t.flavor_id}",
            image=f"images/{t.image_id}",
            metadata=t.metadata,
            request_id="",
            availability_zone=t.availability_zone,
            server_group=server_group_name(group.project, group.server_group_id)
            if group.server_group_id
            else "",
            scaling_group=group.name,
        )
        first = await self._new_instance(req, _check(req))
        members = [replace(first, uid=uuid.uuid4(), server_id=sid) for sid in server_ids]
        return await self._instances.create_many(
            members, [instance_event(m, "instance.create.start") for m in members]
        )

    async def delete_members(self, uids: Sequence[UUID]) -> None:
        """Delete servers (scale-in victims, replaced members) in one transaction, each as
        DeleteServer would; one already gone or being deleted is left as it is."""
        decide = _action(CommandOp.DELETE, "")

        def delete(inst: Instance) -> Mutation | None:
            if inst.vm_state is VmState.DELETED:
                return None
            return decide(inst)

        await self._instances.mutate_uids([(uid, delete) for uid in uids])

    async def _new_instance(self, req: CreateServer, c: _Checked) -> Instance:
        """The server a checked request describes, resolved against the catalog (not stored)."""
        flavor, image = await bootable(self._catalog, c.flavor_id, c.image_id)
        boot = await resolve_boot(
            self._catalog,
            image,
            flavor,
            kernel_id=c.kernel_id,
            ramdisk_id=c.ramdisk_id,
            kernel_args=req.kernel_args,
        )
        if c.group_id:
            if self._groups is None:
                raise NotFound(req.server_group)
            await self._groups.get(c.project, c.group_id)  # NotFound unless the project has it
        arch, hypervisor_type = image_requirements(image.properties)
        return Instance(
            uid=uuid.uuid4(),
            project=c.project,
            server_id=c.server_id,
            flavor_id=c.flavor_id,
            image_id=c.image_id,
            vcpus=flavor.vcpus,
            memory_mib=flavor.memory_mib,
            disk_gib=flavor.disk_gib,
            vm_state=VmState.BUILDING,
            task_state=TaskState.SCHEDULING,
            metadata=dict(req.metadata),
            request_id=req.request_id or None,
            boot=boot,
            availability_zone=c.zone,
            server_group=c.group_id,
            required_arch=arch,
            required_hypervisor_type=hypervisor_type,
            scaling_group=c.scaling_id,
            host_failure_policy=c.host_failure_policy,
        )

    async def _made(self, record: RequestRecord) -> Instance:
        """The server a request made, as it is now: deleted too (AIP-155's same answer, as
        EC2 answers a ClientToken)."""
        found = await self._instances.get_many([record.uid]) if record.uid else []
        if not found:
            raise NotFound(record.resource)
        return found[0]

    async def get(self, name: str) -> Instance:
        project, server_id = names.parse_server(name)
        return await self._instances.get(project, server_id)

    async def act(self, name: str, op: CommandOp, etag: str) -> Instance:
        """Start, stop, reboot or delete: check the state machine, record the task and send
        the command, all under the row lock."""
        project, server_id = names.parse_server(name)
        return await self._instances.mutate(project, server_id, _action(op, etag))

    async def update_metadata(
        self,
        name: str,
        metadata: Mapping[str, str],
        update_mask: Sequence[str],
        etag: str,
        *,
        host_failure_policy: str = "",
    ) -> Instance:
        """UpdateServer: `metadata` and `host_failure_policy` may change. New metadata is
        recorded with an instance.update event and, for a placed server, sent to its host
        (UPDATE_METADATA), so a simulated load profile (sim.cpu, sim.mem) follows."""
        v = ViolationCollector()
        project = server_id = ""
        try:
            project, server_id = names.parse_server(name, "server.name")
        except InvalidArgument as exc:
            v.violations.extend(exc.violations)
        mask = set(update_mask)
        if not mask or not mask <= UPDATABLE:
            v.add(
                "update_mask",
                'only "metadata" and "host_failure_policy" can be updated: set update_mask.paths'
                " to one or both",
            )
        if "metadata" in mask:
            limits.check_metadata(v, "server.metadata", dict(metadata))
        policy = _host_failure_policy(v, "server.host_failure_policy", host_failure_policy)
        v.raise_if_any()

        def decide(inst: Instance) -> Mutation | None:
            if etag and etag != str(inst.version):
                raise EtagMismatch(inst.name, etag, str(inst.version))
            new_metadata = dict(metadata) if "metadata" in mask else inst.metadata
            new_policy = policy if "host_failure_policy" in mask else inst.host_failure_policy
            if inst.metadata == new_metadata and inst.host_failure_policy is new_policy:
                return None
            new = bump(inst, metadata=new_metadata, host_failure_policy=new_policy)
            messages = [instance_event(new, INSTANCE_UPDATE)]
            if (
                new_metadata != inst.metadata
                and new.host_id is not None
                and new.allocated
                and new.task_state is not TaskState.DELETING
            ):
                messages.append(command(new, CommandOp.UPDATE_METADATA, uuid.uuid4()))
            return Mutation(new, messages)

        return await self._instances.mutate(project, server_id, decide)

    async def apply_result(self, host_id: str, result: AgentResult) -> None:
        """An agent finished a command. Results for a task that is no longer current (a delete
        overtook a spawn, a redelivered command) change nothing."""
        if result.op is CommandOp.UPDATE_METADATA:
            # Not a task: nothing to record (the metadata is already stored).
            if not result.ok:
                log.warning(
                    "server.update_metadata_failed",
                    host=host_id,
                    instance_uid=str(result.instance_uid),
                    error=result.error,
                )
            return

        def decide(inst: Instance) -> Mutation | None:
            if inst.task_command != result.command_id or inst.host_id != host_id:
                return None
            outcome = apply_result(
                inst, result.op, result.ok, result.error, result.power_state, result.failure
            )
            return Mutation(
                outcome.instance,
                [instance_event(outcome.instance, outcome.event_type)],
                release_allocation=outcome.release_allocation,
            )

        await self._results.submit((result.instance_uid, decide))

    async def apply_power(self, host_id: str, uid: UUID, power: PowerState) -> None:
        """The hypervisor reported a power state on its own (guest shut down, domain started)."""

        def decide(inst: Instance) -> Mutation | None:
            if inst.host_id != host_id:
                return None
            new = sync_power(inst, power)
            if new is None:
                return None
            return Mutation(new, [instance_event(new, POWER_STATE_UPDATE)])

        # Most reports echo what an operation in flight already owns (libvirt announces the
        # start of every spawn): an unlocked read spares those a write transaction.
        found = await self._reads.submit(uid)  # read together with other agents' events
        if found is not None and decide(found) is None:
            return
        await self._results.submit((uid, decide))

    async def reconcile(
        self,
        host_id: str,
        domains: Mapping[UUID, PowerState],
        generations: Mapping[UUID, int] | None = None,
    ) -> None:
        """An agent (re)registered with the whole inventory of its domains (and the placement
        generation each records): correct every difference from what the database wants on
        that host."""
        found = compare(host_id, await self._instances.list_on_host(host_id), domains, generations)
        for uid, power in found.power.items():
            await self.apply_power(host_id, uid, power)

        def lost(inst: Instance) -> Mutation | None:
            # Re-checked under the row lock: an operation may have started meanwhile.
            if compare(host_id, [inst], {}).lost != [inst.uid]:
                return None
            gone = mark_lost(inst)
            return Mutation(gone, [instance_event(gone, INSTANCE_LOST)])

        for uid in found.lost:
            await self._instances.mutate_uid(uid, lost)
        if found.orphans:
            gens = generations or {}
            await self._instances.enqueue(
                [orphan_delete(uid, host_id, gens.get(uid, 0)) for uid in found.orphans]
            )


def _scaling_group_of(v: ViolationCollector, field: str, name: str, project: str) -> str:
    """The id of a scaling group of `project` ("" = none)."""
    if not name:
        return ""
    try:
        group_project, group_id = names.parse_scaling_group(name, field)
    except InvalidArgument as exc:
        v.violations.extend(exc.violations)
        return ""
    if project and group_project != project:
        v.add(field, f"must be a scaling group of projects/{project}, got {name!r}")
        return ""
    return group_id


def _server_field(parameter: str) -> str:
    """A CreateServer parameter as the request names it (CreateServerRequest.server.flavor)."""
    return parameter if parameter in ("parent", "server_id") else f"server.{parameter}"


def _optional_image(name: str, field: str) -> str:
    return names.parse_image(name, field) if name else ""


def _action(op: CommandOp, etag: str) -> MutateFn:
    """Start, stop, reboot or delete one server, as decided under its row lock."""

    def decide(inst: Instance) -> Mutation | None:
        if etag and etag != str(inst.version):
            raise EtagMismatch(inst.name, etag, str(inst.version))
        if op is CommandOp.DELETE and inst.task_state is TaskState.DELETING:
            return None  # already being deleted: deleting again changes nothing
        action = check_action(inst, op)
        if op is CommandOp.DELETE and inst.host_down_at is not None and inst.host_id is not None:
            # Its host has been DOWN past the grace (domain.host_failure): deleted here and now,
            # as Nova's local delete; the domain's removal waits in the host's queue for its
            # return (and reconciliation removes it then in any case).
            gone = bump(
                inst,
                vm_state=VmState.DELETED,
                task_state=None,
                task_command=None,
                power_state=PowerState.UNKNOWN,
                allocated=False,
                host_down_at=None,
                host_down_power=None,
            )
            messages = [
                instance_event(gone, action.end_event),
                orphan_delete(inst.uid, inst.host_id, inst.generation),
            ]
            return Mutation(gone, messages, release_allocation=True)
        if op is CommandOp.DELETE and not needs_agent_for_delete(inst):
            gone = bump(
                inst,
                vm_state=VmState.DELETED,
                task_state=None,
                task_command=None,
                power_state=PowerState.UNKNOWN,
            )
            return Mutation(gone, [instance_event(gone, action.end_event)])
        command_id = uuid.uuid4()
        new = bump(inst, task_state=action.task, task_command=command_id)
        return Mutation(new, [instance_event(new, action.start_event), command(new, op, command_id)])

    return decide
