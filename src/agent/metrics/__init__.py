"""Host and instance metrics behind a port (source.MetricsSource).

The agent's source (libvirt_source.LibvirtMetrics) measures: instances from libvirt's
getAllDomainStats, the host from /proc. `reporter.report_metrics` sends one sample every
interval through the uplink (where it doubles as the heartbeat).
"""

from agent.metrics.model import HostMetrics, InstanceMetrics
from agent.metrics.source import MetricsSource

__all__ = ["HostMetrics", "InstanceMetrics", "MetricsSource"]
