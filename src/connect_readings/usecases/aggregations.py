"""Aggregations: a page of per-bucket consumption and the total of a window (docs/semantics.md §4-§6).

Glue between the pure domain (the grid, the registers) and a Store's narrow questions; knows nothing of HTTP.
Cost grows with the number of buckets on a page, never with the readings under them: each page asks the store
for the register values around its bucket edges only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..domain.grid import Grid
from ..domain.interval import Interval
from ..domain.registers import aggregate
from ..domain.timefmt import zone_name
from ..storage.base import Store
from .pages import AnsweredBucket, Page, bucket_id, check_deadline, skip_to

AGGREGATION_NAMESPACE = uuid.UUID("9d6c3f2e-0b8a-4c57-8e61-2f0a4b7c9d13")


@dataclass(frozen=True, slots=True)
class AggregationQuery:
    """A query of buckets: an entity, the window [start, end), the width and the zone of the grid."""

    entity_id: uuid.UUID
    start: int
    end: int
    width: Interval
    tz: ZoneInfo | None

    @property
    def tz_name(self) -> str:
        return zone_name(self.tz)

    @property
    def grid(self) -> Grid:
        return Grid(self.width, self.tz)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket(AnsweredBucket):
    data: dict[str, Any]
    """AggregationData: each register's consumption in the bucket."""


def aggregation_id_prefix(query: AggregationQuery) -> str:
    """Ids are UUIDv5 of entity, resolution, time zone and the answered timeframe (docs/semantics.md §6)."""
    return f"{query.entity_id}|{query.width.canonical()}|{query.tz_name}|"


def aggregation_page(store: Store, query: AggregationQuery, position: int, page_size: int) -> Page:
    """Up to `page_size` non-empty buckets from `position` on; buckets without coverage are skipped.

    Call it inside `store.snapshot()`, so the page reads one state of the data.
    """
    found: list[Bucket] = []
    prefix = aggregation_id_prefix(query)
    grid = query.grid
    asked = 0
    while len(found) <= page_size and position < query.end:
        check_deadline()
        edges = grid.page_edges(position, query.start, query.end, page_size + 1 - len(found))
        brackets = store.register_brackets(query.entity_id, edges)
        asked += len(edges)
        values = aggregate(edges, brackets)
        found.extend(
            Bucket(id=bucket_id(AGGREGATION_NAMESPACE, prefix, b0, b1), start=b0, end=b1, data=data)
            for b0, b1, data in zip(edges, edges[1:], values)
            if data
        )
        position = edges[-1]
        if not any(values):
            position = _next_coverage(grid, query.end, position, [per_register[-1] for per_register in brackets])
    if len(found) > page_size:
        return Page(found[:page_size], found[page_size].start, asked)
    return Page(found, None, asked)


def _next_coverage(grid: Grid, end: int, position: int, last_brackets: list[Any]) -> int:
    """Skip a run of empty buckets: jump to the bucket holding the next reading of any register."""
    upcoming = [after[0] for _, after in last_brackets if after is not None and after[0] > position]
    return skip_to(grid, end, position, upcoming)


def aggregation_total(store: Store, entity_id: uuid.UUID, start: int, end: int) -> dict[str, Any]:
    """Consumption over an arbitrary window: the same value rules as one bucket."""
    edges = [start, end]
    return aggregate(edges, store.register_brackets(entity_id, edges))[0]


def total_id(entity_id: uuid.UUID, start: int, end: int) -> uuid.UUID:
    return uuid.uuid5(AGGREGATION_NAMESPACE, f"{entity_id}|total|{start}|{end}")
