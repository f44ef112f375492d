"""The KVM probe and QEMU domain XML, without libvirt domains."""

from __future__ import annotations

import json
import shutil
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.console import read_tail
from agent.hypervisor.base import BootFiles, DomainSpec
from agent.hypervisor.domain_xml import build_domain_xml, kernel_cmdline
from agent.hypervisor.instance_files import DomainFiles
from agent.kvm_probe import choose_domain_type, run_probe

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86 not installed"
)


@needs_qemu
async def test_the_probe_firmware_reaches_long_mode_under_tcg() -> None:
    # TCG emulates the CPU faithfully: this proves the firmware itself is right, so a KVM
    # failure means KVM, not the probe.
    result = await run_probe("tcg", within=20.0)
    assert result.ok, result.reason


@needs_qemu
async def test_the_kvm_verdict_is_cached_per_boot_and_binary(tmp_path: Path) -> None:
    cache = tmp_path / "probe.json"
    first = await choose_domain_type("auto", within=3.0, cache=str(cache))
    assert first in ("kvm", "qemu")
    saved = json.loads(cache.read_text())
    assert saved["domain_type"] == first and saved["reason"]
    # A cached verdict is reused (a forged one proves no probe ran).
    forged = "qemu" if first == "kvm" else "kvm"
    cache.write_text(json.dumps({**saved, "domain_type": forged}))
    assert await choose_domain_type("auto", cache=str(cache)) == forged
    # Another boot (or QEMU binary) invalidates it.
    cache.write_text(json.dumps({**saved, "host": "another boot", "domain_type": forged}))
    assert await choose_domain_type("auto", within=3.0, cache=str(cache)) == first


async def test_operator_choice_skips_the_probe() -> None:
    assert await choose_domain_type("qemu", qemu="no-such-qemu") == "qemu"
    assert await choose_domain_type("kvm", qemu="no-such-qemu") == "kvm"
    assert await choose_domain_type("auto", qemu="no-such-qemu") == "qemu"


def _spec(**overrides: object) -> DomainSpec:
    values: dict[str, object] = {
        "instance_uid": str(uuid.uuid4()),
        "instance_name": "projects/p1/servers/web 1;rm",
        "vcpus": 2,
        "memory_mib": 256,
        "disk_gib": 1,
        "boot": BootFiles(kernel_args="quiet overcast.burn=1 <x>"),
    }
    values.update(overrides)
    return DomainSpec(**values)  # type: ignore[arg-type]


def test_qemu_xml_has_disk_kernel_console_and_optional_nic(tmp_path: Path) -> None:
    files = DomainFiles(
        console_log=tmp_path / "console.log",
        disk=tmp_path / "disk.qcow2",
        kernel=tmp_path / "vmlinuz",
        initrd=tmp_path / "initrd",
    )
    spec = _spec()
    root = ET.fromstring(build_domain_xml(spec, virt_type="qemu", files=files, owner="host-7"))
    assert root.get("type") == "qemu"
    assert root.findtext("vcpu") == "2"
    assert root.find("features/acpi") is not None  # shutdown and reboot reach the guest
    assert root.findtext("os/kernel") == str(tmp_path / "vmlinuz")
    assert root.findtext("os/initrd") == str(tmp_path / "initrd")
    # The name cannot split or inject kernel arguments; the image's arguments follow.
    assert (
        root.findtext("os/cmdline")
        == "console=ttyS0 overcast.name=projects/p1/servers/web_1_rm quiet overcast.burn=1 <x>"
    )
    disk = root.find("devices/disk")
    assert disk is not None and disk.find("target").get("bus") == "virtio"  # type: ignore[union-attr]
    assert disk.find("source").get("file") == str(tmp_path / "disk.qcow2")  # type: ignore[union-attr]
    assert root.find("devices/serial/log").get("file") == str(tmp_path / "console.log")  # type: ignore[union-attr]
    assert root.find("devices/interface") is None
    owner = root.find("metadata/{https://overcast.dev/xmlns/libvirt/owner/1}owner")
    assert owner is not None and owner.text == "host-7"

    with_nic = ET.fromstring(build_domain_xml(spec, virt_type="kvm", files=files, network="default"))
    assert with_nic.get("type") == "kvm"
    assert with_nic.find("devices/interface/source").get("network") == "default"  # type: ignore[union-attr]


def test_disk_boot_without_a_kernel(tmp_path: Path) -> None:
    files = DomainFiles(console_log=tmp_path / "console.log", disk=tmp_path / "disk.qcow2")
    root = ET.fromstring(build_domain_xml(_spec(boot=BootFiles()), virt_type="qemu", files=files))
    assert root.find("os/kernel") is None
    assert root.find("os/boot").get("dev") == "hd"  # type: ignore[union-attr]
    assert kernel_cmdline(_spec(instance_name="")) == "console=ttyS0 overcast.name=unnamed"


def test_console_tail_reads_the_end_and_says_when_it_cut(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"".join(f"line {i}\r\n".encode() for i in range(1000)))
    assert read_tail(log, 2, 1 << 20).text == "line 998\nline 999\n"
    whole = read_tail(log, 0, 1 << 20)
    assert whole.text.startswith("line 0\n") and not whole.truncated
    capped = read_tail(log, 0, 100)
    assert capped.truncated and capped.text.endswith("line 999\n") and not capped.text.startswith("ine")
    assert read_tail(log, 500, 100).truncated  # asked for more lines than fit
    assert read_tail(tmp_path / "missing.log", 10, 100).text == ""
