"""What every page of buckets shares: the page, the id of a bucket, where paging resumes after empty buckets."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ..domain.grid import Grid
from ..domain.ids import uuid5_text
from ..storage.base import StoreTimeout

_DEADLINE: ContextVar[float | None] = ContextVar("connect_readings_deadline", default=None)


@contextmanager
def deadline_scope(deadline: float | None) -> Iterator[None]:
    """Within the block, `check_deadline` stops work past `deadline` (a `time.monotonic()` instant): the store
    interrupts its statements at it, and the computation between them stops at the next check."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_deadline() -> None:
    """Raise StoreTimeout (answered 504) once the deadline of the work in progress has passed: called per chunk
    of a page, so a request that outlives its deadline stops burning CPU instead of finishing for nobody."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise StoreTimeout("the request's deadline passed while it was being computed")


@dataclass(slots=True, kw_only=True)  # not frozen: its __init__ cost a year of daily buckets 0.3 ms
class AnsweredBucket:
    """A bucket as a page answers it."""

    id: str
    """`bucket_id`: it names the answered timeframe."""
    start: int
    end: int
    """[start, end): the bucket clipped to the query window."""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_position: int | None
    """Where the next page starts, or None on the last page."""
    edges: int = 0
    """Bucket edges asked of the store (each is two index seeks): the cost of an aggregation page."""


def bucket_id(namespace: uuid.UUID, prefix: str, start: int, end: int) -> str:
    """The id of a bucket answered as [start, end) (clipped to the query window): a bucket cut by `start`
    or `end` names what it answers, not the whole bucket."""
    return uuid5_text(namespace, f"{prefix}{start}|{end}")


Evaluation = tuple[list[Any], list[int], int]
"""What a page's evaluator says of a chunk of buckets: each bucket's item (None: no coverage, left out), the
instants of the next samples after the chunk (where paging resumes when the chunk was empty), the edges it asked
of the store."""


def page_of_buckets(grid: Grid, start: int, end: int, position: int, page_size: int,
                    evaluate: Callable[[list[int]], Evaluation]) -> Page:
    """Up to `page_size` buckets with coverage of the window [start, end) from `position` on: the grid's edges
    in chunks, each evaluated once; a chunk without coverage skips to the bucket of the next sample.

    Call it inside `store.snapshot()`, so the page reads one state of the data.
    """
    found: list[Any] = []
    asked = 0
    while len(found) <= page_size and position < end:
        check_deadline()
        edges = grid.page_edges(position, start, end, page_size + 1 - len(found))
        items, upcoming, n = evaluate(edges)
        asked += n
        found.extend(item for item in items if item is not None)
        position = edges[-1]
        if all(item is None for item in items):
            position = skip_to(grid, end, position, upcoming)
    if len(found) > page_size:
        return Page(found[:page_size], found[page_size].start, asked)
    return Page(found, None, asked)


def skip_to(grid: Grid, end: int, position: int, upcoming: list[int]) -> int:
    """Where paging resumes after a run of empty buckets: the bucket holding the earliest of `upcoming` (the
    next sample of anything asked for, at or after `position`: a gauge sample at `position` is the next bucket's),
    or `end` when nothing comes."""
    upcoming = [t for t in upcoming if t >= position]
    if not upcoming:
        return end
    return max(position, grid.floor(min(upcoming)))
