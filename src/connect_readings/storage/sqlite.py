"""Embedded default backend: one SQLite file, WAL, readings clustered by (entity_id, ts).

Each thread gets its own connection (sqlite3 connections are not shared across threads); WAL lets readers
run beside the single writer. Every query is an index seek or a short range scan on one entity.
"""

from __future__ import annotations

import bisect
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

import orjson

from ..domain.readings import REGISTER_COUNT, Reading, data_from_storage, last_per_timestamp, stored_data
from ..domain.registers import Bracket, ResetOffsets, Sample, reset_deltas, with_offsets
from .base import IngestResult, StoredReading

REGISTER_COLUMNS = tuple(f"r{k}" for k in range(REGISTER_COUNT))
_COLS = ", ".join(REGISTER_COLUMNS)
_ROW = f"ts, {_COLS}"
BUSY_TIMEOUT_S = 30.0


def migrations(backend: str) -> list[tuple[int, str]]:
    """(version, SQL) of every migration file of a backend, in order."""
    folder = resources.files("connect_readings.storage") / "migrations" / backend
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(int(f.name.split("_", 1)[0]), f.read_text()) for f in files]


class SQLiteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self.migrate()

    # -- connections and schema -------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
                cached_statements=256,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA cache_size=-65536")
            # Statement deadline: a statement still running when its request's deadline has passed is
            # interrupted (sqlite3.OperationalError "interrupted", answered 504 RequestTimeout by the API).
            from ..config import interrupt_if_late

            conn.set_progress_handler(interrupt_if_late, 1000)
            self._local.conn = conn
        return conn

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, sql in migrations("sqlite"):
                if number > version:
                    for statement in _statements(sql):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {int(number)}")
                    version = number
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return version

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def meta_value(self, key: str, default: str) -> str:
        db = self.db
        db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, default))
        return db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    # -- ingest -------------------------------------------------------------------------------------
    def ingest(self, entity_id: uuid.UUID, readings: Sequence[Reading]) -> IngestResult:
        from itertools import chain, islice, repeat
        from operator import lt

        from ..domain.readings import TIERED_REGISTERS, VOLUME_REGISTERS

        eid = entity_id.bytes
        stamps = [r.ts for r in readings]
        if all(map(lt, stamps, islice(stamps, 1, None))):  # the usual batch: in order, no repeats
            batch = list(readings)
        else:
            batch = last_per_timestamp(readings)
            stamps = [r.ts for r in batch]
        if not batch:
            return IngestResult(received=len(readings), written=0, replaced=0)
        lo, hi = stamps[0], stamps[-1]
        n = len(batch)
        # Register columns of the batch; a column with no value at all is left out of the INSERT (its NULL is
        # the default), which spares binding NULLs, the costliest parameters of sqlite3.
        columns = list(zip(*[r.registers for r in batch]))
        present = [k for k, column in enumerate(columns) if column[0] is not None or column.count(None) != n]
        mask = sum(1 << k for k in present)
        registers_only = frozenset(TIERED_REGISTERS + VOLUME_REGISTERS)
        with_extra = not all(map(registers_only.issuperset, [r.data for r in batch]))  # other metrics?
        names = ["entity_id", "ts", *(REGISTER_COLUMNS[k] for k in present), *(["extra"] if with_extra else [])]
        width = len(names)
        db = self.db
        # Rows go `per` at a time, one multi-row INSERT each (fewer statement steps), the rest one by one.
        # Parameters are one flat list; a bytearray binds as the same BLOB as bytes, minus sqlite3's adaptation.
        per = max(1, min(100, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
        flat = list(chain.from_iterable(zip(
            repeat(bytearray(eid), n), stamps, *(columns[k] for k in present),
            *([map(_extra, batch)] if with_extra else []),
        )))
        step, whole = per * width, n - n % per
        groups = [flat[i:i + step] for i in range(0, whole * width, step)]
        rest = [flat[i:i + width] for i in range(whole * width, n * width, width)]
        one_row = f"({', '.join('?' * width)})"
        insert = f"INSERT OR REPLACE INTO readings({', '.join(names)}) VALUES "
        db.execute("BEGIN IMMEDIATE")
        try:
            last = db.execute(
                "SELECT ts FROM readings WHERE entity_id = ? ORDER BY ts DESC LIMIT 1", (eid,)
            ).fetchone()
            appending = last is None or last[0] < lo  # one seek: nothing stored at or after the batch
            existing: set[int] = set() if appending else {
                row[0]
                for row in db.execute(
                    "SELECT ts FROM readings WHERE entity_id = ? AND ts BETWEEN ? AND ?", (eid, lo, hi)
                )
            }
            batch_ts = set(stamps) if existing else existing
            db.execute(
                "INSERT INTO entities(entity_id, register_mask) VALUES (?, ?) ON CONFLICT(entity_id) "
                "DO UPDATE SET register_mask = register_mask | excluded.register_mask, version = version + 1",
                (eid, mask),
            )
            if groups:
                db.executemany(insert + ", ".join([one_row] * per), groups)
            if rest:
                db.executemany(insert + one_row, rest)
            entity_mask = db.execute("SELECT register_mask FROM entities WHERE entity_id = ?", (eid,)).fetchone()[0]
            only_batch_in_span = existing <= batch_ts
            bounds = _LazyBounds(db, eid)  # of the readings stored before this batch: read before they widen
            for k in _bits(entity_mask):
                self._refresh_resets(db, eid, k, stamps, columns[k], lo, hi, only_batch_in_span, appending, bounds)
            if present:
                db.executemany(_WIDEN_SERIES, [(eid, k, *_first_last(stamps, columns[k])) for k in present])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        replaced = len(existing & batch_ts)
        return IngestResult(received=len(readings), written=n, replaced=replaced)

    def _refresh_resets(
        self, db: sqlite3.Connection, eid: bytes, k: int, stamps: Sequence[int], column: Sequence[float | None],
        lo: int, hi: int, only_batch_in_span: bool, appending: bool, bounds: "_LazyBounds",
    ) -> None:
        """Recompute the resets of register k from the reading before the batch to the one after it.

        `stamps` and `column` are the batch's timestamps (ascending) and register k's values (None where
        absent); `appending`: nothing was stored at or after the batch's first timestamp; `bounds`: the
        series bounds as they were before the batch (every reading outside [lo, hi] was stored before it).
        """
        col = REGISTER_COLUMNS[k]
        if appending and column[0] is None and column.count(None) == len(column):
            # Register k is not in a batch that extends the series: there is nothing in the span to recompute.
            db.execute("DELETE FROM resets WHERE entity_id = ? AND reg = ? AND ts BETWEEN ? AND ?", (eid, k, lo, hi))
            return
        found = _nearest(db, eid, k, lo - 1, "<=", bounds.get(k))
        after = None if appending else _nearest(db, eid, k, hi + 1, ">=", bounds.get(k))
        span_end = after[0] if after else hi
        previous = found[1] if found else None
        series: Iterable[Sample]
        if only_batch_in_span:
            if None not in column:
                # No decrease anywhere (the common case, checked in C): no reset, no Python loop.
                if ((previous is None or not column[0] < previous) and sorted(column) == list(column)
                        and (after is None or not after[1] < column[-1])):
                    series = ()
                else:
                    series = [*zip(stamps, column), *([(after[0], after[1])] if after else [])]
            else:
                series = [(ts, value) for ts, value in zip(stamps, column) if value is not None]
                if after:
                    series.append((after[0], after[1]))
        else:
            series = db.execute(
                f"SELECT ts, {col} FROM readings WHERE entity_id = ? AND ts BETWEEN ? AND ? "
                f"AND {col} IS NOT NULL ORDER BY ts",
                (eid, lo, span_end),
            ).fetchall()
        db.execute(
            "DELETE FROM resets WHERE entity_id = ? AND reg = ? AND ts BETWEEN ? AND ?", (eid, k, lo, span_end)
        )
        deltas = reset_deltas(series, previous)
        if deltas:
            db.executemany(
                'INSERT INTO resets(entity_id, reg, ts, "offset") VALUES (?, ?, ?, ?)',
                [(eid, k, ts, offset) for ts, offset in deltas],
            )

    # -- reads --------------------------------------------------------------------------------------
    def entity_exists(self, entity_id: uuid.UUID) -> bool:
        return self.entity_version(entity_id) is not None

    def entity_version(self, entity_id: uuid.UUID) -> int | None:
        row = self.db.execute("SELECT version FROM entities WHERE entity_id = ?", (entity_id.bytes,)).fetchone()
        return None if row is None else row[0]

    def readings(self, entity_id: uuid.UUID, start: int, end: int, limit: int) -> list[StoredReading]:
        rows = self.db.execute(
            f"SELECT {_ROW}, extra FROM readings WHERE entity_id = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT ?",
            (entity_id.bytes, start, end, limit),
        ).fetchall()
        return [_stored(row) for row in rows]

    def last_reading(self, entity_id: uuid.UUID) -> StoredReading | None:
        row = self.db.execute(
            f"SELECT {_ROW}, extra FROM readings WHERE entity_id = ? ORDER BY ts DESC LIMIT 1",
            (entity_id.bytes,),
        ).fetchone()
        return _stored(row) if row else None

    def register_brackets(self, entity_id: uuid.UUID, instants: Sequence[int]) -> list[list[Bracket]]:
        eid = entity_id.bytes
        db = self.db
        empty: list[Bracket] = [(None, None)] * len(instants)
        result: list[list[Bracket]] = [empty] * REGISTER_COUNT
        with _read_snapshot(db):
            mask_row = db.execute("SELECT register_mask FROM entities WHERE entity_id = ?", (eid,)).fetchone()
            registers = list(_bits(mask_row[0])) if mask_row else []
            if not registers:
                return result
            # One statement: the distinct readings next to any instant (two index seeks per instant).
            rows = db.execute(_NEIGHBOURS, (eid, orjson.dumps(list(instants)))).fetchall()
            if not rows:
                return result
            stamps = [row[0] for row in rows]
            positions = [(bisect.bisect_right(stamps, t) - 1, bisect.bisect_left(stamps, t)) for t in instants]
            last = len(rows) - 1
            lo, hi = stamps[0], stamps[-1]
            bounds = _LazyBounds(db, eid)  # read on the first fallback only: the usual page needs none
            for k in registers:
                column = k + 1
                brackets: list[Bracket] = []
                for t, (i, j) in zip(instants, positions):
                    before = after = None
                    if i >= 0:
                        row = rows[i]
                        value = row[column]
                        before = (row[0], value) if value is not None else _nearest(db, eid, k, t, "<=", bounds.get(k))
                        if before is not None and before[0] < lo:
                            lo = before[0]
                    if j <= last:
                        row = rows[j]
                        value = row[column]
                        after = (row[0], value) if value is not None else _nearest(db, eid, k, t, ">=", bounds.get(k))
                        if after is not None and after[0] > hi:
                            hi = after[0]
                    brackets.append((before, after))
                result[k] = brackets
            # Reset offsets over the span of every sample used, fallbacks included.
            for k, adjust in _reset_offsets(db, eid, lo, hi).items():
                if result[k] is not empty:
                    result[k] = [(with_offsets(b, adjust), with_offsets(a, adjust)) for b, a in result[k]]
            return result

    def snapshot(self) -> "_read_snapshot":
        """Reads inside the block see one snapshot (a page assembled from several store calls)."""
        return _read_snapshot(self.db)


_NEIGHBOURS = f"""
WITH edge(t) AS (SELECT value FROM json_each(?2))
SELECT {_ROW} FROM readings WHERE entity_id = ?1 AND ts IN (
    SELECT (SELECT max(ts) FROM readings WHERE entity_id = ?1 AND ts <= edge.t) FROM edge
    UNION
    SELECT (SELECT min(ts) FROM readings WHERE entity_id = ?1 AND ts >= edge.t) FROM edge
) ORDER BY ts
"""


class _read_snapshot:
    """One read transaction, so a page never mixes two states of a concurrent batch; re-entrant."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.owner = False

    def __enter__(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
            self.owner = True

    def __exit__(self, *exc: object) -> None:
        if self.owner:
            self.owner = False
            self.db.execute("COMMIT")


_WIDEN_SERIES = (
    "INSERT INTO series(entity_id, reg, first_ts, last_ts) VALUES (?, ?, ?, ?) ON CONFLICT(entity_id, reg) "
    "DO UPDATE SET first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)"
)
_SEEK_BEFORE = tuple(
    f"SELECT ts, {c} FROM readings WHERE entity_id = ? AND ts BETWEEN ? AND ? AND {c} IS NOT NULL "
    "ORDER BY ts DESC LIMIT 1"
    for c in REGISTER_COLUMNS
)
_SEEK_AFTER = tuple(
    f"SELECT ts, {c} FROM readings WHERE entity_id = ? AND ts BETWEEN ? AND ? AND {c} IS NOT NULL "
    "ORDER BY ts LIMIT 1"
    for c in REGISTER_COLUMNS
)


class _LazyBounds:
    """The entity's series bounds {reg: (first_ts, last_ts)}, read (one short range) on first use."""

    __slots__ = ("db", "eid", "bounds")

    def __init__(self, db: sqlite3.Connection, eid: bytes) -> None:
        self.db = db
        self.eid = eid
        self.bounds: dict[int, tuple[int, int]] | None = None

    def get(self, k: int) -> tuple[int, int] | None:
        if self.bounds is None:
            self.bounds = {
                reg: (first, last)
                for reg, first, last in self.db.execute(
                    "SELECT reg, first_ts, last_ts FROM series WHERE entity_id = ?", (self.eid,)
                )
            }
        return self.bounds.get(k)


def _nearest(
    db: sqlite3.Connection, eid: bytes, k: int, t: int, op: str, bounds: tuple[int, int] | None
) -> Sample | None:
    """Register k from the nearest reading at or before (`op` "<=") / at or after (">=") t that has it.

    Used when the neighbouring reading lacks the register (rare). `bounds` (first_ts, last_ts) enclose every
    reading having register k (None: there is none), so the seek runs only inside them: a register present
    in one reading among many costs one index seek, not a scan of the entity's history.
    """
    if bounds is None:
        return None
    first, last = bounds
    if op == "<=":
        low, high, sql = first, min(t, last), _SEEK_BEFORE[k]
    else:
        low, high, sql = max(t, first), last, _SEEK_AFTER[k]
    if low > high:
        return None
    found = db.execute(sql, (eid, low, high)).fetchone()
    return (found[0], found[1]) if found else None


def _first_last(stamps: Sequence[int], column: Sequence[float | None]) -> tuple[int, int]:
    """The first and last timestamps of the batch where the register has a value (it has at least one)."""
    first = 0 if column[0] is not None else next(i for i, v in enumerate(column) if v is not None)
    last = len(column) - 1
    if column[last] is None:
        last = next(i for i in range(last, -1, -1) if column[i] is not None)
    return stamps[first], stamps[last]


def _reset_offsets(db: sqlite3.Connection, eid: bytes, lo: int, hi: int) -> dict[int, ResetOffsets]:
    offsets: dict[int, ResetOffsets] = {}
    for reg, ts, offset in db.execute(
        'SELECT reg, ts, "offset" FROM resets WHERE entity_id = ? AND ts > ? AND ts <= ? ORDER BY reg, ts',
        (eid, lo, hi),
    ):
        offsets.setdefault(reg, ResetOffsets()).add(ts, offset)
    return offsets


def _extra(reading: Reading) -> bytes | None:
    rest = stored_data(reading.data)
    return orjson.dumps(rest) if rest else None


def _stored(row: tuple[Any, ...]) -> StoredReading:
    extra = row[-1]
    return StoredReading(ts=row[0], data=data_from_storage(row[1:-1], orjson.loads(extra) if extra else None))


def _bits(mask: int) -> Iterable[int]:
    return (k for k in range(REGISTER_COUNT) if mask >> k & 1)


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (they contain no semicolons inside literals)."""
    return [s.strip() for s in sql.split(";") if s.strip() and not all(
        line.strip().startswith("--") or not line.strip() for line in s.strip().splitlines()
    )]
