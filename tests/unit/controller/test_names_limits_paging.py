"""Request validation a client meets first: resource names (AIP-122), size limits, and page
tokens (AIP-158)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from controller.domain import limits, names, paging
from controller.domain.errors import InvalidArgument, ViolationCollector
from controller.domain.server_groups import (
    GroupPolicy,
    ServerGroup,
    group_key,
    parse_server_group,
    server_group_name,
)


def ident(x: object) -> str:
    """Readable, stable test ids: a function's name, a short repr of anything else."""
    return getattr(x, "__name__", None) or repr(x)[:30]


LONGEST = "a" * 63
TOO_LONG = "a" * 64


def violation(parse: Callable[[], object]) -> tuple[str, str]:
    """The one field violation `parse` raises."""
    with pytest.raises(InvalidArgument) as excinfo:
        parse()
    (v,) = excinfo.value.violations
    return v.field, v.description


# ---- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "name", "expected"),
    [
        (names.parse_project, "projects/acme", "acme"),
        (names.parse_project, f"projects/{LONGEST}", LONGEST),
        (names.parse_project, "projects/a", "a"),
        (names.parse_server, "projects/acme/servers/web-1", ("acme", "web-1")),
        (names.parse_server, f"projects/p0/servers/{LONGEST}", ("p0", LONGEST)),
        (names.parse_flavor, "flavors/m1.small", "m1.small"),
        (names.parse_flavor, "flavors/2xlarge", "2xlarge"),
        (names.parse_image, "images/debian_12", "debian_12"),
        (names.parse_host, "hosts/Node-01.example", "Node-01.example"),
    ],
    ids=ident,
)
def test_good_names_parse(parse: Callable[[str], object], name: str, expected: object) -> None:
    assert parse(name) == expected


@pytest.mark.parametrize(
    ("parse", "name"),
    [
        # empty or truncated
        (names.parse_project, ""),
        (names.parse_project, "projects/"),
        (names.parse_server, "projects/acme/servers/"),
        (names.parse_server, "projects//servers/web"),
        (names.parse_host, "hosts/"),
        # wrong collection
        (names.parse_project, "project/acme"),
        (names.parse_server, "projects/acme/flavors/web"),
        (names.parse_server, "Projects/acme/servers/web"),
        (names.parse_flavor, "images/m1.small"),
        (names.parse_image, "flavors/debian"),
        (names.parse_host, "servers/h1"),
        # extra or missing segments
        (names.parse_project, "projects/acme/servers/web"),
        (names.parse_server, "projects/acme/servers/web/extra"),
        (names.parse_server, "projects/acme/servers/web/"),
        (names.parse_server, "/projects/acme/servers/web"),
        (names.parse_server, "servers/web"),
        (names.parse_flavor, "flavors/m1/small"),
        # bad ids
        (names.parse_project, "projects/Acme"),
        (names.parse_server, "projects/acme/servers/Web"),
        (names.parse_server, "projects/acme/servers/1web"),
        (names.parse_server, "projects/acme/servers/web-"),
        (names.parse_server, "projects/acme/servers/web_1"),
        (names.parse_server, "projects/acme/servers/web.1"),
        (names.parse_server, "projects/acme/servers/we b"),
        (names.parse_flavor, "flavors/M1.small"),
        (names.parse_flavor, "flavors/.hidden"),
        (names.parse_image, "images/debian-"),
        (names.parse_host, "hosts/-h1"),
        # too long
        (names.parse_project, f"projects/{TOO_LONG}"),
        (names.parse_server, f"projects/acme/servers/{TOO_LONG}"),
        (names.parse_flavor, f"flavors/{TOO_LONG}"),
        (names.parse_image, f"images/{TOO_LONG}"),
        (names.parse_host, f"hosts/{TOO_LONG}"),
    ],
    ids=ident,
)
def test_malformed_names_are_refused_on_the_given_field(parse: Callable[..., object], name: str) -> None:
    field, description = violation(lambda: parse(name, "some_field"))
    assert field == "some_field"
    assert description  # says what a valid name looks like


