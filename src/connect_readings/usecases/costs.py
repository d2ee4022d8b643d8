"""Costs: a page of per-bucket costs and the cost of a window (docs/semantics.md §15, Costs).

The same grid, paging and skipped empty buckets as `/aggregations`; each page asks the store for every register
around its bucket edges and tariff changes (`register_brackets`, as `/aggregations` at its edges), for the
dynamically priced registers only at the price edges inside them (`cost_reads`), for the prices its tariff names
over the page, and, when the tariff has a capacity component, for the capacity tariff's rolling means of the
months the page meets (`rolling_means`, kept per data version).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from ..domain.costs import NO_PRICES, CostInputs, FinePieces, Month, bucket_costs, coarse_cuts, cut_instants
from ..domain.costs import dynamic_registers
from ..domain.grid import month_index, month_start
from ..domain.prices import PriceColumns
from ..domain.registers import Bracket
from ..domain.tariffs import Tariff, parse_tariff
from ..storage.base import Store
from .aggregations import AggregationQuery, next_samples
from .pages import AnsweredBucket, Evaluation, Page, bucket_id, page_of_buckets
from .statistics import capacity_tariff, register_deltas

COSTS_NAMESPACE = uuid.UUID("5a0f7c1e-93b2-4d6a-b8e4-7c21d0e9f3a5")
NO_TARIFF = Tariff("EUR", ())


@dataclass(slots=True, kw_only=True)
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
    prices = {sid: price_columns(store, sid, lo, hi) for sid in sorted(tariff.series_ids())}
    months: list[Month] = []
    if any(p.capacity_per_kw_year is not None or p.fixed_per_year is not None for p in tariff.periods):
        first, last = month_index(lo, tz), month_index(hi, tz)
        if month_start(last, tz) < hi:
            last += 1
        means: Mapping[int, float] = {}
        if any(p.capacity_per_kw_year is not None for p in tariff.periods):
            means = rolling_means(store, entity_id, first, last, lo, hi, tz)
        months = [Month(month_start(m, tz), month_start(m + 1, tz), means.get(m)) for m in range(first, last)]
    return CostInputs(tariff, prices, months)


class Kept:
    """A small in-process LRU of what a page reads, shared by the store threads: an entry is found only under
    the key it was kept with, so each use puts the version of what it keeps into the key."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The entry kept under `key` (now the most recent), or None."""
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Any) -> None:
        with self.lock:
            self.entries[key] = value
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


PRICE_WINDOWS_CACHED = 16
"""Windows of price series whose columns stay in memory (`price_columns`): a year of hourly prices is 8,760
intervals, about 0.7 MB as Python lists."""
_price_windows = Kept(PRICE_WINDOWS_CACHED)


def price_columns(store: Store, price_id: str, lo: int, hi: int) -> PriceColumns:
    """The series' intervals over [lo, hi) (`store.price_columns`), kept in a small in-process LRU keyed by the
    series' revision (`store.price_revision`, drawn anew at every write of the series, read in the page's
    snapshot: a written series is never answered from memory). One series prices many entities, and a year
    of them costs a page more to read than all else it reads but the registers: `python -m bench.costs` names
    its effect (BENCHMARKS.md, costs section)."""
    revision = store.price_revision(price_id)
    if revision is None:
        return NO_PRICES
    key = (price_id, revision, lo, hi)
    found = _price_windows.get(key)
    if found is None:
        found = store.price_columns(price_id, lo, hi)
        _price_windows.put(key, found)
    return found


ROLLING_MEANS_CACHED = 64
"""Entities × windows whose capacity rolling means stay in memory (`rolling_means`): each is a dozen floats."""
_rolling_means = Kept(ROLLING_MEANS_CACHED)


def rolling_means(store: Store, entity_id: uuid.UUID, first: int, last: int, lo: int, hi: int,
                  tz: ZoneInfo | None) -> Mapping[int, float]:
    """The capacity tariff's rolling mean (kW) of each local month index in [first, last) that has one: what
    `capacity_tariff` answers for [lo, hi), which reads a year of quarter-hour peaks (the look-back) for every
    page. Kept in a small in-process LRU keyed by the entity's data version and registration (`entity_head`:
    an ingest or a re-registration changes the key, so a stale entry is never read), the months and the zone:
    `python -m bench.costs` names its effect (BENCHMARKS.md, costs section)."""
    head = store.entity_head(entity_id)
    key = None if head is None else (entity_id, head[2], head[0], first, last, zone_key(tz))
    found = None if key is None else _rolling_means.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    means = {month_index(m.start, tz): m.tariff.rolling_mean for m in capacity_tariff(store, entity_id, lo, hi, tz)}
    if key is not None:
        _rolling_means.put(key, means)
    return means


def zone_key(tz: ZoneInfo | None) -> str | None:
    return None if tz is None else str(tz)


def cost_reads(store: Store, entity_id: uuid.UUID, edges: list[int], inputs: CostInputs
               ) -> tuple[list[int], list[list[Bracket]], FinePieces | None]:
    """What `bucket_costs` reads of the registers: every register at the coarse cuts (the bucket edges and the
    tariff changes: `register_brackets`, as `/aggregations` at its edges), and only the dynamically priced ones
    (import and export `total`) at every price edge too (`register_deltas`: the readings exactly there, one
    seek each, or the statistics' chunked samples / seeks where none sits on an edge)."""
    cuts = coarse_cuts(edges, inputs.tariff)
    brackets = store.register_brackets(entity_id, cuts)
    registers = dynamic_registers(inputs.tariff)
    if not registers:
        return cuts, brackets, None
    fine_cuts = cut_instants(edges, inputs)
    return cuts, brackets, FinePieces(fine_cuts, register_deltas(store, entity_id, registers, fine_cuts))


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
        cuts, brackets, fine = cost_reads(store, query.entity_id, edges, inputs)
        items = [None if data is None else CostBucket(id=bucket_id(COSTS_NAMESPACE, prefix, b0, b1), start=b0,
                                                       end=b1, currency=currency, data=data)
                 for b0, b1, data in zip(edges, edges[1:], bucket_costs(edges, cuts, brackets, inputs, fine))]
        return items, next_samples(brackets, edges[-1]), len(cuts) + (len(fine.cuts) if fine else 0)

    return page_of_buckets(query.grid, query.start, query.end, position, page_size, evaluate)


def costs_total(store: Store, entity_id: uuid.UUID, start: int, end: int,
                entity_tz: ZoneInfo | None) -> tuple[str | None, dict[str, Any]]:
    """(currency, CostData) of the window [start, end) as one bucket ({} without coverage or tariff)."""
    tariff = stored_tariff(store, entity_id) or NO_TARIFF
    edges = [start, end]
    inputs = cost_inputs(store, entity_id, tariff, start, end, entity_tz)
    cuts, brackets, fine = cost_reads(store, entity_id, edges, inputs)
    data = bucket_costs(edges, cuts, brackets, inputs, fine)[0]
    return (tariff.currency if tariff.periods else None), data or {}


def total_id(entity_id: uuid.UUID, start: int, end: int) -> uuid.UUID:
    return uuid.uuid5(COSTS_NAMESPACE, f"{entity_id}|costs total|{start}|{end}")
