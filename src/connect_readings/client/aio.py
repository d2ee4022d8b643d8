"""`AsyncClient`: the operations of base.Operations over an httpx.AsyncClient (async I/O, and nothing else)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import tzinfo
from typing import Any, Generic, TypeVar

import httpx

from ..wire import frames
from .base import JSON_BODY, Attempts, Call, Operations, RetryPolicy, headers, next_page
from ..wire.models import Page, Results

T = TypeVar("T")


class AsyncClient(Operations):
    """The Connect Readings API over HTTP, for asyncio: every method of `Client`, awaited; lists are async
    iterators.

    >>> async with AsyncClient("http://127.0.0.1:8080", token) as client:            # doctest: +SKIP
    ...     async for bucket in client.aggregations(entity, start=date(2024, 1, 1), resolution="1 day"):
    ...         print(bucket.timeframe.start, bucket.data["positiveActiveEnergy"].total)
    """

    def __init__(self, base_url: str, token: str | None = None, *, retry: RetryPolicy | None = None,
                 timeout: float = 30.0, **httpx_options: Any) -> None:
        self.retry = retry or RetryPolicy()
        self.http = httpx.AsyncClient(base_url=base_url, headers=headers(token), timeout=timeout, **httpx_options)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(self, call: Call) -> Any:
        """The call's result, sent again while the retry policy says so."""
        attempts = Attempts(call, self.retry)
        while True:
            try:
                response = await self.http.request(call.method, call.path, params=call.params, content=call.body,
                                                   headers=JSON_BODY if call.body is not None else None)
            except httpx.TransportError as exc:
                await asyncio.sleep(attempts.lost(exc))
                continue
            done, outcome = attempts.answer(response.status_code, response.headers, response.content)
            if done:
                return outcome
            await asyncio.sleep(outcome)

    def _one(self, call: Call) -> Any:
        return self.send(call)  # a coroutine: the caller awaits it

    def _list(self, call: Call) -> "AsyncPages[Any]":
        return AsyncPages(self, call)


class AsyncPages(Generic[T]):
    """`async for` over the items of a paged list, a page at a time (`continuationToken` followed);
    `await .to_pandas()`, `await .to_list()`, `async for page in .pages()`."""

    def __init__(self, client: AsyncClient, call: Call) -> None:
        self.client = client
        self.call = call

    async def pages(self) -> AsyncIterator[Page[T]]:
        call: Call | None = self.call
        while call is not None:
            page = await self.client.send(call)
            yield page
            call = next_page(call, page)

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def to_list(self) -> Results[Any]:
        return Results([item async for item in self])

    async def to_pandas(self, tz: str | tzinfo | None = None) -> Any:
        """Every item as one DataFrame (frames.py), in `tz` (default: the query's time_zone, else UTC)."""
        return frames.frame(await self.to_list(), tz or self.call.zone)
