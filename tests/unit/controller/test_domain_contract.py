"""What the domain hands the API edge: enum values that are the proto enums' names (the edge
and the bus convert by name), and errors whose ErrorInfo reasons and messages clients read."""

from __future__ import annotations

import enum

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
from controller.domain.model import CommandOp, HostState, ImageStatus, PowerState, TaskState, VmState
from controller.domain.server_groups import GroupPolicy
from overcast.v1 import agent_pb2, common_pb2, image_pb2, server_group_pb2

PAIRS: list[tuple[type[enum.StrEnum], object]] = [
    (VmState, common_pb2.VmState),
    (TaskState, common_pb2.TaskState),
    (PowerState, common_pb2.PowerState),
    (HostState, common_pb2.HostState),
    (ImageStatus, image_pb2.ImageStatus),
    (CommandOp, agent_pb2.CommandOp),
    (GroupPolicy, server_group_pb2.ServerGroupPolicy),
]


@pytest.mark.parametrize(("domain", "wire"), PAIRS, ids=lambda x: getattr(x, "__name__", ""))
def test_domain_enums_are_the_api_enum_names(domain: type[enum.StrEnum], wire: object) -> None:
    names = set(wire.keys())  # type: ignore[attr-defined]
    unspecified = {n for n in names if n.endswith("_UNSPECIFIED")}
    values = {m.value for m in domain}
    # Every name the API can carry is a value the domain knows, and the other way round; only
    # PowerState gives the unspecified value a meaning (UNKNOWN: no domain to ask).
    assert values == (names if domain is PowerState else names - unspecified)


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
