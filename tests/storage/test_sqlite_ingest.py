"""SQLite ingest and the importer's large transactions write exactly what the simple per-batch code wrote.

`reference_ingest` is the plain form of `SQLiteStore.ingest` (read the span, bind every column, loop over every
reading for resets). The store's ingest skips the span read when a batch extends the series, leaves columns
no reading has out of the INSERT, inserts many rows per statement and checks for resets in C. Random batch
sequences (overlaps, repeats, out-of-order and late data, resets, absent registers, other metrics) go
through both into two databases: every IngestResult and every row of every table must be equal.
"""

from __future__ import annotations

import io
import sqlite3
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_readings import importer
from connect_readings.domain.errors import DomainError
from connect_readings.domain.readings import REGISTER_COUNT, Reading, parse_reading
from connect_readings.domain.registers import Sample, reset_deltas
from connect_readings.domain.timefmt import format_datetime
from connect_readings.storage.base import IngestResult
from connect_readings.domain.readings import last_per_timestamp
from connect_readings.storage.sqlite import REGISTER_COLUMNS, SQLiteStore, _bits, _extra

T0 = 1_716_768_000_000_000  # 2024-05-27T00:00Z
MINUTE = 60_000_000
ENTITIES = [uuid.UUID("8667fb97-68f2-485a-87c7-f3bdfa9482e1"), uuid.UUID("11111111-2222-4333-8444-555555555555")]


def reference_ingest(store: SQLiteStore, entity_id: uuid.UUID, readings: Sequence[Reading]) -> IngestResult:
    eid = entity_id.bytes
    batch = last_per_timestamp(readings)
    if not batch:
        return IngestResult(received=len(readings), written=0, replaced=0)
    lo, hi = batch[0].ts, batch[-1].ts
    db = store.db
    db.execute("BEGIN IMMEDIATE")
    try:
        existing = {row[0] for row in db.execute(
            "SELECT ts FROM readings WHERE entity_id = ? AND ts BETWEEN ? AND ?", (eid, lo, hi))}
        batch_ts = {r.ts for r in batch}
        mask = 0
        for reading in batch:
            for k, value in enumerate(reading.registers):
                if value is not None:
                    mask |= 1 << k
        db.execute("INSERT INTO entities(entity_id, register_mask) VALUES (?, ?) ON CONFLICT(entity_id) "
                   "DO UPDATE SET register_mask = register_mask | excluded.register_mask", (eid, mask))
        db.executemany(
            f"INSERT OR REPLACE INTO readings(entity_id, ts, {', '.join(REGISTER_COLUMNS)}, extra) "
            f"VALUES (?, ?, {', '.join('?' * REGISTER_COUNT)}, ?)",
            [(eid, r.ts, *r.registers, _extra(r)) for r in batch],
        )
        entity_mask = db.execute("SELECT register_mask FROM entities WHERE entity_id = ?", (eid,)).fetchone()[0]
        for k in _bits(entity_mask):
            _reference_resets(db, eid, k, batch, lo, hi, existing <= batch_ts)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return IngestResult(received=len(readings), written=len(batch), replaced=len(existing & batch_ts))


