"""Starting a domain that is shutting down (agent.hypervisor.libvirt_support.ensure_running).

Between a guest powering itself off and its QEMU process exiting, libvirt shows the domain as
VIR_DOMAIN_SHUTDOWN while it is still active: create() then fails ("already running"), and
doing nothing leaves the server shut off right after a start said it ran. That window lasts
milliseconds on a real hypervisor and cannot be produced on demand (the QEMU tests once hit it
by chance), so these tests drive ensure_running with a stand-in for the libvirt domain object
that goes through the states libvirt reports."""

from __future__ import annotations

import libvirt
import pytest

from agent.hypervisor.base import HypervisorError
from agent.hypervisor.libvirt_support import ensure_running


class ShuttingDown:
    """A domain shutting down that is shut off after `active_for` more isActive() calls."""

    def __init__(self, active_for: int) -> None:
        self.active_for = active_for
        self.created = 0
        self.log: list[str] = []

    def state(self) -> tuple[int, int]:
        return (libvirt.VIR_DOMAIN_SHUTDOWN, 0)

    def isActive(self) -> int:
        active = self.active_for > 0 or self.created > 0
        self.active_for -= 1
        self.log.append("active" if active else "off")
        return int(active)

    def create(self) -> int:
        if self.isActive():
            raise libvirt.libvirtError("Requested operation is not valid: domain is already running")
        self.created += 1
        self.log.append("created")
        return 0


def test_a_domain_shutting_down_is_started_once_it_is_shut_off() -> None:
    dom = ShuttingDown(active_for=3)
    naps: list[float] = []
    ensure_running(dom, sleep=naps.append)  # type: ignore[arg-type]
    assert dom.created == 1
    assert dom.log[:4] == ["active", "active", "active", "off"] and dom.log[-1] == "created"
    assert len(naps) == 3


def test_a_domain_that_stays_shutting_down_fails_the_start_with_the_reason() -> None:
    dom = ShuttingDown(active_for=10**9)
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    with pytest.raises(HypervisorError, match=r"still shutting down after 2 s"):
        ensure_running(dom, wait_s=2.0, sleep=sleep, clock=lambda: now[0])  # type: ignore[arg-type]
    assert dom.created == 0 and now[0] >= 2.0