@pytest.mark.parametrize(
    "host_id",
    [
        "rack-1/node-2",  # would make hosts/rack-1/node-2, a name no one could parse back
        "node-1.",  # a trailing dot (a fully qualified domain name's): not the host's name
        ".node-1",
        "node-1-",
        "node_1_",
        "node 1",
        "node-1\n",
        "",
        TOO_LONG,
    ],
    ids=repr,
)
def test_a_host_registering_with_a_malformed_id_is_told_what_a_valid_one_is(host_id: str) -> None:
    field, description = violation(lambda: names.check_host_id(host_id, "register.inventory.host_id"))
    assert field == "register.inventory.host_id"
    assert repr(host_id) in description
    assert "letters, digits, '.', '_' and '-', starting and ending with a letter or digit" in description


@pytest.mark.parametrize("host_id", ["h", "H1", "node-01.rack_2.example", "0", LONGEST])
def test_host_ids_take_the_shape_of_hostnames(host_id: str) -> None:
    assert names.check_host_id(host_id, "register.inventory.host_id") == host_id


@pytest.mark.parametrize(
    ("check", "bad", "rule"),
    [
        (names.check_id, "web-", "starting with a letter, not ending with '-'"),
        (names.check_catalog_id, "debian.", "starting and ending with a letter or digit"),
    ],
    ids=ident,
)
def test_refused_ids_are_told_what_to_fix(check: Callable[[str, str], str], bad: str, rule: str) -> None:
    field, description = violation(lambda: check(bad, "id"))
    assert field == "id" and repr(bad) in description and rule in description


def test_default_fields() -> None:
    assert violation(lambda: names.parse_project("nope"))[0] == "parent"
    assert violation(lambda: names.parse_server("nope"))[0] == "name"
    assert violation(lambda: names.parse_flavor("nope"))[0] == "name"
    assert violation(lambda: names.parse_image("nope"))[0] == "name"
    assert violation(lambda: names.parse_host("nope"))[0] == "name"


def test_shape_error_names_the_expected_form() -> None:
    _, description = violation(lambda: names.parse_server("projects/acme/web"))
    assert "projects/{project}/servers/{server}" in description


@pytest.mark.parametrize(
    ("parse", "name"),
    [
        (names.parse_server, "projects/acme/servers/web\n"),
        (names.parse_project, "projects/acme\n"),
        (names.parse_flavor, "flavors/m1.small\n"),
        (names.parse_image, "images/debian\n"),
        (names.parse_host, "hosts/h1\n"),
    ],
    ids=ident,
)
def test_trailing_newline_is_not_part_of_an_id(parse: Callable[..., object], name: str) -> None:
    assert violation(lambda: parse(name, "name"))[0] == "name"


@pytest.mark.parametrize(
    ("build", "parse", "args"),
    [
        (names.server_name, names.parse_server, ("acme", "web-1")),
        (names.flavor_name, names.parse_flavor, ("m1.small",)),
        (names.image_name, names.parse_image, ("debian_12",)),
        (names.host_name, names.parse_host, ("Node-01",)),
    ],
    ids=ident,
)
def test_built_names_parse_back(
    build: Callable[..., str], parse: Callable[[str], object], args: tuple[str, ...]
) -> None:
    parsed = parse(build(*args))
    assert (parsed if isinstance(parsed, tuple) else (parsed,)) == args


def test_server_group_names_parse_and_build_back() -> None:
    assert parse_server_group("projects/acme/serverGroups/web-tier") == ("acme", "web-tier")
    assert server_group_name("acme", "web-tier") == "projects/acme/serverGroups/web-tier"
    group = ServerGroup("acme", "web-tier", GroupPolicy.ANTI_AFFINITY)
    assert parse_server_group(group.name) == ("acme", "web-tier")
    assert group_key("acme", "web-tier") == "acme/web-tier"  # how storage and the scheduler name it


