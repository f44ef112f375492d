"""Server groups: a project's set of servers placed together (affinity) or apart (anti-affinity).

Hard policies are filters (a member that cannot be placed by the rule fails with NoValidHost);
soft policies are weighers (the rule is a preference). Membership is fixed at server create.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from controller.domain.errors import InvalidArgument
from controller.domain.names import check_id


class GroupPolicy(enum.StrEnum):
    # The values are the proto enum names, as for the other domain enums.
    AFFINITY = "AFFINITY"
    ANTI_AFFINITY = "ANTI_AFFINITY"
    SOFT_AFFINITY = "SOFT_AFFINITY"
    SOFT_ANTI_AFFINITY = "SOFT_ANTI_AFFINITY"


@dataclass(frozen=True)
class ServerGroup:
    project: str
    id: str
    policy: GroupPolicy
    members: tuple[str, ...] = ()  # server ids of the live members, sorted
    version: int = 1
    created_at: datetime | None = None

    @property
    def name(self) -> str:
        return server_group_name(self.project, self.id)


@dataclass(frozen=True)
class GroupPlacement:
    """What the scheduler needs to know about a group: its rule and where its members run
    (one host id per placed member, so a host with two members appears twice)."""

    key: str  # group_key(project, id)
    policy: GroupPolicy
    member_hosts: tuple[str, ...] = ()


def group_key(project: str, group_id: str) -> str:
    return f"{project}/{group_id}"


def server_group_name(project: str, group_id: str) -> str:
    return f"projects/{project}/serverGroups/{group_id}"


def parse_server_group(name: str, field: str = "name") -> tuple[str, str]:
    """ "projects/{project}/serverGroups/{group}" → (project, group)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != "serverGroups":
        raise InvalidArgument.single(
            field, f"{name!r} is not a resource name of the form projects/{{project}}/serverGroups/{{group}}"
        )
    return check_id(parts[1], field), check_id(parts[3], field)
