from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from client_fakes import FakeController, bad_request_status
from google.rpc import code_pb2, status_pb2

import client
from client import errors
from overcast.v1 import server_pb2, server_pb2_grpc


def _assert_bad_request(err: errors.OvercastError) -> None:
    assert isinstance(err, errors.InvalidArgument)
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.message == "invalid server"
    assert err.field_violations == [
        ("server.flavor", "flavor m1.nope does not exist"),
        ("server_id", "must match [a-z][a-z0-9-]*"),
    ]
    assert err.reason == "INVALID_SERVER"
    assert err.domain == "overcast.dev"
    assert err.metadata == {"k": "v"}
    assert err.status is not None and err.status.code == code_pb2.INVALID_ARGUMENT


def test_from_status_decodes_details() -> None:
    status = bad_request_status()
    err = errors.from_status(grpc.StatusCode.INVALID_ARGUMENT, status.message, status)
    _assert_bad_request(err)
    assert "server.flavor: flavor m1.nope does not exist" in str(err)


def test_every_code_has_a_class() -> None:
    for code in grpc.StatusCode:
        if code is grpc.StatusCode.OK:
            continue
        cls = errors.error_class(code)
        assert cls is not errors.OvercastError and cls.default_code is code
        assert issubclass(cls, client.OvercastError)
    assert errors.error_class(grpc.StatusCode.NOT_FOUND) is client.NotFound


def test_sync_client_decodes_rich_status(fake: FakeController) -> None:
    with client.Client(fake.endpoint) as oc, pytest.raises(client.OvercastError) as info:
        oc.get_server("bad")
    _assert_bad_request(info.value)


def test_sync_client_plain_error(fake: FakeController) -> None:
    with client.Client(fake.endpoint) as oc, pytest.raises(client.NotFound) as info:
        oc.get_server("nope")
    assert info.value.message == "server projects/demo/servers/nope not found"
    assert info.value.field_violations == []
    assert info.value.status is None


async def test_async_client_decodes_rich_status(fake: FakeController) -> None:
    async with client.AsyncClient(fake.endpoint) as oc:
        with pytest.raises(client.InvalidArgument) as info:
            await oc.create_server("invalid", flavor="m1.nope", image="cirros")
    _assert_bad_request(info.value)


class _AbortingServers(server_pb2_grpc.ServerServiceServicer):  # type: ignore[misc]
    """What the controller does: a grpc.aio handler aborting with a google.rpc.Status."""

    async def GetServer(self, request: Any, context: Any) -> server_pb2.Server:
        status: status_pb2.Status = bad_request_status()
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            status.message,
            trailing_metadata=((errors.STATUS_DETAILS_KEY, status.SerializeToString()),),
        )
        raise AssertionError("unreachable")


@pytest.fixture
async def aio_endpoint() -> AsyncIterator[str]:
    server = grpc.aio.server()
    server_pb2_grpc.add_ServerServiceServicer_to_server(_AbortingServers(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)


async def test_both_clients_against_aio_server(aio_endpoint: str) -> None:
    async with client.AsyncClient(aio_endpoint) as oc:
        with pytest.raises(client.InvalidArgument) as async_info:
            await oc.get_server("web-1")
    _assert_bad_request(async_info.value)

    def sync_call() -> errors.OvercastError:
        with client.Client(aio_endpoint) as oc:
            try:
                oc.get_server("web-1")
            except client.OvercastError as err:
                return err
        raise AssertionError("no error")

    _assert_bad_request(await asyncio.to_thread(sync_call))


def test_unreachable_is_unavailable(dead_endpoint: str) -> None:
    with client.Client(dead_endpoint, timeout=5) as oc, pytest.raises(client.Unavailable):
        oc.get_server("web-1")
