"""Request ids (AIP-155, as EC2's ClientToken): a create sent again with the same request id
is the same request, answered with what the first one made; the same id with other
parameters is a mistake, refused with ALREADY_EXISTS naming the parameters that differ.

What a request id remembers is its create's parameters: every field of the create's request
but the id itself, compared field by field, so a field added to a request joins the comparison
without more code (and one left at its default compares equal to a request remembered before
the field existed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from controller.domain.errors import AlreadyExists, FailedPrecondition

REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
REQUEST_ID_RESOURCE_DELETED = "REQUEST_ID_RESOURCE_DELETED"


@dataclass(frozen=True)
class RequestRecord:
    """What a request id remembers: what the create made and the parameters it was made with."""

    resource: str  # the name of what the create made
    params: dict[str, Any] | None  # None: remembered before parameters were (migration 0011)
    uid: UUID | None = None  # servers: the instance (a server's name is reused once deleted)


class RequestIdTaken(Exception):
    """A store's create found the request id recorded by another create that committed
    first: the service answers as for a retry."""


def parameters(request: Any, *, ignore: Collection[str] = ("request_id",)) -> dict[str, Any]:
    """A create request's parameters (a dataclass instance) as JSON values: every field but
    `ignore`, mappings as dicts, fields at their default left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(request):
        if f.name in ignore:
            continue
        value = getattr(request, f.name)
        if isinstance(value, Mapping):
            value = dict(value)
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if value == default:
            continue
        out[f.name] = value
    return out


def differing(remembered: Mapping[str, Any] | None, given: Mapping[str, Any]) -> list[str]:
    """The parameters in which `given` differs from the request first sent with the same id
    (sorted); none when that one's were not recorded."""
    if remembered is None:
        return []
    return sorted(k for k in remembered.keys() | given.keys() if remembered.get(k) != given.get(k))


class RequestIdReused(AlreadyExists):
    reason = REQUEST_ID_REUSED

    def __init__(self, request_id: str, resource: str, fields: list[str]) -> None:
        super().__init__(resource)
        self.metadata = {"request_id": request_id, "resource": resource, "fields": ",".join(fields)}
        self.message = (
            f"request_id {request_id!r} was already used to create {resource} with other"
            f" parameters ({', '.join(fields)} differ): a different request needs a new request_id"
        )
        self.args = (self.message,)


def check_retry(
    request_id: str,
    record: RequestRecord,
    given: Mapping[str, Any],
    field_name: Callable[[str], str] = str,
) -> None:
    """Refuse a request that reuses `record`'s id with other parameters (`field_name` turns a
    parameter into the request field a client knows)."""
    fields = differing(record.params, given)
    if fields:
        raise RequestIdReused(request_id, record.resource, sorted(field_name(f) for f in fields))


def resource_deleted(request_id: str, record: RequestRecord) -> FailedPrecondition:
    """A retry whose first request's resource was deleted since (and is not kept, as a deleted
    server is): there is no first result to return."""
    return FailedPrecondition(
        f"request_id {request_id!r} created {record.resource}, which has since been deleted:"
        " to create it again, send a new request_id",
        reason=REQUEST_ID_RESOURCE_DELETED,
    )
