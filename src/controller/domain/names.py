"""Resource names (AIP-122) and the identifiers inside them."""

from __future__ import annotations

import re

from controller.domain.errors import InvalidArgument

# RFC 1035-style ids: lowercase letters, digits, hyphens; starts with a letter. Flavors and
# images also allow dots and underscores ("m1.small", "debian_12").
_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
_CATALOG_ID = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
_HOST_ID = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")

# What a person reads when an id is refused: enough to fix it without reading the patterns.
ID_RULE = "1-63 characters: lowercase letters, digits and '-', starting with a letter, not ending with '-'"
CATALOG_ID_RULE = (
    "1-63 characters: lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit"
)
HOST_ID_RULE = (
    "1-63 characters: letters, digits, '.', '_' and '-', starting and ending with a letter or digit"
)


def check_id(value: str, field: str) -> str:
    if not _ID.fullmatch(value):
        raise InvalidArgument.single(field, f"{value!r} is not a valid id ({ID_RULE})")
    return value


def check_catalog_id(value: str, field: str) -> str:
    if not _CATALOG_ID.fullmatch(value):
        raise InvalidArgument.single(field, f"{value!r} is not a valid id ({CATALOG_ID_RULE})")
    return value


def check_host_id(value: str, field: str) -> str:
    if not _HOST_ID.fullmatch(value):
        raise InvalidArgument.single(field, f"{value!r} is not a valid host id ({HOST_ID_RULE})")
    return value


def _split(name: str, field: str, pattern: str) -> list[str]:
    parts = name.split("/")
    shape = pattern.split("/")
    if len(parts) != len(shape) or any(s[0] != "{" and p != s for p, s in zip(parts, shape, strict=True)):
        raise InvalidArgument.single(field, f"{name!r} is not a resource name of the form {pattern}")
    return [p for p, s in zip(parts, shape, strict=True) if s[0] == "{"]


def parse_project(parent: str, field: str = "parent") -> str:
    (project,) = _split(parent, field, "projects/{project}")
    return check_id(project, field)


def parse_server(name: str, field: str = "name") -> tuple[str, str]:
    project, server = _split(name, field, "projects/{project}/servers/{server}")
    return check_id(project, field), check_id(server, field)


def parse_scaling_group(name: str, field: str = "name") -> tuple[str, str]:
    project, group = _split(name, field, "projects/{project}/scalingGroups/{scaling_group}")
    return check_id(project, field), check_id(group, field)


def parse_flavor(name: str, field: str = "name") -> str:
    (flavor,) = _split(name, field, "flavors/{flavor}")
    return check_catalog_id(flavor, field)


def parse_image(name: str, field: str = "name") -> str:
    (image,) = _split(name, field, "images/{image}")
    return check_catalog_id(image, field)


def parse_host(name: str, field: str = "name") -> str:
    (host,) = _split(name, field, "hosts/{host}")
    return check_host_id(host, field)


def server_name(project: str, server_id: str) -> str:
    return f"projects/{project}/servers/{server_id}"


def flavor_name(flavor_id: str) -> str:
    return f"flavors/{flavor_id}"


def image_name(image_id: str) -> str:
    return f"images/{image_id}"


def host_name(host_id: str) -> str:
    return f"hosts/{host_id}"
