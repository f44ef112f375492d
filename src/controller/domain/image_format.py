"""What uploaded image bytes really are: the qcow2 header, and format confusion checks.

An upload is checked against its declared disk_format before it may become ACTIVE: a qcow2
image must carry a sane qcow2 header (its virtual size comes from there), and anything else
must not be a qcow2 image in disguise (a "raw" disk holding a qcow2 header with a backing file
would let a guest read host files once some tool probes the format).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

QCOW2_MAGIC = b"QFI\xfb"
# Enough bytes to judge any upload: the qcow2 v3 header is 104 bytes.
HEADER_BYTES = 512
_V2_HEADER = struct.Struct(">4sIQIIQIIQQIIQ")  # magic … snapshots_offset: 72 bytes
_V3_EXTRA = struct.Struct(">QQQII")  # incompatible/compatible/autoclear features, refcount order, length
_INCOMPAT_KNOWN = 0x1F  # dirty, corrupt, external data file, compression type, extended L2
_INCOMPAT_CORRUPT = 1 << 1
_INCOMPAT_DATA_FILE = 1 << 2
MIN_CLUSTER_BITS = 9
MAX_CLUSTER_BITS = 21


class ImageFormatError(ValueError):
    """The bytes do not hold what the image's disk_format says; the message says why."""


@dataclass(frozen=True)
class Qcow2Header:
    version: int
    cluster_bits: int
    virtual_size: int


def parse_qcow2_header(head: bytes) -> Qcow2Header:
    """Parse and vet the qcow2 header at the start of `head` (at least 72 bytes, 104 for v3)."""
    if head[:4] != QCOW2_MAGIC:  # shorter data cannot match either
        raise ImageFormatError("the data is not a qcow2 image (no QFI\\xfb magic at offset 0)")
    if len(head) < _V2_HEADER.size:
        raise ImageFormatError(f"the qcow2 header is truncated ({len(head)} bytes)")
    (
        _magic,
        version,
        backing_file_offset,
        _backing_file_size,
        cluster_bits,
        virtual_size,
        crypt_method,
        *_rest,
    ) = _V2_HEADER.unpack_from(head)
    if version not in (2, 3):
        raise ImageFormatError(f"qcow2 version {version} is not supported (2 or 3)")
    if not MIN_CLUSTER_BITS <= cluster_bits <= MAX_CLUSTER_BITS:
        raise ImageFormatError(f"qcow2 cluster_bits {cluster_bits} is out of range")
    if backing_file_offset != 0:
        raise ImageFormatError(
            "the qcow2 image has a backing file: upload a standalone image (qemu-img convert -O qcow2 IN OUT)"
        )
    if crypt_method != 0:
        raise ImageFormatError("the qcow2 image is encrypted: upload an unencrypted image")
    if virtual_size <= 0:
        raise ImageFormatError("the qcow2 image has a virtual size of 0 bytes")
    if version == 3:
        if len(head) < _V2_HEADER.size + _V3_EXTRA.size:
            raise ImageFormatError(f"the qcow2 v3 header is truncated ({len(head)} bytes)")
        incompatible, *_ = _V3_EXTRA.unpack_from(head, _V2_HEADER.size)
        if incompatible & _INCOMPAT_DATA_FILE:
            raise ImageFormatError(
                "the qcow2 image keeps its data in an external file: upload a standalone image"
            )
        if incompatible & _INCOMPAT_CORRUPT:
            raise ImageFormatError("the qcow2 image is marked corrupt: repair it (qemu-img check -r all)")
        if incompatible & ~_INCOMPAT_KNOWN:
            raise ImageFormatError(f"the qcow2 image needs unknown features (0x{incompatible:x})")
    return Qcow2Header(version=version, cluster_bits=cluster_bits, virtual_size=virtual_size)


def virtual_size(disk_format: str, head: bytes, size_bytes: int) -> int:
    """The disk size the image presents, after checking `head` matches `disk_format`.

    `head` is the first HEADER_BYTES of the data (all of it when shorter).
    """
    if disk_format == "qcow2":
        return parse_qcow2_header(head).virtual_size
    if head[:4] == QCOW2_MAGIC:
        raise ImageFormatError(
            f"the data is a qcow2 image, not {disk_format}: create the image with disk_format qcow2"
        )
    return size_bytes
