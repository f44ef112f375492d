"""Flavor and image use cases (images are metadata only until the image-data issue)."""

from __future__ import annotations

from collections.abc import Mapping

from controller.domain import limits, names, paging
from controller.domain.errors import ViolationCollector
from controller.domain.model import Flavor, Image, ImageStatus
from controller.services.ports import CatalogStore


class CatalogService:
    def __init__(self, store: CatalogStore) -> None:
        self._store = store

    async def create_flavor(
        self,
        flavor_id: str,
        vcpus: int,
        memory_mib: int,
        disk_gib: int,
        description: str,
        request_id: str,
    ) -> Flavor:
        v = ViolationCollector()
        v.check(lambda: names.check_catalog_id(flavor_id, "flavor_id"))
        limits.check_range(v, "flavor.vcpus", vcpus, 1, limits.MAX_VCPUS)
        limits.check_range(v, "flavor.memory_mib", memory_mib, 64, limits.MAX_MEMORY_MIB)
        limits.check_range(v, "flavor.disk_gib", disk_gib, 0, limits.MAX_DISK_GIB)
        if len(description) > limits.MAX_DESCRIPTION:
            v.add("flavor.description", f"at most {limits.MAX_DESCRIPTION} characters")
        limits.check_request_id(v, request_id)
        v.raise_if_any()
        flavor = Flavor(flavor_id, vcpus, memory_mib, disk_gib, description)
        return await self._store.create_flavor(flavor, request_id or None)

    async def get_flavor(self, name: str) -> Flavor:
        return await self._store.get_flavor(names.parse_flavor(name))

    async def list_flavors(self, page_size: int, page_token: str) -> tuple[list[Flavor], str]:
        return await paging.fetch_page(
            page_size,
            page_token,
            "flavors",
            lambda after, limit: self._store.list_flavors(after=after, limit=limit),
            lambda f: f.id,
        )

    async def delete_flavor(self, name: str, etag: str) -> None:
        await self._store.delete_flavor(names.parse_flavor(name), etag)

    async def create_image(
        self,
        image_id: str,
        disk_format: str,
        min_disk_gib: int,
        min_memory_mib: int,
        properties: Mapping[str, str],
        request_id: str,
    ) -> Image:
        v = ViolationCollector()
        v.check(lambda: names.check_catalog_id(image_id, "image_id"))
        if disk_format not in limits.DISK_FORMATS:
            formats = ", ".join(limits.DISK_FORMATS)
            v.add("image.disk_format", f"{disk_format!r} is not one of {formats}")
        limits.check_range(v, "image.min_disk_gib", min_disk_gib, 0, limits.MAX_DISK_GIB)
        limits.check_range(v, "image.min_memory_mib", min_memory_mib, 0, limits.MAX_MEMORY_MIB)
        limits.check_metadata(v, "image.properties", dict(properties))
        limits.check_request_id(v, request_id)
        v.raise_if_any()
        # No data has been uploaded: the image stays QUEUED, as in Glance.
        image = Image(
            image_id,
            disk_format,
            min_disk_gib,
            min_memory_mib,
            ImageStatus.QUEUED,
            properties=dict(properties),
        )
        return await self._store.create_image(image, request_id or None)

    async def get_image(self, name: str) -> Image:
        return await self._store.get_image(names.parse_image(name))

    async def list_images(self, page_size: int, page_token: str) -> tuple[list[Image], str]:
        return await paging.fetch_page(
            page_size,
            page_token,
            "images",
            lambda after, limit: self._store.list_images(after=after, limit=limit),
            lambda i: i.id,
        )

    async def delete_image(self, name: str, etag: str) -> None:
        await self._store.delete_image(names.parse_image(name), etag)
