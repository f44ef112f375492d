"""The long streams a stopping controller ends at once, instead of at the end of its grace.

At SIGTERM the controller stops taking calls and gives those in flight `--grace` to finish. A
unary call finishes in milliseconds; an agent's stream or a `WatchServers` never does, so
without this every shutdown would last the whole grace, and the agents would keep talking to a
replica that is going away (their heartbeats unheard by the others). `StreamDrain` knows which
of those streams are open and cancels them when told (`end`): an agent reconnects to another
replica at once and sends again what this one did not accept (it acks a command only once a
controller accepted its report, so nothing in flight on the stream is lost); a watcher opens
its watch again elsewhere. Image downloads are not ended: they finish within the grace, as
unary calls do.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import structlog

log = structlog.get_logger(__name__)

ENDED_AT_SHUTDOWN = frozenset(
    {
        "/overcast.agent.v1.AgentGateway/Connect",
        "/overcast.v1.ServerService/WatchServers",
        "/overcast.v1.HostService/WatchHostMetrics",
        "/grpc.health.v1.Health/Watch",  # it has said NOT_SERVING by then
    }
)


class StreamDrain(grpc.aio.ServerInterceptor):
    def __init__(self, controller_id: str) -> None:
        self._open: set[asyncio.Task[Any]] = set()
        self._ending: set[asyncio.Task[Any]] = set()
        self._message = (
            f"controller {controller_id} is stopping: connect to another replica (or to this one"
            " once it is back)"
        )
        self._wrapped: dict[str, Any] = {}

    @property
    def open(self) -> int:
        return len(self._open)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        if method not in ENDED_AT_SHUTDOWN:
            return await continuation(handler_call_details)
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = self._wrap(await continuation(handler_call_details))
            self._wrapped[method] = wrapped
        assert isinstance(wrapped, grpc.RpcMethodHandler)
        return wrapped

    def end(self) -> int:
        """Cancel every stream open now; how many there were."""
        ended = list(self._open)
        for task in ended:
            self._ending.add(task)
            task.cancel()
        if ended:
            log.info("api.streams_ended", streams=len(ended))
        return len(ended)

    def _wrap(self, handler: Any) -> Any:
        codec = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(self._tracked(handler.stream_stream), **codec)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._tracked(handler.unary_stream), **codec)
        return handler

    def _tracked(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        streams = self._open
        if inspect.isasyncgenfunction(inner):

            async def tracked_gen(request: Any, context: Any) -> Any:
                task = asyncio.current_task()
                assert task is not None
                streams.add(task)
                try:
                    async for item in inner(request, context):
                        yield item
                except asyncio.CancelledError:
                    await self._ended(task, context)
                    raise
                finally:
                    streams.discard(task)

            return tracked_gen

        async def tracked(request: Any, context: Any) -> Any:
            task = asyncio.current_task()
            assert task is not None
            streams.add(task)
            try:
                return await inner(request, context)
            except asyncio.CancelledError:
                await self._ended(task, context)
                raise
            finally:
                streams.discard(task)

        return tracked

    async def _ended(self, task: asyncio.Task[Any], context: Any) -> None:
        """A stream cancelled by `end` ends UNAVAILABLE (cancelling its task alone would leave
        the call open on the wire until the server's grace ran out); any other cancellation
        passes."""
        if task not in self._ending:
            return
        self._ending.discard(task)
        task.uncancel()
        await context.abort(grpc.StatusCode.UNAVAILABLE, self._message)
