"""ListServers with a filter and an order, and the resume points WatchServers starts from.

Page tokens (AIP-158) carry the last row's key and a fingerprint of the project, the canonical
filter (typed filters included) and the order: a token used with another query is refused. Every
page of one listing also carries the first page's snapshot, returned as the listing's
`resume_token` (a watch resumed from it sends what changed since the listing began).
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from controller.domain import names, paging, resume_tokens, server_filter
from controller.domain.errors import InvalidArgument, ViolationCollector
from controller.domain.limits import check_page_size
from controller.domain.model import Instance, VmState
from controller.domain.resume_tokens import ResumePoint
from controller.domain.server_filter import Compare, Expr, Order


class ChangedServers(Protocol):
    snapshot: str  # the snapshot the changes were read at: the resume point after them
    future: bool  # the given snapshot is ahead of the database's (not one of its tokens)
    pages: AsyncIterator[list[Instance]]


class ServerListingStore(Protocol):
    async def page(
        self, project: str, where: Expr, order: Order, after: tuple[str, datetime | None] | None, limit: int
    ) -> tuple[list[Instance], str | None]: ...

    async def snapshot(self) -> str: ...

    def changes_since(self, project: str, snapshot: str) -> AbstractAsyncContextManager[ChangedServers]: ...


@dataclass(frozen=True)
class ListQuery:
    parent: str
    page_size: int = 0
    page_token: str = ""
    filter: str = ""
    order_by: str = ""
    vm_state: VmState | None = None  # the typed filters of ListServersRequest
    host: str = ""
    scaling_group: str = ""


@dataclass(frozen=True)
class Page:
    servers: list[Instance]
    next_page_token: str
    resume_token: str


class ServerListing:
    def __init__(self, store: ServerListingStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def list(self, q: ListQuery) -> Page:
        v = ViolationCollector()
        project = v.check(lambda: names.parse_project(q.parent, "parent"))
        where = _filter(v, q, project)
        order = _order(v, q.order_by)
        size = check_page_size(v, q.page_size)
        v.raise_if_any()
        scope = f"servers|{project}|{where}|{order}"
        after: tuple[str, datetime | None] | None = None
        resume: ResumePoint | None = None
        if q.page_token:
            after, resume = _key(paging.decode(q.page_token, scope) or "")
        read_at = self._clock()  # before the read: a token never looks younger than its snapshot
        found, snapshot = await self._store.page(project, where, order, after, size + 1)
        if snapshot is not None:
            resume = ResumePoint(snapshot, read_at)
        assert resume is not None
        page = found[:size]
        token = ""
        if len(found) > size:
            last = page[-1]
            created = last.created_at.isoformat() if order.key == "create_time" and last.created_at else None
            key = json.dumps([last.server_id, created, resume.snapshot, resume.at])
            token = paging.encode(key, scope)
        return Page(page, token, resume_tokens.encode(resume, str(where)))

    def watch_filter(self, parent: str, text: str) -> tuple[str, Expr]:
        """A watch's project and filter."""
        v = ViolationCollector()
        project = v.check(lambda: names.parse_project(parent, "parent"))
        where: Expr = server_filter.EVERYTHING
        try:
            where = server_filter.parse(text, project=project)
        except InvalidArgument as exc:
            v.violations.extend(exc.violations)
        v.raise_if_any()
        return project, where

    def resume_point(self, token: str, where: Expr) -> ResumePoint:
        return resume_tokens.decode(token, str(where), self._clock())

    def token(self, snapshot: str, where: Expr, at: float | None = None) -> str:
        """The resume token of `snapshot`, read at `at` (now when not given): the time is what
        the resume window is measured from, so a token never looks younger than its snapshot."""
        return resume_tokens.encode(ResumePoint(snapshot, self._clock() if at is None else at), str(where))

    def now(self) -> float:
        return self._clock()

    async def snapshot(self) -> str:
        return await self._store.snapshot()

    async def first_page(self, project: str, where: Expr, size: int) -> tuple[builtins.list[Instance], str]:
        """The first page of a watch's snapshot, and the snapshot it was read at."""
        found, snapshot = await self._store.page(project, where, Order(), None, size)
        assert snapshot is not None
        return found, snapshot

    async def next_page(self, project: str, where: Expr, after: str, size: int) -> builtins.list[Instance]:
        found, _ = await self._store.page(project, where, Order(), (after, None), size)
        return found

    def changes_since(self, project: str, snapshot: str) -> AbstractAsyncContextManager[ChangedServers]:
        return self._store.changes_since(project, snapshot)


def _filter(v: ViolationCollector, q: ListQuery, project: str) -> Expr:
    typed: list[Expr] = []
    if q.vm_state is VmState.DELETED:
        v.add(
            "vm_state",
            "deleted servers are not listed; their instance.delete.end events on the bus "
            "and WatchServers report deletions",
        )
    elif q.vm_state is not None:
        typed.append(Compare("vm_state", "=", q.vm_state.value))
    if q.host:
        typed.append(Compare("host", "=", v.check(lambda: names.parse_host(q.host, "host"))))
    if q.scaling_group:
        group_id = ""
        try:
            group_project, group_id = names.parse_scaling_group(q.scaling_group, "scaling_group")
            if project and group_project != project:
                v.add(
                    "scaling_group", f"must be a scaling group of projects/{project}, got {q.scaling_group!r}"
                )
        except InvalidArgument as exc:
            v.violations.extend(exc.violations)
        if group_id:
            typed.append(Compare("scaling_group", "=", group_id))
    try:
        parsed = server_filter.parse(q.filter, project=project)
    except InvalidArgument as exc:
        v.violations.extend(exc.violations)
        parsed = server_filter.EVERYTHING
    return server_filter.conjoin(*typed, parsed)


def _order(v: ViolationCollector, text: str) -> Order:
    try:
        return server_filter.parse_order(text)
    except InvalidArgument as exc:
        v.violations.extend(exc.violations)
        return Order()


def _key(raw: str) -> tuple[tuple[str, datetime | None], ResumePoint]:
    """The keyset and resume point a page token carries (its fingerprint already checked)."""
    try:
        last_id, created, snapshot, at = json.loads(raw)
        after = (str(last_id), datetime.fromisoformat(created) if created else None)
        if not resume_tokens.check_snapshot(snapshot):
            raise ValueError(snapshot)
        return after, ResumePoint(snapshot, float(at))
    except (ValueError, TypeError) as exc:
        raise InvalidArgument.single(
            "page_token", "not a token this API returned: pass next_page_token unchanged"
        ) from exc
