"""The Store protocol, the errors every backend maps its driver's errors to, and the shared row codec.

Backends know nothing of HTTP; they store normalised readings and answer narrow questions with plain values.
Register values they return are already continuous across meter resets (raw value + the resets before it),
kept so by a small side table that the ingest planner (`domain/ingest.py`) maintains.

Every call that may wait on the database takes a `deadline` (a `time.monotonic()` instant, or None): past it,
the running statement is interrupted and the call raises `StoreTimeout`. A database that stays locked or a
pool that stays empty raises `StoreBusy`. No other driver error type leaves a backend for those two cases.
"""

from __future__ import annotations

import bisect
import secrets
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

import msgspec
import orjson

from ..domain.edges import QUARTER_US, ROW_US
from ..domain.entities import EntityRecord
from ..domain.errors import DomainError
from ..domain.gauges import TIERS, GaugeSummary, block_of
from ..domain.prices import PriceColumns, PriceInterval, PriceSeries, replace_overlapped
from ..domain.ingest import Batch, IngestPlan, Summaries, Surroundings, Values, edge_row_keys, gauge_parent_spans
from ..domain.ingest import gauge_spans, prepare, probe_registers
from ..domain.readings import ENERGY_UNIT, REGISTER_COUNT, REGISTER_METRICS, REGISTER_SERIES, TIER_FIELDS
from ..domain.readings import GAUGE_SERIES, GAUGE_UNITS, TIERED_REGISTERS, VOLUME_REGISTERS, VOLUME_UNIT, Reading
from ..domain.readings import gauge_values, register_values
from ..domain.registers import Bracket, ResetOffsets, Sample, with_offsets


class StoreBusy(Exception):
    """The database stayed locked, or no connection came free, for longer than the store waits."""


class StoreTimeout(Exception):
    """The call's deadline passed: its statement was interrupted (a write was rolled back)."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    received: int
    written: int
    replaced: int


@dataclass(frozen=True, slots=True)
class EntityDeletion:
    """What `Store.delete_entity` did: deleted the entity (`deleted`, with its `readings`), or refused because
    other entities name it as their parent (`children`: how many; `some_children`: the first few ids, by id)."""

    deleted: bool
    readings: int = 0
    children: int = 0
    some_children: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class PriceSeriesInfo:
    """A stored price series: its description, how many intervals it holds, and their span (None when empty)."""

    series: PriceSeries
    intervals: int
    first: int | None
    last: int | None
    updated: int


PRICE_SERIES_SQL = ("SELECT s.price_id, s.name, s.unit, s.currency, s.updated, count(i.start_ts), min(i.start_ts), "
                    "max(i.end_ts) FROM price_series s LEFT JOIN price_intervals i ON i.price_id = s.price_id")
"""Every price series with its interval count and span (each backend adds its WHERE with its placeholder, then
PRICE_SERIES_GROUP)."""
PRICE_SERIES_GROUP = " GROUP BY s.price_id, s.name, s.unit, s.currency, s.updated ORDER BY s.price_id"


def price_series_info(row: Sequence[Any]) -> PriceSeriesInfo:
    """A row of PRICE_SERIES_SQL."""
    return PriceSeriesInfo(PriceSeries(row[0], row[1], row[2], row[3]), int(row[5]),
                           None if row[6] is None else int(row[6]), None if row[7] is None else int(row[7]),
                           int(row[4]))


def price_rewrite(stored: Sequence[PriceInterval], new: Sequence[PriceInterval]
                  ) -> tuple[tuple[int, int] | None, list[PriceInterval]]:
    """How a backend writes `new` over the `stored` intervals that overlap its span (overlapping_span):
    the range of stored starts to delete (inclusive; None when nothing overlaps) and the intervals to insert
    (prices.replace_overlapped: the new ones and what no new one covers of the deleted ones)."""
    if not stored:
        return None, list(new)
    return (stored[0].start, stored[-1].start), replace_overlapped(stored, new)


def price_intervals_query(p: str, price_id: str, lo: int, hi: int, after: int | None, limit: int | None
                          ) -> tuple[str, tuple[Any, ...]]:
    """(SQL, parameters) of the stored intervals of one series overlapping [lo, hi), by start (those starting
    after `after`; at most `limit`), with placeholder `p` (`?`, `%s`). Stored intervals are disjoint, so the only
    one starting before lo that may overlap it is the last to start at or before lo: a range seek on the key."""
    sql = ("SELECT start_ts, end_ts, price FROM price_intervals WHERE price_id = {p} AND start_ts < {p} AND "
           "start_ts >= coalesce((SELECT max(start_ts) FROM price_intervals WHERE price_id = {p} AND "
           "start_ts <= {p}), {p}) AND end_ts > {p}" + (" AND start_ts > {p}" if after is not None else "")
           + " ORDER BY start_ts" + (" LIMIT {p}" if limit is not None else "")).format(p=p)
    args = (price_id, hi, price_id, lo, lo, lo, *(v for v in (after, limit) if v is not None))
    return sql, args


def overlapping_span(intervals: Sequence[PriceInterval]) -> tuple[int, int]:
    """[lo, hi) covering sorted, disjoint intervals (non-empty)."""
    return intervals[0].start, intervals[-1].end


MAX_CHILDREN_LISTED = 100
"""Child ids `delete_entity` returns with a refusal (the API names one the token may see)."""

ENTITY_TABLES = ("readings", "resets", "series", "gauge_blocks", "register_edge_blocks", "tariffs", "entities")
"""Every table with rows keyed by an entity (`entity_id`): what `delete_entity` empties of it, in this order
(the `entities` row last). `meta` is the only table keyed by something else."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    applied: int
    """The schema version recorded in the database."""
    latest: int
    """The newest migration this code ships: a server is ready only when the two are equal."""


