"""SQLite ingest against an in-memory model of what the tables must hold after any sequence of batches.

The model keeps every entity's readings (last write per timestamp wins). After each batch the store must hold
exactly those rows, and its resets side table must equal the reset rule applied to each register's whole
series from scratch (`reset_deltas` with no previous value), however the batches overlapped, arrived late or
out of order: the planner recomputes only the span a batch can affect, and this checks that the span is
enough. Series bounds must enclose every reading that ever had the register. The importer's large
transactions must report what one ingest call per BATCH readings would have reported.
"""

from __future__ import annotations

import io
import json
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

from connect_readings.ingest import importer
from connect_readings.domain.errors import DomainError
from connect_readings.domain.readings import REGISTER_COUNT, Reading, parse_reading, repeated_key_error
from connect_readings.domain.registers import reset_deltas
from connect_readings.domain.timefmt import format_datetime
from connect_readings.storage.base import REGISTER_COLUMNS, IngestResult, extra_json
from connect_readings.storage.sqlite import SQLiteStore

T0 = 1_716_768_000_000_000  # 2024-05-27T00:00Z
MINUTE = 60_000_000
ENTITIES = [uuid.UUID("8667fb97-68f2-485a-87c7-f3bdfa9482e1"), uuid.UUID("11111111-2222-4333-8444-555555555555")]


class Model:
    """What the tables must hold: readings per entity, and every (entity, register) bounds ever seen."""

    def __init__(self) -> None:
        self.readings: dict[uuid.UUID, dict[int, Reading]] = {}
        self.seen: dict[tuple[uuid.UUID, int], list[int]] = {}

    def ingest(self, entity: uuid.UUID, batch: Sequence[Reading]) -> IngestResult:
        rows = self.readings.setdefault(entity, {})
        last = {r.ts: r for r in batch}
        replaced = sum(ts in rows for ts in last)
        rows.update(last)
        for reading in last.values():
            for k, value in enumerate(reading.registers):
                if value is not None:
                    self.seen.setdefault((entity, k), []).append(reading.ts)
        return IngestResult(received=len(batch), written=len(last), replaced=replaced)

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        readings, resets = [], []
        for entity in sorted(self.readings, key=lambda e: e.bytes):
            rows = sorted(self.readings[entity].values(), key=lambda r: r.ts)
            readings += [(entity.bytes, r.ts, *r.registers, extra_json(r)) for r in rows]
            for k in range(REGISTER_COUNT):
                series = [(r.ts, r.registers[k]) for r in rows if r.registers[k] is not None]
                deltas = reset_deltas([ts for ts, _ in series], [v for _, v in series], None)
                resets += [(entity.bytes, REGISTER_COLUMNS[k], ts, offset) for ts, offset in deltas]
        resets.sort()
        return {"readings": readings, "resets": resets}


def tables(store: SQLiteStore) -> dict[str, list[tuple[Any, ...]]]:
    db = store.db
    columns = ", ".join(REGISTER_COLUMNS)
    return {
        "readings": db.execute(f"SELECT entity_id, ts, {columns}, extra FROM readings ORDER BY entity_id, ts").fetchall(),
        "resets": db.execute('SELECT entity_id, register, ts, "offset" FROM resets ORDER BY 1, 2, 3').fetchall(),
    }