def _reference_resets(db: sqlite3.Connection, eid: bytes, k: int, batch: Sequence[Reading], lo: int, hi: int,
                      only_batch_in_span: bool) -> None:
    col = REGISTER_COLUMNS[k]
    before = db.execute(f"SELECT {col} FROM readings WHERE entity_id = ? AND ts < ? AND {col} IS NOT NULL "
                        "ORDER BY ts DESC LIMIT 1", (eid, lo)).fetchone()
    after = db.execute(f"SELECT ts, {col} FROM readings WHERE entity_id = ? AND ts > ? AND {col} IS NOT NULL "
                       "ORDER BY ts LIMIT 1", (eid, hi)).fetchone()
    span_end = after[0] if after else hi
    if only_batch_in_span:
        series: list[Sample] = [(r.ts, r.registers[k]) for r in batch if r.registers[k] is not None]  # type: ignore[misc]
        if after:
            series.append((after[0], after[1]))
    else:
        series = db.execute(f"SELECT ts, {col} FROM readings WHERE entity_id = ? AND ts BETWEEN ? AND ? "
                            f"AND {col} IS NOT NULL ORDER BY ts", (eid, lo, span_end)).fetchall()
    db.execute("DELETE FROM resets WHERE entity_id = ? AND reg = ? AND ts BETWEEN ? AND ?", (eid, k, lo, span_end))
    deltas = reset_deltas(series, before[0] if before else None)
    if deltas:
        db.executemany('INSERT INTO resets(entity_id, reg, ts, "offset") VALUES (?, ?, ?, ?)',
                       [(eid, k, ts, offset) for ts, offset in deltas])


def tables(store: SQLiteStore) -> dict[str, list[tuple[Any, ...]]]:
    db = store.db
    return {
        "readings": db.execute("SELECT * FROM readings ORDER BY entity_id, ts").fetchall(),
        "resets": db.execute("SELECT * FROM resets ORDER BY entity_id, reg, ts").fetchall(),
        "entities": db.execute("SELECT entity_id, register_mask FROM entities ORDER BY entity_id").fetchall(),
    }


def typed_tables(store: SQLiteStore) -> list[tuple[Any, ...]]:
    """Also the storage class of every value (REAL vs INTEGER vs NULL, BLOB), and -0.0 vs 0.0."""
    cols = ", ".join(f"typeof({c}), quote({c})" for c in ("entity_id", "ts", *REGISTER_COLUMNS, "extra"))
    return store.db.execute(f"SELECT {cols} FROM readings ORDER BY entity_id, ts").fetchall()


def make_reading(ts: int, registers: dict[str, Any], other: dict[str, Any] | None) -> Reading:
    return parse_reading({"timestamp": format_datetime(ts), "data": {**registers, **(other or {})}})


values = st.one_of(st.integers(0, 50), st.floats(0, 100), st.just(0.0), st.just(-0.0))
tiers = st.fixed_dictionaries({"total": values, "unit": st.sampled_from(["kWh", "Wh"])},
                              optional={"t1": values, "t2": values, "t3": values})
registers = st.fixed_dictionaries({}, optional={
    "positiveActiveEnergy": tiers, "negativeActiveEnergy": tiers,
    "positiveGasVolume": st.fixed_dictionaries({"value": values, "unit": st.just("m3")}),
})
others = st.one_of(st.none(), st.just({"voltage": {"l1": 230.5, "unit": "V"}}))
readings = st.tuples(st.integers(0, 40), registers, others).filter(lambda t: bool(t[1] or t[2])).map(
    lambda t: make_reading(T0 + t[0] * MINUTE, t[1], t[2]))


def increasing(start: int, count: int, step: int, total0: float, reset_at: int | None) -> list[Reading]:
    """A meter's readings in order (the common batch): totals rising, with an optional reset."""
    out = []
    for i in range(count):
        total = total0 + i if reset_at is None or i < reset_at else float(i - reset_at)
        out.append(make_reading(T0 + (start + i * step) * MINUTE,
                                {"positiveActiveEnergy": {"t1": total / 2, "total": total, "unit": "kWh"}}, None))
    return out


in_order = st.builds(increasing, st.integers(0, 60), st.integers(1, 12), st.integers(1, 3), st.floats(0, 100),
                     st.one_of(st.none(), st.integers(0, 11)))
