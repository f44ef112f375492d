"""The filter language of ListServers / WatchServers: what each filter means (its canonical
form and which servers it matches), and what each mistake is told, with its position."""

from __future__ import annotations

import dataclasses

import pytest
from scheduler_testkit import pending

from controller.domain import resume_tokens, server_filter
from controller.domain.errors import InvalidArgument, OutOfRange
from controller.domain.model import VmState
from controller.domain.resume_tokens import ResumePoint

WEB = dataclasses.replace(
    pending(1, vm_state=VmState.ACTIVE, task_state=None),
    server_id="web-1",
    host_id="h1",
    metadata={"env": "prod", "sim.cpu": "0.5"},
    scaling_group="asg",
    server_group="grp",
)
DB = dataclasses.replace(pending(2), server_id="db-1", metadata={"env": "dev"})  # BUILDING, no host

# filter → canonical form, matches WEB, matches DB
MEANINGS = [
    ("", "", True, True),
    ("vm_state = ACTIVE", 'vm_state = "ACTIVE"', True, False),
    ("vm_state=VM_STATE_BUILDING", 'vm_state = "BUILDING"', False, True),
    ("vm_state != ACTIVE", 'NOT vm_state = "ACTIVE"', False, True),
    ('host = "hosts/h1"', 'host = "h1"', True, False),
    ("-host = h1", 'NOT host = "h1"', False, True),  # no host is "not h1"
    ("name = web-*", 'name = "web-*"', True, False),
    ('name = "projects/demo/servers/db-*"', 'name = "db-*"', False, True),
    ("name = *", 'name = "*"', True, True),
    ("name = web-1", 'name = "web-1"', True, False),
    ("metadata.env = prod", 'metadata.env = "prod"', True, False),
    ("metadata:sim.cpu", "metadata.sim.cpu:*", True, False),
    ("metadata.env:*", "metadata.env:*", True, True),
    ("NOT metadata.env = 'prod'", 'NOT metadata.env = "prod"', False, True),
    ("scaling_group = projects/demo/scalingGroups/asg", 'scaling_group = "asg"', True, False),
    ("server_group = grp", 'server_group = "grp"', True, False),
    # OR binds tighter than AND (AIP-160)
    (
        "vm_state = ERROR AND host = h1 OR name = db-1",
        'vm_state = "ERROR" AND (host = "h1" OR name = "db-1")',
        False,
        False,
    ),
    (
        "(vm_state = ERROR AND host = h1) OR name = db-1",
        '(vm_state = "ERROR" AND host = "h1") OR name = "db-1"',
        False,
        True,
    ),
    (
        "NOT (vm_state = ACTIVE OR metadata.env = dev)",
        'NOT (vm_state = "ACTIVE" OR metadata.env = "dev")',
        False,
        False,
    ),
]


@pytest.mark.parametrize(("text", "canonical", "web", "db"), MEANINGS)
def test_what_a_filter_means(text: str, canonical: str, web: bool, db: bool) -> None:
    e = server_filter.parse(text, project="demo")
    assert str(e) == canonical
    assert (server_filter.matches(e, WEB), server_filter.matches(e, DB)) == (web, db)
    # The canonical form is a filter meaning the same (tokens carry its fingerprint).
    assert server_filter.parse(canonical, project="demo") == e


# filter → what the violation says (field "filter", "at character N: ...")
MISTAKES = [
    ("state = ACTIVE", "at character 1: unknown field 'state': filter on vm_state, host"),
    ("vm_state = RUNNING", "at character 12: vm_state is one of BUILDING, ACTIVE"),
    ("vm_state = ACTIVE host = h1", "at character 19: expected AND or OR before 'host'"),
    ("vm_state > ACTIVE", "at character 10: > is not supported: use =, != or :"),
    ("(vm_state = ACTIVE", "at character 19: expected ')'"),
    ("vm_state = ACTIVE)", "at character 18: unmatched ')'"),
    ("vm_state =", "at character 11: expected a value after vm_state ="),
    ("vm_state = ACTIVE AND", "at character 22: expected a field"),
    ('name = "web', "at character 8: unterminated string"),
    ("name = *web", "is not a valid id (* only at the end of a name, as a prefix)"),
    ("host = h*", "is not a valid id"),
    (
        "scaling_group = projects/other/scalingGroups/g",
        "is not a name of the form 'projects/demo/scalingGroups/{id}'",
    ),
    ("host : h1", "':' (has) is for metadata"),
    ("metadata = x", "compare one key: metadata.KEY = VALUE"),
    ("vm_state = AND", "expected a value after vm_state =, got AND"),
    ("name = a; DROP TABLE instances", "at character 8: 'a;' is not a valid id"),
    ("((((((((((vm_state = ACTIVE))))))))))", "nested deeper than 8"),
    (" AND ".join(["vm_state = ACTIVE"] * 51), "at most 50 restrictions"),
    ("x" * 2001, "at most 2000 characters"),
    ("metadata.env = a\x00b", "at character 17: NUL is not allowed"),
]


@pytest.mark.parametrize(("text", "says"), MISTAKES)
def test_a_mistake_is_told_where_and_what_to_write(text: str, says: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        server_filter.parse(text, project="demo")
    (violation,) = caught.value.violations
    assert violation.field == "filter"
    assert says in violation.description


@pytest.mark.parametrize(
    ("text", "key", "desc"),
    [
        ("", "name", False),
        ("name", "name", False),
        ("name desc", "name", True),
        ("create_time  asc", "create_time", False),
    ],
)
def test_orders(text: str, key: str, desc: bool) -> None:
    assert server_filter.parse_order(text) == server_filter.Order(key, desc)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["update_time", "name descending", "name desc extra", "-name"])
def test_unsupported_orders_name_the_supported_ones(text: str) -> None:
    with pytest.raises(InvalidArgument, match="order by one of 'name', 'name desc', 'create_time'"):
        server_filter.parse_order(text)


def test_resume_tokens_round_trip_and_are_refused_when_foreign_or_too_old() -> None:
    point = ResumePoint("100:105:101,103", 1000.0)
    token = resume_tokens.encode(point, 'vm_state = "ACTIVE"')
    assert resume_tokens.decode(token, 'vm_state = "ACTIVE"', now=1001.0) == point
    with pytest.raises(InvalidArgument, match="another filter"):
        resume_tokens.decode(token, "", now=1001.0)
    with pytest.raises(OutOfRange, match="list the servers again") as caught:
        resume_tokens.decode(token, 'vm_state = "ACTIVE"', now=1000.0 + resume_tokens.RESUME_WINDOW_S + 1)
    assert caught.value.reason == "RESUME_TOKEN_EXPIRED"
    for bad in ["", "garbage", "e30", resume_tokens.encode(ResumePoint("5:3:", 1000.0), "")]:
        with pytest.raises(InvalidArgument, match="pass resume_token unchanged"):
            resume_tokens.decode(bad, "", now=1001.0)


@pytest.mark.parametrize(
    ("snapshot", "ok"),
    [
        ("1:1:", True),
        ("10:20:11,15", True),
        ("10:20:15,11", False),
        ("10:20:25", False),
        ("0:1:", False),
        ("1:2:x", False),
        ("99999999999999999999:1:", False),
    ],
)
def test_only_snapshots_postgresql_accepts_reach_it(snapshot: str, ok: bool) -> None:
    assert resume_tokens.check_snapshot(snapshot) is ok
