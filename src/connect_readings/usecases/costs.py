"""Costs: a page of per-bucket costs and the cost of a window (docs/semantics.md §15, Costs).

The same grid, paging and skipped empty buckets as `/aggregations`; each page asks the store for the register
values around its bucket edges and the cuts inside them (tariff changes, price edges), for the prices its
tariff names over the page, and, when the tariff has a capacity component, for the capacity tariff's rolling
means of the months the page meets.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..domain.costs import CostInputs, Month, bucket_costs, cut_instants
from ..domain.grid import month_index, month_start
from ..domain.tariffs import Tariff, parse_tariff
from ..storage.base import Store
from .aggregations import AggregationQuery, next_samples
from .pages import AnsweredBucket, Evaluation, Page, bucket_id, page_of_buckets
from .statistics import capacity_tariff

COSTS_NAMESPACE = uuid.UUID("5a0f7c1e-93b2-4d6a-b8e4-7c21d0e9f3a5")
NO_TARIFF = Tariff("EUR", ())


@dataclass(frozen=True, slots=True, kw_only=True)
class CostBucket(AnsweredBucket):
    currency: str | None
    data: dict[str, Any]
    """CostData: import, export, gas, capacity, fixed, vat, total (those the tariff has)."""


def stored_tariff(store: Store, entity_id: uuid.UUID) -> Tariff | None:
    """The entity's tariff, or None when it has none."""
    document = store.tariff(entity_id)
    return None if document is None else parse_tariff(document.encode(), None)


def cost_inputs(store: Store, entity_id: uuid.UUID, tariff: Tariff, lo: int, hi: int,
                tz: ZoneInfo | None) -> CostInputs:
    """What pricing [lo, hi) needs: the tariff's price series there and the local months (in the entity's
    zone `tz`) the window meets, with their capacity rolling means when the tariff charges capacity."""
    prices = {sid: store.price_intervals(sid, lo, hi) for sid in sorted(tariff.series_ids())}
    months: list[Month] = []
    if any(p.capacity_per_kw_year is not None or p.fixed_per_year is not None for p in tariff.periods):
        first, last = month_index(lo, tz), month_index(hi, tz)
        if month_start(last, tz) < hi:
            last += 1
        means: dict[int, float] = {}
        if any(p.capacity_per_kw_year is not None for p in tariff.periods):
            means = {month_index(m.start, tz): m.tariff.rolling_mean
                     for m in capacity_tariff(store, entity_id, lo, hi, tz)}
        months = [Month(month_start(m, tz), month_start(m + 1, tz), means.get(m)) for m in range(first, last)]
    return CostInputs(tariff, prices, months)


def cost_id_prefix(query: AggregationQuery) -> str:
    return f"{query.entity_id}|costs|{query.width.canonical()}|{query.tz_name}|"


def costs_page(store: Store, query: AggregationQuery, entity_tz: ZoneInfo | None, position: int,
               page_size: int) -> Page:
    """Up to `page_size` buckets with coverage from `position` on (as `aggregation_page`), with their costs.

    Call it inside `store.snapshot()`, so the page reads one state of the data.
    """
    tariff = stored_tariff(store, query.entity_id) or NO_TARIFF
    currency = tariff.currency if tariff.periods else None
    prefix = cost_id_prefix(query)

    def evaluate(edges: list[int]) -> Evaluation:
        inputs = cost_inputs(store, query.entity_id, tariff, edges[0], edges[-1], entity_tz)
        cuts = cut_instants(edges, inputs)
        brackets = store.register_brackets(query.entity_id, cuts)
        items = [None if data is None else CostBucket(id=bucket_id(COSTS_NAMESPACE, prefix, b0, b1), start=b0,
                                                       end=b1, currency=currency, data=data)
                 for b0, b1, data in zip(edges, edges[1:], bucket_costs(edges, cuts, brackets, inputs))]
        return items, next_samples(brackets, edges[-1]), len(cuts)

    return page_of_buckets(query.grid, query.start, query.end, position, page_size, evaluate)


def costs_total(store: Store, entity_id: uuid.UUID, start: int, end: int,
                entity_tz: ZoneInfo | None) -> tuple[str | None, dict[str, Any]]:
    """(currency, CostData) of the window [start, end) as one bucket ({} without coverage or tariff)."""
    tariff = stored_tariff(store, entity_id) or NO_TARIFF
    edges = [start, end]
    inputs = cost_inputs(store, entity_id, tariff, start, end, entity_tz)
    cuts = cut_instants(edges, inputs)
    data = bucket_costs(edges, cuts, store.register_brackets(entity_id, cuts), inputs)[0]
    return (tariff.currency if tariff.periods else None), data or {}


def total_id(entity_id: uuid.UUID, start: int, end: int) -> uuid.UUID:
    return uuid.uuid5(COSTS_NAMESPACE, f"{entity_id}|costs total|{start}|{end}")
