"""Resolve what a new server boots: its root image, and a kernel and ramdisk named by the
request or else by the root image, looked up in the catalogue and frozen into a BootSpec."""

from __future__ import annotations

from controller.domain.boot import boot_spec
from controller.domain.errors import FailedPrecondition, NotFound
from controller.domain.model import BootSpec, Flavor, Image, ImageStatus
from controller.services.ports import CatalogStore


async def _part(catalog: CatalogStore, requested: str, own: str, field: str) -> Image | None:
    """The request's image if it names one (unknown: NOT_FOUND), else the root image's own."""
    if requested:
        return await catalog.get_image(requested)
    if not own:
        return None
    try:
        return await catalog.get_image(own)
    except NotFound as exc:
        raise FailedPrecondition(
            f"{field}: the image's images/{own} no longer exists: name another one", reason="IMAGE_NOT_FOUND"
        ) from exc


async def resolve_boot(
    catalog: CatalogStore,
    root: Image,
    flavor: Flavor,
    *,
    kernel_id: str = "",
    ramdisk_id: str = "",
    kernel_args: str = "",
) -> BootSpec:
    """`kernel_id`/`ramdisk_id`/`kernel_args` are the request's overrides ("" = the image's)."""
    kernel = await _part(catalog, kernel_id, root.kernel_image, "server.kernel_image")
    ramdisk = await _part(catalog, ramdisk_id, root.ramdisk_image, "server.ramdisk_image")
    return boot_spec(
        root,
        flavor,
        kernel=kernel,
        ramdisk=ramdisk,
        kernel_args=kernel_args or root.kernel_args,
    )


async def bootable(catalog: CatalogStore, flavor_id: str, image_id: str) -> tuple[Flavor, Image]:
    """The flavor and image a new server boots from: NotFound for either, FailedPrecondition
    for an image that cannot boot or a flavor too small for it."""
    flavor = await catalog.get_flavor(flavor_id)
    image = await catalog.get_image(image_id)
    if image.status not in (ImageStatus.QUEUED, ImageStatus.ACTIVE):
        raise FailedPrecondition(
            f"images/{image_id} is {image.status.value}: it cannot boot servers",
            reason="IMAGE_NOT_USABLE",
        )
    if image.min_disk_gib > flavor.disk_gib or image.min_memory_mib > flavor.memory_mib:
        raise FailedPrecondition(
            f"images/{image_id} needs {image.min_disk_gib} GiB disk and "
            f"{image.min_memory_mib} MiB memory; flavors/{flavor_id} has "
            f"{flavor.disk_gib} GiB and {flavor.memory_mib} MiB: choose a larger flavor",
            reason="FLAVOR_TOO_SMALL",
        )
    return flavor, image
