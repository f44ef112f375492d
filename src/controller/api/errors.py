"""Failures of an RPC → gRPC status with rich details (google.rpc BadRequest, ErrorInfo,
RetryInfo). The one mapping every handler goes through (`unary`, `streaming`, the agent
gateway's stream):

- a domain error → its code (`_CODES`), with BadRequest field violations for bad input;
- an outage of PostgreSQL, RabbitMQ or an agent (`controller.api.outages`) → UNAVAILABLE, with
  a message naming what is unreachable, `RetryInfo` and the `grpc-retry-pushback-ms` trailer
  (gRPC's own retry policy waits that long before its next attempt), logged as
  `api.unavailable` at most once per dependency every few seconds (an outage fails every
  call; its log need not say so every time);
- a call shed by admission control (`controller.api.admission`) → RESOURCE_EXHAUSTED with
  RetryInfo (`overloaded_status`), before its handler runs;
- anything else is a bug → INTERNAL, logged once with its traceback as `api.bug` and an
  `error_id` the status carries, so a report can be matched with the log.
An exception group (a TaskGroup's) is judged by its members: a bug among them is a bug, else
an outage among them is an outage, else its first domain error decides.

A status travels in trailing metadata, which gRPC clients refuse past 8 KiB by default (16 KiB
at most): the whole call then fails `RESOURCE_EXHAUSTED` "received metadata size exceeds
limit" and the caller never reads the answer. A message or violation that quotes what the
caller sent (a 100,000-character id) is clipped (`clip`), and a request with many violations
reports the first ones that fit and how many more there are.
"""

from __future__ import annotations

import collections
import functools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

import grpc
import structlog
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from controller.api import outages
from controller.domain import errors
from daemon.supervision import describe

log = structlog.get_logger(__name__)

DOMAIN = "overcast.dev"
PUSHBACK_KEY = "grpc-retry-pushback-ms"  # gRPC's retry design (A6): server pushback
RETRY_AFTER_S = 1.0  # UNAVAILABLE from a domain error (a disconnected agent...)

# The context of a unary or server-streaming handler: the request is its argument and responses
# are returned or yielded, never read or written through the context, so their types don't matter.
Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]

_CODES: dict[type[errors.DomainError], tuple[grpc.StatusCode, int]] = {
    errors.InvalidArgument: (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT),
    errors.NotFound: (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND),
    errors.AlreadyExists: (grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS),
    errors.FailedPrecondition: (grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION),
    errors.OutOfRange: (grpc.StatusCode.OUT_OF_RANGE, code_pb2.OUT_OF_RANGE),
    errors.EtagMismatch: (grpc.StatusCode.ABORTED, code_pb2.ABORTED),
    errors.Unavailable: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE),
    errors.DeadlineExceeded: (grpc.StatusCode.DEADLINE_EXCEEDED, code_pb2.DEADLINE_EXCEEDED),
}


# Bytes of UTF-8, before gRPC's encoding (grpc-message percent-encodes what is not printable
# ASCII, up to 3 bytes for one; grpc-status-details-bin is base64): the worst case stays
# under the clients' 8 KiB.
MAX_MESSAGE_BYTES = 600
MAX_VIOLATIONS_BYTES = 2000
MAX_FIELD_BYTES = 100
MAX_DESCRIPTION_BYTES = 300
MAX_INFO_VALUE_BYTES = 200


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, saying how much was cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    kept = data[: max(limit - 32, 0)].decode(errors="ignore")
    return f"{kept}… ({len(data) - len(kept.encode())} bytes more)"


def _violations(exc: errors.InvalidArgument) -> tuple[list[error_details_pb2.BadRequest.FieldViolation], int]:
    """The violations that fit, and how many were left out."""
    kept: list[error_details_pb2.BadRequest.FieldViolation] = []
    size = 0
    for i, v in enumerate(exc.violations):
        field = clip(v.field, MAX_FIELD_BYTES)
        description = clip(v.description, MAX_DESCRIPTION_BYTES)
        size += len(field.encode()) + len(description.encode())
        if size > MAX_VIOLATIONS_BYTES:
            return kept, len(exc.violations) - i
        kept.append(error_details_pb2.BadRequest.FieldViolation(field=field, description=description))
    return kept, 0


class Status(
    collections.namedtuple("Status", ("code", "details", "trailing_metadata")),
    grpc.Status,  # what ServicerContext.abort_with_status takes
):
    pass


def _status(
    code: int, message: str, details: Sequence[Message], *, retry_after_s: float | None = None
) -> Status:
    packed = []
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        packed.append(a)
    if retry_after_s is not None:
        a = any_pb2.Any()
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round(retry_after_s * 1000))
        a.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        packed.append(a)
    message = clip(message, MAX_MESSAGE_BYTES)
    base = rpc_status.to_status(status_pb2.Status(code=code, message=message, details=packed))
    trailing = tuple(base.trailing_metadata)
    if retry_after_s is not None:
        trailing += ((PUSHBACK_KEY, str(round(retry_after_s * 1000))),)
    return Status(base.code, base.details, trailing)


