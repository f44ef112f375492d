"""Two defects the fuzz test found (tests/integration/test_fuzz.py), each held here without a
cluster: bytes that are not the request's protobuf answered UNKNOWN or INTERNAL (now
INVALID_ARGUMENT naming the message expected, `controller.api.malformed`), and a refusal that
quoted a huge input went past gRPC's metadata limit, so the caller got RESOURCE_EXHAUSTED
"metadata size exceeds limit" instead of the answer (now clipped, `controller.api.errors`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from controller.api.errors import MAX_MESSAGE_BYTES, Ctx, clip, to_status, unary
from controller.api.images import ImageApi
from controller.api.malformed import MalformedRequests
from controller.domain import errors
from overcast.v1 import image_pb2_grpc, server_pb2, server_pb2_grpc

NOT_PROTOBUF = [b"\xff\xff\xff", b"\x0a\x05ab", b"\x0a\x02\xff\xfe"]  # corrupt, cut short, not UTF-8


class Servers(server_pb2_grpc.ServerServiceServicer):  # type: ignore[misc]
    @unary
    async def GetServer(self, req: server_pb2.GetServerRequest, ctx: Ctx) -> server_pb2.Server:
        if len(req.name) > 100:
            raise errors.InvalidArgument.single("name", f"{req.name!r} is not a resource name")
        return server_pb2.Server(name=req.name)

    async def WatchServers(
        self, req: server_pb2.WatchServersRequest, ctx: Ctx
    ) -> AsyncIterator[server_pb2.ServerChange]:
        yield server_pb2.ServerChange(kind=server_pb2.ServerChange.KIND_SYNCED)


@pytest.fixture
async def endpoint() -> AsyncIterator[str]:
    server = grpc.aio.server(interceptors=[MalformedRequests()])
    server_pb2_grpc.add_ServerServiceServicer_to_server(Servers(), server)
    image_pb2_grpc.add_ImageServiceServicer_to_server(ImageApi(None), server)  # type: ignore[arg-type]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


@pytest.mark.parametrize("data", NOT_PROTOBUF)
async def test_a_unary_request_that_is_not_protobuf_is_invalid_argument(endpoint: str, data: bytes) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary("/overcast.v1.ServerService/GetServer")(data, timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid overcast.v1.GetServerRequest" in (raised.value.details() or "")


async def test_a_server_stream_request_that_is_not_protobuf_is_invalid_argument(endpoint: str) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        call = channel.unary_stream("/overcast.v1.ServerService/WatchServers")(b"\xff", timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            async for _ in call:
                pass
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid overcast.v1.WatchServersRequest" in (raised.value.details() or "")


async def test_a_client_stream_message_that_is_not_protobuf_is_invalid_argument(endpoint: str) -> None:
    """The image upload reads its messages as they come: was INTERNAL with api.bug."""
    async with grpc.aio.insecure_channel(endpoint) as channel:
        upload = channel.stream_unary("/overcast.v1.ImageService/UploadImageData")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await upload(iter([b"\x0a\x02\xff\xfe"]), timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid overcast.v1.UploadImageDataRequest" in (raised.value.details() or "")


async def test_well_formed_requests_pass_untouched(endpoint: str) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        stub = server_pb2_grpc.ServerServiceStub(channel)
        got = await stub.GetServer(server_pb2.GetServerRequest(name="projects/p/servers/s"), timeout=5)
        assert got.name == "projects/p/servers/s"
        changes = [c async for c in stub.WatchServers(server_pb2.WatchServersRequest(), timeout=5)]
        assert [c.kind for c in changes] == [server_pb2.ServerChange.KIND_SYNCED]


async def test_a_refusal_quoting_a_huge_input_reaches_the_caller(endpoint: str) -> None:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        stub = server_pb2_grpc.ServerServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetServer(server_pb2.GetServerRequest(name="é" * 100_000), timeout=5)
    err = raised.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    assert "bytes more)" in (err.details() or "") and "is not a resource name" not in (err.details() or "")
    assert len((err.details() or "").encode()) <= MAX_MESSAGE_BYTES


def test_clip_keeps_short_text_and_cuts_long_text_at_a_character() -> None:
    assert clip("short", 100) == "short"
    cut = clip("é" * 1000, 100)
    assert len(cut.encode()) <= 100 + 40 and cut.startswith("é" * 30) and cut.endswith("bytes more)")


def test_many_violations_report_the_first_that_fit_and_how_many_more() -> None:
    exc = errors.InvalidArgument(
        [errors.FieldViolation(f"server.metadata['k{i}']", "v" * 2000) for i in range(80)]
    )
    status = to_status(exc)
    rich = rpc_status.from_call(_Call(status))
    assert rich is not None
    bad = error_details_pb2.BadRequest()
    rich.details[0].Unpack(bad)
    assert 0 < len(bad.field_violations) < 80
    assert f"(and {80 - len(bad.field_violations)} more violations)" in status.details
    size = sum(len(k) + len(v if isinstance(v, bytes) else v.encode()) for k, v in status.trailing_metadata)
    assert size < 8 * 1024  # gRPC clients' default limit on metadata


class _Call:
    """What rpc_status.from_call reads."""

    def __init__(self, status: grpc.Status) -> None:
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._status.details

    def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return tuple(self._status.trailing_metadata)
