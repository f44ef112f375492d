"""A scaling group's members: which are unhealthy and replaced, which a scale-in removes, and
the names of new ones.

- Health, as AWS EC2 Auto Scaling's health checks and Heat's: a member in ERROR, one whose
  domain reconciliation found missing (lost), or one on a host DOWN for longer than the
  group's `health_grace_s` is replaced (deleted and created anew). A member already being
  deleted is neither counted nor replaced.
- Scale-in victims, as AWS's termination policies: unhealthy members first, then members not
  yet ready (still building, or with an operation in flight: AWS removes pending and unhealthy
  instances first), then by the group's ScaleInRule: NEWEST_FIRST, OLDEST_FIRST or
  LEAST_LOADED (lowest CPU first; a member with no CPU figure last: unknown load is not
  light load). Ties go to the newest, then by id. Protected members are never chosen; they are
  still replaced when unhealthy (AWS's scale-in protection does not cover health replacement).
- A member's server id is "{group}-{5 characters [a-z0-9]}", the randomness injected.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence

from controller.domain.model import VmState
from controller.domain.scaling.evaluation import Member, Replacement
from controller.domain.scaling.model import MEMBER_SUFFIX_LEN, ScaleInRule

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def live(members: Iterable[Member]) -> tuple[Member, ...]:
    """The members a size counts: those not being deleted."""
    return tuple(m for m in members if not m.deleting)


def unhealthy(member: Member, now: float, grace_s: float) -> str | None:
    """Why the member must be replaced, or None when it is healthy (or being deleted)."""
    if member.deleting:
        return None
    if member.vm_state is VmState.ERROR:
        return f"ERROR: {member.fault}" if member.fault else "ERROR"
    if member.lost:
        return "lost"
    if member.host_down_since is not None and now - member.host_down_since > grace_s:
        return f"host {member.host_id} DOWN for {math.floor(now - member.host_down_since)} s"
    return None


def replacements(members: Iterable[Member], now: float, grace_s: float) -> tuple[Replacement, ...]:
    found = ((m.server_id, unhealthy(m, now, grace_s)) for m in members)
    return tuple(Replacement(server_id, reason) for server_id, reason in found if reason is not None)


def _rule_key(member: Member, rule: ScaleInRule) -> tuple[float, ...]:
    """Smaller sorts first (removed first)."""
    newest = -member.created_at
    if rule is ScaleInRule.OLDEST_FIRST:
        return (member.created_at,)
    if rule is ScaleInRule.LEAST_LOADED:
        return (math.inf if member.cpu is None else member.cpu, newest)
    return (newest,)


def victims(
    members: Sequence[Member],
    count: int,
    rule: ScaleInRule,
    protected: Collection[str],
    unhealthy_ids: Collection[str] = (),
) -> tuple[str, ...]:
    """Up to `count` members to remove (fewer when the others are protected), in order."""
    candidates = [m for m in live(members) if m.server_id not in protected]
    candidates.sort(
        key=lambda m: (
            m.server_id not in unhealthy_ids,  # unhealthy first,
            m.ready,  # then not yet ready,
            _rule_key(m, rule),  # then by the rule,
            m.server_id,
        )
    )
    return tuple(m.server_id for m in candidates[: max(0, count)])


def member_id(group_id: str, rand: Callable[[int], int]) -> str:
    """A new member's server id; `rand(n)` returns an integer in [0, n) (secrets.randbelow)."""
    return group_id + "-" + "".join(ALPHABET[rand(len(ALPHABET))] for _ in range(MEMBER_SUFFIX_LEN))


def new_member_ids(
    group_id: str, count: int, taken: Collection[str], rand: Callable[[int], int]
) -> list[str]:
    """`count` new member ids, distinct from each other and from `taken`."""
    ids: list[str] = []
    while len(ids) < count:
        candidate = member_id(group_id, rand)
        if candidate not in taken and candidate not in ids:
            ids.append(candidate)
    return ids
