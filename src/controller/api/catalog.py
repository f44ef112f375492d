"""overcast.v1.FlavorService (ImageService: api/images.py)."""

from __future__ import annotations

from google.protobuf import empty_pb2

from controller.api import convert
from controller.api.errors import Ctx, unary
from controller.services.catalog import CatalogService
from overcast.v1 import flavor_pb2, flavor_pb2_grpc


class FlavorApi(flavor_pb2_grpc.FlavorServiceServicer):  # type: ignore[misc]  # generated servicers are untyped
    def __init__(self, catalog: CatalogService) -> None:
        self._catalog = catalog

    @unary
    async def ListFlavors(
        self, req: flavor_pb2.ListFlavorsRequest, ctx: Ctx
    ) -> flavor_pb2.ListFlavorsResponse:
        page, token = await self._catalog.list_flavors(req.page_size, req.page_token)
        return flavor_pb2.ListFlavorsResponse(
            flavors=[convert.flavor(f) for f in page], next_page_token=token
        )

    @unary
    async def GetFlavor(self, req: flavor_pb2.GetFlavorRequest, ctx: Ctx) -> flavor_pb2.Flavor:
        return convert.flavor(await self._catalog.get_flavor(req.name))

    @unary
    async def CreateFlavor(self, req: flavor_pb2.CreateFlavorRequest, ctx: Ctx) -> flavor_pb2.Flavor:
        f = req.flavor
        created = await self._catalog.create_flavor(
            req.flavor_id, f.vcpus, f.memory_mib, f.disk_gib, f.description, req.request_id
        )
        return convert.flavor(created)

    @unary
    async def DeleteFlavor(self, req: flavor_pb2.DeleteFlavorRequest, ctx: Ctx) -> empty_pb2.Empty:
        await self._catalog.delete_flavor(req.name, req.etag)
        return empty_pb2.Empty()