@dataclass(frozen=True, slots=True)
class StoredReading:
    ts: int
    data: dict[str, Any]


def as_reading(stored: StoredReading) -> Reading:
    """A stored reading back into what ingest takes (data is already normalised)."""
    data = stored.data
    return Reading(ts=stored.ts, data=data, registers=register_values(data), gauges=gauge_values(data))


def reading_at(store: "Store", entity_id: uuid.UUID, ts: int) -> Reading | None:
    """The reading stored at exactly `ts`, as ingest takes it; None if there is none."""
    found = store.readings(entity_id, ts, ts + 1, 1)
    return as_reading(found[0]) if found else None


Window = tuple[int, int]
ReadRange = Callable[[int, int, "Window | None", int], list[StoredReading]]
"""read(start, end, window, limit): at most `limit` stored readings with start <= ts < end, oldest first; when
`window` [lo, hi) is given, [start, end) lies inside it and the backend may restate it (TimescaleDB: as constants)."""
_TS_MIN, _TS_MAX = -(2**63), 2**63 - 1  # ts is a bigint: a window's bounds stay representable


def reading_window(start: int, span: int) -> Window:
    """The window of `span` µs holding `start`: [lo, lo + span) with lo a multiple of span (floored, as TimescaleDB
    aligns an integer hypertable's chunks), clipped to the bigint range.

    >>> reading_window(25, 10), reading_window(20, 10), reading_window(-5, 10), reading_window(2**63 - 2, 10)[1]
    ((20, 30), (20, 30), (-10, 0), 9223372036854775807)
    """
    lo = start - start % span
    return max(lo, _TS_MIN), min(lo + span, _TS_MAX)


def readings_in_windows(read: ReadRange, start: int, end: int, limit: int, span: int | None
                        ) -> list[StoredReading]:
    """The first `limit` readings of [start, end), oldest first. Without `span`, one read. With it (the store's
    readings are chunked by time; TimescaleDB: `span` is the chunk interval), at most two: first the part of
    [start, end) inside the window holding start (`reading_window`), whose bounds, constants in the statement, let
    the planner open that one chunk only; then, only when that gave fewer than `limit` readings and [start, end)
    goes on past the window, the rest of it for the readings still wanted (a gap of any length costs no more).
    Same rows as the one read: the two parts split [start, end) at one instant, each in time order.
    """
    if span is None or start >= end or limit <= 0:
        return read(start, end, None, limit)
    window = reading_window(start, span)
    cut = min(end, window[1])
    rows = read(start, cut, window, limit)
    if len(rows) < limit and cut < end:
        rows += read(cut, end, None, limit - len(rows))
    return rows


