"""Metrics of a real QEMU guest (the tiny guest on qemu:///system): measured, not simulated."""

from __future__ import annotations

import asyncio

import pytest

# The QEMU driver tests' fixtures and helpers: one way to boot the tiny guest.
from test_qemu_driver import cache, env, hv, spawn, state_dir  # noqa: F401

from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.images import ImageCache
from agent.metrics.libvirt_source import LibvirtMetrics, LibvirtStats
from tests.e2e.qemu_env import QemuEnv

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(180)]


async def test_a_running_guest_is_measured_from_libvirt_stats(
    hv: LibvirtHypervisor,  # noqa: F811
    cache: ImageCache,  # noqa: F811
    env: QemuEnv,  # noqa: F811
) -> None:
    uid = await spawn(hv, cache, env, "metered")
    sampler = LibvirtMetrics(LibvirtStats(hv))
    first = await sampler.sample()  # the first reading of a domain has no rate yet
    assert uid not in {i.instance_uid for i in first.instances}
    assert not first.simulated and first.memory_used_mib > 0  # this machine's /proc
    await asyncio.sleep(1.0)  # the guest boots meanwhile: it burns CPU under TCG
    second = await sampler.sample()
    (mine,) = [i for i in second.instances if i.instance_uid == uid]
    assert not mine.simulated
    assert 0.0 < mine.cpu_util <= 1.0
    assert mine.memory_rss_mib > 0  # balloon.rss of the QEMU process
    assert mine.disk_read_bytes > 0  # it read its root disk or initrd while booting
