"""Small pieces of libvirt knowledge the driver needs: power-state mapping, undefine
flags, error wrapping, uid checks and the choice of domain type."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import libvirt
import structlog

from agent.hypervisor.base import DomainMissing, HypervisorError, PowerState

log = structlog.get_logger("agent.hypervisor")

# As Nova maps them: a domain in the middle of shutting down already counts as SHUTDOWN.
POWER_STATES: dict[int, PowerState] = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
}

# Drivers differ in which undefine flags they accept (the test driver rejects NVRAM), so
# try the most thorough set first and fall back.
UNDEFINE_FLAG_SETS: tuple[int, ...] = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM,
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    0,
)
UNSUPPORTED = {
    libvirt.VIR_ERR_INVALID_ARG,
    libvirt.VIR_ERR_NO_SUPPORT,
    libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
}
KIB_PER_MIB = 1024


class ForeignDomain(HypervisorError):
    """The uuid belongs to a domain this agent does not manage."""


class LibvirtError(HypervisorError):
    def __init__(self, error: libvirt.libvirtError, context: str = "") -> None:
        self.code: int = error.get_error_code() or 0
        message = error.get_error_message() or str(error)
        super().__init__(f"libvirt: {context}{message}")


class LibvirtDomainMissing(LibvirtError, DomainMissing):
    """libvirt answered VIR_ERR_NO_DOMAIN: the domain went away before or during the call."""


def wrap_error(error: libvirt.libvirtError) -> LibvirtError:
    """A libvirt error as the port's error: a missing domain is DomainMissing."""
    if error_code(error) == libvirt.VIR_ERR_NO_DOMAIN:
        return LibvirtDomainMissing(error)
    return LibvirtError(error)


def error_code(error: libvirt.libvirtError) -> int:
    return int(error.get_error_code() or 0)


def power_state_of(dom: libvirt.virDomain) -> PowerState:
    state, _reason = dom.state()
    return POWER_STATES.get(state, PowerState.NOSTATE)


def canonical_uid(instance_uid: str) -> str:
    try:
        return str(uuid.UUID(instance_uid))
    except ValueError:
        raise HypervisorError(f"invalid instance uid {instance_uid!r}") from None


def choose_virt_type(driver: str, requested: str, capabilities: Callable[[], str]) -> str:
    """The domain type to define: "test" on the test driver; on QEMU "kvm" only when the
    caller's probe proved KVM works (agent.kvm_probe) and libvirt offers it too, else TCG."""
    if driver == "test":
        return "test"
    if requested == "kvm" and "<domain type='kvm'" not in capabilities():
        log.warning("libvirt.kvm_unavailable", reason="libvirt's capabilities offer no kvm domain")
        return "qemu"
    return "kvm" if requested == "kvm" else "qemu"


# How long a start waits for a domain that is shutting down to be shut off.
SHUTTING_DOWN_WAIT_S = 30.0


def ensure_running(
    dom: libvirt.virDomain,
    *,
    wait_s: float = SHUTTING_DOWN_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Make a defined domain run, whatever state it is in. A domain shutting down (its guest
    powered off, QEMU not gone yet: VIR_DOMAIN_SHUTDOWN) is still active, so create() would
    fail and doing nothing would leave it shut off a moment later: it is started once it is
    shut off (blocking: the driver calls this in its libvirt thread)."""
    state, _reason = dom.state()
    if state == libvirt.VIR_DOMAIN_SHUTDOWN:
        deadline = clock() + wait_s
        while dom.isActive():
            if clock() >= deadline:
                raise HypervisorError(
                    f"the domain is still shutting down after {wait_s:g} s;"
                    " start it again once it is shut off"
                )
            sleep(0.05)
    if state == libvirt.VIR_DOMAIN_PAUSED:
        dom.resume()
    elif state == libvirt.VIR_DOMAIN_PMSUSPENDED:
        dom.pMWakeup(0)
    elif state == libvirt.VIR_DOMAIN_CRASHED:
        dom.destroy()
        dom.create()
    elif not dom.isActive():
        try:
            dom.create()
        except libvirt.libvirtError:
            # Started concurrently (e.g. by an operator): the goal is met.
            if not dom.isActive():
                raise


class Undefiner:
    """Undefines with the most thorough flags the driver accepts, remembered after the first."""

    def __init__(self) -> None:
        self._flags: int | None = None

    def __call__(self, dom: libvirt.virDomain) -> None:
        flag_sets = UNDEFINE_FLAG_SETS if self._flags is None else (self._flags,)
        for flags in flag_sets:
            try:
                dom.undefineFlags(flags)
            except libvirt.libvirtError as exc:
                if error_code(exc) in UNSUPPORTED and flags != 0:
                    continue
                raise
            self._flags = flags
            return
