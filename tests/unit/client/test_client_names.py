from __future__ import annotations

from client import names


def test_server_name_from_short_id() -> None:
    assert names.server_name("web-1", "demo") == "projects/demo/servers/web-1"
    assert names.server_name("web-1") == "projects/demo/servers/web-1"
    assert names.server_name("db", project="prod") == "projects/prod/servers/db"


def test_full_names_pass_through() -> None:
    full = "projects/other/servers/web-1"
    assert names.server_name(full, "demo") == full
    assert names.flavor_name("flavors/m1.small") == "flavors/m1.small"
    assert names.image_name("images/cirros") == "images/cirros"
    assert names.host_name("hosts/host-1") == "hosts/host-1"
    assert names.project_name("projects/demo") == "projects/demo"


def test_simple_collections() -> None:
    assert names.flavor_name("m1.small") == "flavors/m1.small"
    assert names.image_name("cirros") == "images/cirros"
    assert names.host_name("host-1") == "hosts/host-1"
    assert names.project_name("demo") == "projects/demo"


def test_back_to_short_ids() -> None:
    assert names.short_id("projects/demo/servers/web-1") == "web-1"
    assert names.short_id("flavors/m1.small") == "m1.small"
    assert names.short_id("hosts/host-1") == "host-1"
    assert names.short_id("web-1") == "web-1"
    assert names.project_of("projects/demo/servers/web-1") == "demo"
    assert names.project_of("hosts/host-1") == ""
