"""Admission control: how many API calls this replica serves at once, and what it answers the
rest. A storm of clients must cost the controller little more than the calls it serves: without
a bound every call would wait in the database pool's queue (holding its request and its task)
until its deadline ended it, and what was served would be served late.

- **Unary calls** (every public RPC but the streams below) take a slot of `Gate`: at most
  `in_flight` at once, sized from the database pool so its other connections stay free for the
  agents' reports and the controller's loops. A call that finds none waits in a short queue
  (`queued` places), for at most `max_wait_s`; one that would wait longer, judged from the calls
  ahead of it and the recent time a call takes, or finds the queue full, is answered
  `RESOURCE_EXHAUSTED` at once with `RetryInfo`, before its handler runs: nothing was done
  for it, so any call, a create too, may be sent again as it is.
- **Server streams** (`WatchServers`, `WatchHostMetrics`, `DownloadImageData`) are counted
  apart: the `max_streams`+1st is refused at its start, an open one is never cut (a watcher
  would only come back and ask again), and none takes a unary slot for its lifetime.
- **Image uploads** hold a database connection of their own: `max_uploads` at once.
- **The agents' gateway, health checks and reflection** are never counted or shed: an agent
  refused its stream would miss heartbeats and its host would go DOWN, which is what
  overload must never cause. Their database work uses the pool's connections the unary slots
  leave free.

Shed calls are counted (`shed`, by what was full) and logged as `api.shedding` at most every
few seconds while it lasts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import structlog

from controller.api import errors

log = structlog.get_logger(__name__)

NEVER_SHED = (
    "/overcast.agent.v1.",  # the agents' streams and their admin calls
    "/grpc.health.v1.Health/",
    "/grpc.reflection.",
)
_SMOOTHING = 0.1  # weight of the newest call in the typical time a call takes


class Gate:
    """At most `limit` holders at once and `max_queued` waiting, each for at most
    `max_wait_s`; the next waiter gets a slot the moment one is left (no stampede)."""

    def __init__(
        self, limit: int, max_queued: int, max_wait_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.max_queued = max_queued
        self.max_wait_s = max_wait_s
        self.in_flight = 0
        self.call_s = 0.01  # typical time a call holds its slot (smoothed)
        self._clock = clock
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def try_enter(self) -> bool:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        return False

    def expected_wait_s(self) -> float:
        """How long the next caller would wait for a slot, from the calls ahead of it."""
        return (len(self._waiters) + 1) * self.call_s / self.limit

    async def enter(self, time_left_s: float | None = None) -> str | None:
        """Take a slot (None) or say why not: "queue_full" or "wait_too_long"."""
        if self.try_enter():
            return None
        if len(self._waiters) >= self.max_queued:
            return "queue_full"
        patience = self.max_wait_s if time_left_s is None else min(self.max_wait_s, time_left_s)
        if self.expected_wait_s() > patience:
            return "wait_too_long"
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        try:
            async with asyncio.timeout(patience):
                await slot
            return None
        except TimeoutError:
            if slot.done() and not slot.cancelled():
                return None  # handed a slot as the wait ran out: keep it
            return "wait_too_long"
        except asyncio.CancelledError:
            if slot.done() and not slot.cancelled():
                self.leave()  # the caller went away holding a slot: pass it on
            raise
        finally:
            if not slot.done():
                slot.cancel()
            with contextlib.suppress(ValueError):  # else leave() took it
                self._waiters.remove(slot)

    def leave(self, held_s: float | None = None) -> None:
        if held_s is not None:
            self.call_s += _SMOOTHING * (held_s - self.call_s)
        while self._waiters:
            slot = self._waiters.popleft()
            if not slot.done():
                slot.set_result(None)  # the slot passes on: in_flight stays
                return
        self.in_flight -= 1


@dataclass
class Counter:
    """A count of holders with a bound (streams, uploads)."""

    limit: int
    open: int = 0


class ShedLog:
    """`api.shedding` at most every `every_s` seconds while calls are shed, with the counts
    since the last line; `shed` holds the totals since the start."""

    def __init__(self, every_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.shed: collections.Counter[str] = collections.Counter()
        self._since: collections.Counter[str] = collections.Counter()
        self._every_s = every_s
        self._clock = clock
        self._last = -every_s

    def note(self, why: str, gate: Gate) -> None:
        self.shed[why] += 1
        self._since[why] += 1
        now = self._clock()
        if now - self._last >= self._every_s:
            self._last = now
            log.warning(
                "api.shedding",
                in_flight=gate.in_flight,
                waiting=gate.waiting,
                call_ms=round(gate.call_s * 1000, 1),
                **dict(self._since),
            )
            self._since.clear()


class Admission(grpc.aio.ServerInterceptor):
    """The server interceptor that admits calls (see the module docstring)."""

    def __init__(
        self,
        gate: Gate,
        *,
        max_streams: int,
        max_uploads: int,
        retry_after_s: float,
        controller_id: str,
    ) -> None:
        self.gate = gate
        self.streams = Counter(max_streams)
        self.uploads = Counter(max_uploads)
        self.log = ShedLog()
        self._retry_after_s = retry_after_s
        self._controller_id = controller_id
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}
        self._statuses: dict[str, errors.Status] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(NEVER_SHED):
            return handler
        wrapped = self._wrap(handler)
        assert isinstance(wrapped, grpc.RpcMethodHandler)
        self._wrapped[method] = wrapped
        return wrapped

    def _status(self, why: str) -> errors.Status:
        """Built once per reason: shedding must cost next to nothing."""
        status = self._statuses.get(why)
        if status is None:
            status = errors.overloaded_status(
                _MESSAGES[why].format(
                    controller=self._controller_id,
                    in_flight=self.gate.limit,
                    queued=self.gate.max_queued,
                    streams=self.streams.limit,
                    uploads=self.uploads.limit,
                ),
                why,
                self._retry_after_s,
            )
            self._statuses[why] = status
        return status

    async def _shed(self, why: str, context: Any) -> None:
        self.log.note(why, self.gate)
        await context.abort_with_status(self._status(why))

    def _wrap(self, handler: Any) -> Any:
        # `handler` is a grpc.RpcMethodHandler, whose attributes grpc's stubs do not declare.
        codec = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(self._unary(handler.unary_unary), **codec)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._stream(handler.unary_stream), **codec)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(self._upload(handler.stream_unary), **codec)
        return handler  # no public bidirectional stream: nothing to bound

    def _unary(self, inner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        gate = self.gate

        async def admitted(request: Any, context: Any) -> Any:
            if not gate.try_enter():
                why = await gate.enter(context.time_remaining())
                if why is not None:
                    await self._shed(why, context)
            started = time.monotonic()
            try:
                return await inner(request, context)
            finally:
                gate.leave(time.monotonic() - started)

        return admitted

    def _stream(self, inner: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        streams = self.streams

        async def admitted(request: Any, context: Any) -> AsyncIterator[Any]:
            if streams.open >= streams.limit:
                await self._shed("streams_full", context)
            streams.open += 1
            try:
                async for item in inner(request, context):
                    yield item
            finally:
                streams.open -= 1

        return admitted

    def _upload(self, inner: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        uploads = self.uploads

        async def admitted(requests: Any, context: Any) -> Any:
            if uploads.open >= uploads.limit:
                await self._shed("uploads_full", context)
            uploads.open += 1
            try:
                return await inner(requests, context)
            finally:
                uploads.open -= 1

        return admitted


_NOTHING_DONE = (
    " Nothing was done for this call: send it again as it is after the RetryInfo delay (a create"
    " with its request_id), or to another replica."
)
_MESSAGES = {
    "queue_full": "controller {controller} is overloaded: {in_flight} calls are being served and"
    " {queued} wait." + _NOTHING_DONE,
    "wait_too_long": "controller {controller} is overloaded: this call would wait too long for one of"
    " its {in_flight} places." + _NOTHING_DONE,
    "streams_full": "controller {controller} has {streams} streams open, as many as it serves at once."
    + _NOTHING_DONE,
    "uploads_full": "controller {controller} is receiving {uploads} image uploads, as many as it takes"
    " at once." + _NOTHING_DONE,
}