FORM = "projects/{project}/serverGroups/{group}"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("projects/acme/groups/web", FORM),
        ("project/acme/serverGroups/web", FORM),
        ("projects/acme/serverGroups", FORM),
        ("projects/acme/serverGroups/web/members", FORM),
        ("projects/Acme/serverGroups/web", "'Acme' is not a valid id"),
        ("projects/acme/serverGroups/Web", "'Web' is not a valid id"),
        ("projects/acme/serverGroups/", "'' is not a valid id"),
    ],
)
def test_malformed_server_group_names_are_refused_on_the_given_field(name: str, says: str) -> None:
    field, description = violation(lambda: parse_server_group(name, "server.server_group"))
    assert field == "server.server_group" and says in description
    assert violation(lambda: parse_server_group(name))[0] == "name"


# ---- limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "ok"), [(0, False), (1, True), (512, True), (1024, True), (1025, False)])
def test_check_range_is_inclusive(value: int, ok: bool) -> None:
    v = ViolationCollector()
    limits.check_range(v, "vcpus", value, 1, limits.MAX_VCPUS)
    if ok:
        assert v.violations == []
    else:
        (violation_,) = v.violations
        assert violation_.field == "vcpus"
        assert str(value) in violation_.description and "between 1 and 1024" in violation_.description


def test_check_metadata_accepts_the_limits_exactly() -> None:
    v = ViolationCollector()
    items = {f"k{i}": "x" for i in range(limits.MAX_METADATA_ITEMS - 1)}
    items["k" * limits.MAX_METADATA_KEY] = "v" * limits.MAX_METADATA_VALUE
    limits.check_metadata(v, "metadata", items)
    assert v.violations == []


def test_check_metadata_too_many_entries() -> None:
    v = ViolationCollector()
    limits.check_metadata(v, "metadata", {f"k{i}": "" for i in range(limits.MAX_METADATA_ITEMS + 1)})
    assert [(x.field, x.description) for x in v.violations] == [("metadata", "at most 64 entries, got 65")]


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("", "v", "metadata['']"),
        ("k" * (limits.MAX_METADATA_KEY + 1), "v", f"metadata[{'k' * 40!r}]"),
        ("role", "v" * (limits.MAX_METADATA_VALUE + 1), "metadata['role']"),
    ],
    ids=["empty key", "long key", "long value"],
)
def test_check_metadata_bad_entry_names_the_key(key: str, value: str, field: str) -> None:
    v = ViolationCollector()
    limits.check_metadata(v, "metadata", {"ok": "fine", key: value})
    assert [x.field for x in v.violations] == [field]


def test_check_metadata_reports_every_problem_at_once() -> None:
    v = ViolationCollector()
    limits.check_metadata(v, "labels", {"": "x", "big": "v" * 2000})
    assert [x.field for x in v.violations] == ["labels['']", "labels['big']"]


@pytest.mark.parametrize(
    ("asked", "used", "violated"),
    [
        (0, 100, False),  # unset: the default page
        (1, 1, False),
        (1000, 1000, False),
        (1001, 1000, False),  # clamped, not refused (AIP-158)
        (10**9, 1000, False),
        (-1, 100, True),
    ],
)
def test_check_page_size(asked: int, used: int, violated: bool) -> None:
    v = ViolationCollector()
    assert limits.check_page_size(v, asked) == used
    assert [(x.field, x.description) for x in v.violations] == (
        [("page_size", "must not be negative")] if violated else []
    )


def test_the_limits_a_client_meets() -> None:
    """Written out here as a client reads them (they are in no other document): changing one
    changes what the API accepts, so it should be a deliberate change of this test too."""
    assert (limits.MAX_VCPUS, limits.MAX_MEMORY_MIB, limits.MAX_DISK_GIB) == (1024, 16 * 2**20, 2**20)
    assert (limits.MAX_METADATA_ITEMS, limits.MAX_METADATA_KEY, limits.MAX_METADATA_VALUE) == (64, 255, 1024)
    assert (limits.MAX_DESCRIPTION, limits.MAX_REQUEST_ID) == (1024, 128)
    assert limits.DISK_FORMATS == ("qcow2", "raw", "aki", "ari")


