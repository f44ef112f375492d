"""Flavor use cases (images: services/images.py)."""

from __future__ import annotations

from controller.domain import limits, names, paging
from controller.domain.errors import ViolationCollector
from controller.domain.model import Flavor
from controller.domain.requests import RequestIdTaken, RequestRecord, parameters
from controller.services.ports import CatalogStore
from controller.services.request_ids import raced, replay


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
        given = parameters(flavor)

        async def retry() -> Flavor | None:
            return await replay(
                request_id,
                given,
                find=lambda: self._store.find_request("flavor", request_id),
                made=self._made,
                field_name=lambda f: "flavor_id" if f == "id" else f"flavor.{f}",
            )

        if (done := await retry()) is not None:
            return done
        try:
            return await self._store.create_flavor(flavor, request_id or None, given)
        except RequestIdTaken:
            return await raced(request_id, retry)

    async def _made(self, record: RequestRecord) -> Flavor:
        return await self._store.get_flavor(names.parse_flavor(record.resource))

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