class Store(Protocol):
    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""

    def ingest(self, entity_id: uuid.UUID, readings: Sequence[Reading], deadline: float | None = None) -> IngestResult:
        """Upsert a batch atomically: all of it or nothing."""

    def entity_version(self, entity_id: uuid.UUID) -> int | None:
        """Changes with every ingest of the entity (in the ingest's transaction); None for an unknown entity."""

    def entity_head(self, entity_id: uuid.UUID) -> tuple[int, str | None, int] | None:
        """(data version, time zone name, created) of a registered entity, one index seek; None for an unknown
        one. `created` (µs) tells two registrations of one id apart: an entity deleted and registered again
        starts again at version 0, so the two are one data version only together."""

    def entity(self, entity_id: uuid.UUID) -> EntityRecord | None:
        """The registry's record of the entity; None when it is not registered."""

    def entities(self, after: uuid.UUID | None, limit: int, visible: Collection[uuid.UUID] | None = None
                 ) -> list[EntityRecord]:
        """At most `limit` registered entities with ids after `after` (None: from the first), by id; only those
        in `visible` when it is given (None: all)."""

    def put_entity(self, record: EntityRecord) -> tuple[EntityRecord, bool]:
        """Register the entity or replace its descriptive fields (type … time_zone); `created` is used only
        when it registers it, `last_seen` and the data version are never changed. Returns the stored record
        and whether it was created. A record with a parent is checked by `entities.check_parent` inside the
        write's transaction, serialised with every other write that sets a parent (DomainError InvalidEntity
        on a cycle, nothing written), so concurrent PUTs cannot together make a cycle."""

    # -- costs (docs/semantics.md §15): price series shared by entities, and each entity's tariff ------------
    def put_prices(self, series: PriceSeries, intervals: Sequence[PriceInterval], now: int) -> tuple[int, bool]:
        """Create or update a price series (its name and unit) and write `intervals` (sorted, non-overlapping)
        in one transaction: each replaces what it overlaps of the stored series (stored intervals are trimmed to
        what no new one covers: prices.replace_overlapped). Returns (stored intervals after, created)."""

    def price_series(self, price_id: str | None = None) -> list[PriceSeriesInfo]:
        """Every price series by id (or the one of `price_id`, [] when unknown), with its interval count and
        first start / last end."""

    def price_intervals(self, price_id: str, lo: int, hi: int, after: int | None = None,
                        limit: int | None = None) -> list[PriceInterval]:
        """The stored intervals of a series overlapping [lo, hi), by start (those starting after `after` when
        given; at most `limit`)."""

    def price_columns(self, price_id: str, lo: int, hi: int) -> PriceColumns:
        """The intervals `price_intervals` gives for [lo, hi), as columns (what pricing a page reads)."""

    def price_revision(self, price_id: str) -> int | None:
        """The series' revision: a number drawn anew at every `put_prices` of it (None: no such series)."""

    def put_tariff(self, entity_id: uuid.UUID, document: str, now: int) -> bool | None:
        """Replace the entity's tariff (a registered entity's; JSON as tariffs.tariff_document in UTC); returns
        whether it had none before, None (nothing written) when the entity is not registered (deleted since the
        request checked it)."""

    def tariff(self, entity_id: uuid.UUID) -> str | None:
        """The entity's stored tariff document, or None."""

    def delete_entity(self, entity_id: uuid.UUID, deadline: float | None = None) -> EntityDeletion | None:
        """Delete the entity and every row keyed by it (ENTITY_TABLES: readings, resets, series bounds, gauge
        blocks, its registry row) in ONE transaction: all of it or nothing (a deadline that passes rolls it
        back: StoreTimeout). None, writing nothing, when it is not registered. Refused (`deleted` False,
        nothing written) while other entities have it as their parent. Serialised with ingest of the entity
        (a batch either commits before and is deleted with it, or after and registers the entity anew) and
        with every PUT that sets a parent (which re-checks in its own transaction that the parent exists)."""

    def entity_ids(self) -> list[uuid.UUID]:
        """Every entity, in a stable order."""

    def reading_count(self) -> int: ...

    def readings(self, entity_id: uuid.UUID, start: int, end: int, limit: int) -> list[StoredReading]:
        """Readings in [start, end), oldest first, at most `limit`."""

    def count_readings(self, entity_id: uuid.UUID, start: int, end: int, cap: int) -> int:
        """How many readings [start, end) holds, counted up to `cap` + 1 (enough to tell "more than cap")."""

    def last_reading(self, entity_id: uuid.UUID) -> StoredReading | None: ...

    def register_brackets(self, entity_id: uuid.UUID, instants: Sequence[int]) -> list[list[Bracket]]:
        """For each register series, for each instant: the readings at-or-before and at-or-after it."""

    def gauges_present(self, entity_id: uuid.UUID) -> list[int]:
        """The gauges (GAUGE_SERIES indexes) the entity has had samples of (their series bounds)."""

    def gauge_blocks(self, entity_id: uuid.UUID, width: int, lo: int, hi: int
                     ) -> list[tuple[int, dict[int, GaugeSummary]]]:
        """(block, its gauges' summaries) of the stored blocks of tier `width` with lo ≤ block < hi, in time order."""

    def gauge_samples(self, entity_id: uuid.UUID, gauges: Sequence[int], lo: int, hi: int
                      ) -> list[tuple[int, tuple[float | None, ...]]]:
        """(ts, the gauges' values in `gauges` order) of the readings in [lo, hi) that have one of them, by ts."""

    def gauge_neighbours(self, entity_id: uuid.UUID, gauges: Sequence[int], before: int, after: int
                         ) -> tuple[dict[int, tuple[int, float]], dict[int, tuple[int, float]]]:
        """Per gauge: its nearest sample with t < before, and its nearest with t ≥ after (absent: none)."""

    def quality_marks(self, entity_id: uuid.UUID, metric: str, lo: int, hi: int, limit: int) -> list[QualityMark]:
        """The readings with lo < ts ≤ hi whose `extra` names `metric` ("quality" or "gasQuality"), oldest first,
        at most `limit`: one seek and a scan of the partial index `readings_quality` (migration 0008), so the cost
        follows the marks, not the readings. See `quality_mark` for what each holds."""

    def snapshot(self, deadline: float | None = None) -> AbstractContextManager[None]:
        """Reads inside the block see one consistent state and stop at `deadline` (StoreTimeout)."""

    def meta_value(self, key: str, default: str) -> str:
        """A persistent setting (e.g. a generated signing key); stores `default` when it is not set yet."""

    def meta_get(self, key: str) -> str | None: ...

    def schema_state(self, deadline: float | None = None) -> SchemaState:
        """The applied and the latest schema version: one cheap round trip to the database (readiness)."""

    def close(self) -> None: ...

    # -- peak demand (statistics §4, §6): one register at a time -------------------------------------------
    # `register` is an index into REGISTER_SERIES (as in `register_brackets`' answer). Values are continuous
    # across resets relative to the earliest sample of the answer: only differences within one answer count.
    def register_coverage(self, entity_id: uuid.UUID, register: int) -> tuple[int, int] | None:
        """(first, last) reading that has the register; None when none has it. Two index seeks."""

    def register_samples(
        self, entity_id: uuid.UUID, register: int, lo: int, hi: int, limit: int
    ) -> list[Sample] | None:
        """The register's samples from the last reading at or before `lo` through the first at or after `hi`
        (those two included where they exist), oldest first; or None, having read nothing more, when more
        than `limit` readings of the entity lie in [lo, hi] (a bounded count: at most `limit` index steps)."""

    def register_series_brackets(self, entity_id: uuid.UUID, register: int, instants: Sequence[int]) -> list[Bracket]:
        """One register's readings at-or-before and at-or-after each instant (what `register_brackets` gives
        for it), by index seeks: the cost follows the instants, not the readings between them."""

    def register_values_at(self, entity_id: uuid.UUID, registers: Sequence[int], instants: Sequence[int]
                        ) -> tuple[list[int], list[list[float | None]]]:
        """Each register of `registers` at those of `instants` (ascending) where it is known without a search:
        a stored quarter-hour edge (domain/edges.py: an instant on the 15-minute UTC grid inside the register's
        readings) or a reading exactly there. Returns the instants with some value, oldest first, and per
        register its value at each (None: not known there). One row per register and UTC day, and one index seek
        per instant that no edge answers (costs' price edges usually fall on edges). Values are continuous
        across resets relative to the first instant answered: only differences within one answer count."""

    def register_edges(self, entity_id: uuid.UUID, instants: Sequence[int]) -> tuple[list[int], list[list[float | None]]]:
        """The entity's registers (REGISTER_SERIES indexes, ascending) and, per register, its stored quarter-hour
        edge at each instant (ascending; None: not on the grid, outside the register's readings, or between two
        more than an hour apart: domain/edges.py). Values are continuous across the resets after the first
        instant: only differences within one answer count. Reads rows, never seeks readings."""


