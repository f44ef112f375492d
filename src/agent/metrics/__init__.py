"""Host and instance metrics: measured from /proc and libvirt where there are numbers,
simulated from a per-instance load profile (server metadata `sim.*`) where there are none.

`sampler.MetricsSampler.sample()` produces one `HostMetrics`; `reporter.report_metrics` sends
one every interval through the uplink (where it doubles as the heartbeat).
"""

from agent.metrics.model import HostMetrics, InstanceMetrics

__all__ = ["HostMetrics", "InstanceMetrics"]
