"""What an agent on a real hypervisor (qemu:// URIs) needs beyond the test driver: the KVM
probe before connecting, an owner mark on its domains, instance files under the state
directory and the image cache. Wired by app.py; a test-driver agent gets none of it."""

from __future__ import annotations

from pathlib import Path

from agent.hypervisor.libvirt_driver import LibvirtHypervisor
from agent.image_source import ControllerImageSource
from agent.images import ImageCache
from agent.kvm_probe import choose_domain_type
from agent.settings import Settings

_MAX_SWEEP_INTERVAL_S = 600.0


def is_qemu_uri(uri: str) -> bool:
    return uri.startswith("qemu")


async def open_hypervisor(settings: Settings) -> LibvirtHypervisor:
    """Open libvirt; on QEMU probe KVM first (it decides the domain type of new domains)."""
    if not is_qemu_uri(settings.libvirt_uri):
        return await LibvirtHypervisor.open(settings.libvirt_uri, stop_timeout=settings.stop_timeout)
    return await LibvirtHypervisor.open(
        settings.libvirt_uri,
        stop_timeout=settings.stop_timeout,
        domain_type=await choose_domain_type(
            settings.domain_type, cache=str(Path(settings.state_dir) / "kvm-probe.json")
        ),
        # One qemu:///system can serve several agents (tests, benchmarks): mark ours.
        owner=settings.host_id,
        state_dir=Path(settings.state_dir),
        network=settings.network,
    )


def image_cache(settings: Settings, hypervisor: LibvirtHypervisor) -> ImageCache | None:
    if hypervisor.files is None:
        return None
    return ImageCache(
        Path(settings.state_dir),
        ControllerImageSource(settings.controller),
        max_age=settings.image_cache_max_age,
        in_use=hypervisor.files.referenced_checksums,
    )


def sweep_interval(settings: Settings) -> float:
    return max(1.0, min(settings.image_cache_max_age / 4, _MAX_SWEEP_INTERVAL_S))
