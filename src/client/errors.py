"""Errors raised by the Overcast client: one exception class per gRPC status code.

The controller sends rich error details (AIP-193) in the `grpc-status-details-bin` trailer as a
serialized `google.rpc.Status`; `from_rpc_error` decodes the parts a caller acts on
(`BadRequest` field violations, the `ErrorInfo` reason) for sync and grpc.aio errors alike.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"


class OvercastError(Exception):
    """A failed Overcast API call.

    `code` is the `grpc.StatusCode`, `message` the status message, `field_violations` a list of
    `(field, description)` from a `google.rpc.BadRequest` detail, `reason`/`domain`/`metadata`
    come from a `google.rpc.ErrorInfo` detail when there is one, and `status` is the decoded
    `google.rpc.Status` (None when the server sent no rich details). `retry_delay` is the
    wait in seconds the server asked for before trying again (`google.rpc.RetryInfo`: an
    `Unavailable` from a controller whose database or broker is restarting), else None.
    """

    default_code: Any = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: Any = None,
        field_violations: list[tuple[str, str]] | None = None,
        reason: str = "",
        domain: str = "",
        metadata: dict[str, str] | None = None,
        status: status_pb2.Status | None = None,
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code: Any = code if code is not None else self.default_code
        self.message = message
        self.field_violations: list[tuple[str, str]] = list(field_violations or [])
        self.reason = reason
        self.domain = domain
        self.metadata: dict[str, str] = dict(metadata or {})
        self.status = status
        self.retry_delay = retry_delay

    def __str__(self) -> str:
        if not self.field_violations:
            return self.message
        violations = "; ".join(f"{field}: {desc}" for field, desc in self.field_violations)
        return f"{self.message} ({violations})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code_name}, message={self.message!r})"

    @property
    def code_name(self) -> str:
        return str(getattr(self.code, "name", self.code))


class Cancelled(OvercastError):
    default_code = grpc.StatusCode.CANCELLED


class Unknown(OvercastError):
    default_code = grpc.StatusCode.UNKNOWN


class InvalidArgument(OvercastError):
    default_code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(OvercastError):
    default_code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(OvercastError):
    default_code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(OvercastError):
    default_code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(OvercastError):
    default_code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(OvercastError):
    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(OvercastError):
    default_code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(OvercastError):
    default_code = grpc.StatusCode.ABORTED


class OutOfRange(OvercastError):
    default_code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(OvercastError):
    default_code = grpc.StatusCode.UNIMPLEMENTED


class Internal(OvercastError):
    default_code = grpc.StatusCode.INTERNAL


class Unavailable(OvercastError):
    default_code = grpc.StatusCode.UNAVAILABLE


class DataLoss(OvercastError):
    default_code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(OvercastError):
    default_code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: dict[Any, type[OvercastError]] = {
    cls.default_code: cls
    for cls in (
        Cancelled,
        Unknown,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}


def error_class(code: Any) -> type[OvercastError]:
    """The exception class for a `grpc.StatusCode` (OvercastError for unknown codes)."""
    return _BY_CODE.get(code, OvercastError)


def _call_attr(err: object, name: str) -> Any:
    # grpc.RpcError itself declares nothing; the errors grpc raises are also grpc.Call
    # (sync) or carry the same accessors (grpc.aio.AioRpcError).
    attr = getattr(err, name, None)
    if not callable(attr):
        return None
    try:
        return attr()
    except Exception:  # a half-built error object must not hide the original failure
        return None


def _rich_status(trailing_metadata: Any) -> status_pb2.Status | None:
    if not trailing_metadata:
        return None
    for key, value in trailing_metadata:
        if key != STATUS_DETAILS_KEY:
            continue
        raw = value if isinstance(value, bytes) else str(value).encode()
        try:
            return status_pb2.Status.FromString(raw)
        except DecodeError:
            return None
    return None


def _holds(detail: any_pb2.Any, message: type[Message]) -> bool:
    """Whether `detail` packs a message of type `message`."""
    # types-protobuf gap: Message.DESCRIPTOR is `Descriptor | upb Descriptor` but Any.Is is
    # typed to take only the former; it only reads `.full_name`, which both have.
    return detail.Is(message.DESCRIPTOR)  # type: ignore[arg-type]


def from_status(code: Any, message: str, status: status_pb2.Status | None) -> OvercastError:
    """Build the OvercastError subclass for `code`, decoding the details of `status`."""
    violations: list[tuple[str, str]] = []
    reason = domain = ""
    metadata: dict[str, str] = {}
    retry_delay: float | None = None
    if status is not None:
        if not message:
            message = status.message
        for detail in status.details:
            if _holds(detail, error_details_pb2.BadRequest):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                violations.extend((v.field, v.description) for v in bad_request.field_violations)
            elif _holds(detail, error_details_pb2.ErrorInfo):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
            elif _holds(detail, error_details_pb2.PreconditionFailure):
                failure = error_details_pb2.PreconditionFailure()
                detail.Unpack(failure)
                violations.extend((v.subject or v.type, v.description) for v in failure.violations)
            elif _holds(detail, error_details_pb2.RetryInfo):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_delay = retry.retry_delay.ToTimedelta().total_seconds()
    cls = error_class(code)
    return cls(
        message or getattr(code, "name", "error"),
        code=code,
        field_violations=violations,
        reason=reason,
        domain=domain,
        metadata=metadata,
        status=status,
        retry_delay=retry_delay,
    )


def from_rpc_error(err: BaseException) -> OvercastError:
    """Translate a `grpc.RpcError` (sync or grpc.aio) into the matching OvercastError."""
    if isinstance(err, OvercastError):
        return err
    code = _call_attr(err, "code") or grpc.StatusCode.UNKNOWN
    message = _call_attr(err, "details") or ""
    status = _rich_status(_call_attr(err, "trailing_metadata"))
    return from_status(code, str(message), status)


__all__ = [
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "OvercastError",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "error_class",
    "from_rpc_error",
    "from_status",
]
