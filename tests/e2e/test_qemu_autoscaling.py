"""A scaling group of real guests scales out on their measured CPU, not on simulation.

The tiny guest burns one CPU when its kernel command line says `overcast.burn=1` (guest/init),
so a member of one vcpu reads high from libvirt's cpu.time deltas, however busy this machine is
(two cores shared with other work: at a load average of 22 a burning guest still got 15% of a
core); an idle one reads 2-3%. Two groups side by side, CPU target 10%, min 1, max 2: the burning one
scales out, the idle one stays at one member. That the idle one stays is what shows the decision
was made on the burn, not on the CPU a guest spends booting under TCG (HPA keeps a starting pod's
CPU out of its decisions for the same reason). max_size 2 keeps the test short and shows the
clamp.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from client import AsyncClient, NotFound
from client.scaling import target_tracking
from tests.e2e.conftest import PROJECT, QemuCluster
from tests.integration.group_waits import describe, history, wait_group

pytestmark = [pytest.mark.qemu, pytest.mark.integration, pytest.mark.timeout(300)]

# Read by the qemu_cluster fixture. Metrics every 1 s, as in production: at the fixture's 0.2 s a
# loaded machine delivers samples later than the 0.6 s after which a host's load is stale (its
# members' CPU unknown: seen at a load average of 15).
CONTROLLER_ARGS = ("--autoscaler-period", "1")
METRICS_INTERVAL = 1.0
# An idle tiny guest reads 1.4-2.4% once booted; one burning its CPU got 15% at a load average
# of 22 and 77% on a calmer machine: a 10% target tells them apart however busy this one is.
TARGET = 10.0
# Booting under TCG takes CPU that is not load: 2-4 s of it on a quiet machine, but 22-25% still
# at 15-16 s at a load average of 15. The warm-up keeps it out, as HPA's
# cpu-initialization-period does.
WARMUP_S = 30


async def burning(api: AsyncClient, member: str, within: float = 60) -> None:
    """Until the member's console says it burns its CPU (it has booted)."""
    deadline = time.monotonic() + within
    text = ""
    while "OVERCAST-BURN cpus=1" not in text:
        assert time.monotonic() < deadline, f"{member} never started burning:\n{text[-800:]}"
        await asyncio.sleep(0.5)
        text = (await api.get_console_log(member, PROJECT)).text


async def test_guests_burning_cpu_scale_their_group_out_idle_ones_do_not(
    qemu_cluster: QemuCluster, qapi: AsyncClient
) -> None:
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
    names = {}
    for group_id, image in (("burners", "tiny-burn"), ("idlers", "tiny")):
        g = await qapi.create_scaling_group(
            group_id,
            project=PROJECT,
            flavor="m1.tiny",
            image=image,
            min_size=1,
            max_size=2,
            policies=[target_tracking("cpu", target=TARGET, scale_up_period=2, warmup=WARMUP_S)],
        )
        names[group_id] = g.name
    burners, idlers = names["burners"], names["idlers"]
    try:
        g = await wait_group(
            qapi,
            burners,
            lambda g: g.desired_size == 2 and g.status.active_size == 2,
            "scaled out to 2 ACTIVE guests",
            timeout=90,
        )
        print(f"2 burning guests ACTIVE {time.monotonic() - started:.1f}s after the group was created")
        for member in g.members:
            await burning(qapi, member)
        await asyncio.sleep(3)  # samples of both booted guests

        # The burners: scaled out on measured CPU, and still above target once booted.
        log = await history(qapi, burners)
        decisions = [
            a
            async for a in qapi.list_scaling_activities(burners, PROJECT)
            if a.kind == "scaling.decision" and a.desired_size == 2
        ]
        assert decisions and decisions[-1].rule == "target_tracking/cpu", log

        # Once the second guest is past its warm-up (a warming member counts at 0 %), the
        # group's metric is both burners' measured CPU, above the target.
        def both_hot(g: object) -> bool:
            (cpu,) = g.status.metrics  # type: ignore[attr-defined]
            return bool(cpu.reporting_members == 2 and cpu.value > TARGET * 1.1)

        g = await wait_group(qapi, burners, both_hot, "both burners above target", timeout=WARMUP_S + 30)
        assert g.desired_size == 2, describe(g)  # wants more, clamped at max_size

        # The idlers: one guest, booted as long as the burners, never worth a second.
        idle = await qapi.get_scaling_group(idlers, PROJECT)
        idle_log = await history(qapi, idlers)
        print(f"burners: {describe(g)}\nidlers: {describe(idle)}\n{idle_log}")
        assert idle.desired_size == 1 and idle.status.current_size == 1, f"{describe(idle)}\n{idle_log}"
        (idle_cpu,) = idle.status.metrics
        assert idle_cpu.value < TARGET, f"{describe(idle)}\n{idle_log}"

        # Measured by the hypervisor, member by member: every burner above the idle guest.
        loads = [(await qapi.get_server(m, PROJECT)).load for m in [*g.members, *idle.members]]
        assert not any(x.simulated for x in loads), loads
        *burns, quiet = (x.cpu_util_ewma for x in loads)
        # Each burner well above the idle guest (how far above the target depends on how much of
        # a core TCG gets on a busy machine: 30 % has been seen with 2 cores shared).
        assert min(burns) > max(3 * quiet, 0.1), (burns, quiet)
    finally:
        for name in names.values():
            await qapi.delete_scaling_group(name, PROJECT)
        deadline = time.monotonic() + 60
        while [s for n in names.values() for s in await qapi.list_servers(PROJECT, scaling_group=n)]:
            assert time.monotonic() < deadline, "members not deleted after 60 s"
            await asyncio.sleep(0.5)
    with pytest.raises(NotFound):
        await qapi.get_scaling_group(burners, PROJECT)