ENTITY_COLUMNS = "entity_id, type, name, brand, identifier, parent_id, properties, time_zone, created, last_seen"
"""What `entity_record` reads, in its order."""


def entity_record(row: Sequence[Any], as_uuid: Callable[[Any], uuid.UUID]) -> EntityRecord:
    """An entity from a row of ENTITY_COLUMNS; `as_uuid` turns the driver's ids into UUIDs (SQLite keeps bytes)."""
    return EntityRecord(as_uuid(row[0]), row[1], row[2], row[3], row[4], None if row[5] is None else as_uuid(row[5]),
                        None if row[6] is None else orjson.loads(row[6]), row[7], int(row[8]),
                        None if row[9] is None else int(row[9]))


def new_revision() -> int:
    """A price series' revision (`price_revision`): random, 63 bits, so it fits both engines' integers."""
    return secrets.randbits(63)


def edges_or_readings(instants: Sequence[int], edges: Sequence[Sequence[float | None]],
                      exact: Callable[[list[int]], tuple[list[int], list[list[float | None]]]]
                      ) -> tuple[list[int], list[list[float | None]]]:
    """`register_values_at` from each register's stored edges at the instants (`edges.values_at`) and, for the
    instants where some register has none, the readings exactly there (`exact(those instants)`: their stamps and
    values per register): the instants with some value, and per register its value at each.

    >>> edges_or_readings([0, 5, 10], [[1.0, None, 3.0]], lambda ts: ([5], [[2.0]]))
    ([0, 5, 10], [[1.0, 2.0, 3.0]])
    """
    if not any(None in column for column in edges):  # the usual case, checked in C
        return list(instants), [list(column) for column in edges]
    missing = [t for i, t in enumerate(instants) if any(column[i] is None for column in edges)]
    found_stamps, found = exact(missing)
    readings = [dict(zip(found_stamps, column)) for column in found]
    stamps: list[int] = []
    values: list[list[float | None]] = [[] for _ in edges]
    for i, t in enumerate(instants):
        row = [column[i] if column[i] is not None else reading.get(t) for column, reading in zip(edges, readings)]
        if any(v is not None for v in row):
            stamps.append(t)
            for column, v in zip(values, row):
                column.append(v)
    return stamps, values


