"""Waiting for a server to settle, on top of WatchServers; shared by both clients.

WatchServers sends the project's current servers (INITIAL…, then SYNCED) and then every change
(CHANGED). A server that is absent from the snapshot, or shows up as DELETED, is gone. The
stream may be re-opened after the controller went away: the new snapshot is the truth again
(level-triggered), so the waiter simply starts over on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from overcast.v1 import common_pb2, server_pb2

from .errors import DeadlineExceeded, OvercastError, Unavailable
from .names import short_id

DEFAULT_UNTIL: frozenset[int] = frozenset({common_pb2.VM_STATE_ACTIVE, common_pb2.VM_STATE_ERROR})

OnChange = Callable[[Any], None]
"""Called with each new Server seen for the watched name, and with None once it is gone."""

_INITIAL = server_pb2.ServerChange.KIND_INITIAL
_SYNCED = server_pb2.ServerChange.KIND_SYNCED


def is_settled(server: Any, until: Collection[int]) -> bool:
    """True when `server` reached one of `until`, or ERROR, with no task in flight (a server
    in ERROR that is being deleted has not settled yet)."""
    idle = server.task_state == common_pb2.TASK_STATE_UNSPECIFIED
    return bool(idle and (server.vm_state == common_pb2.VM_STATE_ERROR or server.vm_state in until))


class ServerWaiter:
    """Feeds on ServerChange messages until the watched server settles or disappears."""

    def __init__(
        self,
        name: str,
        *,
        until: Collection[int] = DEFAULT_UNTIL,
        on_change: OnChange | None = None,
        timeout: float,
    ) -> None:
        self.name = name
        self.until = frozenset(until)
        self.on_change = on_change
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.result: Any = None
        self.received = False  # any message on any stream: the controller is reachable
        self._seen_in_snapshot = False

    def remaining(self) -> float:
        """Seconds left before the deadline; raises DeadlineExceeded when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.timed_out()
        return left

    def timed_out(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"timed out after {self.timeout:g}s waiting for server {short_id(self.name)}")

    def restart(self) -> None:
        """A new stream begins: its snapshot replaces what we knew."""
        self._seen_in_snapshot = False

    def feed(self, change: Any) -> bool:
        """Take one ServerChange; True when waiting is over (see `result`)."""
        self.received = True
        if change.kind == _SYNCED:
            if not self._seen_in_snapshot:
                return self._gone()
            return False
        server = change.server
        if server.name != self.name:
            return False
        if change.kind == _INITIAL:
            self._seen_in_snapshot = True
        if server.vm_state == common_pb2.VM_STATE_DELETED:
            return self._gone()
        self.result = server
        if self.on_change is not None:
            self.on_change(server)
        return is_settled(server, self.until)

    def _gone(self) -> bool:
        self.result = None
        if self.on_change is not None:
            self.on_change(None)
        return True

    def stream_failed(self, err: OvercastError) -> None:
        """Decide about a failed stream: re-raise it, or return to re-open the watch."""
        if isinstance(err, DeadlineExceeded):
            raise self.timed_out() from err
        if isinstance(err, Unavailable) and self.received:
            return
        raise err

    def stream_ended(self) -> None:
        """The server closed the stream cleanly (e.g. shutting down): re-open if it was up."""
        if not self.received:
            raise Unavailable("the controller closed the watch stream")

    def backoff(self) -> float:
        """How long to pause before re-opening the watch."""
        return min(1.0, max(0.0, self.deadline - time.monotonic()))