def check(store: SQLiteStore, model: Model, exact_bounds: bool = True) -> None:
    """Tables equal the model's. Series bounds are the span of every reading that ever had the register
    (`exact_bounds`, when the store saw the model's batches), or at least enclose the readings that have it."""
    assert tables(store) == model.tables()
    bounds = {(uuid.UUID(bytes=e), REGISTER_COLUMNS.index(r)): (f, l)
              for e, r, f, l in store.db.execute("SELECT entity_id, register, first_ts, last_ts FROM series")}
    if exact_bounds:
        assert bounds == {key: (min(stamps), max(stamps)) for key, stamps in model.seen.items()}
    for entity, rows in model.readings.items():
        for k in range(REGISTER_COUNT):
            having = [ts for ts, r in rows.items() if r.registers[k] is not None]
            if having:
                first, last = bounds[(entity, k)]
                assert first <= min(having) and max(having) <= last
    kinds = {row for c in REGISTER_COLUMNS for row in store.db.execute(f"SELECT DISTINCT typeof({c}) FROM readings")}
    assert kinds <= {("real",), ("null",)}  # registers are stored as REAL, never INTEGER


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
def test_ingest_keeps_the_tables_equal_to_the_model(batch_list: list[tuple[uuid.UUID, list[Reading]]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store, model = SQLiteStore(f"{folder}/store.db"), Model()
        for entity, batch in batch_list:
            assert store.ingest(entity, batch) == model.ingest(entity, batch)
            check(store, model)
        store.close()


def test_multi_row_statements_and_the_rest(tmp_path: Path) -> None:
    """Batches across the rows-per-statement boundary (100): in order, extending, and overwriting."""
    store, model = SQLiteStore(str(tmp_path / "store.db")), Model()
    for count in (99, 100, 101, 250, 1):
        batch = increasing(count * 3, count, 1, 10.0, count // 2 if count > 2 else None)
        for entity in ENTITIES:
            assert store.ingest(entity, batch) == model.ingest(entity, batch)
    check(store, model)


# -- the importer: large transactions report what per-5,000 ingest calls reported ----------------------
def reference_import(store: Model, entity_id: uuid.UUID, text: bytes, batch_size: int) -> importer.ImportReport:
    """JSONL line by line, one ingest call per `batch_size` valid readings."""
    report = importer.ImportReport()
    batch: list[Reading] = []

    def flush() -> None:
        if batch:
            result = store.ingest(entity_id, batch)
            report.written += result.written
            report.replaced += result.replaced
            batch.clear()

    for line_no, raw in enumerate(io.BytesIO(text), start=1):
        if not raw.strip():
            continue
        report.read += 1
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError:
            report.rejected.append((line_no, "not a JSON object"))
            continue
        repeated = _repeated_key(raw)
        if repeated is not None:
            report.rejected.append((line_no, repeated_key_error(repeated).message))
            continue
        try:
            batch.append(parse_reading(item))
        except DomainError as exc:
            report.rejected.append((line_no, exc.message))
            continue
        if len(batch) >= batch_size:
            flush()
    flush()
    return report


def _repeated_key(raw: bytes) -> str | None:
    """The first key an object of the line holds twice (an independent check: the standard library's parser)."""
    found: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        found.extend(key for i, key in enumerate(keys) if key in keys[:i])
        return dict(pairs)

    json.loads(raw, object_pairs_hook=hook)
    return found[0] if found else None


lines = st.one_of(
    st.builds(lambda i, total: orjson.dumps({"timestamp": format_datetime(T0 + i * MINUTE),
                                             "data": {"positiveActiveEnergy": {"total": total, "unit": "kWh"}}}),
              st.integers(0, 30), st.integers(0, 20)),
    st.sampled_from([b"", b"   ", b"{not json", b'{"timestamp": "2024-05-27T00:00:00Z", "data": {}}',
                     b'{"timestamp": "2024-05-27T00:07:00Z", "data": {"voltage": {"l1": 1}}}',
                     # a key given twice (DuplicateKey), and an escape that only looks like a colon
                     b'{"timestamp": "2024-05-27T00:09:00Z", "timestamp": "2024-05-27T00:09:00Z", "data": {"v": {"l1": 1}}}',
                     b'{"timestamp": "2024-05-27T00:11:00Z", "data": {"positiveActiveEnergy": {"total": 3, "total": 4, '
                     b'"unit": "kWh"}}}',
                     b'{"timestamp": "2024-05-27T00:13:00Z", "data": {"voltage": {"l1": 1, "unit": "\\\\u003a"}}}']),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, max_size=60), st.booleans())
def test_import_counts_match_per_batch_ingest(file_lines: list[bytes], again: bool) -> None:
    text = b"\n".join(file_lines) + b"\n"
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setattr(importer, "BATCH", 5)
        patch.setattr(importer, "TRANSACTION", 15)
        patch.setattr(importer, "CHUNK_BYTES", 200)
        store, model = SQLiteStore(f"{folder}/store.db"), Model()
        for _ in range(2 if again else 1):
            got = importer.import_file(store, ENTITIES[0], io.BufferedReader(io.BytesIO(text)), "jsonl")  # type: ignore[arg-type]
            assert got == reference_import(model, ENTITIES[0], text, 5)
        check(store, model, exact_bounds=False)  # the importer ingests 3 of the model's batches at a time
        store.close()


@pytest.mark.parametrize("limit", [999, 20, 7])
def test_an_sqlite_with_a_low_variable_limit(tmp_path: Path, limit: int) -> None:
    """Older SQLite builds allow 999 parameters per statement: rows per INSERT follow the limit."""
    store, model = SQLiteStore(str(tmp_path / "store.db")), Model()
    store.db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    batch = increasing(0, 250, 1, 10.0, 120)
    assert store.ingest(ENTITIES[0], batch) == model.ingest(ENTITIES[0], batch)
    check(store, model)
