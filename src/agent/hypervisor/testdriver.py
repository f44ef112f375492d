"""Node files for libvirt's test driver: one simulated hypervisor host per file.

`libvirt.open("test:///ABS/PATH/host.xml")` reads the file and reports its CPUs and memory in
getInfo(); every open() starts from the file's state again.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

KIB_PER_GIB = 1024 * 1024


def node_xml(*, cpus: int, memory_gib: int, mhz: int = 2400, model: str = "x86_64") -> str:
    if cpus < 1 or memory_gib < 1:
        raise ValueError("a test host needs at least 1 cpu and 1 GiB of memory")
    node = ET.Element("node")
    cpu = ET.SubElement(node, "cpu")
    # One socket of `cpus` single-threaded cores: the test driver multiplies
    # nodes * sockets * cores * threads for the topology, so keep it consistent with active.
    for tag, value in (
        ("mhz", mhz),
        ("model", model),
        ("active", cpus),
        ("nodes", 1),
        ("sockets", 1),
        ("cores", cpus),
        ("threads", 1),
    ):
        ET.SubElement(cpu, tag).text = str(value)
    ET.SubElement(node, "memory").text = str(memory_gib * KIB_PER_GIB)
    ET.indent(node)
    return ET.tostring(node, encoding="unicode") + "\n"


def write_node_file(
    path: str | os.PathLike[str],
    *,
    cpus: int,
    memory_gib: int,
    mhz: int = 2400,
    model: str = "x86_64",
) -> Path:
    """Write a test-driver node file and return its absolute path."""
    target = Path(path).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(node_xml(cpus=cpus, memory_gib=memory_gib, mhz=mhz, model=model))
    tmp.replace(target)
    return target


def uri_for(path: str | os.PathLike[str]) -> str:
    """The libvirt URI of a node file (test:// plus the absolute path)."""
    return "test://" + str(Path(path).absolute())
