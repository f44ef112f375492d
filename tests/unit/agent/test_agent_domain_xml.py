from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import libvirt

from agent.hypervisor.base import DomainSpec
from agent.hypervisor.domain_xml import (
    METADATA_NAMESPACE,
    build_domain_xml,
    instance_name_from_xml,
)


def _spec(**overrides: object) -> DomainSpec:
    values: dict[str, object] = {
        "instance_uid": str(uuid.uuid4()),
        "instance_name": "projects/p1/servers/web-<1>&'\"",
        "vcpus": 2,
        "memory_mib": 512,
        "image": "debian-12",
        "metadata": {"role": "web", "tier": "a&b"},
    }
    values.update(overrides)
    return DomainSpec(**values)  # type: ignore[arg-type]


def test_xml_has_name_uuid_resources_and_escaped_metadata() -> None:
    spec = _spec()
    root = ET.fromstring(build_domain_xml(spec))
    assert root.get("type") == "test"
    assert root.findtext("name") == f"oc-{spec.instance_uid}"
    assert root.findtext("uuid") == spec.instance_uid
    assert root.findtext("vcpu") == "2"
    assert root.find("memory").get("unit") == "MiB"  # type: ignore[union-attr]
    assert instance_name_from_xml(build_domain_xml(spec)) == spec.instance_name


def test_virt_type_is_configurable() -> None:
    root = ET.fromstring(build_domain_xml(_spec(), virt_type="qemu"))
    assert root.get("type") == "qemu"


def test_test_driver_accepts_the_xml_and_keeps_the_metadata() -> None:
    conn = libvirt.open("test:///default")
    try:
        spec = _spec()
        dom = conn.defineXML(build_domain_xml(spec))
        try:
            assert dom.UUIDString() == spec.instance_uid
            assert dom.name() == f"oc-{spec.instance_uid}"
            assert dom.maxMemory() == 512 * 1024
            assert dom.info()[3] == 2
            dom.create()
            assert dom.isActive()
            stored = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NAMESPACE)
            assert "projects/p1/servers/web-" in stored
            assert instance_name_from_xml(dom.XMLDesc()) == spec.instance_name
            dom.destroy()
        finally:
            dom.undefine()
    finally:
        conn.close()
