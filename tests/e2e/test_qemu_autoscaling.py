"""A scaling group of real guests scales out on their measured CPU, not on simulation.

The tiny guest burns one CPU when its kernel command line says `overcast.burn=1` (guest/init),
so a member of one vcpu reads ~100% from libvirt's cpu.time deltas; with a 50% target the group
wants two members. max_size 2 keeps the test short (TCG guests are slow to boot and two that
burn fill this machine's two cores) and shows the clamp in the decision.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from client import AsyncClient, NotFound
from client.scaling import target_tracking
from tests.e2e.conftest import PROJECT, QemuCluster
from tests.integration.group_waits import describe, wait_group

pytestmark = [pytest.mark.qemu, pytest.mark.integration, pytest.mark.timeout(300)]

CONTROLLER_ARGS = ("--autoscaler-period", "1")  # read by the qemu_cluster fixture


async def test_guests_burning_cpu_scale_the_group_out(qemu_cluster: QemuCluster, qapi: AsyncClient) -> None:
    env = qemu_cluster.env
    await qapi.upload_image(
        "tiny-burn",
        env.root.path,
        "qcow2",
        kernel_image="images/tiny-kernel",
        ramdisk_image="images/tiny-initrd",
        kernel_args="overcast.burn=1 overcast.tick=2",
    )
    started = time.monotonic()
    g = await qapi.create_scaling_group(
        "burners",
        project=PROJECT,
        flavor="m1.tiny",
        image="tiny-burn",
        min_size=1,
        max_size=2,
        policies=[target_tracking("cpu", target=50, scale_up_period=2)],
    )
    name = g.name
    try:
        g = await wait_group(
            qapi,
            name,
            lambda g: g.desired_size == 2 and g.status.active_size == 2,
            "scaled out to 2 ACTIVE guests",
            timeout=90,
        )
        print(f"2 guests ACTIVE {time.monotonic() - started:.1f}s after the group was created")
        history = [a async for a in qapi.list_scaling_activities(name, PROJECT)]
        out = [a for a in history if a.kind == "scaling.decision" and a.desired_size == 2]
        assert out, [(a.kind, a.desired_size, a.rule) for a in history]
        decision = out[-1]  # newest first: the first decision for 2
        assert decision.rule == "target_tracking/cpu", decision
        (reading,) = decision.metrics
        assert reading.value > 50 * 1.1 and reading.reporting_members >= 1, decision

        # Both guests keep burning once booted: the group's CPU stays above its target (an
        # idle tiny guest reads a few percent), and it is measured, not simulated.
        for member in g.members:
            text = ""
            deadline = time.monotonic() + 60
            while "OVERCAST-BURN cpus=1" not in text:
                assert time.monotonic() < deadline, f"{member} never started burning:\n{text[-800:]}"
                await asyncio.sleep(0.5)
                text = (await qapi.get_console_log(member, PROJECT)).text
        await asyncio.sleep(3)  # a few samples after the last boot
        g = await qapi.get_scaling_group(name, PROJECT)
        (cpu,) = g.status.metrics
        assert cpu.reporting_members == 2 and cpu.value > 50, describe(g)
        for member in g.members:
            load = (await qapi.get_server(member, PROJECT)).load
            assert not load.simulated and load.cpu_util > 0.5, (member, load)
        assert g.desired_size == 2, describe(g)  # clamped at max_size
    finally:
        await qapi.delete_scaling_group(name, PROJECT)
        deadline = time.monotonic() + 60
        while await qapi.list_servers(PROJECT, scaling_group=name):
            assert time.monotonic() < deadline, "members not deleted after 60 s"
            await asyncio.sleep(0.5)
    with pytest.raises(NotFound):
        await qapi.get_scaling_group(name, PROJECT)
