"""The metrics loop: a sample from the agent's metrics source every interval, published
through the uplink (where it doubles as the heartbeat)."""

from __future__ import annotations

import asyncio
from typing import Protocol

import structlog

from agent.metrics.model import HostMetrics
from agent.metrics.source import MetricsSource

log = structlog.get_logger("agent.metrics")


class MetricsSink(Protocol):
    def publish_metrics(self, sample: HostMetrics) -> bool:
        """Best effort: False when it could not be sent (disconnected)."""
        ...


async def report_metrics(source: MetricsSource, sink: MetricsSink, interval: float) -> None:
    """Sample every `interval` seconds on a fixed beat (a slow sample skips beats rather than
    piling up) and publish; a failing sample is logged and retried on the next beat."""
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    failing = False
    while True:
        try:
            sample = await source.sample()
        except Exception as exc:  # libvirt or /proc trouble must not end the metrics
            if not failing:
                log.warning("metrics.sample_failed", error=str(exc) or repr(exc))
            failing = True
        else:
            if failing:
                log.info("metrics.sample_recovered")
            failing = False
            sink.publish_metrics(sample)
        now = loop.time()
        next_at += interval
        if next_at < now:
            next_at = now + interval - (now - next_at) % interval
        await asyncio.sleep(next_at - now)
