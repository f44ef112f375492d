"""What the domain hands the API edge: errors whose ErrorInfo reasons and messages clients read.
(Its enums meet the proto enums through explicit tables: test_api_enums.py.)"""

from __future__ import annotations

import pytest

from controller.domain.errors import (
    AlreadyExists,
    DeadlineExceeded,
    DomainError,
    EtagMismatch,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unavailable,
    ViolationCollector,
)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (DomainError("x"), "ERROR"),
        (InvalidArgument([FieldViolation("f", "bad")]), "INVALID_ARGUMENT"),
        (NotFound("servers/x"), "NOT_FOUND"),
        (AlreadyExists("servers/x"), "ALREADY_EXISTS"),
        (FailedPrecondition("x"), "FAILED_PRECONDITION"),
        (EtagMismatch("servers/x", "1", "2"), "ETAG_MISMATCH"),
        (Unavailable("x"), "UNAVAILABLE"),
        (DeadlineExceeded("x"), "DEADLINE_EXCEEDED"),
        (FailedPrecondition("x", reason="SERVER_DELETED"), "SERVER_DELETED"),  # a finer reason
    ],
    ids=lambda x: x if isinstance(x, str) else type(x).__name__,
)
def test_each_error_carries_its_error_info_reason(error: DomainError, reason: str) -> None:
    assert error.reason == reason


def test_an_invalid_argument_names_every_field_in_its_message() -> None:
    error = InvalidArgument([FieldViolation("vcpus", "must be positive"), FieldViolation("name", "empty")])
    assert error.message == "vcpus: must be positive; name: empty"
    assert InvalidArgument.single("name", "empty").violations == [FieldViolation("name", "empty")]


def test_a_collector_records_a_failed_check_and_goes_on() -> None:
    v = ViolationCollector()

    def refuse() -> str:
        raise InvalidArgument.single("name", "empty")

    assert v.check(lambda: "web-1") == "web-1"
    assert v.check(refuse) == ""
    v.add("vcpus", "must be positive")
    with pytest.raises(InvalidArgument) as refused:
        v.raise_if_any()
    assert [x.field for x in refused.value.violations] == ["name", "vcpus"]
    ViolationCollector().raise_if_any()  # nothing collected: nothing raised
