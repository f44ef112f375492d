"""Scaling group use cases: create, get, list, update, delete, set the desired size, record a
custom metric, list the history. Members are created and removed by the autoscaler (through
ServerService, as any server); a delete without keep_members deletes them through
ServerService too, so their hosts get delete commands and the usual events flow."""

from __future__ import annotations

import builtins
import contextlib
import math
from collections.abc import Sequence

import structlog

from controller.domain import limits, names, paging
from controller.domain.errors import (
    EtagMismatch,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ViolationCollector,
)
from controller.domain.model import CommandOp
from controller.domain.scaling import validate
from controller.domain.scaling.model import ServerTemplate
from controller.domain.scaling.records import Activity, GroupRecord
from controller.services.boot import bootable, resolve_boot
from controller.services.ports import CatalogStore, ScalingGroupStore
from controller.services.scaling_checks import check_group
from controller.services.scaling_spec import GroupSpec, check_update_mask
from controller.services.servers import ServerService

log = structlog.get_logger(__name__)

UPDATE_ATTEMPTS = 3  # an update without an etag re-reads a group the autoscaler changed meanwhile


class ScalingGroupService:
    def __init__(self, store: ScalingGroupStore, catalog: CatalogStore, servers: ServerService) -> None:
        self._store = store
        self._catalog = catalog
        self._servers = servers

    async def create(self, parent: str, group_id: str, spec: GroupSpec, request_id: str) -> GroupRecord:
        v = ViolationCollector()
        project = v.check(lambda: names.parse_project(parent, "parent"))
        limits.check_request_id(v, request_id)
        try:
            group = check_group(spec, project, group_id)
        except InvalidArgument as exc:
            v.violations.extend(exc.violations)
        v.raise_if_any()
        if request_id:
            existing = await self._store.by_request_id(project, request_id)
            if existing is not None:
                return existing  # a retry of a create that already happened (AIP-155)
        await self._check_template(group.template)
        return await self._store.create(group, request_id or None)

    async def _check_template(self, t: ServerTemplate) -> None:
        """What CreateServer would refuse for every member: an unknown flavor or image
        (NOT_FOUND), an image that cannot boot or a flavor too small for it (FAILED_PRECONDITION)."""
        flavor, image = await bootable(self._catalog, t.flavor_id, t.image_id)
        await resolve_boot(self._catalog, image, flavor)

    async def get(self, name: str) -> GroupRecord:
        return await self._store.get(*names.parse_scaling_group(name))

    async def list(self, parent: str, page_size: int, page_token: str) -> tuple[list[GroupRecord], str]:
        project = names.parse_project(parent)
        return await paging.fetch_page(
            page_size,
            page_token,
            f"scaling_groups|{project}",
            lambda after, limit: self._store.list(project, after=after, limit=limit),
            lambda r: r.group.id,
        )

    async def update(self, name: str, spec: GroupSpec, paths: Sequence[str], etag: str) -> GroupRecord:
        """Replace the fields named in `paths` (a desired size set here is honoured as
        SetDesiredSize's is; one left out is brought within new bounds). With an etag, only
        the group at that version is changed; without one, the latest."""
        v = ViolationCollector()
        project = group_id = ""
        try:
            project, group_id = names.parse_scaling_group(name, "scaling_group.name")
        except InvalidArgument as exc:
            v.violations.extend(exc.violations)
        chosen, bad = check_update_mask(paths)
        for field_name, description in bad:
            v.add(field_name, description)
        v.raise_if_any()
        for attempt in range(UPDATE_ATTEMPTS):
            current = await self._store.get(project, group_id)
            if current.deleting:
                raise FailedPrecondition(
                    f"{current.group.name} is being deleted", reason="SCALING_GROUP_DELETING"
                )
            version = current.group.version
            if etag and etag != str(version):
                raise EtagMismatch(current.group.name, etag, str(version))
            group = check_group(spec, project, group_id, base=current.group, paths=chosen)
            if "template" in chosen:
                await self._check_template(group.template)
            try:
                return await self._store.update(
                    group, version=version, manual_desired="desired_size" in chosen
                )
            except EtagMismatch:
                if etag or attempt == UPDATE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def delete(self, name: str, etag: str, keep_members: bool) -> None:
        """keep_members: the members stay as ordinary servers (one transaction). Otherwise
        the group is marked deleting (the autoscaler leaves it, no member can join), every live
        member is deleted as DeleteServer would, then the group goes; a delete interrupted
        midway is finished by the next one."""
        project, group_id = names.parse_scaling_group(name)
        if keep_members:
            kept = await self._store.delete_keeping_members(project, group_id, etag)
            log.info("scaling_group.deleted", group=name, kept_members=len(kept))
            return
        members = await self._store.begin_delete(project, group_id, etag)
        for server_id in members:
            with contextlib.suppress(NotFound):  # deleted meanwhile
                await self._servers.act(names.server_name(project, server_id), CommandOp.DELETE, "")
        await self._store.finish_delete(project, group_id)
        log.info("scaling_group.deleted", group=name, deleted_members=len(members))

    async def set_desired_size(self, name: str, desired: int) -> GroupRecord:
        """FAILED_PRECONDITION outside the group's [min_size, max_size]: the same request
        succeeds once the bounds allow it (AIP-193); a size no group can have is INVALID_ARGUMENT."""
        v = ViolationCollector()
        project = group_id = ""
        try:
            project, group_id = names.parse_scaling_group(name)
        except InvalidArgument as exc:
            v.violations.extend(exc.violations)
        validate.check_size(v, "desired_size", desired)
        v.raise_if_any()
        return await self._store.set_desired(project, group_id, desired)

    async def record_metric(self, name: str, metric: str, value: float, member: str) -> None:
        v = ViolationCollector()
        project = group_id = member_id = ""
        try:
            project, group_id = names.parse_scaling_group(name)
        except InvalidArgument as exc:
            v.violations.extend(exc.violations)
        if (problem := validate.check_metric(metric, custom_only=True)) is not None:
            v.add("metric", problem)
        if not math.isfinite(value):
            v.add("value", f"must be a finite number, got {value}")
        if member:
            try:
                member_project, member_id = names.parse_server(member, "member")
                if project and member_project != project:
                    v.add("member", f"must be a server of projects/{project}, got {member!r}")
            except InvalidArgument as exc:
                v.violations.extend(exc.violations)
        v.raise_if_any()
        await self._store.record_metric(project, group_id, metric, member_id, value)

    async def list_activities(
        self, name: str, page_size: int, page_token: str
    ) -> tuple[builtins.list[Activity], str]:
        project, group_id = names.parse_scaling_group(name)

        async def fetch(after: str | None, limit: int) -> builtins.list[Activity]:
            if after is not None and not after.isdigit():
                raise InvalidArgument.single(
                    "page_token", "not a token this API returned: pass next_page_token unchanged"
                )
            before = int(after) if after is not None else None
            return await self._store.list_activities(project, group_id, before=before, limit=limit)

        return await paging.fetch_page(
            page_size, page_token, f"scaling_activities|{project}|{group_id}", fetch, lambda a: str(a.id)
        )