def edge_row_keys_of(instants: Sequence[int]) -> tuple[int, int] | None:
    """The keys [first, last] of the edge rows holding the instants on the quarter-hour grid (None: none is).

    >>> edge_row_keys_of([1, ROW_US, 3 * ROW_US + QUARTER_US, 3 * ROW_US + QUARTER_US + 1])
    (1, 3)
    """
    on_grid = [t for t in instants if t % QUARTER_US == 0]
    return (on_grid[0] // ROW_US, on_grid[-1] // ROW_US) if on_grid else None


def reset_offsets(resets: Iterable[tuple[Any, int, float]], lo: int, hi: int) -> dict[Any, ResetOffsets]:
    """The reset offsets of each register (keyed as `resets` name it: an index or a column name) from rows
    (register, ts, offset) in any order, keeping those with lo < ts <= hi: continuous values relative to lo,
    the one frame every read answers in.

    >>> {k: v.totals for k, v in reset_offsets([(0, 30, 2.0), (0, 10, 1.0), (4, 5, 9.0)], 5, 30).items()}
    {0: [1.0, 3.0]}
    """
    offsets: dict[Any, ResetOffsets] = {}
    for register, ts, offset in sorted(resets, key=lambda row: row[1]):
        if lo < ts <= hi:
            offsets.setdefault(register, ResetOffsets()).add(ts, offset)
    return offsets


def columns_made_continuous(stamps: Sequence[int], keys: Sequence[Any], columns: list[list[float | None]],
                            offsets: dict[Any, ResetOffsets]) -> list[list[float | None]]:
    """Columns of register values at ascending `stamps`, column n that of register `keys[n]`, each made
    continuous with its register's `offsets` (from `reset_offsets`; a register without any is left as it is)."""
    for key, adjust in offsets.items():
        if key in keys:
            n = keys.index(key)
            columns[n] = offsets_applied(adjust, stamps, columns[n])
    return columns


def offsets_applied(offsets: ResetOffsets, stamps: Sequence[int], values: list[float | None]) -> list[float | None]:
    """A register's `values` at ascending `stamps` (None: no value there) made continuous: each plus the reset
    offset at its time (`ResetOffsets.at`), segment by segment between resets.

    >>> offsets = ResetOffsets()
    >>> offsets.add(20, 5.0)
    >>> offsets_applied(offsets, [10, 20, 30], [1.0, None, 2.0])
    [1.0, None, 7.0]
    """
    out = list(values)
    resets = offsets.stamps
    for k, total in enumerate(offsets.totals):
        i = bisect.bisect_left(stamps, resets[k])
        j = bisect.bisect_left(stamps, resets[k + 1]) if k + 1 < len(resets) else len(stamps)
        if total and i < j:
            out[i:j] = [None if v is None else v + total for v in out[i:j]]
    return out


# -- peak demand: one register's samples or brackets (statistics §4, §6); each backend only reads ---------------
ResetsIn = Callable[[int, int], Iterable[tuple[int, float]]]
"""A register's resets (ts, offset), at least those with lo < ts <= hi (others are ignored)."""


def samples_span(lo: int, hi: int, bounds: tuple[int, int], before: int | None, after: int | None
                 ) -> tuple[int, int] | None:
    """The stretch whose samples answer `register_samples` over [lo, hi]: from the nearest reading having the
    register at or before lo (`before`) to the nearest at or after hi (`after`), else the register's series
    `bounds` clipped to [lo, hi]; None when it is empty.

    >>> samples_span(10, 20, (0, 100), 8, None), samples_span(10, 20, (30, 100), None, None)
    ((8, 20), None)
    """
    low = before if before is not None else max(lo, bounds[0])
    high = after if after is not None else min(hi, bounds[1])
    return None if low > high else (low, high)


def continuous_samples(rows: list[Sample], resets_in: ResetsIn) -> list[Sample]:
    """A register's raw samples, in time order, made continuous across its resets between the first and the last."""
    if len(rows) > 1:
        adjust = _offsets_of(resets_in, rows[0][0], rows[-1][0])
        if adjust is not None:
            return adjust.applied(rows)
    return rows


def continuous_brackets(found: Iterable[Sequence[Any]], resets_in: ResetsIn) -> list[Bracket]:
    """A register's brackets from rows (before ts, its value, after ts, its value; a ts None where there is
    none), made continuous across its resets over the span of every sample in them."""
    brackets: list[Bracket] = [((b_ts, b_v) if b_ts is not None else None, (a_ts, a_v) if a_ts is not None else None)
                               for b_ts, b_v, a_ts, a_v in found]
    stamps = [s[0] for pair in brackets for s in pair if s is not None]
    if stamps:
        adjust = _offsets_of(resets_in, min(stamps), max(stamps))
        if adjust is not None:
            return [(with_offsets(b, adjust), with_offsets(a, adjust)) for b, a in brackets]
    return brackets


def _offsets_of(resets_in: ResetsIn, lo: int, hi: int) -> ResetOffsets | None:
    """One register's offsets in (lo, hi], or None when it has no reset there (the usual case)."""
    return reset_offsets(((0, ts, offset) for ts, offset in resets_in(lo, hi)), lo, hi).get(0)


def parent_gone() -> DomainError:
    """A PUT's parent deleted between the request's check and the write (its transaction checks again): the
    answer of a parent that is not registered."""
    return DomainError("InvalidEntity", "'parentId' names no registered entity visible to this token")


class PlannedIngest:
    """`ingest` for every backend: the batch is prepared here, then the backend reads what the planner asks
    for, plans and writes in one transaction (`_ingest_batch`, the only part that differs)."""

    def ingest(self, entity_id: uuid.UUID, readings: Sequence[Reading], deadline: float | None = None) -> IngestResult:
        batch = prepare(readings, REGISTER_COUNT)
        if batch is None:
            return IngestResult(received=len(readings), written=0, replaced=0)
        todo = self._ingest_batch(entity_id, batch, deadline)
        return IngestResult(received=batch.received, written=len(todo.rows), replaced=todo.replaced)

    def _ingest_batch(self, entity_id: uuid.UUID, batch: Batch, deadline: float | None) -> IngestPlan:
        raise NotImplementedError


class SurroundingsReads(Protocol):
    """A backend's reads of what it holds around a batch, in the batch's transaction (`read_surroundings` says
    which it needs). `appending` (nothing stored at or after the batch): a backend may have read the answer
    already, with the latest reading (as PostgreSQL's one append read does)."""

    def latest_and_bounds(self) -> tuple[int | None, dict[int, tuple[int, int]]]:
        """The entity's latest reading's timestamp (None: none) and the series bounds of its registers."""

    def existing(self, lo: int, hi: int) -> list[tuple[int, Values]]:
        """The stored readings in [lo, hi], ascending: (timestamp, register values)."""

    def gauge_tail(self, blocks: list[tuple[int, int]]) -> dict[int, Summaries]:
        """Appending: the stored summaries of these (tier width, block), by width."""

    def has_gauge_blocks(self) -> bool:
        """Whether the entity has any gauge block stored."""

    def gauge_rows(self, spans: list[tuple[int, int]]) -> list[tuple[int, Values]]:
        """The stored readings in these half-open spans, ascending: (timestamp, gauge values)."""

    def gauge_children(self, spans: list[tuple[int, int]]) -> dict[int, dict[int, Summaries]]:
        """The stored blocks of every tier but the coarsest starting in these half-open spans: {width: {block: …}}."""

    def neighbours(self, registers: list[int], bounds: dict[int, tuple[int, int]], lo: int, hi: int,
                   appending: bool) -> tuple[dict[int, Sample], dict[int, Sample]]:
        """Per register: the nearest stored reading having it before lo and (unless appending) after hi, sought
        inside its series `bounds` (none without); absent where there is none."""

    def edge_rows(self, keys: tuple[int, int], appending: bool) -> dict[int, dict[int, bytes]]:
        """The stored edge rows with keys in [first, last]: {register: {key: row}}."""


def read_surroundings(batch: Batch, reads: SurroundingsReads) -> tuple[Surroundings, bool]:
    """What the planner needs around `batch`, read through `reads`, and whether the batch appends."""
    lo, hi = batch.lo, batch.hi
    latest, bounds = reads.latest_and_bounds()
    appending = latest is None or latest < lo  # nothing stored at or after the batch
    around = Surroundings(registers=probe_registers(batch, bounds, appending))
    if appending:
        if batch.gauges_present:
            around.gauge_tail = reads.gauge_tail([(width, block_of(lo, width)) for width in TIERS])
    else:
        around.existing = reads.existing(lo, hi)
        if batch.gauges_present or reads.has_gauge_blocks():
            around.gauge_rows = reads.gauge_rows(gauge_spans(batch))
            around.gauge_children = reads.gauge_children(gauge_parent_spans(batch))
    before, around.after = reads.neighbours(around.registers, bounds, lo, hi, appending)
    for k, (ts, value) in before.items():
        around.before_ts[k], around.before[k] = ts, value
    keys = edge_row_keys(batch, around)
    if keys is not None:
        around.edge_rows = reads.edge_rows(keys, appending)
    return around, appending


_encode_summaries = msgspec.msgpack.Encoder().encode
_decode_summaries = msgspec.msgpack.Decoder(dict[str, GaugeSummary]).decode


def pack_summaries(summaries: dict[int, GaugeSummary]) -> bytes:
    """A block's summaries as the one value of its `gauge_blocks` row: MessagePack, keyed by gauge column name
    (so the order of GAUGE_SERIES may change), each summary an array of its fields."""
    return _encode_summaries({GAUGE_COLUMNS[k]: summary for k, summary in summaries.items()})


def unpack_summaries(value: bytes) -> dict[int, GaugeSummary]:
    """The inverse of `pack_summaries`."""
    return {GAUGE_INDEX[name]: summary for name, summary in _decode_summaries(value).items()}


def is_postgres_url(database: str) -> bool:
    return database.startswith(("postgresql://", "postgres://"))


def latest_migration(backend: str) -> int:
    return migrations(backend)[-1][0]


def migrations(backend: str) -> list[tuple[int, str]]:
    """(version, SQL) of every migration file of a backend, in order."""
    folder = resources.files("connect_readings.storage") / "migrations" / backend
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(int(f.name.split("_", 1)[0]), f.read_text()) for f in files]


