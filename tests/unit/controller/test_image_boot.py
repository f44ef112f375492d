"""What a server may boot: root disk formats, kernel and ramdisk rules, flavor disk size."""

from __future__ import annotations

import pytest

from controller.domain.boot import GIB, boot_spec
from controller.domain.errors import FailedPrecondition
from controller.domain.model import Flavor, Image, ImageRef, ImageStatus

TINY = Flavor("m1.tiny", 1, 512, 1)
NO_DISK = Flavor("m1.nodisk", 1, 512, 0)
A = ImageStatus.ACTIVE


def img(image_id: str, fmt: str, status: ImageStatus = A, virtual: int = GIB // 2) -> Image:
    return Image(
        image_id,
        fmt,
        status=status,
        size_bytes=1000 if status is A else 0,
        checksum_sha256=("c" * 64) if status is A else "",
        virtual_size_bytes=virtual if status is A else 0,
    )


ROOT, KERNEL, RAMDISK = img("root", "qcow2"), img("vmlinuz", "aki"), img("initrd", "ari")


def test_a_kernel_boot_freezes_every_part() -> None:
    spec = boot_spec(ROOT, TINY, kernel=KERNEL, ramdisk=RAMDISK, kernel_args="console=ttyS0")
    assert spec.root_image == ImageRef("images/root", "qcow2", 1000, "c" * 64)
    assert spec.kernel is not None and spec.kernel.name == "images/vmlinuz"
    assert spec.ramdisk is not None and spec.ramdisk.disk_format == "ari"
    assert spec.kernel_args == "console=ttyS0"


def test_a_metadata_only_root_boots_without_a_kernel() -> None:
    spec = boot_spec(
        img("cirros", "qcow2", ImageStatus.QUEUED), TINY, kernel=None, ramdisk=None, kernel_args=""
    )
    assert spec.root_image == ImageRef("images/cirros", "qcow2", 0, "")
    assert spec.kernel is None


@pytest.mark.parametrize(
    ("root", "kernel", "ramdisk", "args", "says"),
    [
        (KERNEL, None, None, "", "a root disk must be qcow2 or raw"),
        (RAMDISK, None, None, "", "a root disk must be qcow2 or raw"),
        (ROOT, RAMDISK, None, "", "a kernel must be aki"),
        (ROOT, KERNEL, KERNEL, "", "a ramdisk must be ari"),
        (ROOT, img("k", "aki", ImageStatus.QUEUED), None, "", "upload its data first"),
        (ROOT, None, RAMDISK, "", "no kernel boots with it"),
        (ROOT, None, None, "quiet", "kernel_args need a kernel"),
        (img("q", "raw", ImageStatus.QUEUED), KERNEL, None, "", "has no data yet"),
        (img("big", "qcow2", virtual=GIB + 1), None, None, "", "larger than the flavor's disk"),
    ],
)
def test_refusals_say_what_to_fix(
    root: Image, kernel: Image | None, ramdisk: Image | None, args: str, says: str
) -> None:
    with pytest.raises(FailedPrecondition, match=says):
        boot_spec(root, TINY, kernel=kernel, ramdisk=ramdisk, kernel_args=args)


def test_a_flavor_without_disk_size_takes_the_image_size() -> None:
    big = img("big", "raw", virtual=100 * GIB)
    assert boot_spec(big, NO_DISK, kernel=None, ramdisk=None, kernel_args="").root_image is not None
