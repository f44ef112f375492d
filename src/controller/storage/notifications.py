"""One LISTEN connection per controller, fanning PostgreSQL notifications out to callbacks.

Notifications are hints (lost while the connection is down), so every user also polls or
re-reads: `on_reconnect` tells them the stream had a gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import structlog

from controller.storage import database

log = structlog.get_logger(__name__)


class Listener:
    def __init__(
        self,
        db_url: str,
        channels: Mapping[str, Callable[[str], None]],
        on_reconnect: Callable[[], None] = lambda: None,
    ) -> None:
        self._db_url = db_url
        self._channels = channels
        self._on_reconnect = on_reconnect
        self.ready = asyncio.Event()
        self._listened = False  # listened before: a new connection means a gap

    async def run(self) -> None:
        """Listen until the connection is lost, then raise ConnectionError; run under
        daemon.supervision, which connects again after a backoff."""
        conn = await database.connect(self._db_url)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        try:
            for channel, callback in self._channels.items():
                await conn.add_listener(channel, lambda _c, _pid, _ch, payload, cb=callback: cb(payload))
            if self._listened:
                self._on_reconnect()
            self._listened = True
            self.ready.set()
            await lost.wait()
            raise ConnectionError("the LISTEN connection was lost")
        finally:
            self.ready.clear()
            await conn.close()
