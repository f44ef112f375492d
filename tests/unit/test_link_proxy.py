"""The TCP proxy the link_cut fault puts between agents and the controller: it carries bytes
both ways; cut, it resets what is open and refuses new connections; restored, it carries again
on the same address."""

from __future__ import annotations

import asyncio

import pytest

from devcluster.link_proxy import LinkProxy


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


async def roundtrip(address: str, payload: bytes) -> bytes:
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    finally:
        writer.close()


async def test_the_proxy_carries_is_cut_and_restored() -> None:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy = await asyncio.to_thread(LinkProxy(f"127.0.0.1:{port}").start)
    try:
        assert await roundtrip(proxy.address, b"hello") == b"hello"
        host, _, p = proxy.address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(p))
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"

        assert await asyncio.to_thread(proxy.cut) >= 2  # this link's two sockets
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 5)  # the open link is gone
        writer.close()
        with pytest.raises(ConnectionRefusedError):
            await roundtrip(proxy.address, b"refused")

        await asyncio.to_thread(proxy.restore)
        assert await roundtrip(proxy.address, b"again") == b"again"
        assert proxy.connections == 3
    finally:
        await asyncio.to_thread(proxy.close)
        server.close()
        await server.wait_closed()
