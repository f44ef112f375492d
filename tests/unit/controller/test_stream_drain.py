"""A stopping server ends its long streams at once with UNAVAILABLE (not at the end of its
grace), and calls that are not drained are left alone."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from controller.api.draining import StreamDrain


async def test_a_watch_ends_unavailable_as_soon_as_the_server_stops() -> None:
    drain = StreamDrain("c1")
    server = grpc.aio.server(interceptors=[drain])
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        assert (
            await stub.Check(health_pb2.HealthCheckRequest())
        ).status == health_pb2.HealthCheckResponse.SERVING
        watch = stub.Watch(health_pb2.HealthCheckRequest())
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        assert drain.open == 1

        started = time.monotonic()
        stopping = asyncio.create_task(server.stop(30))
        await asyncio.sleep(0)
        assert drain.end() == 1
        await stopping
        assert time.monotonic() - started < 5  # not the 30 s grace
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            for _ in range(3):  # NOT_SERVING may come first
                message = await watch.read()
                assert message.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "controller c1 is stopping" in (ended.value.details() or "")
        assert drain.open == 0
