"""The scheduling policy an operator configures, and the Scheduler it builds."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from controller.scheduler.filters import DEFAULT_FILTERS
from controller.scheduler.placement import Scheduler
from controller.scheduler.weighers import (
    DEFAULT_LOAD_TARGET,
    cpu_load,
    free_ram,
    free_vcpus,
    least_load,
    soft_affinity,
    soft_anti_affinity,
)


class Strategy(enum.StrEnum):
    SPREAD = "spread"  # emptiest hosts first (shares of RAM and vcpus free, least live load)
    PACK = "pack"  # fullest hosts first, live load up to the target: keep whole hosts free


@dataclass(frozen=True)
class SchedulerPolicy:
    strategy: Strategy = Strategy.SPREAD
    ram_weight: float = 1.0  # free RAM; the strategy gives the sign
    cpu_weight: float = 1.0  # free (unallocated) vcpus; the strategy gives the sign
    load_weight: float = 1.0  # live CPU load: least loaded (spread), up to load_target (pack)
    load_target: float = DEFAULT_LOAD_TARGET
    # Soft group rules weigh more than the resource weighers together, so that "prefer
    # apart / together" wins over "prefer emptier / fuller" unless a host is unusable.
    soft_affinity_weight: float = 10.0
    soft_anti_affinity_weight: float = 10.0
    host_subset_size: int = 1

    def __post_init__(self) -> None:
        # Checked here, not only where pack builds its weigher: a policy is valid or refused
        # whatever its strategy (a target of 0 would divide by zero in the load score).
        if not 0.0 < self.load_target < 1.0:
            raise ValueError(f"load_target must be between 0 and 1 (exclusive), got {self.load_target}")
        if self.host_subset_size < 1:
            raise ValueError(f"host_subset_size must be at least 1, got {self.host_subset_size}")


def build_scheduler(
    policy: SchedulerPolicy = SchedulerPolicy(), rng: random.Random | None = None
) -> Scheduler:
    spread = policy.strategy is Strategy.SPREAD
    sign = 1.0 if spread else -1.0
    return Scheduler(
        filters=DEFAULT_FILTERS,
        weighers=(
            free_ram(sign * policy.ram_weight),
            free_vcpus(sign * policy.cpu_weight),
            # Live CPU load: spread balances it; pack fills hosts up to the target load
            # (TargetLoadPacking), not beyond.
            least_load(policy.load_weight) if spread else cpu_load(policy.load_weight, policy.load_target),
            soft_affinity(policy.soft_affinity_weight),
            soft_anti_affinity(policy.soft_anti_affinity_weight),
        ),
        host_subset_size=policy.host_subset_size,
        rng=rng or random.Random(),
    )