@pytest.mark.parametrize(("length", "ok"), [(0, True), (limits.MAX_REQUEST_ID, True), (129, False)])
def test_check_request_id(length: int, ok: bool) -> None:
    v = ViolationCollector()
    limits.check_request_id(v, "r" * length)
    assert [x.field for x in v.violations] == ([] if ok else ["request_id"])


# ---- page tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["web-1", "", "a/b c", "ünïcødé", "x" * 300, '{"k":"injected"}'])
def test_page_token_round_trips(key: str) -> None:
    token = paging.encode(key, "servers|acme|None|None")
    assert paging.decode(token, "servers|acme|None|None") == key
    assert token and not set(token) & set("=+/ \n")  # opaque and URL-safe


def test_no_token_means_first_page() -> None:
    assert paging.decode("", "anything") is None


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!",
        "a",
        "bnVsbA",  # JSON null
        "W10",  # JSON []
        "eyJrIjoid2ViIn0",  # {"k":"web"}: no fingerprint
        "//8",  # not UTF-8
    ],
)
def test_garbage_token_is_refused_on_page_token(token: str) -> None:
    field, description = violation(lambda: paging.decode(token, "servers|acme"))
    assert field == "page_token"
    assert description == "not a token this API returned: pass next_page_token unchanged"


def test_token_from_another_query_is_refused() -> None:
    token = paging.encode("web-1", "servers|acme|None|None")
    field, description = violation(lambda: paging.decode(token, "servers|acme|ACTIVE|None"))
    assert field == "page_token"
    assert description == "belongs to a different query: keep the same filters across pages"


def test_token_with_a_non_string_key_is_refused() -> None:
    genuine = json.loads(base64.urlsafe_b64decode(paging.encode("x", "s") + "=="))
    forged = base64.urlsafe_b64encode(json.dumps({"k": 5, "s": genuine["s"]}).encode()).decode()
    assert violation(lambda: paging.decode(forged, "s"))[0] == "page_token"


@pytest.mark.parametrize(
    ("found", "size", "page", "more"),
    [
        ([], 3, [], False),
        (["a", "b"], 3, ["a", "b"], False),
        (["a", "b", "c"], 3, ["a", "b", "c"], False),
        (["a", "b", "c", "d"], 3, ["a", "b", "c"], True),
    ],
)
def test_cut_gives_a_token_only_when_more_remain(
    found: list[str], size: int, page: list[str], more: bool
) -> None:
    got, token = paging.cut(found, size, lambda s: s, "scope")
    assert got == page
    if more:
        assert paging.decode(token, "scope") == page[-1]  # the next page starts after it
    else:
        assert token == ""


async def test_walking_every_page_returns_every_item_once() -> None:
    items = sorted(f"srv-{i:03d}" for i in range(25))
    scope = "servers|acme|None|None"
    asked: list[int] = []

    async def fetch(after: str | None, limit: int) -> list[str]:
        asked.append(limit)
        return [s for s in items if after is None or s > after][:limit]

    seen: list[str] = []
    token, pages = "", 0
    while True:
        page, token = await paging.fetch_page(10, token, scope, fetch, lambda s: s)
        seen += page
        pages += 1
        if not token:
            break
    assert seen == items
    assert pages == 3
    assert asked == [11, 11, 11]  # one more than the page, to know whether another follows


async def test_a_bad_page_request_fetches_nothing() -> None:
    async def fetch(after: str | None, limit: int) -> list[str]:
        raise AssertionError("fetched despite a bad request")

    for size, token, field in ((-1, "", "page_size"), (10, "garbage", "page_token")):
        with pytest.raises(InvalidArgument) as refused:
            await paging.fetch_page(size, token, "s", fetch, str)
        assert [v.field for v in refused.value.violations] == [field]
