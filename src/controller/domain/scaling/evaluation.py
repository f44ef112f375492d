"""What one evaluation of a scaling group takes in (an Observation of its members and
metrics), what it remembers (GroupState, stored as JSON between evaluations, so a restart or a
failover neither forgets a cooldown nor repeats a scheduled action), and what it decides (a
Decision, explained). `decide.decide(group, state, observation)` is the pure function between.

Times are seconds since the epoch (the observation's `now`: an injected clock).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.domain.model import PowerState, TaskState, VmState


@dataclass(frozen=True)
class Member:
    server_id: str
    uid: str
    created_at: float
    vm_state: VmState
    task_state: TaskState | None
    power_state: PowerState
    host_id: str | None
    host_down_since: float | None  # when its host went DOWN; None = UP (or not placed)
    lost: bool  # reconciliation found its domain missing (instance.lost)
    cpu: float | None  # percent of its vcpus (load view EWMA); None = no fresh metrics
    custom: Mapping[str, float] = field(default_factory=dict)  # "custom/x" -> fresh value
    fault: str = ""  # the server's fault message when ERROR (for the replacement's reason)
    warming: bool = False  # younger than its group's warm-up: its CPU is its boot, not its load

    @property
    def ready(self) -> bool:
        """Counted in a scale-out: ACTIVE, running, nothing in flight (HPA's "ready" pod)."""
        return (
            self.vm_state is VmState.ACTIVE
            and self.power_state is PowerState.RUNNING
            and self.task_state is None
            and not self.warming
        )

    @property
    def deleting(self) -> bool:
        return self.task_state is TaskState.DELETING


@dataclass(frozen=True)
class Observation:
    now: float
    members: tuple[Member, ...]  # the group's live servers (not yet deleted)
    group_metrics: Mapping[str, float] = field(default_factory=dict)  # "custom/x" -> group value
    manual_desired: int | None = None  # SetDesiredSize since the last evaluation


@dataclass(frozen=True)
class MetricReading:
    policy: str
    metric: str
    value: float | None  # per member; None = no member reports it
    target: float
    reporting_members: int

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.policy,
            "metric": self.metric,
            "target": self.target,
            "reporting_members": self.reporting_members,
        }
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass(frozen=True)
class Replacement:
    server_id: str
    reason: str  # "ERROR: <fault>", "lost", "host host-2 DOWN for 75 s"


@dataclass(frozen=True)
class Decision:
    """One evaluation's outcome. `add` new members are to be created; `remove` members deleted
    (scale-in victims, chosen by the group's rule, never protected); `replace` unhealthy ones
    deleted and created anew. Sizes count live members not being deleted."""

    current: int
    previous_desired: int
    desired: int
    rule: str  # what decided: "target_tracking/{policy}", "step/{policy}", "simple/{policy}",
    # "scheduled/{action}", "manual", "min_size", "max_size", "none" (nothing changed)
    metrics: tuple[MetricReading, ...] = ()
    clamped: tuple[str, ...] = ()  # e.g. "max_size 10 (wanted 14)", "scale-up limit 8 per 15 s"
    add: int = 0
    remove: tuple[str, ...] = ()
    replace: tuple[Replacement, ...] = ()
    min_size: int | None = None  # set by a scheduled action
    max_size: int | None = None

    @property
    def changed(self) -> bool:
        return (
            self.desired != self.previous_desired
            or bool(self.add or self.remove or self.replace)
            or self.min_size is not None
            or self.max_size is not None
        )


@dataclass
class GroupState:
    """What the autoscaler remembers of a group between evaluations (JSON in PostgreSQL)."""

    # (time, recommended size) within the longest scale-down stabilisation window
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    # (time, members added) within the longest scale-up period, for the rate limit
    scale_ups: list[tuple[float, int]] = field(default_factory=list)
    # policy name -> time its cooldown ends
    cooldown_until: dict[str, float] = field(default_factory=dict)
    # scheduled action name -> the last fire time applied (so none is applied twice)
    last_fired: dict[str, float] = field(default_factory=dict)
    # the time of the last evaluation (scheduled actions fire for times after it)
    evaluated_at: float | None = None
    # members that could not be placed, rounds in a row, and no member added before retry_at
    # (controller.domain.scaling.backoff)
    placement_failures: int = 0
    placement_retry_at: float = 0.0
    # the desired size the last evaluation left (a size set by hand since is a decision from it)
    desired: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "recommendations": [list(r) for r in self.recommendations],
            "scale_ups": [list(s) for s in self.scale_ups],
            "cooldown_until": dict(self.cooldown_until),
            "last_fired": dict(self.last_fired),
            "evaluated_at": self.evaluated_at,
            "placement_failures": self.placement_failures,
            "placement_retry_at": self.placement_retry_at,
            "desired": self.desired,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> GroupState:
        if not data:
            return cls()
        return cls(
            recommendations=[(float(t), int(n)) for t, n in data.get("recommendations", [])],
            scale_ups=[(float(t), int(n)) for t, n in data.get("scale_ups", [])],
            cooldown_until={k: float(v) for k, v in data.get("cooldown_until", {}).items()},
            last_fired={k: float(v) for k, v in data.get("last_fired", {}).items()},
            evaluated_at=data.get("evaluated_at"),
            placement_failures=int(data.get("placement_failures", 0)),
            placement_retry_at=float(data.get("placement_retry_at", 0.0)),
            desired=None if data.get("desired") is None else int(data["desired"]),
        )