# -- the row codec: a reading ↔ one row (ts, one column per register, the other metrics as JSON) -------------
def column_name(metric: str, field: str | None) -> str:
    """The storage column of a register series: positiveActiveEnergy.t1 → positive_t1, positiveGasVolume → positive_gas.

    >>> column_name("negativeActiveEnergy", "total"), column_name("positiveGasVolume", None)
    ('negative_total', 'positive_gas')
    """
    if field is None:
        return metric.removesuffix("GasVolume") + "_gas"
    return f"{metric.removesuffix('ActiveEnergy')}_{field}"


REGISTER_COLUMNS = tuple(column_name(metric, field) for metric, field in REGISTER_SERIES)
REGISTER_INDEX = {name: k for k, name in enumerate(REGISTER_COLUMNS)}

_GAUGE_PREFIX = {
    "positiveActiveInstantaneousPower": "positive_power_",
    "negativeActiveInstantaneousPower": "negative_power_",
    "instantaneousVoltage": "voltage_",
    "instantaneousCurrent": "current_",
}
_VALUE_GAUGE_COLUMN = {"stateOfCharge": "state_of_charge", "range": "driving_range"}


def gauge_column(metric: str, field: str) -> str:
    """The storage column of a gauge (in its normalised unit): positiveActiveInstantaneousPower.l1 →
    positive_power_l1, stateOfCharge.value → state_of_charge.

    >>> gauge_column("instantaneousVoltage", "total"), gauge_column("range", "value")
    ('voltage_total', 'driving_range')
    """
    if metric in _VALUE_GAUGE_COLUMN:
        return _VALUE_GAUGE_COLUMN[metric]
    return _GAUGE_PREFIX[metric] + field


