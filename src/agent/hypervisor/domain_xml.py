"""libvirt domain XML for Overcast instances.

Built with ElementTree so instance names, metadata and kernel arguments are always escaped.
The test driver gets the bare domain; QEMU domains ("qemu" = TCG, "kvm") also get their
files (a virtio root disk overlay, a direct kernel boot when the image names a kernel), a
serial console logged to a file, ACPI (so shutdown and reboot reach the guest) and, when the
agent is configured with a libvirt network, a virtio NIC on it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from agent.hypervisor.base import DomainSpec, domain_name
from agent.hypervisor.instance_files import DomainFiles

METADATA_NAMESPACE = "https://overcast.dev/xmlns/libvirt/instance/1"
METADATA_PREFIX = "oc"
# The agent (host id) that defined a domain, in an element of its own so that rewriting the
# instance metadata (UPDATE_METADATA) keeps it: agents sharing one libvirt (tests, benches)
# must not report or touch each other's domains.
OWNER_NAMESPACE = "https://overcast.dev/xmlns/libvirt/owner/1"
OWNER_PREFIX = "ocowner"
# The server's placement generation (fencing: the agent refuses commands older than it), in
# an element of its own for the same reason as the owner.
GENERATION_NAMESPACE = "https://overcast.dev/xmlns/libvirt/generation/1"
GENERATION_PREFIX = "ocgeneration"

ET.register_namespace(METADATA_PREFIX, METADATA_NAMESPACE)
ET.register_namespace(OWNER_PREFIX, OWNER_NAMESPACE)
ET.register_namespace(GENERATION_PREFIX, GENERATION_NAMESPACE)


def _q(tag: str) -> str:
    return f"{{{METADATA_NAMESPACE}}}{tag}"


def build_metadata(spec: DomainSpec) -> ET.Element:
    instance = ET.Element(_q("instance"))
    ET.SubElement(instance, _q("name")).text = spec.instance_name
    if spec.image:
        ET.SubElement(instance, _q("image")).text = spec.image
    if spec.metadata:
        items = ET.SubElement(instance, _q("metadata"))
        for key in sorted(spec.metadata):
            ET.SubElement(items, _q("item"), {"key": key}).text = spec.metadata[key]
    return instance


_UNSAFE_IN_CMDLINE = re.compile(r"[^A-Za-z0-9._/:-]")


def kernel_cmdline(spec: DomainSpec, extra: str = "") -> str:
    """console=ttyS0 (the logged serial port) and the instance's name, so a guest (and a
    person reading its console) knows who it is; then the image's own arguments."""
    name = _UNSAFE_IN_CMDLINE.sub("_", spec.instance_name) or "unnamed"
    return " ".join(part for part in ("console=ttyS0", f"overcast.name={name}", extra.strip()) if part)


def build_domain_xml(
    spec: DomainSpec,
    *,
    virt_type: str = "test",
    files: DomainFiles | None = None,
    network: str = "",
    owner: str = "",
    arch: str = "x86_64",
) -> str:
    domain = ET.Element("domain", {"type": virt_type})
    ET.SubElement(domain, "name").text = domain_name(spec.instance_uid)
    ET.SubElement(domain, "uuid").text = spec.instance_uid
    metadata = ET.SubElement(domain, "metadata")
    metadata.append(build_metadata(spec))
    if owner:
        ET.SubElement(metadata, f"{{{OWNER_NAMESPACE}}}owner").text = owner
    if spec.generation > 0:
        ET.SubElement(metadata, f"{{{GENERATION_NAMESPACE}}}generation").text = str(spec.generation)
    ET.SubElement(domain, "memory", {"unit": "MiB"}).text = str(spec.memory_mib)
    ET.SubElement(domain, "vcpu").text = str(spec.vcpus)
    os_el = ET.SubElement(domain, "os")
    if files is None:
        ET.SubElement(os_el, "type").text = "hvm"
    else:
        ET.SubElement(os_el, "type", {"arch": arch}).text = "hvm"
        _add_boot(os_el, spec, files)
        features = ET.SubElement(domain, "features")
        ET.SubElement(features, "acpi")
        ET.SubElement(features, "apic")
        ET.SubElement(domain, "clock", {"offset": "utc"})
    ET.SubElement(domain, "on_poweroff").text = "destroy"
    ET.SubElement(domain, "on_reboot").text = "restart"
    ET.SubElement(domain, "on_crash").text = "destroy"
    if files is not None:
        _add_devices(ET.SubElement(domain, "devices"), files, network)
    return ET.tostring(domain, encoding="unicode")


