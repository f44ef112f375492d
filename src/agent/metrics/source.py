"""The metrics-source port: where the agent's samples of its host and instances come from.

The agent's own source measures (libvirt_source: libvirt's counters and /proc). A development
cluster's agent on libvirt's test driver, which has no numbers to measure, is given a source
that simulates them instead (devcluster.agent): the agent's composition root takes the source
as a factory and never knows which kind it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from agent.metrics.model import HostMetrics


class MetricsSource(Protocol):
    async def sample(self) -> HostMetrics:
        """One sample of the host and its active instances. May raise (libvirt or /proc
        unreadable): the reporter logs it and samples again on its next beat."""
        ...

    def metadata_changed(self, instance_uid: str, metadata: Mapping[str, str]) -> None:
        """A command gave an instance this metadata (spawn, update_metadata). A source whose
        numbers do not depend on metadata ignores it."""
        ...