GAUGE_COLUMNS = tuple(gauge_column(metric, field) for metric, field in GAUGE_SERIES)
GAUGE_INDEX = {name: k for k, name in enumerate(GAUGE_COLUMNS)}


COLUMN_METRICS = REGISTER_METRICS | GAUGE_UNITS.keys()
"""Metrics kept in named columns: registers and gauges (their units are the normalised ones)."""

QUALITY_METRICS = ("quality", "gasQuality")
"""The instantaneous metrics the interval import puts where a non-measured interval ends (docs/semantics.md §14):
kept in `extra`, found through the partial index `readings_quality` (migration 0008)."""
QualityMark = tuple[int, float | None, str | None]
"""(ts, the mark's `value`, its `unit`: the status); value and status None when the reading does not hold the
metric as an object after all (its name was only mentioned elsewhere in `extra`)."""


def quality_mark(ts: int, extra: bytes | str | None, metric: str) -> QualityMark:
    """A reading's mark of `metric`: its `value` (0 when it is not a finite number) and `unit` ("unknown" when it
    is not a non-empty text).

    >>> quality_mark(5, b'{"quality": {"value": 2, "unit": "Geschat"}}', "quality")
    (5, 2.0, 'Geschat')
    >>> quality_mark(5, b'{"note": {"value": 1, "unit": "quality"}}', "quality")
    (5, None, None)
    """
    try:
        mark = orjson.loads(extra) if extra is not None else None
    except orjson.JSONDecodeError:
        return ts, None, None
    found = mark.get(metric) if type(mark) is dict else None
    if type(found) is not dict:
        return ts, None, None
    value, unit = found.get("value"), found.get("unit")
    number = float(value) if type(value) in (int, float) and abs(value) < 1e300 else 0.0
    return ts, number, unit if type(unit) is str and unit else "unknown"


