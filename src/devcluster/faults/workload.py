"""The burst a fault run sends: mixed operations at a fixed rate, as a careful user would.

Operations are sent on a schedule (open loop: the next one leaves on time whatever the
previous ones are doing), so work is always in flight when the fault strikes. Each is a
`Call`: a create (a new server id and a request id of its own), a delete, or a start, stop or
reboot of a server that is idle as far as the user can tell (a `Tracker` follows
`WatchServers`). A call answered UNAVAILABLE or DEADLINE_EXCEEDED is sent again after the
delay the controller asked for (`retry_delay`, else 0.5 s), with the same request id, until
it gets another answer or its patience runs out: what a client that means to get its work
done does. Every answer is kept, so the checks can tell acknowledged from refused calls and
count every status code.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from client import AsyncClient, OvercastError
from overcast.v1 import common_pb2, server_pb2

RETRIED = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED"})
POWER_OPS = ("stop", "start", "reboot")
# What each operation leaves the server in, once done.
END_STATE = {
    "create": common_pb2.VM_STATE_ACTIVE,
    "start": common_pb2.VM_STATE_ACTIVE,
    "reboot": common_pb2.VM_STATE_ACTIVE,
    "stop": common_pb2.VM_STATE_STOPPED,
}
# Which idle servers an operation may target.
_FROM = {
    "stop": (common_pb2.VM_STATE_ACTIVE,),
    "reboot": (common_pb2.VM_STATE_ACTIVE,),
    "start": (common_pb2.VM_STATE_STOPPED,),
    "delete": (common_pb2.VM_STATE_ACTIVE, common_pb2.VM_STATE_STOPPED),
}


@dataclass
class Call:
    """One operation as the user issued it, and every answer it got."""

    op: str  # create, delete, start, stop, reboot
    server: str  # the server id
    request_id: str = ""
    sent_at: float = 0.0
    codes: list[str] = field(default_factory=list)  # each attempt's answer: OK, UNAVAILABLE...
    messages: list[str] = field(default_factory=list)  # each attempt's error message ("" for OK)
    acked_at: float | None = None
    answered_at: float | None = None  # the final answer, whatever it was
    version: int = -1  # the server's version in the acknowledging answer
    uids: list[str] = field(default_factory=list)  # create: the uid of every OK answer

    @property
    def acknowledged(self) -> bool:
        return self.acked_at is not None

    @property
    def outcome(self) -> str:
        return self.codes[-1] if self.codes else "NOT_SENT"


def _version(server: server_pb2.Server) -> int:
    return int(server.etag) if server.etag.isdigit() else -1


class Tracker:
    """The project's servers as `WatchServers` shows them, re-watched whenever the stream
    breaks (a snapshot after a break also tells which servers went away meanwhile)."""

    def __init__(self, api: AsyncClient) -> None:
        self._api = api
        self.servers: dict[str, server_pb2.Server] = {}  # by server id
        self.breaks: list[tuple[float, str]] = []  # when the watch broke, and why
        self.changes = 0
        self.synced = asyncio.Event()
        self._changed = asyncio.Event()

    async def run(self) -> None:
        while True:
            seen: set[str] = set()
            try:
                async with contextlib.aclosing(self._api.watch_servers()) as changes:
                    async for change in changes:
                        if change.kind == server_pb2.ServerChange.KIND_SYNCED:
                            for gone in set(self.servers) - seen:
                                del self.servers[gone]
                            self.synced.set()
                            continue
                        sid = change.server.name.rsplit("/", 1)[-1]
                        seen.add(sid)
                        self.changes += 1
                        if change.server.vm_state == common_pb2.VM_STATE_DELETED:
                            self.servers.pop(sid, None)
                        else:
                            self.servers[sid] = change.server
                        self._changed.set()
                why = "the controller ended the watch"
            except OvercastError as err:
                why = f"{err.code_name}: {err.message}"
            self.breaks.append((time.monotonic(), why))
            await asyncio.sleep(0.2)

    def idle(self, sid: str) -> server_pb2.Server | None:
        s = self.servers.get(sid)
        if s is None or s.task_state != common_pb2.TASK_STATE_UNSPECIFIED:
            return None
        return s

    async def wait(self, done: Callable[[], bool], timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until `done()` holds for what the watch shows; False after `timeout`."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
        return True


@dataclass(frozen=True)
class Mix:
    """How often each operation is chosen (relative weights)."""

    create: float = 0.45
    delete: float = 0.15
    stop: float = 0.15
    start: float = 0.10
    reboot: float = 0.15


class Burst:
    """`count` operations at `rate` per second against `api`, on servers named `<prefix>NNNN`."""

    def __init__(
        self,
        api: AsyncClient,
        tracker: Tracker,
        *,
        count: int,
        rate: float,
        prefix: str = "f",
        flavor: str = "m1.tiny",
        image: str = "cirros",
        mix: Mix = Mix(),
        patience_s: float = 90.0,
        seed: int = 14,
    ) -> None:
        self._api = api
        self._tracker = tracker
        self.count = count
        self.rate = rate
        self._prefix = prefix
        self._flavor = flavor
        self._image = image
        self._weights = {k: getattr(mix, k) for k in ("create", "delete", "stop", "start", "reboot")}
        self._patience_s = patience_s
        self._random = random.Random(seed)
        self.calls: list[Call] = []
        self._busy: set[str] = set()  # servers an operation of ours is acting on
        self.unsettled: list[Call] = []  # acknowledged, never seen to end through the watch
        self._created = 0

    @property
    def codes(self) -> Counter[str]:
        return Counter(code for c in self.calls for code in c.codes)

    async def create(
        self, server_id: str, *, retry_delay: float | None = None, api: AsyncClient | None = None
    ) -> Call:
        """One create, retried as the burst retries (for warm-up servers and probes too);
        `retry_delay` instead of the controller's RetryInfo and `api` instead of the burst's
        client (a probe measuring recovery)."""
        call = Call("create", server_id, request_id=str(uuid.uuid4()))
        self.calls.append(call)
        client = api or self._api
        if api is not None:
            self._busy.add(server_id)  # a probe: not for the burst to act on
        await self._send(
            call,
            lambda: client.create_server(
                server_id, flavor=self._flavor, image=self._image, request_id=call.request_id
            ),
            retry_delay,
        )
        return call

    async def run(self) -> None:
        """Send the whole burst on schedule; return when every call has its final answer."""
        started = time.monotonic()
        async with asyncio.TaskGroup() as tg:
            for i in range(self.count):
                delay = started + i / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tg.create_task(self._one())

    def _choose(self) -> tuple[str, str]:
        ops = list(self._weights)
        op = self._random.choices(ops, weights=[self._weights[o] for o in ops])[0]
        if op != "create":
            targets = [
                sid
                for sid, s in self._tracker.servers.items()
                if sid not in self._busy and s.vm_state in _FROM[op] and self._tracker.idle(sid) is not None
            ]
            if targets:
                return op, self._random.choice(sorted(targets))
            # Nothing idle to act on (a burst faster than servers settle): delete one that is
            # busy instead, as DELETE is accepted in any state. Falling back to creates filled
            # the hosts at 300 operations/s until the scheduler answered "No valid host".
            busy = [
                sid
                for sid, s in self._tracker.servers.items()
                if sid not in self._busy and s.task_state != common_pb2.TASK_STATE_DELETING
            ]
            if busy:
                return "delete", self._random.choice(sorted(busy))
        self._created += 1
        return "create", f"{self._prefix}{self._created:05d}"

    async def _one(self) -> None:
        op, sid = self._choose()
        if op == "create":
            await self.create(sid)
            return
        call = Call(op, sid)
        self.calls.append(call)
        self._busy.add(sid)
        act: dict[str, Callable[[str], Awaitable[server_pb2.Server]]] = {
            "delete": self._api.delete_server,
            "stop": self._api.stop_server,
            "start": self._api.start_server,
            "reboot": self._api.reboot_server,
        }
        await self._send(call, lambda: act[op](sid))
        # Idle again once the watch shows a newer version with no task in flight.
        settled = functools.partial(self._settled, sid, call.version)
        if call.acknowledged and op != "delete" and not await self._tracker.wait(settled, self._patience_s):
            self.unsettled.append(call)
        if op != "delete":
            # A server being deleted stays ours: the watch may show it idle a little longer,
            # and a power action or a second delete sent meanwhile was refused (FAILED_PRECONDITION
            # "while it is DELETING", NOT_FOUND): 55 of 531 calls on a busy machine.
            self._busy.discard(sid)

    def _settled(self, sid: str, version: int) -> bool:
        s = self._tracker.servers.get(sid)
        return s is None or (_version(s) > version and self._tracker.idle(sid) is not None)

    async def _send(
        self,
        call: Call,
        send: Callable[[], Awaitable[server_pb2.Server]],
        retry_delay: float | None = None,
    ) -> None:
        call.sent_at = time.monotonic()
        deadline = call.sent_at + self._patience_s
        while True:
            try:
                server = await send()
            except OvercastError as err:
                call.codes.append(err.code_name)
                call.messages.append(err.message)
                if err.code_name in RETRIED and time.monotonic() < deadline:
                    await asyncio.sleep(retry_delay or err.retry_delay or 0.5)
                    continue
                call.answered_at = time.monotonic()
                return
            call.codes.append("OK")
            call.messages.append("")
            call.acked_at = call.answered_at = time.monotonic()
            call.version = _version(server)
            if call.op == "create":
                call.uids.append(server.uid)
            return
