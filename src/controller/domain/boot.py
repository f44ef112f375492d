"""What a server boots: the rules for root disks, kernels and ramdisks, and the frozen BootSpec.

A root disk is a qcow2 or raw image. A server may boot a kernel directly (an `aki` image, with
an optional `ari` ramdisk and kernel arguments), named by the server request or else by its
root image. Everything is frozen into the server's BootSpec at create time, with the checksum
an agent verifies the data against, so a later image change cannot alter a server.
"""

from __future__ import annotations

from controller.domain.errors import FailedPrecondition, ViolationCollector
from controller.domain.model import BootSpec, Flavor, Image, ImageRef, ImageStatus

ROOT_FORMATS = ("qcow2", "raw")
KERNEL_FORMAT = "aki"
RAMDISK_FORMAT = "ari"
MAX_KERNEL_ARGS = 2048  # the x86 kernel command line holds 2048 bytes
GIB = 1024**3


def check_kernel_args(v: ViolationCollector, field: str, args: str) -> None:
    if len(args.encode()) > MAX_KERNEL_ARGS:
        v.add(field, f"at most {MAX_KERNEL_ARGS} bytes")
    if any(c in args for c in "\0\n\r"):
        v.add(field, "must be one line (no NUL or line breaks)")


def image_ref(image: Image) -> ImageRef:
    return ImageRef(
        name=f"images/{image.id}",
        disk_format=image.disk_format,
        size_bytes=image.size_bytes,
        checksum_sha256=image.checksum_sha256,
    )


def check_boot_part(image: Image, role: str, field: str) -> None:
    """`image` as the server's kernel (role "kernel") or ramdisk: right format, data uploaded."""
    want = KERNEL_FORMAT if role == "kernel" else RAMDISK_FORMAT
    if image.disk_format != want:
        raise FailedPrecondition(
            f"{field}: images/{image.id} is a {image.disk_format} image, a {role} must be {want}",
            reason="IMAGE_NOT_BOOTABLE",
        )
    if image.status is not ImageStatus.ACTIVE:
        raise FailedPrecondition(
            f"{field}: {role} images/{image.id} is {image.status.value}: upload its data first",
            reason="IMAGE_NOT_ACTIVE",
        )


def check_root(image: Image, flavor: Flavor, *, direct_kernel: bool) -> None:
    """`image` as the server's root disk on `flavor`."""
    if image.disk_format not in ROOT_FORMATS:
        raise FailedPrecondition(
            f"images/{image.id} is a {image.disk_format} image: a root disk must be "
            f"{' or '.join(ROOT_FORMATS)} (name a kernel with server.kernel_image instead)",
            reason="IMAGE_NOT_BOOTABLE",
        )
    if image.status is ImageStatus.QUEUED and direct_kernel:
        # Metadata-only images boot on the libvirt test driver; a kernel boot is a real boot.
        raise FailedPrecondition(
            f"images/{image.id} has no data yet (QUEUED): upload it before booting it with a kernel",
            reason="IMAGE_NOT_ACTIVE",
        )
    # A flavor without a disk size (0) takes the image's size, as in Nova.
    if flavor.disk_gib and image.virtual_size_bytes > flavor.disk_gib * GIB:
        raise FailedPrecondition(
            f"images/{image.id} is larger than the flavor's disk: its virtual size is "
            f"{image.virtual_size_bytes / GIB:.2f} GiB, flavors/{flavor.id} has {flavor.disk_gib} GiB; "
            "choose a larger flavor",
            reason="IMAGE_TOO_LARGE",
        )


def boot_spec(
    root: Image,
    flavor: Flavor,
    *,
    kernel: Image | None,
    ramdisk: Image | None,
    kernel_args: str,
) -> BootSpec:
    """Check every part and freeze them. `kernel`/`ramdisk` are already the resolved images
    (the request's override or the root image's own)."""
    if kernel is not None:
        check_boot_part(kernel, "kernel", "server.kernel_image")
    if ramdisk is not None:
        if kernel is None:
            raise FailedPrecondition(
                f"images/{ramdisk.id} is a ramdisk but no kernel boots with it: set server.kernel_image",
                reason="RAMDISK_WITHOUT_KERNEL",
            )
        check_boot_part(ramdisk, "ramdisk", "server.ramdisk_image")
    if kernel_args and kernel is None:
        raise FailedPrecondition(
            "kernel_args need a kernel to pass them to: set server.kernel_image",
            reason="KERNEL_ARGS_WITHOUT_KERNEL",
        )
    check_root(root, flavor, direct_kernel=kernel is not None)
    return BootSpec(
        root_image=image_ref(root),
        kernel=image_ref(kernel) if kernel is not None else None,
        ramdisk=image_ref(ramdisk) if ramdisk is not None else None,
        kernel_args=kernel_args,
    )
