"""What a server may boot: root disk formats, kernel and ramdisk rules, flavor disk size."""

from __future__ import annotations

import pytest

from controller.domain.boot import MAX_KERNEL_ARGS, boot_spec, check_kernel_args
from controller.domain.errors import FailedPrecondition, ViolationCollector
from controller.domain.model import Flavor, Image, ImageRef, ImageStatus

GIB = 1024**3  # written out: the flavor's disk is in GiB, an image's virtual size in bytes
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
    ("root", "kernel", "ramdisk", "args", "says", "reason"),
    [
        (KERNEL, None, None, "", "a root disk must be qcow2 or raw", "IMAGE_NOT_BOOTABLE"),
        (RAMDISK, None, None, "", "a root disk must be qcow2 or raw", "IMAGE_NOT_BOOTABLE"),
        (ROOT, RAMDISK, None, "", "a kernel must be aki", "IMAGE_NOT_BOOTABLE"),
        (ROOT, KERNEL, KERNEL, "", "server.ramdisk_image: .* a ramdisk must be ari", "IMAGE_NOT_BOOTABLE"),
        (
            ROOT,
            img("k", "aki", ImageStatus.QUEUED),
            None,
            "",
            "server.kernel_image: .* upload its data first",
            "IMAGE_NOT_ACTIVE",
        ),
        (ROOT, KERNEL, img("r", "ari", ImageStatus.QUEUED), "", "upload its data first", "IMAGE_NOT_ACTIVE"),
        (ROOT, None, RAMDISK, "", "no kernel boots with it", "RAMDISK_WITHOUT_KERNEL"),
        (ROOT, None, None, "quiet", "kernel_args need a kernel", "KERNEL_ARGS_WITHOUT_KERNEL"),
        (img("q", "raw", ImageStatus.QUEUED), KERNEL, None, "", "has no data yet", "IMAGE_NOT_ACTIVE"),
        (
            img("big", "qcow2", virtual=GIB + 1),
            None,
            None,
            "",
            "larger than the flavor's disk: its virtual size is 1.00 GiB, flavors/m1.tiny has 1 GiB",
            "IMAGE_TOO_LARGE",
        ),
    ],
)
def test_refusals_say_what_to_fix(
    root: Image, kernel: Image | None, ramdisk: Image | None, args: str, says: str, reason: str
) -> None:
    with pytest.raises(FailedPrecondition, match=says) as refused:
        boot_spec(root, TINY, kernel=kernel, ramdisk=ramdisk, kernel_args=args)
    assert refused.value.reason == reason  # what a client branches on


def test_an_image_exactly_the_flavors_disk_size_fits() -> None:
    exact = img("exact", "qcow2", virtual=TINY.disk_gib * GIB)
    assert boot_spec(exact, TINY, kernel=None, ramdisk=None, kernel_args="").root_image.name == "images/exact"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ("a" * MAX_KERNEL_ARGS, None),  # the x86 command line: 2048 bytes
        ("a" * (MAX_KERNEL_ARGS - 1) + "é", "at most 2048 bytes"),  # bytes, not characters
        ("console=ttyS0\nquiet", "must be one line"),
        ("console=ttyS0\rquiet", "must be one line"),
        ("console=ttyS0\0", "must be one line"),
    ],
)
def test_kernel_args_are_one_line_of_at_most_2048_bytes(args: str, says: str | None) -> None:
    v = ViolationCollector()
    check_kernel_args(v, "server.kernel_args", args)
    if says is None:
        assert v.violations == []
    else:
        (refused,) = v.violations
        assert refused.field == "server.kernel_args" and says in refused.description


def test_a_flavor_without_disk_size_takes_the_image_size() -> None:
    big = img("big", "raw", virtual=100 * GIB)
    assert boot_spec(big, NO_DISK, kernel=None, ramdisk=None, kernel_args="").root_image is not None
