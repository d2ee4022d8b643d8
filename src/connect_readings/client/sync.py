"""`Client`: the operations of base.Operations over an httpx.Client (blocking I/O, and nothing else)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import tzinfo
from typing import Any, Generic, TypeVar

import httpx

from ..wire import frames
from .base import JSON_BODY, Attempts, Call, Operations, RetryPolicy, headers, next_page
from ..wire.models import Page, Results

T = TypeVar("T")


class Client(Operations):
    """The Connect Readings API over HTTP.

    >>> with Client("http://127.0.0.1:8080", token) as client:                       # doctest: +SKIP
    ...     for bucket in client.aggregations(entity, start=date(2024, 1, 1), resolution="15 minutes"):
    ...         print(bucket.timeframe.start, bucket.data["positiveActiveEnergy"].total)

    `retry` says when a call is sent again (RetryPolicy); other keyword arguments go to httpx.Client
    (`timeout`, `transport`, `verify`, …).
    """

    def __init__(self, base_url: str, token: str | None = None, *, retry: RetryPolicy | None = None,
                 timeout: float = 30.0, **httpx_options: Any) -> None:
        self.retry = retry or RetryPolicy()
        self.http = httpx.Client(base_url=base_url, headers=headers(token), timeout=timeout, **httpx_options)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def send(self, call: Call) -> Any:
        """The call's result, sent again while the retry policy says so."""
        attempts = Attempts(call, self.retry)
        while True:
            try:
                response = self.http.request(call.method, call.path, params=call.params, content=call.body,
                                             headers=JSON_BODY if call.body is not None else None)
            except httpx.TransportError as exc:
                time.sleep(attempts.lost(exc))
                continue
            done, outcome = attempts.answer(response.status_code, response.headers, response.content)
            if done:
                return outcome
            time.sleep(outcome)

    def _one(self, call: Call) -> Any:
        return self.send(call)

    def _list(self, call: Call) -> "Pages[Any]":
        return Pages(self, call)


class Pages(Generic[T]):
    """The items of a paged list, fetched a page at a time as the loop goes (`continuationToken` followed).

    Iterating twice asks the server twice. `.pages()` gives the pages themselves; `.to_pandas()` all items
    as one DataFrame; `.to_list()` all items.
    """

    def __init__(self, client: Client, call: Call) -> None:
        self.client = client
        self.call = call

    def pages(self) -> Iterator[Page[T]]:
        call: Call | None = self.call
        while call is not None:
            page = self.client.send(call)
            yield page
            call = next_page(call, page)

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def to_list(self) -> Results[Any]:
        return Results(self)

    def to_pandas(self, tz: str | tzinfo | None = None) -> Any:
        """Every item as one DataFrame (frames.py), in `tz` (default: the query's time_zone, else UTC)."""
        return frames.frame(self.to_list(), tz or self.call.zone)
