"""The live load of every host, shared with the scheduler process through memory.

The controller's load view absorbs the agents' metrics (thousands of samples a second); the
scheduler, in a process of its own, needs each host's smoothed CPU utilisation and whether it
is still fresh, once per fleet read. The board is an anonymous shared memory file (memfd)
that the controller writes and the scheduler maps read-only: a write is two stores, a read
needs no message at all, and nothing is left behind when both processes are gone.

Layout, float64 words: [0] the heartbeat window (seconds: how recent a host's last heartbeat
must be for the scheduler to use it, HostService.heartbeat_window_s), [1] when that was written
(wall clock), [2..3] unused, then two
words per host slot: the smoothed CPU utilisation and the wall-clock time until which it is
fresh. Slots are given out by the controller in order of first sample; the scheduler learns
them as lines on its stdin (`[slot, "host id"]`, JSON), all of them again when it restarts.
A float64 store is atomic on the platforms libvirt/KVM hosts run; a reader may see a new load
with the old freshness (or the reverse) for one read, which is harmless.
"""

from __future__ import annotations

import asyncio
import json
import math
import mmap
import os
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

HEADER_WORDS = 4
WORDS_PER_HOST = 2
DEFAULT_CAPACITY = 100_000  # hosts; 1.6 MB of address space, pages touched only as used
WINDOW_REFRESH_S = 0.25  # how often the controller writes the heartbeat window


class LineSink(Protocol):
    """Where the slot lines go: the scheduler process's stdin (an asyncio.StreamWriter)."""

    def write(self, data: bytes) -> None: ...

    def is_closing(self) -> bool: ...


def _size(capacity: int) -> int:
    return 8 * (HEADER_WORDS + WORDS_PER_HOST * capacity)


class LoadBoard:
    """The controller's side: post each host's load as it is absorbed."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self._clock = clock
        self.fd = os.memfd_create("overcast-host-loads", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, _size(capacity))
        self._map = mmap.mmap(self.fd, _size(capacity))
        self._words = memoryview(self._map).cast("d")
        self._slots: dict[str, int] = {}
        self._lines: list[bytes] = []  # every slot given out, for a reader that (re)starts
        self._reader: LineSink | None = None
        self._full_logged = False

    def post(self, host_id: str, cpu_ewma: float, fresh_until: float) -> None:
        slot = self._slots.get(host_id)
        if slot is None:
            slot = self._assign(host_id)
            if slot is None:
                return
        i = HEADER_WORDS + WORDS_PER_HOST * slot
        self._words[i] = cpu_ewma
        self._words[i + 1] = fresh_until

    def _assign(self, host_id: str) -> int | None:
        slot = len(self._slots)
        if slot >= self.capacity:
            if not self._full_logged:
                self._full_logged = True
                log.warning("load_board.full", capacity=self.capacity, host=host_id)
            return None  # scored by allocation, as a host without metrics is
        self._slots[host_id] = slot
        line = json.dumps([slot, host_id]).encode() + b"\n"
        self._lines.append(line)
        if self._reader is not None and not self._reader.is_closing():
            self._reader.write(line)
        return slot

    def attach(self, reader_stdin: LineSink) -> None:
        """A (new) scheduler process: it gets every slot so far, then each new one."""
        self._reader = reader_stdin
        reader_stdin.write(b"".join(self._lines))

    def set_heartbeat_window(self, window_s: float) -> None:
        self._words[0] = window_s
        self._words[1] = self._clock()

    async def post_heartbeat_window(self, window_s: Callable[[], float]) -> None:
        """Keep the heartbeat window on the board (a reader treats a window not refreshed as
        the controller falling behind by that much more)."""
        while True:
            self.set_heartbeat_window(window_s())
            await asyncio.sleep(WINDOW_REFRESH_S)

    def close(self) -> None:
        self._words.release()
        self._map.close()
        os.close(self.fd)


class LoadBoardReader:
    """The scheduler's side: what `LoadView.fresh_cpu_utils` and `HostService.heartbeat_window_s` say
    in the controller, read from the board."""

    def __init__(self, fd: int, clock: Callable[[], float] = time.time) -> None:
        """Maps the board of descriptor `fd`, then closes `fd` (the mapping keeps it)."""
        size = os.fstat(fd).st_size
        self.capacity = (size // 8 - HEADER_WORDS) // WORDS_PER_HOST
        self._map = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        os.close(fd)
        self._words = memoryview(self._map).cast("d")
        self._slots: dict[str, int] = {}
        self._clock = clock

    def learn(self, line: bytes) -> None:
        """One line from the controller: a host's slot."""
        try:
            slot, host_id = json.loads(line)
        except (ValueError, TypeError):
            log.warning("load_board.bad_line", line=line[:200])
            return
        if isinstance(slot, int) and 0 <= slot < self.capacity and isinstance(host_id, str):
            self._slots[host_id] = slot

    def fresh_cpu_utils(self, host_ids: Sequence[str]) -> list[float]:
        """Each host's smoothed CPU utilisation, NaN where unknown or stale."""
        now = self._clock()
        words, slots = self._words, self._slots
        out = []
        for h in host_ids:
            slot = slots.get(h)
            if slot is None:
                out.append(math.nan)
                continue
            i = HEADER_WORDS + WORDS_PER_HOST * slot
            out.append(words[i] if now <= words[i + 1] else math.nan)
        return out

    def heartbeat_window_s(self, default_s: float) -> float:
        """The controller's heartbeat window, plus how long it has not said so; `default_s`
        until it has."""
        written = self._words[1]
        if written == 0.0:
            return default_s  # nothing written yet: the controller has just started
        return self._words[0] + max(0.0, self._clock() - written - WINDOW_REFRESH_S)

    def close(self) -> None:
        self._words.release()
        self._map.close()
