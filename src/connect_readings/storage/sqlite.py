"""Embedded default backend: one SQLite file, WAL, readings clustered by (entity_id, ts).

Owns the SQL of the embedded store and nothing else: what to write on ingest is decided by the planner
(`domain/ingest.py`), this module reads what the planner asks for and executes its plan.

Each thread gets its own connection (sqlite3 connections are not shared across threads); WAL lets readers
run beside the single writer. Every connection syncs as `synchronous` says (FULL by default: an acknowledged
batch survives a power loss) and holds at most `cache_kib` of SQLite's page cache, with no memory map
(docs/operations.md, "Memory" and "Durability"). Every query is an index seek or a short range scan on one
entity. Driver errors become StoreBusy / StoreTimeout here (`_mapped`), by SQLite's own result codes.
"""

from __future__ import annotations

import bisect
import functools
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain, repeat
from typing import Any, TypeVar

import orjson

from ..config import SQLITE_SYNCHRONOUS
from ..domain.entities import EntityRecord, check_parent
from ..domain.gauges import TIERS, GaugeSummary
from ..domain.ingest import Batch, IngestPlan, Summaries, Values, plan
from ..domain.edges import values_at as edge_values
from ..domain.prices import PriceColumns, PriceInterval, PriceSeries
from ..domain.readings import REGISTER_COUNT
from ..domain.registers import Bracket, ResetOffsets, Sample, with_offsets
from .base import COLUMN_METRICS, GAUGE_COLUMNS, GAUGE_INDEX, REGISTER_COLUMNS, REGISTER_INDEX, PlannedIngest, SchemaState, StoreBusy
from .base import StoredReading, StoreTimeout, extra_json, latest_migration, stored_row
from .base import pack_summaries, unpack_summaries
from .base import QualityMark, quality_mark
from .base import ENTITY_COLUMNS, ENTITY_TABLES, MAX_CHILDREN_LISTED, EntityDeletion, entity_record, parent_gone
from .base import edge_row_keys_of, edges_or_readings, new_revision
from .base import PRICE_SERIES_GROUP, PRICE_SERIES_SQL, PriceSeriesInfo, overlapping_span, price_intervals_query
from .base import columns_made_continuous, continuous_brackets, continuous_samples, price_rewrite, price_series_info
from .base import read_surroundings, readings_in_windows, reset_offsets, samples_span
from .migrate import apply_pending

_ROW = "ts, " + ", ".join(REGISTER_COLUMNS)
_FULL_ROW = f"{_ROW}, {', '.join(GAUGE_COLUMNS)}, extra"
_GAUGE_ROW = "ts, " + ", ".join(GAUGE_COLUMNS)
_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
T = TypeVar("T")

SYNCHRONOUS_LEVELS = SQLITE_SYNCHRONOUS
"""`PRAGMA synchronous` levels a store runs with (WAL). NORMAL: a committed batch survives a crash of the
process, not a power loss or an OS crash (the WAL is synced only at checkpoints). FULL: the WAL is synced at
every commit, so an acknowledged batch survives those too. EXTRA: FULL with SQLite's few extra syncs. OFF
(no sync at all) may corrupt the file on a power loss, so it is refused."""

DEFAULT_CACHE_KIB = 2048
"""SQLite page cache per connection when the store is opened without a budget (the CLI's short-lived
stores); `open_store` divides a process's budget (`sqlite_cache_mib`) among its connections instead."""


def synchronous_level(level: str) -> str:
    """The level in capitals, or ValueError for one not in SYNCHRONOUS_LEVELS.

    >>> synchronous_level("full")
    'FULL'
    """
    normal = level.strip().upper()
    if normal not in SYNCHRONOUS_LEVELS:
        raise ValueError(f"the SQLite synchronous level must be one of {', '.join(SYNCHRONOUS_LEVELS)}, not {level!r}")
    return normal


def _mapped(method: Callable[..., T]) -> Callable[..., T]:
    """Driver errors of a store call → StoreBusy / StoreTimeout (anything else is a bug and stays as is)."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            mapped = _store_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    return call


def _store_error(exc: sqlite3.OperationalError) -> Exception | None:
    """StoreTimeout or StoreBusy by SQLite's result code (its low byte: extended codes refine a primary one);
    None for anything else (a bug, not an overload)."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == sqlite3.SQLITE_INTERRUPT:
        return StoreTimeout("the statement was interrupted at its deadline")
    if code in _BUSY_CODES:
        return StoreBusy("the database is locked by another writer")
    return None


