"""Request ids in PostgreSQL (the request_ids table, migration 0011): recorded in the same
transaction as what their create makes, found again by a retry, purged a retention period
after what they made was deleted (triggers set `gone_at`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from uuid import UUID

import asyncpg

from controller.domain.requests import RequestIdTaken, RequestRecord
from controller.storage.rows import Conn

Kind = Literal["server", "server_group", "flavor", "image"]


async def remember(
    conn: Conn,
    kind: Kind,
    project: str,
    request_id: str,
    resource: str,
    params: Mapping[str, Any] | None,
    uid: UUID | None = None,
) -> None:
    """Record a create's request id, inside the create's transaction (before what it makes,
    so that a concurrent retry waits for this one and then finds it). RequestIdTaken when
    another create has it; the transaction is then spoilt: the caller lets it roll back."""
    try:
        await conn.execute(
            "INSERT INTO request_ids (kind, project, request_id, resource, uid, params)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            kind,
            project,
            request_id,
            resource,
            uid,
            dict(params) if params is not None else None,
        )
    except asyncpg.UniqueViolationError as exc:
        raise RequestIdTaken(f"{kind} request_id {request_id!r} is taken") from exc


async def find(conn: Conn | asyncpg.Pool, kind: Kind, project: str, request_id: str) -> RequestRecord | None:
    row = await conn.fetchrow(
        "SELECT resource, params, uid FROM request_ids WHERE kind = $1 AND project = $2 AND request_id = $3",
        kind,
        project,
        request_id,
    )
    if row is None:
        return None
    return RequestRecord(row["resource"], row["params"], row["uid"])


async def purge(conn: Conn, retention_s: float) -> int:
    """Forget the request ids whose resource was deleted more than `retention_s` ago."""
    status = await conn.execute(
        "DELETE FROM request_ids WHERE gone_at < now() - make_interval(secs => $1)", retention_s
    )
    return int(status.split()[-1])
