"""What uploaded bytes really are: qcow2 headers parsed and vetted, format confusion refused."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from controller.domain.image_format import (
    HEADER_BYTES,
    ImageFormatError,
    parse_qcow2_header,
    virtual_size,
)

GIB = 1024**3


def header(
    *,
    magic: bytes = b"QFI\xfb",
    version: int = 3,
    backing_file_offset: int = 0,
    cluster_bits: int = 16,
    size: int = 10 * GIB,
    crypt_method: int = 0,
    incompatible: int = 0,
) -> bytes:
    v2 = struct.pack(
        ">4sIQIIQIIQQIIQ",
        magic,
        version,
        backing_file_offset,
        0,
        cluster_bits,
        size,
        crypt_method,
        0,
        0,
        65536,
        1,
        0,
        0,
    )
    if version == 2:
        return v2
    return v2 + struct.pack(">QQQII", incompatible, 0, 0, 4, 104)


def test_v3_header_gives_the_virtual_size() -> None:
    parsed = parse_qcow2_header(header(size=10 * GIB) + b"\0" * 400)
    assert (parsed.version, parsed.cluster_bits, parsed.virtual_size) == (3, 16, 10 * GIB)


def test_v2_header_needs_only_72_bytes() -> None:
    assert len(header(version=2)) == 72
    assert parse_qcow2_header(header(version=2, size=12345)).virtual_size == 12345


@pytest.mark.skipif(not shutil.which("qemu-img"), reason="qemu-img (qemu-utils) is not installed")
@pytest.mark.parametrize("compat", ["0.10", "1.1"])  # qcow2 v2 and v3
def test_what_qemu_img_writes(tmp_path: Path, compat: str) -> None:
    path = tmp_path / "disk.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-o", f"compat={compat}", str(path), "3G"], check=True
    )
    head = path.read_bytes()[:HEADER_BYTES]
    assert virtual_size("qcow2", head, path.stat().st_size) == 3 * GIB


@pytest.mark.parametrize(
    ("head", "says"),
    [
        (b"", "not a qcow2 image"),
        (b"\0" * 512, "not a qcow2 image"),
        (b"QFI\xfb" + b"\0" * 20, "truncated"),
        (header()[:90], "v3 header is truncated"),
        (header(version=4), "version 4 is not supported"),
        (header(cluster_bits=30), "cluster_bits 30"),
        (header(backing_file_offset=512), "backing file"),
        (header(crypt_method=1), "encrypted"),
        (header(size=0), "virtual size of 0"),
        (header(incompatible=1 << 2), "external file"),
        (header(incompatible=1 << 1), "marked corrupt"),
        (header(incompatible=1 << 9), "unknown features"),
    ],
)
def test_bad_qcow2_headers_say_why(head: bytes, says: str) -> None:
    with pytest.raises(ImageFormatError, match=says):
        virtual_size("qcow2", head, 1 << 20)


@pytest.mark.parametrize(("cluster_bits", "ok"), [(8, False), (9, True), (21, True), (22, False)])
def test_cluster_sizes_from_512_bytes_to_2_mib_are_accepted(cluster_bits: int, ok: bool) -> None:
    if ok:
        assert parse_qcow2_header(header(cluster_bits=cluster_bits)).cluster_bits == cluster_bits
    else:
        with pytest.raises(ImageFormatError, match=f"cluster_bits {cluster_bits} is out of range"):
            parse_qcow2_header(header(cluster_bits=cluster_bits))


def test_a_one_byte_virtual_size_is_a_size() -> None:
    assert parse_qcow2_header(header(size=1)).virtual_size == 1


def test_dirty_qcow2_is_accepted() -> None:
    assert parse_qcow2_header(header(incompatible=1)).virtual_size == 10 * GIB


@pytest.mark.parametrize("disk_format", ["raw", "aki", "ari"])
def test_other_formats_present_their_size(disk_format: str) -> None:
    assert virtual_size(disk_format, b"\x7fELF" + b"\0" * 100, 5000) == 5000


@pytest.mark.parametrize("disk_format", ["raw", "aki", "ari"])
def test_a_qcow2_image_in_disguise_is_refused(disk_format: str) -> None:
    with pytest.raises(ImageFormatError, match=f"is a qcow2 image, not {disk_format}"):
        virtual_size(disk_format, header(), 1 << 20)
