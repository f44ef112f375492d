from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import libvirt
import pytest

from agent.hypervisor.testdriver import node_xml, uri_for, write_node_file

SRC = str(Path(__file__).resolve().parents[3] / "src")


def test_node_file_sets_cpus_and_memory(tmp_path: Path) -> None:
    path = write_node_file(tmp_path / "h.xml", cpus=32, memory_gib=64)
    assert path.is_absolute()
    conn = libvirt.open(uri_for(path))
    try:
        arch, memory_mib, cpus, *_ = conn.getInfo()
        assert (arch, memory_mib, cpus) == ("x86_64", 64 * 1024, 32)
        assert conn.listAllDomains() == []  # a node file brings no built-in domain
    finally:
        conn.close()


def test_every_open_starts_fresh(tmp_path: Path) -> None:
    uri = uri_for(write_node_file(tmp_path / "h.xml", cpus=4, memory_gib=8))
    first = libvirt.open(uri)
    second = None
    try:
        first.defineXML(
            "<domain type='test'><name>x</name><memory>1024</memory><os><type>hvm</type></os></domain>"
        )
        second = libvirt.open(uri)
        assert [d.name() for d in first.listAllDomains()] == ["x"]
        assert second.listAllDomains() == []
    finally:
        first.close()
        if second is not None:
            second.close()


def test_rejects_empty_hosts() -> None:
    with pytest.raises(ValueError):
        node_xml(cpus=0, memory_gib=1)


def test_testhost_tool(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "host-7.xml"
    out = subprocess.run(
        [sys.executable, "-m", "devcluster.testhost", str(target), "--cpus", "48", "--memory-gib", "96"],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert out.stdout.strip() == f"test://{target}"
    conn = libvirt.open(out.stdout.strip())
    try:
        assert conn.getInfo()[1:3] == [96 * 1024, 48]
    finally:
        conn.close()


def test_testhost_tool_rejects_bad_flags(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "devcluster.testhost", str(tmp_path / "h.xml"), "--cpus", "zero"],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
