"""Listings over every page, for the asynchronous client."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator
from contextlib import aclosing
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Pages(Generic[T]):
    """A listing over every page: `async for x in pages`, or `await pages` for a list.

    Each iteration (or await) runs the listing again from the first page.
    """

    def __init__(self, open_pages: Callable[[], AsyncGenerator[T, None]]) -> None:
        self._open_pages = open_pages

    def __aiter__(self) -> AsyncIterator[T]:
        return self._open_pages()

    def __await__(self) -> Generator[Any, None, list[T]]:
        return self._collect().__await__()

    async def _collect(self) -> list[T]:
        async with aclosing(self._open_pages()) as pages:
            return [item async for item in pages]
