"""libvirt domain XML for Overcast instances.

Built with ElementTree so instance names and metadata are always escaped. Only what the
libvirt test driver accepts is emitted today; QEMU/KVM support (disks from the image, a
serial console, network interfaces) extends `build_domain_xml` for virt types other than
"test".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agent.hypervisor.base import DomainSpec, domain_name

METADATA_NAMESPACE = "https://overcast.dev/xmlns/libvirt/instance/1"
METADATA_PREFIX = "oc"

ET.register_namespace(METADATA_PREFIX, METADATA_NAMESPACE)


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


def build_domain_xml(spec: DomainSpec, *, virt_type: str = "test") -> str:
    domain = ET.Element("domain", {"type": virt_type})
    ET.SubElement(domain, "name").text = domain_name(spec.instance_uid)
    ET.SubElement(domain, "uuid").text = spec.instance_uid
    ET.SubElement(domain, "metadata").append(build_metadata(spec))
    ET.SubElement(domain, "memory", {"unit": "MiB"}).text = str(spec.memory_mib)
    ET.SubElement(domain, "vcpu").text = str(spec.vcpus)
    os_el = ET.SubElement(domain, "os")
    ET.SubElement(os_el, "type").text = "hvm"
    ET.SubElement(domain, "on_poweroff").text = "destroy"
    ET.SubElement(domain, "on_reboot").text = "restart"
    ET.SubElement(domain, "on_crash").text = "destroy"
    return ET.tostring(domain, encoding="unicode")


def instance_name_from_xml(domain_xml: str) -> str | None:
    """The Overcast instance name stored in a domain's metadata, if any."""
    root = ET.fromstring(domain_xml)
    name = root.find(f"metadata/{_q('instance')}/{_q('name')}")
    return None if name is None else name.text
