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
from ..domain.registers import Bracket, aggregate_columns, edge_deltas
from ..domain.timefmt import zone_name
from ..storage.base import Store
from .pages import AnsweredBucket, Evaluation, Page, bucket_id, page_of_buckets

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


@dataclass(slots=True, kw_only=True)
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
    prefix = aggregation_id_prefix(query)

    def evaluate(edges: list[int]) -> Evaluation:
        values, last = consumption(store, query.entity_id, edges)
        items = [Bucket(id=bucket_id(AGGREGATION_NAMESPACE, prefix, b0, b1), start=b0, end=b1, data=data)
                 if data else None for b0, b1, data in zip(edges, edges[1:], values)]
        return items, next_samples([[bracket] for bracket in last or ()], edges[-1]), len(edges)

    return page_of_buckets(query.grid, query.start, query.end, position, page_size, evaluate)


def consumption(store: Store, entity_id: uuid.UUID, edges: list[int]) -> tuple[list[dict[str, Any]], list[Bracket] | None]:
    """AggregationData of each bucket between consecutive edges, from the stored quarter-hour edges where they
    know both ends of a bucket, else from the readings around its ends (`registers.edge_deltas`); and the brackets
    of the last edge when they were read (paging resumes from them after empty buckets). A bucket read from the
    edges always has coverage, so a run of empty buckets always ends in brackets."""
    registers, columns = store.register_edges(entity_id, edges)
    deltas, last = edge_deltas(edges, registers, columns, lambda instants: store.register_brackets(entity_id, instants))
    return aggregate_columns(deltas, len(edges) - 1), last


def next_samples(brackets: list[list[Any]], position: int) -> list[int]:
    """The next reading after `position` of each register, from the brackets of the last edge (position)."""
    return [after[0] for per_register in brackets for _, after in per_register[-1:]
            if after is not None and after[0] > position]


def aggregation_total(store: Store, entity_id: uuid.UUID, start: int, end: int) -> dict[str, Any]:
    """Consumption over an arbitrary window: the same value rules as one bucket."""
    return consumption(store, entity_id, [start, end])[0][0]


def total_id(entity_id: uuid.UUID, start: int, end: int) -> uuid.UUID:
    return uuid.uuid5(AGGREGATION_NAMESPACE, f"{entity_id}|total|{start}|{end}")
