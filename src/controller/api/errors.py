"""Domain errors → gRPC status with rich details (google.rpc.BadRequest, ErrorInfo)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import grpc
import structlog
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from controller.domain import errors

log = structlog.get_logger(__name__)

DOMAIN = "overcast.dev"

# The context of a unary or server-streaming handler: the request is its argument and responses
# are returned or yielded, never read or written through the context, so their types don't matter.
Ctx: TypeAlias = grpc.aio.ServicerContext[Any, Any]

_CODES: dict[type[errors.DomainError], tuple[grpc.StatusCode, int]] = {
    errors.InvalidArgument: (grpc.StatusCode.INVALID_ARGUMENT, code_pb2.INVALID_ARGUMENT),
    errors.NotFound: (grpc.StatusCode.NOT_FOUND, code_pb2.NOT_FOUND),
    errors.AlreadyExists: (grpc.StatusCode.ALREADY_EXISTS, code_pb2.ALREADY_EXISTS),
    errors.FailedPrecondition: (grpc.StatusCode.FAILED_PRECONDITION, code_pb2.FAILED_PRECONDITION),
    errors.EtagMismatch: (grpc.StatusCode.ABORTED, code_pb2.ABORTED),
    errors.Unavailable: (grpc.StatusCode.UNAVAILABLE, code_pb2.UNAVAILABLE),
    errors.DeadlineExceeded: (grpc.StatusCode.DEADLINE_EXCEEDED, code_pb2.DEADLINE_EXCEEDED),
}


def to_status(exc: errors.DomainError) -> Any:
    code = next(
        (c for cls, c in _CODES.items() if isinstance(exc, cls)),
        (grpc.StatusCode.INTERNAL, code_pb2.INTERNAL),
    )[1]
    details: list[Message] = []
    if isinstance(exc, errors.InvalidArgument):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in exc.violations
            ]
        )
        details.append(bad)
    details.append(error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN, metadata=dict(exc.metadata)))
    packed = []
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        packed.append(a)
    return rpc_status.to_status(status_pb2.Status(code=code, message=exc.message, details=packed))


Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def unary(fn: Handler) -> Handler:
    """Turn domain errors into statuses; anything else is a bug, logged and INTERNAL."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: Ctx) -> Any:
        try:
            return await fn(self, request, context)
        except errors.DomainError as exc:
            await context.abort_with_status(to_status(exc))
        except Exception:
            log.exception("api.bug", method=fn.__name__)
            raise

    return wrapper  # type: ignore[return-value]


StreamHandler = TypeVar("StreamHandler", bound=Callable[..., AsyncIterator[Any]])


def streaming(fn: StreamHandler) -> StreamHandler:
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: Ctx) -> Any:
        try:
            async for item in fn(self, request, context):
                yield item
        except errors.DomainError as exc:
            await context.abort_with_status(to_status(exc))

    return wrapper  # type: ignore[return-value]