class SQLiteStore(PlannedIngest):
    readings_span: int | None = None  # never set here (one table, no chunks); tests set it to read in windows

    def __init__(self, path: str, *, busy_timeout_s: float = 30.0, synchronous: str = "FULL",
                 cache_kib: int = DEFAULT_CACHE_KIB) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.synchronous = synchronous_level(synchronous)
        if cache_kib < 0:
            raise ValueError(f"cache_kib must be 0 or more, not {cache_kib}")
        self.cache_kib = int(cache_kib)
        self._local = threading.local()
        self.migrate()

    # -- connections and schema -------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (the store's own calls; maintenance and tests)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False,
                cached_statements=256,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")  # (checked: one of SYNCHRONOUS_LEVELS)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA cache_size=-{self.cache_kib}")  # negative: KiB, this connection's share
            conn.execute("PRAGMA mmap_size=0")  # reads copy pages into the cache above; nothing else is mapped
            local.conn = conn
            local.deadline = None
            conn.set_progress_handler(functools.partial(_interrupt_if_late, local), 1000)
        return conn

    @contextmanager
    def _deadline(self, deadline: float | None) -> Iterator[sqlite3.Connection]:
        """Statements on this thread's connection inside the block are interrupted once `deadline` passes."""
        db = self.db
        local = self._local
        outer = local.deadline
        if outer is None:
            local.deadline = deadline
        try:
            yield db
        finally:
            local.deadline = outer

    @_mapped
    def migrate(self) -> int:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            version = apply_pending("sqlite", db.execute("PRAGMA user_version").fetchone()[0], _Sql(db),
                                    lambda text: [db.execute(statement) for statement in _statements(text)],
                                    lambda number: db.execute(f"PRAGMA user_version = {int(number)}"))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return version

    @_mapped
    def schema_state(self, deadline: float | None = None) -> SchemaState:
        with self._deadline(deadline) as db:
            applied = db.execute("PRAGMA user_version").fetchone()[0]
        return SchemaState(applied, latest_migration("sqlite"))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @_mapped
    def meta_value(self, key: str, default: str) -> str:
        db = self.db
        db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, default))
        return db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    @_mapped
    def meta_get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    # -- ingest -------------------------------------------------------------------------------------
    @_mapped
    def _ingest_batch(self, entity_id: uuid.UUID, batch: Batch, deadline: float | None) -> IngestPlan:
        eid = entity_id.bytes
        with self._deadline(deadline) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                todo = plan(batch, read_surroundings(batch, _Reads(db, eid))[0])
                self._execute(db, eid, batch, todo)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return todo

    @staticmethod
    def _execute(db: sqlite3.Connection, eid: bytes, batch: Batch, todo: IngestPlan) -> None:
        db.execute(_REGISTER, (eid, time.time_ns() // 1000, batch.hi))
        _insert_rows(db, eid, batch)
        db.executemany(
            "DELETE FROM resets WHERE entity_id = ? AND register = ? AND ts BETWEEN ? AND ?",
            [(eid, REGISTER_COLUMNS[k], lo, hi) for k, lo, hi in todo.reset_spans],
        )
        if todo.resets:
            db.executemany(
                'INSERT INTO resets(entity_id, register, ts, "offset") VALUES (?, ?, ?, ?)',
                [(eid, REGISTER_COLUMNS[k], ts, offset) for k, ts, offset in todo.resets],
            )
        db.executemany(_WIDEN_SERIES, [(eid, REGISTER_COLUMNS[k], first, last) for k, first, last in todo.widen])
        if todo.gauge_widen:
            db.executemany(_WIDEN_SERIES, [(eid, GAUGE_COLUMNS[k], first, last) for k, first, last in todo.gauge_widen])
        if todo.gauge_deletes:
            db.executemany("DELETE FROM gauge_blocks WHERE entity_id = ? AND width = ? AND block = ?",
                           [(eid, width, block) for width, block in todo.gauge_deletes])
        if todo.edge_rows:
            db.executemany("INSERT OR REPLACE INTO register_edge_blocks(entity_id, register, block, edges) "
                           "VALUES (?, ?, ?, ?)",
                           [(eid, REGISTER_COLUMNS[k], block, row) for k, block, row in todo.edge_rows if row is not None])
            db.executemany("DELETE FROM register_edge_blocks WHERE entity_id = ? AND register = ? AND block = ?",
                           [(eid, REGISTER_COLUMNS[k], block) for k, block, row in todo.edge_rows if row is None])
        if todo.gauge_blocks:
            db.executemany("INSERT OR REPLACE INTO gauge_blocks(entity_id, width, block, summaries) VALUES (?, ?, ?, ?)",
                           [(eid, width, block, pack_summaries(summaries)) for width, block, summaries in todo.gauge_blocks])

    # -- reads --------------------------------------------------------------------------------------
    @_mapped
    def entity_version(self, entity_id: uuid.UUID) -> int | None:
        row = self.db.execute("SELECT version FROM entities WHERE entity_id = ?", (entity_id.bytes,)).fetchone()
        return None if row is None else row[0]

    @_mapped
    def entity_head(self, entity_id: uuid.UUID) -> tuple[int, str | None, int] | None:
        row = self.db.execute("SELECT version, time_zone, created FROM entities WHERE entity_id = ?",
                              (entity_id.bytes,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    @_mapped
    def entity(self, entity_id: uuid.UUID) -> EntityRecord | None:
        row = self.db.execute(f"SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_id = ?", (entity_id.bytes,)).fetchone()
        return None if row is None else entity_record(row, _uuid)

    @_mapped
    def entities(self, after: uuid.UUID | None, limit: int, visible: Collection[uuid.UUID] | None = None
                 ) -> list[EntityRecord]:
        low = after.bytes if after is not None else b""
        if visible is None:
            rows = self.db.execute(f"SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_id > ? ORDER BY entity_id LIMIT ?",
                                   (low, limit)).fetchall()
            return [entity_record(row, _uuid) for row in rows]
        found: list[EntityRecord] = []
        wanted = sorted(e for e in visible if after is None or e > after)
        for i in range(0, len(wanted), 500):
            if len(found) >= limit:
                break
            chunk = [e.bytes for e in wanted[i:i + 500]]
            rows = self.db.execute(
                f"SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_id IN ({', '.join('?' * len(chunk))}) "
                "ORDER BY entity_id LIMIT ?", (*chunk, limit - len(found))).fetchall()
            found.extend(entity_record(row, _uuid) for row in rows)
        return found

    @_mapped
    def put_entity(self, record: EntityRecord) -> tuple[EntityRecord, bool]:
        db = self.db
        fields = (record.type, record.name, record.brand, record.identifier,
                  record.parent_id.bytes if record.parent_id is not None else None,
                  None if record.properties is None else orjson.dumps(record.properties).decode(), record.time_zone)
        db.execute("BEGIN IMMEDIATE")  # the write lock: the parent check below sees every committed PUT
        try:
            if record.parent_id is not None:
                if db.execute("SELECT 1 FROM entities WHERE entity_id = ?", (record.parent_id.bytes,)).fetchone() is None:
                    raise parent_gone()  # (deleted since the request checked it)
                check_parent(record.entity_id, record.parent_id, functools.partial(_parent_of, db))
            existed = db.execute("SELECT 1 FROM entities WHERE entity_id = ?", (record.entity_id.bytes,)).fetchone()
            if existed:
                db.execute("UPDATE entities SET type = ?, name = ?, brand = ?, identifier = ?, parent_id = ?, "
                           "properties = ?, time_zone = ? WHERE entity_id = ?", (*fields, record.entity_id.bytes))
            else:
                db.execute("INSERT INTO entities(entity_id, type, name, brand, identifier, parent_id, properties, "
                           "time_zone, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (record.entity_id.bytes, *fields, record.created))
            row = db.execute(f"SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_id = ?", (record.entity_id.bytes,)).fetchone()
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return entity_record(row, _uuid), not existed

    # -- costs: price series and tariffs (docs/semantics.md §15) -----------------------------------------
    @_mapped
    def put_prices(self, series: PriceSeries, intervals: Sequence[PriceInterval], now: int) -> tuple[int, bool]:
        db = self.db
        pid = series.price_id
        db.execute("BEGIN IMMEDIATE")
        try:
            created = db.execute("SELECT 1 FROM price_series WHERE price_id = ?", (pid,)).fetchone() is None
            db.execute("INSERT INTO price_series(price_id, name, unit, currency, updated, revision) "
                       "VALUES (?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT (price_id) DO UPDATE SET name = coalesce(excluded.name, price_series.name), "
                       "unit = excluded.unit, currency = excluded.currency, updated = excluded.updated, "
                       "revision = excluded.revision",
                       (pid, series.name, series.unit, series.currency, now, new_revision()))
            if intervals:
                lo, hi = overlapping_span(intervals)
                stored = [PriceInterval(*row) for row in
                          db.execute(*price_intervals_query("?", pid, lo, hi, None, None))]
                deleted, rows = price_rewrite(stored, intervals)
                if deleted is not None:
                    db.execute("DELETE FROM price_intervals WHERE price_id = ? AND start_ts >= ? AND start_ts <= ?",
                               (pid, *deleted))
                db.executemany("INSERT INTO price_intervals(price_id, start_ts, end_ts, price) VALUES (?, ?, ?, ?)",
                               [(pid, i.start, i.end, i.price) for i in rows])
            count = db.execute("SELECT count(*) FROM price_intervals WHERE price_id = ?", (pid,)).fetchone()[0]
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return int(count), created

    @_mapped
    def price_series(self, price_id: str | None = None) -> list[PriceSeriesInfo]:
        where, args = (" WHERE s.price_id = ?", (price_id,)) if price_id is not None else ("", ())
        return [price_series_info(row) for row in self.db.execute(PRICE_SERIES_SQL + where + PRICE_SERIES_GROUP, args)]

    @_mapped
    def price_intervals(self, price_id: str, lo: int, hi: int, after: int | None = None,
                        limit: int | None = None) -> list[PriceInterval]:
        sql, args = price_intervals_query("?", price_id, lo, hi, after, limit)
        return [PriceInterval(*row) for row in self.db.execute(sql, args)]

    @_mapped
    def price_revision(self, price_id: str) -> int | None:
        row = self.db.execute("SELECT revision FROM price_series WHERE price_id = ?", (price_id,)).fetchone()
        return None if row is None else row[0]

    @_mapped
    def price_columns(self, price_id: str, lo: int, hi: int) -> PriceColumns:
        return PriceColumns.of_rows(self.db.execute(*price_intervals_query("?", price_id, lo, hi, None, None)).fetchall())

    @_mapped
    def put_tariff(self, entity_id: uuid.UUID, document: str, now: int) -> bool | None:
        db = self.db
        eid = entity_id.bytes
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM entities WHERE entity_id = ?", (eid,)).fetchone() is None:
                db.execute("ROLLBACK")
                return None
            created = db.execute("SELECT 1 FROM tariffs WHERE entity_id = ?", (eid,)).fetchone() is None
            db.execute("INSERT INTO tariffs(entity_id, document, updated) VALUES (?, ?, ?) ON CONFLICT (entity_id) "
                       "DO UPDATE SET document = excluded.document, updated = excluded.updated", (eid, document, now))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return created

    @_mapped
    def tariff(self, entity_id: uuid.UUID) -> str | None:
        row = self.db.execute("SELECT document FROM tariffs WHERE entity_id = ?", (entity_id.bytes,)).fetchone()
        return None if row is None else row[0]

    @_mapped
    def delete_entity(self, entity_id: uuid.UUID, deadline: float | None = None) -> EntityDeletion | None:
        eid = entity_id.bytes
        with self._deadline(deadline) as db:
            db.execute("BEGIN IMMEDIATE")  # the write lock: no ingest or PUT runs between the checks and the deletes
            try:
                if db.execute("SELECT 1 FROM entities WHERE entity_id = ?", (eid,)).fetchone() is None:
                    db.execute("ROLLBACK")
                    return None
                children = db.execute("SELECT count(*) FROM entities WHERE parent_id = ?", (eid,)).fetchone()[0]
                if children:
                    some = db.execute("SELECT entity_id FROM entities WHERE parent_id = ? ORDER BY entity_id LIMIT ?",
                                      (eid, MAX_CHILDREN_LISTED)).fetchall()
                    db.execute("ROLLBACK")
                    return EntityDeletion(False, children=children,
                                          some_children=tuple(uuid.UUID(bytes=row[0]) for row in some))
                counts = {table: db.execute(f"DELETE FROM {table} WHERE entity_id = ?", (eid,)).rowcount
                          for table in ENTITY_TABLES}
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return EntityDeletion(True, readings=counts["readings"])

    @_mapped
    def entity_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(bytes=row[0]) for row in self.db.execute("SELECT entity_id FROM entities ORDER BY entity_id")]

    @_mapped
    def reading_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM readings").fetchone()[0])

    @_mapped
    def readings(self, entity_id: uuid.UUID, start: int, end: int, limit: int) -> list[StoredReading]:
        def read(lo: int, hi: int, _window: tuple[int, int] | None, n: int) -> list[StoredReading]:
            rows = self.db.execute(
                f"SELECT {_FULL_ROW} FROM readings WHERE entity_id = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?",
                (entity_id.bytes, lo, hi, n),
            ).fetchall()
            return list(map(stored_row, rows))
        return readings_in_windows(read, start, end, limit, self.readings_span)

    @_mapped
    def count_readings(self, entity_id: uuid.UUID, start: int, end: int, cap: int) -> int:
        row = self.db.execute(
            "SELECT count(*) FROM (SELECT 1 FROM readings WHERE entity_id = ? AND ts >= ? AND ts < ? LIMIT ?)",
            (entity_id.bytes, start, end, cap + 1),
        ).fetchone()
        return int(row[0])

    @_mapped
    def last_reading(self, entity_id: uuid.UUID) -> StoredReading | None:
        row = self.db.execute(
            f"SELECT {_FULL_ROW} FROM readings WHERE entity_id = ? ORDER BY ts DESC LIMIT 1", (entity_id.bytes,),
        ).fetchone()
        return stored_row(row) if row else None

    @_mapped
    def register_brackets(self, entity_id: uuid.UUID, instants: Sequence[int]) -> list[list[Bracket]]:
        eid = entity_id.bytes
        empty: list[Bracket] = [(None, None)] * len(instants)
        result: list[list[Bracket]] = [empty] * REGISTER_COUNT
        with self.snapshot() as _:
            db = self.db
            bounds = _series_bounds(db, eid)
            if not bounds:
                return result
            # One statement: the distinct readings next to any instant (two index seeks per instant).
            rows = db.execute(_NEIGHBOURS, (eid, orjson.dumps(list(instants)))).fetchall()
            if not rows:
                return result
            stamps = [row[0] for row in rows]
            positions = [(bisect.bisect_right(stamps, t) - 1, bisect.bisect_left(stamps, t)) for t in instants]
            last = len(rows) - 1
            lo, hi = stamps[0], stamps[-1]
            for k in sorted(bounds):
                column = k + 1
                brackets: list[Bracket] = []
                for t, (i, j) in zip(instants, positions):
                    before = after = None
                    if i >= 0:
                        value = rows[i][column]
                        before = (stamps[i], value) if value is not None else _nearest(db, eid, k, t, "<=", bounds[k])
                        if before is not None and before[0] < lo:
                            lo = before[0]
                    if j <= last:
                        value = rows[j][column]
                        after = (stamps[j], value) if value is not None else _nearest(db, eid, k, t, ">=", bounds[k])
                        if after is not None and after[0] > hi:
                            hi = after[0]
                    brackets.append((before, after))
                result[k] = brackets
            # Reset offsets over the span of every sample used, fallbacks included.
            for k, adjust in _reset_offsets(db, eid, lo, hi).items():
                if result[k] is not empty:
                    result[k] = [(with_offsets(b, adjust), with_offsets(a, adjust)) for b, a in result[k]]
            return result

    # -- gauges (statistics) ---------------------------------------------------------------------------
    @_mapped
    def gauges_present(self, entity_id: uuid.UUID) -> list[int]:
        return sorted(GAUGE_INDEX[name] for (name,) in self.db.execute(
            "SELECT register FROM series WHERE entity_id = ?", (entity_id.bytes,)) if name in GAUGE_INDEX)

    @_mapped
    def gauge_blocks(self, entity_id: uuid.UUID, width: int, lo: int, hi: int
                     ) -> list[tuple[int, dict[int, GaugeSummary]]]:
        return [(block, unpack_summaries(value)) for block, value in self.db.execute(
            "SELECT block, summaries FROM gauge_blocks WHERE entity_id = ? AND width = ? AND block >= ? AND block < ? "
            "ORDER BY block", (entity_id.bytes, width, lo, hi))]

    @_mapped
    def gauge_samples(self, entity_id: uuid.UUID, gauges: Sequence[int], lo: int, hi: int
                      ) -> list[tuple[int, tuple[float | None, ...]]]:
        columns = [GAUGE_COLUMNS[k] for k in gauges]
        rows = self.db.execute(
            f"SELECT ts, {', '.join(columns)} FROM readings WHERE entity_id = ? AND ts >= ? AND ts < ? "
            f"AND ({' OR '.join(c + ' IS NOT NULL' for c in columns)}) ORDER BY ts", (entity_id.bytes, lo, hi))
        return [(row[0], row[1:]) for row in rows]

    @_mapped
    def gauge_neighbours(self, entity_id: uuid.UUID, gauges: Sequence[int], before: int, after: int
                         ) -> tuple[dict[int, tuple[int, float]], dict[int, tuple[int, float]]]:
        eid, db = entity_id.bytes, self.db
        bounds = _series_bounds(db, eid, GAUGE_INDEX)
        found_before: dict[int, tuple[int, float]] = {}
        found_after: dict[int, tuple[int, float]] = {}
        for k in gauges:
            sample = _nearest(db, eid, GAUGE_COLUMNS[k], before - 1, "<=", bounds.get(k))
            if sample is not None:
                found_before[k] = sample
            sample = _nearest(db, eid, GAUGE_COLUMNS[k], after, ">=", bounds.get(k))
            if sample is not None:
                found_after[k] = sample
        return found_before, found_after

    @_mapped
    def quality_marks(self, entity_id: uuid.UUID, metric: str, lo: int, hi: int, limit: int) -> list[QualityMark]:
        rows = self.db.execute(QUALITY_MARKS_SQL, (entity_id.bytes, lo, hi, f'"{metric}"', limit)).fetchall()
        return [quality_mark(ts, extra, metric) for ts, extra in rows]

    @contextmanager
    def snapshot(self, deadline: float | None = None) -> Iterator[None]:
        """One read transaction, so a page never mixes two states of a concurrent batch; re-entrant."""
        with self._deadline(deadline) as db:
            if db.in_transaction:
                yield
                return
            try:
                db.execute("BEGIN")
            except sqlite3.OperationalError as exc:
                raise (_store_error(exc) or exc) from exc
            try:
                yield
            finally:
                db.execute("COMMIT")

    # -- peak demand: one register's samples or brackets (statistics §4, §6) ----------------------------------
    @_mapped
    def register_coverage(self, entity_id: uuid.UUID, register: int) -> tuple[int, int] | None:
        eid = entity_id.bytes
        with self.snapshot():
            bounds = _register_bounds(self.db, eid, register)
            if bounds is None:
                return None
            first = _nearest(self.db, eid, register, bounds[0], ">=", bounds)
            last = _nearest(self.db, eid, register, bounds[1], "<=", bounds)
        return None if first is None or last is None else (first[0], last[0])

    @_mapped
    def register_samples(
        self, entity_id: uuid.UUID, register: int, lo: int, hi: int, limit: int
    ) -> list[Sample] | None:
        eid = entity_id.bytes
        with self.snapshot():
            db = self.db
            bounds = _register_bounds(db, eid, register)
            if bounds is None:
                return []
            if db.execute(_MORE_THAN, (eid, lo, hi, max(0, limit))).fetchone() is not None:
                return None
            before = _nearest(db, eid, register, lo, "<=", bounds)
            after = _nearest(db, eid, register, hi, ">=", bounds)
            span = samples_span(lo, hi, bounds, before[0] if before else None, after[0] if after else None)
            if span is None:
                return []
            return continuous_samples(db.execute(_SAMPLES[register], (eid, *span)).fetchall(),
                                      lambda lo, hi: _resets_of(db, eid, register, lo, hi))

    @_mapped
    def register_series_brackets(self, entity_id: uuid.UUID, register: int, instants: Sequence[int]) -> list[Bracket]:
        eid = entity_id.bytes
        with self.snapshot():
            db = self.db
            bounds = _register_bounds(db, eid, register)
            if bounds is None or not instants:
                return [(None, None)] * len(instants)
            found = db.execute(_SERIES_BRACKETS[register], (eid, orjson.dumps(list(instants)), *bounds)).fetchall()
            return continuous_brackets(found, lambda lo, hi: _resets_of(db, eid, register, lo, hi))

    @_mapped
    def register_edges(self, entity_id: uuid.UUID, instants: Sequence[int]) -> tuple[list[int], list[list[float | None]]]:
        eid = entity_id.bytes
        with self.snapshot():
            db = self.db
            registers = sorted(_series_bounds(db, eid))
            if not instants:
                return registers, [[] for _ in registers]
            columns = edge_values(_edge_rows(db, eid, [REGISTER_COLUMNS[k] for k in registers], instants), instants)
            return registers, columns_made_continuous(instants, registers, columns,
                                                      _reset_offsets(db, eid, instants[0], instants[-1]))

    @_mapped
    def register_values_at(self, entity_id: uuid.UUID, registers: Sequence[int], instants: Sequence[int]
                           ) -> tuple[list[int], list[list[float | None]]]:
        eid = entity_id.bytes
        if not registers or not instants:
            return [], [[] for _ in registers]
        names = [REGISTER_COLUMNS[k] for k in registers]
        with self.snapshot():
            db = self.db

            def exact(wanted: list[int]) -> tuple[list[int], list[list[float | None]]]:
                found = db.execute(f"SELECT ts, {', '.join(names)} FROM json_each(?2) AS edge CROSS JOIN readings "
                                   "ON readings.entity_id = ?1 AND readings.ts = edge.value ORDER BY ts",
                                   (eid, orjson.dumps(wanted))).fetchall()
                return [row[0] for row in found], [[row[n] for row in found] for n in range(1, len(names) + 1)]

            stamps, values = edges_or_readings(instants, edge_values(_edge_rows(db, eid, names, instants), instants), exact)
            if not stamps:
                return [], [[] for _ in registers]
            offsets = _reset_offsets(db, eid, stamps[0], stamps[-1])
        return stamps, columns_made_continuous(stamps, list(registers), values, offsets)

# Registers the entity on its first ingest (created: now), else bumps its version; last_seen never moves back.
_REGISTER = (
    "INSERT INTO entities(entity_id, created, last_seen) VALUES (?, ?, ?) ON CONFLICT(entity_id) DO UPDATE SET "
    "version = version + 1, last_seen = max(coalesce(last_seen, excluded.last_seen), excluded.last_seen)"
)


def _uuid(value: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=value)


def _parent_of(db: sqlite3.Connection, entity_id: uuid.UUID) -> uuid.UUID | None:
    """The registered entity's parent (None: none, or not registered), read in the caller's transaction."""
    row = db.execute("SELECT parent_id FROM entities WHERE entity_id = ?", (entity_id.bytes,)).fetchone()
    return None if row is None or row[0] is None else uuid.UUID(bytes=row[0])


def _interrupt_if_late(local: threading.local) -> int:
    """Progress handler: nonzero (interrupt the running statement) once the call's deadline has passed.

    Once per deadline: after one interruption it answers 0, so the ROLLBACK the store runs while unwinding
    is never cut off itself.
    """
    deadline = local.deadline
    if deadline is None or time.monotonic() < deadline:
        return 0
    local.deadline = None
    return 1


_NEIGHBOURS = f"""
WITH edge(t) AS (SELECT value FROM json_each(?2))
SELECT {_ROW} FROM readings WHERE entity_id = ?1 AND ts IN (
    SELECT (SELECT max(ts) FROM readings WHERE entity_id = ?1 AND ts <= edge.t) FROM edge
    UNION
    SELECT (SELECT min(ts) FROM readings WHERE entity_id = ?1 AND ts >= edge.t) FROM edge
) ORDER BY ts
"""
_WIDEN_SERIES = (
    "INSERT INTO series(entity_id, register, first_ts, last_ts) VALUES (?, ?, ?, ?) "
    "ON CONFLICT(entity_id, register) "
    "DO UPDATE SET first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)"
)
_SEEK = {
    op: {
        c: f"SELECT ts, {c} FROM readings WHERE entity_id = ? AND ts BETWEEN ? AND ? AND {c} IS NOT NULL "
           f"ORDER BY ts {order} LIMIT 1"
        for c in (*REGISTER_COLUMNS, *GAUGE_COLUMNS)
    }
    for op, order in (("<=", "DESC"), (">=", "ASC"))
}


def _insert_rows(db: sqlite3.Connection, eid: bytes, batch: Batch) -> None:
    """INSERT OR REPLACE the batch, many rows per statement.

    A register column no reading has is left out (NULL is its default): binding NULLs is the costliest part
    of sqlite3's parameters. Parameters are one flat list; a bytearray binds as the same BLOB as bytes,
    minus sqlite3's adaptation.
    """
    readings, present, gauges, n = batch.readings, batch.present, batch.gauges_present, len(batch.readings)
    with_extra = not all(map(COLUMN_METRICS.issuperset, [r.data for r in readings]))  # other metrics? (in C)
    extras = list(map(extra_json, readings)) if with_extra else []
    names = ["entity_id", "ts", *(REGISTER_COLUMNS[k] for k in present), *(GAUGE_COLUMNS[k] for k in gauges),
             *(["extra"] if with_extra else [])]
    width = len(names)
    per = max(1, min(100, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    flat = list(chain.from_iterable(zip(
        repeat(bytearray(eid), n), batch.stamps, *(batch.columns[k] for k in present),
        *(batch.gauge_columns[k] for k in gauges), *([extras] if with_extra else []),
    )))
    step, whole = per * width, n - n % per
    one_row = f"({', '.join('?' * width)})"
    insert = f"INSERT OR REPLACE INTO readings({', '.join(names)}) VALUES "
    if whole:
        db.executemany(insert + ", ".join([one_row] * per), [flat[i:i + step] for i in range(0, whole * width, step)])
    if whole < n:
        db.executemany(insert + one_row, [flat[i:i + width] for i in range(whole * width, n * width, width)])


def _series_bounds(db: sqlite3.Connection, eid: bytes, index: dict[str, int] = REGISTER_INDEX
                   ) -> dict[int, tuple[int, int]]:
    """{register: (first_ts, last_ts)} of every register the entity has (they enclose its readings); with
    `index` GAUGE_INDEX, the same of its gauges."""
    return {
        index[name]: (first, last)
        for name, first, last in db.execute("SELECT register, first_ts, last_ts FROM series WHERE entity_id = ?", (eid,))
        if name in index
    }


def _edge_rows(db: sqlite3.Connection, eid: bytes, names: Sequence[str], instants: Sequence[int]
               ) -> list[list[tuple[int, bytes]]]:
    """Per register named, its stored edge rows (block, row) holding the instants (edges.py)."""
    rows: dict[str, list[tuple[int, bytes]]] = {name: [] for name in names}
    keys = edge_row_keys_of(instants)
    if keys is not None and names:
        for name, block, row in db.execute(
                f"SELECT register, block, edges FROM register_edge_blocks WHERE entity_id = ? AND block BETWEEN ? "
                f"AND ? AND register IN ({', '.join('?' * len(names))})", (eid, *keys, *names)):
            rows[name].append((block, row))
    return [rows[name] for name in names]


def _nearest(
    db: sqlite3.Connection, eid: bytes, k: int | str, t: int, op: str, bounds: tuple[int, int] | None
) -> Sample | None:
    """Register k (or the column named k: a gauge) from the nearest reading at or before (`op` "<=") / at or
    after (">=") t that has it.

    Used when the neighbouring reading lacks the register (rare). `bounds` (first_ts, last_ts) enclose every
    reading having register k (None: there is none), so the seek runs only inside them: a register present
    in one reading among many costs one index seek, not a scan of the entity's history.
    """
    if bounds is None:
        return None
    first, last = bounds
    low, high = (first, min(t, last)) if op == "<=" else (max(t, first), last)
    if low > high:
        return None
    found = db.execute(_SEEK[op][REGISTER_COLUMNS[k] if isinstance(k, int) else k], (eid, low, high)).fetchone()
    return (found[0], found[1]) if found else None


def _reset_offsets(db: sqlite3.Connection, eid: bytes, lo: int, hi: int) -> dict[int, ResetOffsets]:
    """Every register's reset offsets in (lo, hi] (base.reset_offsets)."""
    return reset_offsets(((REGISTER_INDEX[name], ts, offset) for name, ts, offset in db.execute(
        'SELECT register, ts, "offset" FROM resets WHERE entity_id = ? AND ts > ? AND ts <= ?', (eid, lo, hi))
        if name in REGISTER_INDEX), lo, hi)


class _Reads:
    """base.read_surroundings' reads, one statement (or a few) each."""

    def __init__(self, db: sqlite3.Connection, eid: bytes) -> None:
        self.db = db
        self.eid = eid

    def latest_and_bounds(self) -> tuple[int | None, dict[int, tuple[int, int]]]:
        latest = self.db.execute("SELECT max(ts) FROM readings WHERE entity_id = ?", (self.eid,)).fetchone()[0]
        return latest, _series_bounds(self.db, self.eid)

    def existing(self, lo: int, hi: int) -> list[tuple[int, Values]]:
        return [(row[0], row[1:]) for row in self.db.execute(
            f"SELECT {_ROW} FROM readings WHERE entity_id = ? AND ts BETWEEN ? AND ? ORDER BY ts", (self.eid, lo, hi))]

    def gauge_tail(self, blocks: list[tuple[int, int]]) -> dict[int, Summaries]:
        tail = {}
        for width, block in blocks:
            row = self.db.execute("SELECT summaries FROM gauge_blocks WHERE entity_id = ? AND width = ? AND block = ?",
                                  (self.eid, width, block)).fetchone()
            if row is not None:
                tail[width] = unpack_summaries(row[0])
        return tail

    def has_gauge_blocks(self) -> bool:
        return self.db.execute("SELECT 1 FROM gauge_blocks WHERE entity_id = ? LIMIT 1", (self.eid,)).fetchone() \
            is not None

    def gauge_rows(self, spans: list[tuple[int, int]]) -> list[tuple[int, Values]]:
        return [(row[0], row[1:]) for lo, hi in spans for row in self.db.execute(
            f"SELECT {_GAUGE_ROW} FROM readings WHERE entity_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
            (self.eid, lo, hi))]

    def gauge_children(self, spans: list[tuple[int, int]]) -> dict[int, dict[int, Summaries]]:
        return {width: {block: unpack_summaries(value) for lo, hi in spans for block, value in self.db.execute(
            "SELECT block, summaries FROM gauge_blocks WHERE entity_id = ? AND width = ? AND block >= ? AND block < ?",
            (self.eid, width, lo, hi))} for width in TIERS[:-1]}

    def neighbours(self, registers: list[int], bounds: dict[int, tuple[int, int]], lo: int, hi: int,
                   appending: bool) -> tuple[dict[int, Sample], dict[int, Sample]]:
        before: dict[int, Sample] = {}
        after: dict[int, Sample] = {}
        for k in registers:
            if (found := _nearest(self.db, self.eid, k, lo - 1, "<=", bounds.get(k))) is not None:
                before[k] = found
            if not appending and (found := _nearest(self.db, self.eid, k, hi + 1, ">=", bounds.get(k))) is not None:
                after[k] = found
        return before, after

    def edge_rows(self, keys: tuple[int, int], appending: bool) -> dict[int, dict[int, bytes]]:
        rows: dict[int, dict[int, bytes]] = {}
        for register, block, row in self.db.execute(
                "SELECT register, block, edges FROM register_edge_blocks WHERE entity_id = ? AND block BETWEEN ? AND ?",
                (self.eid, *keys)):
            rows.setdefault(REGISTER_INDEX[register], {})[block] = row
        return rows


class _Sql:
    """storage.migrate's view of the connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def rows(self, statement: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return self.db.execute(statement, args).fetchall()

    def run_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self.db.executemany(statement, rows)

    def run(self, statement: str) -> None:
        self.db.execute(statement)

    def json(self, text: str) -> bytes:
        return text.encode()


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (they contain no semicolons inside literals)."""
    return [s.strip() for s in sql.split(";") if s.strip() and not all(
        line.strip().startswith("--") or not line.strip() for line in s.strip().splitlines()
    )]


# -- quality marks: the partial index readings_quality (migration 0008), named so the planner never takes the
# primary key instead; the query repeats the index's predicate word for word, then narrows it to the one metric.
QUALITY_MARKS_SQL = (
    "SELECT ts, extra FROM readings INDEXED BY readings_quality WHERE entity_id = ? AND ts > ? AND ts <= ? "
    "AND extra IS NOT NULL AND (instr(extra, '\"quality\"') > 0 OR instr(extra, '\"gasQuality\"') > 0) "
    "AND instr(extra, ?) > 0 ORDER BY ts LIMIT ?"
)


# -- peak demand: one register's samples or brackets -----------------------------------------------------------
_MORE_THAN = "SELECT 1 FROM readings WHERE entity_id = ? AND ts BETWEEN ? AND ? ORDER BY ts LIMIT 1 OFFSET ?"
_SAMPLES = tuple(
    f"SELECT ts, {c} FROM readings WHERE entity_id = ? AND ts BETWEEN ? AND ? AND {c} IS NOT NULL ORDER BY ts"
    for c in REGISTER_COLUMNS
)
# Per instant (in the order given): the nearest reading having the register at or before / at or after it, each
# one index seek inside the register's series bounds (?3, ?4), then its value by primary key.
_SERIES_BRACKETS = tuple(
    f"""
WITH edge(n, t) AS (SELECT key, value FROM json_each(?2)),
nb(n, b, a) AS (
    SELECT n,
        (SELECT ts FROM readings WHERE entity_id = ?1 AND ts BETWEEN ?3 AND min(t, ?4) AND {c} IS NOT NULL
         ORDER BY ts DESC LIMIT 1),
        (SELECT ts FROM readings WHERE entity_id = ?1 AND ts BETWEEN max(t, ?3) AND ?4 AND {c} IS NOT NULL
         ORDER BY ts ASC LIMIT 1)
    FROM edge
)
SELECT nb.b, rb.{c}, nb.a, ra.{c} FROM nb
LEFT JOIN readings rb ON rb.entity_id = ?1 AND rb.ts = nb.b
LEFT JOIN readings ra ON ra.entity_id = ?1 AND ra.ts = nb.a
ORDER BY nb.n
"""
    for c in REGISTER_COLUMNS
)


def _register_bounds(db: sqlite3.Connection, eid: bytes, register: int) -> tuple[int, int] | None:
    row = db.execute("SELECT first_ts, last_ts FROM series WHERE entity_id = ? AND register = ?",
                     (eid, REGISTER_COLUMNS[register])).fetchone()
    return None if row is None else (row[0], row[1])


def _resets_of(db: sqlite3.Connection, eid: bytes, register: int, lo: int, hi: int) -> list[tuple[int, float]]:
    """The register's resets (ts, offset) in (lo, hi]."""
    return db.execute('SELECT ts, "offset" FROM resets WHERE entity_id = ? AND register = ? AND ts > ? AND ts <= ?',
                      (eid, REGISTER_COLUMNS[register], lo, hi)).fetchall()
