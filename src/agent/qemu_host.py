"""What an agent on a real hypervisor (qemu:// URIs) needs beyond the test driver: the KVM
probe before connecting, an owner mark on its domains, instance files under the state
directory and the image cache. Wired by app.py; a test-driver agent gets none of it."""

from __future__ import annotations

from pathlib import Path

from agent.hypervisor.instance_files import InstanceFiles
from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.image_source import ControllerImageSource
from agent.images import ImageCache
from agent.kvm_probe import choose_domain_type
from agent.settings import AgentSettings

_MAX_SWEEP_INTERVAL_S = 600.0


def is_qemu_uri(uri: str) -> bool:
    return uri.startswith("qemu")


async def open_hypervisor(settings: AgentSettings) -> LibvirtHypervisor:
    """Open libvirt; on QEMU probe KVM first (it decides the domain type of new domains)."""
    if not is_qemu_uri(settings.hypervisor.libvirt_uri):
        return await LibvirtHypervisor.open(
            settings.hypervisor.libvirt_uri, stop_timeout=settings.hypervisor.stop_timeout_s
        )
    return await LibvirtHypervisor.open(
        settings.hypervisor.libvirt_uri,
        stop_timeout=settings.hypervisor.stop_timeout_s,
        domain_type=await choose_domain_type(
            settings.hypervisor.domain_type, cache=str(Path(settings.hypervisor.state_dir) / "kvm-probe.json")
        ),
        # One qemu:///system can serve several agents (tests, benchmarks): mark ours.
        owner=settings.host.id,
        state_dir=Path(settings.hypervisor.state_dir),
        network=settings.hypervisor.network,
    )


def image_cache(settings: AgentSettings, files: InstanceFiles | None) -> ImageCache | None:
    """The image cache of a host whose domains have files (QEMU); None for the others."""
    if files is None:
        return None
    return ImageCache(
        Path(settings.hypervisor.state_dir),
        ControllerImageSource(settings.controller.address),
        max_age=settings.hypervisor.image_cache_max_age_s,
        in_use=files.referenced_checksums,
    )


def sweep_interval(settings: AgentSettings) -> float:
    return max(1.0, min(settings.hypervisor.image_cache_max_age_s / 4, _MAX_SWEEP_INTERVAL_S))