def _add_boot(os_el: ET.Element, spec: DomainSpec, files: DomainFiles) -> None:
    if files.kernel is None:
        ET.SubElement(os_el, "boot", {"dev": "hd"})
        return
    ET.SubElement(os_el, "kernel").text = str(files.kernel)
    if files.initrd is not None:
        ET.SubElement(os_el, "initrd").text = str(files.initrd)
    extra = spec.boot.kernel_args if spec.boot is not None else ""
    ET.SubElement(os_el, "cmdline").text = kernel_cmdline(spec, extra)


def _add_devices(devices: ET.Element, files: DomainFiles, network: str) -> None:
    if files.disk is not None:
        disk = ET.SubElement(devices, "disk", {"type": "file", "device": "disk"})
        ET.SubElement(disk, "driver", {"name": "qemu", "type": files.disk_format})
        ET.SubElement(disk, "source", {"file": str(files.disk)})
        ET.SubElement(disk, "target", {"dev": "vda", "bus": "virtio"})
    if network:
        nic = ET.SubElement(devices, "interface", {"type": "network"})
        ET.SubElement(nic, "source", {"network": network})
        ET.SubElement(nic, "model", {"type": "virtio"})
    # A pty (for `virsh console`) whose output virtlogd also appends to the log file.
    serial = ET.SubElement(devices, "serial", {"type": "pty"})
    ET.SubElement(serial, "log", {"file": str(files.console_log), "append": "on"})
    ET.SubElement(serial, "target", {"port": "0"})
    console = ET.SubElement(devices, "console", {"type": "pty"})
    ET.SubElement(console, "target", {"type": "serial", "port": "0"})


def instance_name_from_xml(domain_xml: str) -> str | None:
    """The Overcast instance name stored in a domain's metadata, if any."""
    root = ET.fromstring(domain_xml)
    name = root.find(f"metadata/{_q('instance')}/{_q('name')}")
    return None if name is None else name.text


def metadata_element_xml(uid: str, instance_name: str, image: str, metadata: Mapping[str, str]) -> str:
    """Overcast's metadata element (as in the domain XML) without namespace prefixes:
    setMetadata takes the namespace separately and refuses a declared one."""
    element = build_metadata(
        DomainSpec(
            instance_uid=uid,
            instance_name=instance_name,
            vcpus=1,
            memory_mib=1,
            image=image,
            metadata=dict(metadata),
        )
    )
    for node in element.iter():
        node.tag = _local(node.tag)
    return ET.tostring(element, encoding="unicode")


def metadata_from_xml(text: str) -> dict[str, str]:
    """The `item`s of Overcast's metadata element (as libvirt returns it: with or without
    the namespace prefix); {} when it is not XML."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return {}
    items: dict[str, str] = {}
    for element in root.iter():
        if _local(element.tag) == "item" and "key" in element.attrib:
            items[element.attrib["key"]] = element.text or ""
    return items


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def owner_from_metadata(metadata_xml: str) -> str | None:
    """The owner in what libvirt's metadata(ELEMENT, OWNER_NAMESPACE) returns."""
    try:
        root = ET.fromstring(metadata_xml)
    except ET.ParseError:
        return None
    return (root.text or "").strip()


def generation_from_metadata(metadata_xml: str) -> int:
    """The generation in what libvirt's metadata(ELEMENT, GENERATION_NAMESPACE) returns (0:
    unreadable)."""
    try:
        return max(0, int((ET.fromstring(metadata_xml).text or "").strip()))
    except (ET.ParseError, ValueError):
        return 0
