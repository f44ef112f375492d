"""What an image file holds, told from its first bytes, so that `image create --file` can choose
the disk format itself and refuse a declared format the data contradicts before anything is
created. The controller checks the upload again (qcow2 headers, format confusion); this only
spares the user a refused upload and an image record left QUEUED."""

from __future__ import annotations

from pathlib import Path

HEAD_BYTES = 4096

QCOW2 = b"QFI\xfb"
# Compressed or plain cpio archives: what an initramfs (ari) is.
_INITRAMFS = (
    b"\x1f\x8b",  # gzip
    b"\xfd7zXZ\x00",  # xz
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\x02\x21\x4c\x18",  # lz4 legacy
    b"BZh",  # bzip2
    b"070701",  # cpio newc
    b"070702",  # cpio crc
)


def detect(head: bytes) -> str:
    """ "qcow2", "aki" (a Linux boot image), "ari" (an initramfs) or "raw" (anything else)."""
    if head.startswith(QCOW2):
        return "qcow2"
    if head[0x202:0x206] == b"HdrS" or head[0x38:0x3C] == b"ARM\x64":  # x86 bzImage, arm64 Image
        return "aki"
    if head.startswith(_INITRAMFS):
        return "ari"
    return "raw"


def detect_file(path: Path) -> str:
    with path.open("rb") as f:
        return detect(f.read(HEAD_BYTES))


def contradiction(declared: str, detected: str) -> str | None:
    """Why data detected as `detected` cannot be uploaded as `declared`, or None when it can.
    Unrecognised bytes ("raw") may be declared anything but qcow2: a kernel or initramfs of a
    kind not recognised here is still the user's call."""
    if declared == detected:
        return None
    if "qcow2" in (declared, detected) or (detected != "raw" and declared in ("aki", "ari")):
        return f"the file looks like {_WHAT[detected]}, not {_WHAT.get(declared, declared)}"
    return None


_WHAT = {
    "qcow2": "a qcow2 disk image",
    "aki": "a kernel (aki)",
    "ari": "an initramfs (ari)",
    "raw": "a raw disk image",
}
