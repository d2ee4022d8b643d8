"""Use cases: a page of aggregations, a total, a page of readings.

Glue between the pure domain (buckets, registers) and a Store's narrow questions; knows nothing of HTTP. Cost grows
with the number of buckets on a page, never with the readings under them: each page asks the store for
the register values around its bucket edges only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from .domain.buckets import bucket_floor, iter_buckets
from .domain.ids import uuid5_text
from .domain.interval import Interval
from .domain.registers import aggregate
from .domain.timefmt import zone_name
from .storage.base import Store

AGGREGATION_NAMESPACE = uuid.UUID("9d6c3f2e-0b8a-4c57-8e61-2f0a4b7c9d13")


@dataclass(frozen=True, slots=True)
class AggregationQuery:
    entity_id: uuid.UUID
    start: int
    end: int
    width: Interval
    tz: ZoneInfo | None

    @property
    def tz_name(self) -> str:
        return zone_name(self.tz)


@dataclass(frozen=True, slots=True)
class Bucket:
    id: str
    start: int
    """Bucket clipped to the query window."""
    end: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_position: int | None
    """Where the next page starts, or None on the last page."""
    edges: int = 0
    """Bucket edges asked of the store (each is two index seeks): the cost of an aggregation page."""


def aggregation_id_prefix(query: AggregationQuery) -> str:
    """Ids are UUIDv5 of entity, resolution, time zone and bucket start (docs/semantics.md §6)."""
    return f"{query.entity_id}|{query.width.canonical()}|{query.tz_name}|"


def aggregation_page(store: Store, query: AggregationQuery, position: int, page_size: int) -> Page:
    """Up to `page_size` non-empty buckets from `position` on; buckets without coverage are skipped.

    Call it inside `store.snapshot()`, so the page reads one state of the data.
    """
    found: list[Bucket] = []
    prefix = aggregation_id_prefix(query)
    asked = 0
    while len(found) <= page_size and position < query.end:
        chunk = list(islice(iter_buckets(position, query.end, query.width, query.tz), page_size + 1 - len(found)))
        edges = [max(chunk[0][0], query.start)] + [b1 for _, b1 in chunk]
        edges[-1] = min(edges[-1], query.end)
        brackets = store.register_brackets(query.entity_id, edges)
        asked += len(edges)
        values = aggregate(edges, brackets)
        found.extend(
            Bucket(uuid5_text(AGGREGATION_NAMESPACE, f"{prefix}{b0}"), edges[i], edges[i + 1], data)
            for i, ((b0, _), data) in enumerate(zip(chunk, values))
            if data
        )
        position = edges[-1]
        if not any(values):
            position = _next_coverage(query, position, [per_register[-1] for per_register in brackets])
    if len(found) > page_size:
        return Page(found[:page_size], found[page_size].start, asked)
    return Page(found, None, asked)


def _next_coverage(query: AggregationQuery, position: int, last_brackets: list[Any]) -> int:
    """Skip a run of empty buckets: jump to the bucket holding the next reading of any register."""
    upcoming = [after[0] for _, after in last_brackets if after is not None and after[0] > position]
    if not upcoming:
        return query.end
    return max(position, bucket_floor(min(upcoming), query.width, query.tz))


def aggregation_total(store: Store, entity_id: uuid.UUID, start: int, end: int) -> dict[str, Any]:
    """Consumption over an arbitrary window: the same value rules as one bucket."""
    edges = [start, end]
    return aggregate(edges, store.register_brackets(entity_id, edges))[0]


def total_id(entity_id: uuid.UUID, start: int, end: int) -> uuid.UUID:
    return uuid.uuid5(AGGREGATION_NAMESPACE, f"{entity_id}|total|{start}|{end}")


def readings_page(store: Store, entity_id: uuid.UUID, start: int, end: int, page_size: int) -> Page:
    rows = store.readings(entity_id, start, end, page_size + 1)
    if len(rows) > page_size:
        return Page(rows[:page_size], rows[page_size].ts)
    return Page(rows, None)
