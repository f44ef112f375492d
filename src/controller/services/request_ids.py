"""Creates under a request id (AIP-155; the rules are domain.requests'): a retry gets what the
first call made, the same id with other parameters is refused, and a retry racing its first
call (both inserting) gets the first one's result too.

A create service calls `replay` before it creates (a retry returns what it returns) and, when
its store raises RequestIdTaken, `raced`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from controller.domain.errors import NotFound, Unavailable
from controller.domain.requests import RequestRecord, check_retry, resource_deleted

T = TypeVar("T")


async def replay(
    request_id: str,
    given: Mapping[str, Any],
    *,
    find: Callable[[], Awaitable[RequestRecord | None]],
    made: Callable[[RequestRecord], Awaitable[T]],
    field_name: Callable[[str], str] = str,
) -> T | None:
    """What the request id already made, as `made(record)` reads it (NotFound: deleted since,
    refused as such); None for a new id (or none); RequestIdReused when `given` differs from
    the first call's parameters."""
    record = await find() if request_id else None
    if record is None:
        return None
    check_retry(request_id, record, given, field_name)
    try:
        return await made(record)
    except NotFound:
        raise resource_deleted(request_id, record) from None


async def raced(request_id: str, retry: Callable[[], Awaitable[T | None]]) -> T:
    """After RequestIdTaken: another create with this id committed first (a client's retry
    racing its first call), so the answer is a retry's."""
    done = await retry()
    if done is None:  # its record purged in between: too rare to do more than ask again
        raise Unavailable(f"request_id {request_id!r} is in use: retry")
    return done
