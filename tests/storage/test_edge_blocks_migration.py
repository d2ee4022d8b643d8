"""Migration 0010 (quarter-hour edges in rows of 16 days) on both backends: a database at schema version 9 holding
day rows of edges (migration 0009's layout) answers `register_values_at` from the moved rows after it, the same
values as before, and `register_edges` is gone. The day rows here are written by hand, with values no reading
gives, so an answer read by seeking the readings instead of the moved rows fails the test."""

from __future__ import annotations

import sqlite3
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connect_readings.storage import open_store
from connect_readings.storage.base import REGISTER_INDEX, latest_migration

from ..conftest import BACKENDS
from .test_gauge_migration import sqlite_at_version

ENTITY = uuid.UUID("2c7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d")
QUARTER = 900_000_000
DAY = 86_400_000_000
FIRST_DAY = 19_990  # 2024-09-24: the days straddle a 16-day row boundary (19,984 + 16 = 20,000)
DAYS = range(FIRST_DAY, FIRST_DAY + 14)
NAN = float("nan")


def edge_value(day: int, slot: int) -> float:
    """The hand-made edge of a slot: NaN (unknown) on every seventh slot, else a value no reading has."""
    return NAN if slot % 7 == 3 else 1_000.0 + day + slot / 100


def day_row(day: int) -> bytes:
    return struct.pack("<96d", *(edge_value(day, slot) for slot in range(96)))


# Readings at each day's first and last instant, so the register has coverage; every edge between them is
# answered from the rows (a NaN slot falls back to the readings, which hold no reading there: None).
READINGS = [(day * DAY, 1.0 + day) for day in DAYS] + [(day * DAY + DAY - 1, 2.0 + day) for day in DAYS]


@pytest.fixture(params=BACKENDS)
def version9(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database (path or URL) of a backend at schema version 9 with one entity, readings and day rows."""
    series = (min(ts for ts, _ in READINGS), max(ts for ts, _ in READINGS))
    if request.param == "sqlite":
        path = tmp_path / "v9.db"
        db = sqlite_at_version(path, 9)
        db.execute("INSERT INTO entities (entity_id, version, created) VALUES (?, 1, 0)", (ENTITY.bytes,))
        db.executemany("INSERT INTO readings (entity_id, ts, positive_total) VALUES (?, ?, ?)",
                       [(ENTITY.bytes, ts, v) for ts, v in READINGS])
        db.execute("INSERT INTO series (entity_id, register, first_ts, last_ts) VALUES (?, 'positive_total', ?, ?)",
                   (ENTITY.bytes, *series))
        db.executemany("INSERT INTO register_edges (entity_id, register, day, edges) VALUES (?, 'positive_total', ?, ?)",
                       [(ENTITY.bytes, day, day_row(day)) for day in DAYS])
        db.close()
        yield str(path)
        return
    import psycopg

    from ..pg import database_at_version

    with database_at_version(9) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO entities (entity_id, version, created) VALUES (%s, 1, 0)", (ENTITY,))
            conn.cursor().executemany("INSERT INTO readings (entity_id, ts, positive_total) VALUES (%s, %s, %s)",
                                      [(ENTITY, ts, v) for ts, v in READINGS])
            conn.execute("INSERT INTO series (entity_id, register, first_ts, last_ts) "
                         "VALUES (%s, 'positive_total', %s, %s)", (ENTITY, *series))
            conn.cursor().executemany(
                "INSERT INTO register_edges (entity_id, register, day, edges) VALUES (%s, 'positive_total', %s, %s)",
                [(ENTITY, day, day_row(day)) for day in DAYS])
        yield url


def test_migration_0010_moves_the_day_rows(version9: str) -> None:
    store = open_store(version9)
    try:
        assert store.schema_state().applied == latest_migration("postgres")
        instants = [day * DAY + slot * QUARTER for day in DAYS for slot in range(1, 96)]
        stamps, (values,) = store.register_values_at(ENTITY, [REGISTER_INDEX["positive_total"]], instants)
        known = {day * DAY + slot * QUARTER: edge_value(day, slot)
                 for day in DAYS for slot in range(1, 96) if slot % 7 != 3}
        assert dict(zip(stamps, values)) == known  # every moved edge, and nothing where a slot was NaN
    finally:
        store.close()
    if version9.startswith("postgresql"):
        import psycopg
        with psycopg.connect(version9) as conn:
            assert conn.execute("SELECT to_regclass('register_edges')").fetchone() == (None,)
    else:
        with sqlite3.connect(version9) as db:
            assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'register_edges'").fetchone() == (0,)
