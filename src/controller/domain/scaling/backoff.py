"""Members that could not be placed: a template no host can take must not be retried forever.

A member that ends in ERROR without ever reaching a host failed placement (the scheduler's
NoValidHost, or its image or flavor vanished). The autoscaler deletes such members rather than
replacing them at once, records the scheduler's reason as the group's fault (GetScalingGroup
shows it), and adds no member before a retry time that doubles with each failed round, from
BASE_S up to MAX_S. A member that reaches a host clears the fault and the backoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controller.domain.model import VmState
from controller.domain.scaling.evaluation import Member

BASE_S = 10.0
MAX_S = 600.0


def placement_failed(m: Member, fault: str) -> bool:
    """Whether a member is in ERROR without having reached a host (the scheduler failed it)."""
    return m.vm_state is VmState.ERROR and m.host_id is None and not m.deleting and bool(fault)


@dataclass(frozen=True)
class Backoff:
    fault: str = ""  # the scheduler's last reason; "" = none
    failures: int = 0  # failed rounds in a row
    retry_at: float = 0.0  # no member is added before this time

    def blocks(self, now: float) -> bool:
        return self.failures > 0 and now < self.retry_at

    def failed(self, now: float, reasons: Sequence[str]) -> Backoff:
        """Placement failed again this round: the first reason, a doubled delay."""
        failures = self.failures + 1
        delay = min(MAX_S, BASE_S * 2 ** (failures - 1))
        return Backoff(reasons[0], failures, now + delay)

    def to_json(self) -> dict[str, object]:
        return {"fault": self.fault, "failures": self.failures, "retry_at": self.retry_at}

    @classmethod
    def from_json(cls, data: object) -> Backoff:
        if not isinstance(data, dict):
            return cls()
        return cls(str(data.get("fault", "")), int(data.get("failures", 0)), float(data.get("retry_at", 0.0)))


CLEAR = Backoff()