batches = st.lists(
    st.tuples(st.sampled_from(ENTITIES), st.one_of(st.lists(readings, min_size=1, max_size=12), in_order)),
    min_size=1, max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_ingest_matches_the_reference(batch_list: list[tuple[uuid.UUID, list[Reading]]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        fast, slow = SQLiteStore(f"{folder}/fast.db"), SQLiteStore(f"{folder}/slow.db")
        for entity, batch in batch_list:
            assert fast.ingest(entity, batch) == reference_ingest(slow, entity, batch)
        assert tables(fast) == tables(slow)
        assert typed_tables(fast) == typed_tables(slow)
        fast.close()
        slow.close()


def test_multi_row_statements_and_the_rest(tmp_path: Path) -> None:
    """Batches across the rows-per-statement boundary (100): in order, extending, and overwriting."""
    fast, slow = SQLiteStore(str(tmp_path / "fast.db")), SQLiteStore(str(tmp_path / "slow.db"))
    for count in (99, 100, 101, 250, 1):
        batch = increasing(count * 3, count, 1, 10.0, count // 2 if count > 2 else None)
        for entity in ENTITIES:
            assert fast.ingest(entity, batch) == reference_ingest(slow, entity, batch)
    assert tables(fast) == tables(slow) and typed_tables(fast) == typed_tables(slow)


# -- the importer: large transactions report what per-5,000 ingest calls reported ----------------------
def reference_import(store: SQLiteStore, entity_id: uuid.UUID, text: bytes, batch_size: int) -> importer.ImportReport:
    """The importer before: JSONL line by line, one ingest call per `batch_size` valid readings."""
    report = importer.ImportReport()
    batch: list[Reading] = []

    def flush() -> None:
        if batch:
            result = reference_ingest(store, entity_id, batch)
            report.written += result.written
            report.replaced += result.replaced
            batch.clear()

    for line_no, raw in enumerate(io.BytesIO(text), start=1):
        if not raw.strip():
            continue
        report.read += 1
        try:
            try:
                item = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise DomainError("InvalidJson", "not a JSON object") from None
            batch.append(parse_reading(item))
        except DomainError as exc:
            report.rejected.append((line_no, exc.message))
            continue
        if len(batch) >= batch_size:
            flush()
    flush()
    return report


lines = st.one_of(
    st.builds(lambda i, total: orjson.dumps({"timestamp": format_datetime(T0 + i * MINUTE),
                                             "data": {"positiveActiveEnergy": {"total": total, "unit": "kWh"}}}),
              st.integers(0, 30), st.integers(0, 20)),
    st.sampled_from([b"", b"   ", b"{not json", b'{"timestamp": "2024-05-27T00:00:00Z", "data": {}}',
                     b'{"timestamp": "2024-05-27T00:07:00Z", "data": {"voltage": {"l1": 1}}}']),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, max_size=60), st.booleans())
def test_import_counts_match_per_batch_ingest(file_lines: list[bytes], again: bool) -> None:
    text = b"\n".join(file_lines) + b"\n"
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(importer, "BATCH", 5)
        patch.setattr(importer, "TRANSACTION", 15)
        patch.setattr(importer, "CHUNK_BYTES", 200)
        fast, slow = SQLiteStore(f"{folder}/fast.db"), SQLiteStore(f"{folder}/slow.db")
        for _ in range(2 if again else 1):
            got = importer.import_file(fast, ENTITIES[0], io.BufferedReader(io.BytesIO(text)), "jsonl")  # type: ignore[arg-type]
            assert got == reference_import(slow, ENTITIES[0], text, 5)
        assert tables(fast) == tables(slow)
        fast.close()
        slow.close()


@pytest.mark.parametrize("limit", [999, 20, 7])
def test_an_sqlite_with_a_low_variable_limit(tmp_path: Path, limit: int) -> None:
    """Older SQLite builds allow 999 parameters per statement: rows per INSERT follow the limit."""
    fast, slow = SQLiteStore(str(tmp_path / "fast.db")), SQLiteStore(str(tmp_path / "slow.db"))
    fast.db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    batch = increasing(0, 250, 1, 10.0, 120)
    assert fast.ingest(ENTITIES[0], batch) == reference_ingest(slow, ENTITIES[0], batch)
    assert tables(fast) == tables(slow)