def to_status(exc: errors.DomainError) -> Status:
    code = next(
        (c for cls, c in _CODES.items() if isinstance(exc, cls)),
        (grpc.StatusCode.INTERNAL, code_pb2.INTERNAL),
    )[1]
    details: list[Message] = []
    message = exc.message
    if isinstance(exc, errors.InvalidArgument):
        violations, left_out = _violations(exc)
        details.append(error_details_pb2.BadRequest(field_violations=violations))
        if left_out:
            shown = "; ".join(f"{v.field}: {v.description}" for v in violations)
            message = f"{clip(shown, MAX_MESSAGE_BYTES - 60)} (and {left_out} more violations)"
    metadata = {clip(k, MAX_FIELD_BYTES): clip(v, MAX_INFO_VALUE_BYTES) for k, v in exc.metadata.items()}
    details.append(error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN, metadata=metadata))
    retry = RETRY_AFTER_S if code == code_pb2.UNAVAILABLE else None
    return _status(code, message, details, retry_after_s=retry)


def unavailable_status(dependency: outages.Dependency, exc: BaseException) -> Status:
    message = (
        f"the controller could not complete the call: {dependency.name} is unreachable or "
        f"failing ({describe(exc)}). Retry in {dependency.retry_after_s:g} s; a create retried "
        "with the same request_id is never carried out twice"
    )
    info = error_details_pb2.ErrorInfo(reason=dependency.reason, domain=DOMAIN)
    return _status(code_pb2.UNAVAILABLE, message, [info], retry_after_s=dependency.retry_after_s)


def overloaded_status(message: str, why: str, retry_after_s: float) -> Status:
    """RESOURCE_EXHAUSTED for a call shed before its handler ran (`controller.api.admission`):
    ErrorInfo `OVERLOADED` (what was full in its metadata), RetryInfo and the pushback trailer."""
    info = error_details_pb2.ErrorInfo(reason="OVERLOADED", domain=DOMAIN, metadata={"full": why})
    return _status(code_pb2.RESOURCE_EXHAUSTED, message, [info], retry_after_s=retry_after_s)


def internal_status(method: str, error_id: str) -> Status:
    message = (
        f"internal error in {method}: a bug in the controller, logged as api.bug with "
        f"error_id={error_id} (please report it)"
    )
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN, metadata={"error_id": error_id})
    return _status(code_pb2.INTERNAL, message, [info])


class OutageLog:
    """`api.unavailable` at most once per dependency every `every_s` seconds, with the number
    of calls it failed since the last line."""

    def __init__(self, every_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every_s = every_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._failed: collections.Counter[str] = collections.Counter()

    def note(self, dependency: outages.Dependency, method: str, exc: BaseException) -> bool:
        """Count a call failed by an outage; True when a line was logged for it."""
        self._failed[dependency.reason] += 1
        now = self._clock()
        last = self._last.get(dependency.reason)
        if last is not None and now - last < self._every_s:
            return False
        self._last[dependency.reason] = now
        calls = self._failed.pop(dependency.reason)
        log.warning(
            "api.unavailable", dependency=dependency.name, method=method, calls=calls, error=describe(exc)
        )
        return True


OUTAGES = OutageLog()


def failure_status(exc: BaseException, method: str, **context: str) -> Status:
    """The status a call that failed with `exc` ends with (see the module docstring); logs
    what needs logging. `context` goes into the log lines (an agent stream's host...)."""
    found = list(outages.leaves(exc))
    bugs = [e for e in found if not isinstance(e, errors.DomainError) and outages.outage_of(e) is None]
    if bugs:
        error_id = uuid.uuid4().hex[:12]
        log.error(
            "api.bug", method=method, error_id=error_id, error=describe(bugs[0]), exc_info=exc, **context
        )
        return internal_status(method, error_id)
    for e in found:
        dependency = outages.outage_of(e)
        if dependency is not None:
            OUTAGES.note(dependency, method, e)
            return unavailable_status(dependency, e)
    return to_status(next(e for e in found if isinstance(e, errors.DomainError)))


def _passes_through(exc: BaseException) -> bool:
    # The handler's own ctx.abort(...): the status is set already.
    return isinstance(exc, grpc.aio.AbortError)


Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def unary(fn: Handler) -> Handler:
    """End the call with `failure_status` of whatever it raised (cancellation passes)."""
    method = fn.__name__

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: Ctx) -> Any:
        try:
            return await fn(self, request, context)
        except Exception as exc:
            if _passes_through(exc):
                raise
            await context.abort_with_status(failure_status(exc, method))

    return wrapper  # type: ignore[return-value]


StreamHandler = TypeVar("StreamHandler", bound=Callable[..., AsyncIterator[Any]])


def streaming(fn: StreamHandler) -> StreamHandler:
    """As `unary`, for a server-streaming handler: a failure after some messages ends the
    stream with its status."""
    method = fn.__name__

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: Ctx) -> Any:
        try:
            async for item in fn(self, request, context):
                yield item
        except Exception as exc:
            if _passes_through(exc):
                raise
            await context.abort_with_status(failure_status(exc, method))

    return wrapper  # type: ignore[return-value]
