"""Reading and clearing the outbox, for the relay (on its own leader connection)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from controller.domain.messages import OutboxMessage

CHANNEL = "overcast_outbox"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message: OutboxMessage
    created_at: datetime


async def fetch(conn: asyncpg.Connection, limit: int) -> list[OutboxRow]:
    found = await conn.fetch(
        "SELECT id, kind, message_id, message_type, routing_key, project, resource, payload,"
        " created_at FROM outbox ORDER BY id LIMIT $1",
        limit,
    )
    return [
        OutboxRow(
            r["id"],
            OutboxMessage(
                kind=r["kind"],
                message_type=r["message_type"],
                routing_key=r["routing_key"],
                payload=r["payload"],
                project=r["project"],
                resource=r["resource"],
                message_id=r["message_id"],
            ),
            r["created_at"],
        )
        for r in found
    ]


async def delete(conn: asyncpg.Connection, ids: Sequence[int]) -> None:
    await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", list(ids))
