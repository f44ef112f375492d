"""Short ids ↔ resource names (AIP-122).

Every helper accepts either a short id ("web-1") or the full resource name
("projects/demo/servers/web-1"); a full name passes through unchanged.
"""

from __future__ import annotations

DEFAULT_PROJECT = "demo"


def project_name(project: str = DEFAULT_PROJECT) -> str:
    """ "demo" → "projects/demo"."""
    return project if project.startswith("projects/") else f"projects/{project}"


def server_name(server: str, project: str = DEFAULT_PROJECT) -> str:
    """ "web-1" + project "demo" → "projects/demo/servers/web-1"."""
    if server.startswith("projects/"):
        return server
    return f"{project_name(project)}/servers/{server}"


def server_group_name(group: str, project: str = DEFAULT_PROJECT) -> str:
    """ "web" + project "demo" → "projects/demo/serverGroups/web"."""
    if group.startswith("projects/"):
        return group
    return f"{project_name(project)}/serverGroups/{group}"


def scaling_group_name(group: str, project: str = DEFAULT_PROJECT) -> str:
    """ "web" + project "demo" → "projects/demo/scalingGroups/web"."""
    if group.startswith("projects/"):
        return group
    return f"{project_name(project)}/scalingGroups/{group}"


def _simple(collection: str, value: str) -> str:
    prefix = f"{collection}/"
    return value if value.startswith(prefix) else prefix + value


def flavor_name(flavor: str) -> str:
    """ "m1.small" → "flavors/m1.small"."""
    return _simple("flavors", flavor)


def image_name(image: str) -> str:
    """ "cirros" → "images/cirros"."""
    return _simple("images", image)


def host_name(host: str) -> str:
    """ "host-1" → "hosts/host-1"."""
    return _simple("hosts", host)


def short_id(name: str) -> str:
    """The final segment of a resource name: "projects/demo/servers/web-1" → "web-1"."""
    return name.rsplit("/", 1)[-1]


def project_of(name: str) -> str:
    """The project id in "projects/{project}/...", or "" when the name has none."""
    parts = name.split("/")
    return parts[1] if len(parts) >= 2 and parts[0] == "projects" else ""


__all__ = [
    "DEFAULT_PROJECT",
    "flavor_name",
    "host_name",
    "image_name",
    "project_name",
    "project_of",
    "scaling_group_name",
    "server_group_name",
    "server_name",
    "short_id",
]
