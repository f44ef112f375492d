"""Image bytes from the controller: ImageService.DownloadImageData as an agent.images source.

This is an edge of the agent (like the uplink): protobuf stays here. With several controller
replicas, a failed attempt moves on to the next address; the cache retries and resumes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from agent.images import Chunk, ImageError
from overcast.v1 import image_pb2, image_pb2_grpc

# A whole image streams within one call; generous, but every call carries a deadline.
_DOWNLOAD_DEADLINE_S = 900.0


class ControllerImageSource:
    def __init__(self, targets: str) -> None:
        self._targets = [t.strip() for t in targets.split(",") if t.strip()]
        if not self._targets:
            raise ValueError("no controller address given")
        self._index = 0
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> image_pb2_grpc.ImageServiceStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._targets[self._index])
        return image_pb2_grpc.ImageServiceStub(self._channel)

    async def _next_target(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        self._index = (self._index + 1) % len(self._targets)

    async def download(self, name: str, offset: int) -> AsyncIterator[Chunk]:
        call = self._stub().DownloadImageData(
            image_pb2.DownloadImageDataRequest(name=name, offset=offset), timeout=_DOWNLOAD_DEADLINE_S
        )
        try:
            async for chunk in call:
                yield Chunk(data=chunk.data, offset=chunk.offset, size_bytes=chunk.size_bytes)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                await self._next_target()
                raise ConnectionError(f"{exc.code().name}: {exc.details()}") from None
            # NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION (no data yet): retrying won't help.
            raise ImageError(f"cannot download {name}: {exc.code().name}: {exc.details()}") from None
        finally:
            call.cancel()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
