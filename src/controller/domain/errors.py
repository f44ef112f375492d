"""Domain errors. The API edge maps each to a gRPC status code; nothing here knows gRPC."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base class: `reason` is a stable UPPER_SNAKE identifier for ErrorInfo, `metadata` the
    ErrorInfo's metadata (what a program needs without parsing the message)."""

    reason = "ERROR"
    metadata: Mapping[str, str] = MappingProxyType({})

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidArgument(DomainError):
    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation], message: str | None = None) -> None:
        self.violations = violations
        text = message or "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(text)

    @classmethod
    def single(cls, field_name: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field_name, description)])


class NotFound(DomainError):
    reason = "NOT_FOUND"

    def __init__(self, resource: str) -> None:
        self.resource = resource
        super().__init__(f"{resource} not found")


class AlreadyExists(DomainError):
    reason = "ALREADY_EXISTS"

    def __init__(self, resource: str) -> None:
        self.resource = resource
        super().__init__(f"{resource} already exists")


class FailedPrecondition(DomainError):
    reason = "FAILED_PRECONDITION"


class OutOfRange(DomainError):
    """Asked for something past what is kept (a watch resume point too old to resume from)."""

    reason = "OUT_OF_RANGE"


class EtagMismatch(DomainError):
    """The caller's etag is stale: re-read the resource and retry (gRPC ABORTED)."""

    reason = "ETAG_MISMATCH"

    def __init__(self, resource: str, given: str, current: str) -> None:
        super().__init__(
            f"{resource} has changed (etag {given!r}, current {current!r}): read it again and retry"
        )


class Unavailable(DomainError):
    reason = "UNAVAILABLE"


class DeadlineExceeded(DomainError):
    """Something the request waits for (an agent's answer) did not come in time."""

    reason = "DEADLINE_EXCEEDED"


@dataclass
class ViolationCollector:
    """Collects every field violation of a request so the caller can fix them all at once."""

    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, field_name: str, description: str) -> None:
        self.violations.append(FieldViolation(field_name, description))

    def check(self, parse: Callable[[], str]) -> str:
        """Run one validation; record its violations instead of stopping at the first."""
        try:
            return parse()
        except InvalidArgument as exc:
            self.violations.extend(exc.violations)
            return ""

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)
