"""One LISTEN connection per controller, fanning PostgreSQL notifications out to callbacks.

Notifications are hints (lost while the connection is down), so every user also polls or
re-reads: `on_reconnect` tells them the stream had a gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import asyncpg
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

    async def run(self) -> None:
        first = True
        while True:
            try:
                conn = await database.connect(self._db_url)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("listener.connect_failed", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                for channel, callback in self._channels.items():
                    await conn.add_listener(channel, lambda _c, _pid, _ch, payload, cb=callback: cb(payload))
                if not first:
                    self._on_reconnect()
                first = False
                self.ready.set()
                await lost.wait()
                log.warning("listener.lost")
            finally:
                self.ready.clear()
                await conn.close()
