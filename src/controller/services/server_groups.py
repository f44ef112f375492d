"""Server group use cases: create, get, list, delete (members are the servers naming the group)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Protocol

from controller.domain import limits, names, paging
from controller.domain.errors import InvalidArgument, ViolationCollector
from controller.domain.requests import RequestIdTaken, RequestRecord
from controller.domain.server_groups import GroupPolicy, ServerGroup, parse_server_group
from controller.services.request_ids import raced, replay

POLICIES = ", ".join(p.value for p in GroupPolicy)
MAX_ZONE = 255


def check_availability_zone(v: ViolationCollector, field: str, zone: str) -> str:
    """A requested zone: any name an agent could report ("" = any zone). A zone no host has
    is accepted: the server then fails with NoValidHost naming the availability zone filter."""
    if len(zone) > MAX_ZONE or not zone.isprintable() or zone != zone.strip():
        v.add(field, f"must be at most {MAX_ZONE} printable characters without surrounding blanks")
    return zone


def check_group_of(v: ViolationCollector, field: str, name: str, project: str) -> str:
    """The id of the server group a new server of `project` joins ("" = none)."""
    if not name:
        return ""
    try:
        group_project, group_id = parse_server_group(name, field)
    except InvalidArgument as exc:
        v.violations.extend(exc.violations)
        return ""
    if project and group_project != project:
        v.add(field, f"must be a server group of projects/{project}, got {name!r}")
        return ""
    return group_id


class ServerGroupStore(Protocol):
    async def create(
        self, group: ServerGroup, request_id: str | None, params: Mapping[str, Any] | None = None
    ) -> ServerGroup:
        """RequestIdTaken when another create has the request id (domain.requests)."""
        ...

    async def find_request(self, project: str, request_id: str) -> RequestRecord | None: ...
    async def get(self, project: str, group_id: str) -> ServerGroup:
        """The group with its members; NotFound if the project has no such group."""
        ...

    async def list(self, project: str, *, after: str | None, limit: int) -> builtins.list[ServerGroup]: ...
    async def delete(self, project: str, group_id: str, etag: str) -> None:
        """NotFound, EtagMismatch, or FailedPrecondition while the group has members."""
        ...


def parse_policy(value: str, field: str) -> GroupPolicy:
    if value in ("", "SERVER_GROUP_POLICY_UNSPECIFIED"):
        raise InvalidArgument.single(field, f"required: one of {POLICIES}")
    try:
        return GroupPolicy(value)
    except ValueError:
        raise InvalidArgument.single(field, f"{value!r} is not one of {POLICIES}") from None


class ServerGroupService:
    def __init__(self, store: ServerGroupStore) -> None:
        self._store = store

    async def create(self, parent: str, group_id: str, policy: str, request_id: str) -> ServerGroup:
        v = ViolationCollector()
        project = v.check(lambda: names.parse_project(parent, "parent"))
        v.check(lambda: names.check_id(group_id, "server_group_id"))
        chosen: GroupPolicy | None = None
        try:
            chosen = parse_policy(policy, "server_group.policy")
        except InvalidArgument as exc:
            v.violations.extend(exc.violations)
        limits.check_request_id(v, request_id)
        v.raise_if_any()
        assert chosen is not None
        # The request's fields, as the request names them.
        given = {"server_group_id": group_id, "server_group.policy": chosen.value}

        async def retry() -> ServerGroup | None:
            return await replay(
                request_id,
                given,
                find=lambda: self._store.find_request(project, request_id),
                made=lambda record: self._store.get(*parse_server_group(record.resource)),
            )

        if (done := await retry()) is not None:
            return done
        try:
            return await self._store.create(ServerGroup(project, group_id, chosen), request_id or None, given)
        except RequestIdTaken:
            return await raced(request_id, retry)

    async def get(self, name: str) -> ServerGroup:
        return await self._store.get(*parse_server_group(name))

    async def list(self, parent: str, page_size: int, page_token: str) -> tuple[list[ServerGroup], str]:
        project = names.parse_project(parent)
        return await paging.fetch_page(
            page_size,
            page_token,
            f"server_groups|{project}",
            lambda after, limit: self._store.list(project, after=after, limit=limit),
            lambda g: g.id,
        )

    async def delete(self, name: str, etag: str) -> None:
        project, group_id = parse_server_group(name)
        await self._store.delete(project, group_id, etag)
