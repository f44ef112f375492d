"""overcast.v1.ImageService: image metadata, and image data streamed in and out."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from google.protobuf import empty_pb2

from controller.api import convert
from controller.api.errors import Ctx, streaming, unary
from controller.domain.errors import InvalidArgument
from controller.services.images import ImageService, NewImage, UploadHeader
from overcast.v1 import image_pb2, image_pb2_grpc


async def _chunks(
    first: image_pb2.UploadImageDataRequest, rest: AsyncIterator[image_pb2.UploadImageDataRequest]
) -> AsyncGenerator[bytes, None]:
    if first.chunk:
        yield first.chunk
    async for message in rest:
        if message.chunk:
            yield message.chunk


class ImageApi(image_pb2_grpc.ImageServiceServicer):  # type: ignore[misc]  # generated servicers are untyped
    def __init__(self, images: ImageService) -> None:
        self._images = images

    @unary
    async def CreateImage(self, req: image_pb2.CreateImageRequest, ctx: Ctx) -> image_pb2.Image:
        i = req.image
        created = await self._images.create(
            NewImage(
                image_id=req.image_id,
                disk_format=i.disk_format,
                min_disk_gib=i.min_disk_gib,
                min_memory_mib=i.min_memory_mib,
                properties=dict(i.properties),
                kernel_image=i.kernel_image,
                ramdisk_image=i.ramdisk_image,
                kernel_args=i.kernel_args,
                request_id=req.request_id,
            )
        )
        return convert.image(created)

    @unary
    async def ListImages(self, req: image_pb2.ListImagesRequest, ctx: Ctx) -> image_pb2.ListImagesResponse:
        page, token = await self._images.list(req.page_size, req.page_token)
        return image_pb2.ListImagesResponse(images=[convert.image(i) for i in page], next_page_token=token)

    @unary
    async def GetImage(self, req: image_pb2.GetImageRequest, ctx: Ctx) -> image_pb2.Image:
        return convert.image(await self._images.get(req.name))

    @unary
    async def DeleteImage(self, req: image_pb2.DeleteImageRequest, ctx: Ctx) -> empty_pb2.Empty:
        await self._images.delete(req.name, req.etag)
        return empty_pb2.Empty()

    @unary
    async def UploadImageData(
        self, requests: AsyncIterator[image_pb2.UploadImageDataRequest], ctx: Ctx
    ) -> image_pb2.Image:
        first = await anext(requests, None)
        if first is None:
            raise InvalidArgument.single(
                "name", "send a first message with name, size_bytes and checksum_sha256, then the chunks"
            )
        header = UploadHeader(first.name, first.size_bytes, first.checksum_sha256)
        async with aclosing(_chunks(first, requests)) as chunks:
            image = await self._images.upload(header, chunks)
        return convert.image(image)

    @streaming
    async def DownloadImageData(
        self, req: image_pb2.DownloadImageDataRequest, ctx: Ctx
    ) -> AsyncIterator[image_pb2.ImageDataChunk]:
        image, chunks = await self._images.download(req.name, req.offset)
        offset = req.offset
        async with aclosing(chunks):
            async for data in chunks:
                yield image_pb2.ImageDataChunk(data=data, offset=offset, size_bytes=image.size_bytes)
                offset += len(data)
