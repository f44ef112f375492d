"""A TCP proxy to put between agents and the controller, which a test can cut and restore: the
link between them failing as a network would, while both processes keep running.

`cut()` closes every connection through it (both ends) and stops listening, so new
connections are refused; `restore()` listens again on the same address. It runs an asyncio
loop in a thread of its own, so a test drives it from sync or async code alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from typing import Any

from devcluster.processes import free_port

_CHUNK = 65536


class LinkProxy:
    def __init__(self, target: str, listen: str | None = None) -> None:
        self.target_host, _, port = target.rpartition(":")
        self.target_port = int(port)
        self.address = listen or f"127.0.0.1:{free_port()}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="link-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0  # accepted, in all

    def start(self) -> LinkProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> int:
        """Reset every connection (both sides) and refuse new ones; returns how many sockets
        were open."""
        return int(self._call(self._cut()))

    def restore(self) -> None:
        self._call(self._listen())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        done: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return done.result(10)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        host, _, port = self.address.rpartition(":")
        self._server = await asyncio.start_server(self._accept, host, int(port), reuse_address=True)

    async def _cut(self) -> int:
        if self._server is not None:
            self._server.close()
            self._server = None
        links = len(self._links)
        for w in list(self._links):
            w.transport.abort()  # a reset, not a goodbye: the link is gone
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._links.clear()
        return links

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while chunk := await src.read(_CHUNK):
                dst.write(chunk)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._links.discard(dst)
            with contextlib.suppress(Exception):
                dst.close()