def extra_json(reading: Reading) -> bytes | None:
    """The metrics not kept in columns (odometer, and metrics we do not know), as JSON; None when there are none."""
    data = reading.data
    if data.keys() <= COLUMN_METRICS:  # the common case, checked in C
        return None
    return orjson.dumps({name: value for name, value in data.items() if name not in COLUMN_METRICS})


_TIERED_LAYOUT = [(metric, [(field, REGISTER_SERIES.index((metric, field))) for field in TIER_FIELDS])
                  for metric in TIERED_REGISTERS]
_VOLUME_LAYOUT = [(metric, REGISTER_SERIES.index((metric, None))) for metric in VOLUME_REGISTERS]
_GAUGE_LAYOUT = [(metric, unit, [(field, k) for k, (m, field) in enumerate(GAUGE_SERIES) if m == metric])
                 for metric, unit in GAUGE_UNITS.items()]


def stored_row(row: Sequence[Any]) -> StoredReading:
    """`stored_reading` of a row selected as (ts, register columns, gauge columns, extra)."""
    return stored_reading(row[0], row[1:_GAUGES_FROM], row[_GAUGES_FROM:-1], row[-1])


_GAUGES_FROM = 1 + len(REGISTER_SERIES)


def stored_reading(ts: int, registers: Sequence[float | None], gauges: Sequence[float | None],
                   extra: str | bytes | None) -> StoredReading:
    """A row back into a reading's data (the inverse of the columns and `extra_json`)."""
    data: dict[str, Any] = {}
    for metric, fields in _TIERED_LAYOUT:
        if registers[fields[-1][1]] is not None:
            measurement: dict[str, Any] = {field: registers[k] for field, k in fields if registers[k] is not None}
            measurement["unit"] = ENERGY_UNIT
            data[metric] = measurement
    for metric, k in _VOLUME_LAYOUT:
        if registers[k] is not None:
            data[metric] = {"value": registers[k], "unit": VOLUME_UNIT}
    if gauges.count(None) != len(gauges):
        _gauge_data(data, gauges)
    if extra:
        data.update(orjson.loads(extra))
    return StoredReading(ts=ts, data=data)


def _gauge_data(data: dict[str, Any], gauges: Sequence[float | None]) -> None:
    for metric, unit, fields in _GAUGE_LAYOUT:
        measurement = {field: gauges[k] for field, k in fields if gauges[k] is not None}
        if measurement:
            measurement["unit"] = unit
            data[metric] = measurement
