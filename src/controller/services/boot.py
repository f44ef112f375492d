"""Resolve what a new server boots: its root image, and a kernel and ramdisk named by the
request or else by the root image, looked up in the catalogue and frozen into a BootSpec."""

from __future__ import annotations

from controller.domain.boot import boot_spec
from controller.domain.errors import FailedPrecondition, NotFound
from controller.domain.model import BootSpec, Flavor, Image
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
