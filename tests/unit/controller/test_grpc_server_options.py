"""The controller's gRPC server options: a small fixed stream window bounds what waits in the
controller's memory, but never cuts a message: every message up to the receive limit arrives
whole, on a stream that carries many small ones too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from controller.app import SERVER_OPTIONS, STREAM_WINDOW_BYTES

MAX_RECEIVE = dict(SERVER_OPTIONS)["grpc.max_receive_message_length"]
METHOD = "/test.Sizes/Echo"


async def _sizes(
    requests: AsyncIterator[bytes], ctx: grpc.aio.ServicerContext[bytes, bytes]
) -> AsyncIterator[bytes]:
    """Answers each message with its length and its last byte (to tell it arrived whole)."""
    async for message in requests:
        await asyncio.sleep(0.01)  # a reader slower than the writer: the window fills
        yield f"{len(message)} {message[-1]}".encode()


@pytest.fixture
async def endpoint() -> AsyncIterator[str]:
    server = grpc.aio.server(options=SERVER_OPTIONS)
    handler = grpc.stream_stream_rpc_method_handler(_sizes)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Sizes", {"Echo": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


def _message(size: int, n: int) -> bytes:
    return bytes(size - 1) + bytes([n % 256])


async def test_messages_larger_than_the_stream_window_arrive_whole(endpoint: str) -> None:
    sizes = [100, 3 * STREAM_WINDOW_BYTES, 200, 1 << 20, 150, MAX_RECEIVE - 1024, *[900] * 200]
    async with grpc.aio.insecure_channel(
        endpoint, options=[("grpc.max_send_message_length", 2 * MAX_RECEIVE)]
    ) as channel:
        call = channel.stream_stream(METHOD)()
        for n, size in enumerate(sizes):
            await call.write(_message(size, n))
        await call.done_writing()
        replies = [reply async for reply in call]
    assert replies == [f"{size} {n % 256}".encode() for n, size in enumerate(sizes)]


async def test_a_message_over_the_receive_limit_is_refused(endpoint: str) -> None:
    async with grpc.aio.insecure_channel(
        endpoint, options=[("grpc.max_send_message_length", 2 * MAX_RECEIVE)]
    ) as channel:
        call = channel.stream_stream(METHOD)()
        await call.write(_message(MAX_RECEIVE + 1, 1))
        await call.done_writing()
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            async for _ in call:
                pass
    assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
