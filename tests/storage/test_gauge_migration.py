"""Migration 0005 on both backends: a database at schema version 4 (migrations 0001–0004 applied as raw SQL) with
instantaneous metrics in `extra` gets its gauges moved into the 18 gauge columns in the normalised unit, its
odometers normalised to km, and keeps as sent whatever does not normalise (docs/semantics.md §1).

Rows go in and are checked with raw SQL only (not the store's ingest or reads); the migration runs as the store
runs it: the SQL file, then the data migration (storage/migrate.py) that converts the units.
Each case is a table row: the `extra` of a version-4 row → the gauge columns it gets and the `extra` it keeps.
The expected values are also checked against the parser: what the migration moves or rewrites is exactly
what ingest makes of the same metric today, and what it keeps is what ingest would refuse (or not a gauge).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from connect_readings.domain.errors import DomainError
from connect_readings.domain.readings import GAUGE_SERIES, GAUGE_UNITS, parse_reading
from connect_readings.storage.base import GAUGE_COLUMNS, REGISTER_COLUMNS, gauge_column, migrations
from connect_readings.storage.migrate import DATA_MIGRATIONS, gauges_out_of_extra
from connect_readings.storage.postgres import _Sql as postgres_sql
from connect_readings.storage.sqlite import _Sql as sqlite_sql
from connect_readings.storage.sqlite import _statements

from ..conftest import BACKENDS

ENTITY = uuid.UUID("0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d")
T0 = 1_716_800_000_000_000
MI = 1.609344

POWER = {"W": 1.0, "kW": 1e3, "MW": 1e6, "w": 1.0, "kw": 1e3, "mw": 1e6, "Mw": 1e6, " kW\n": 1e3}
VOLTAGE = {"V": 1.0, "kV": 1e3, "v": 1.0, "KV": 1e3}
CURRENT = {"A": 1.0, "mA": 1e-3, "a": 1.0, "MA": 1e-3}
PHASES = [("positiveActiveInstantaneousPower", POWER), ("negativeActiveInstantaneousPower", POWER),
          ("instantaneousVoltage", VOLTAGE), ("instantaneousCurrent", CURRENT)]
VALUES = [("stateOfCharge", {"%": 1.0, "percent": 1.0, "PERCENT": 1.0, " % ": 1.0}),
          ("range", {"km": 1.0, "m": 1e-3, "mi": MI, "KM": 1.0, "Mi": MI, "M": 1e-3})]


def col(metric: str, field: str = "value") -> str:
    return gauge_column(metric, field)


# (extra of a version-4 row, {gauge column: value} it gets, extra it keeps): every gauge metric in every unit...
CASES: list[tuple[dict[str, Any] | None, dict[str, float], dict[str, Any] | None]] = [
    *[({metric: {"l1": 1.5, "l3": -2.0, "total": 0.25, "unit": unit}},
       {col(metric, "l1"): 1.5 * f, col(metric, "l3"): -2.0 * f, col(metric, "total"): 0.25 * f}, None)
      for metric, units in PHASES for unit, f in units.items()],
    *[({metric: {"value": 42.5, "unit": unit}}, {col(metric): 42.5 * f}, None)
      for metric, units in VALUES for unit, f in units.items()],
    # ...integer JSON numbers, l2 alone, state of charge at its bounds, range 0
    ({"instantaneousCurrent": {"l2": 16, "unit": "A"}}, {"current_l2": 16.0}, None),
    ({"stateOfCharge": {"value": 100.0, "unit": "%"}}, {"state_of_charge": 100.0}, None),
    ({"stateOfCharge": {"value": 0.0, "unit": "%"}}, {"state_of_charge": 0.0}, None),
    ({"range": {"value": 0.0, "unit": "mi"}}, {"driving_range": 0.0}, None),
    # a row holding only gauges: all of them move, extra becomes NULL
    ({"instantaneousVoltage": {"l1": 230.1, "l2": 231.0, "l3": 229.5, "unit": "V"},
      "positiveActiveInstantaneousPower": {"total": 3.5, "unit": "kW"}, "stateOfCharge": {"value": 80.0, "unit": "%"},
      "range": {"value": 250.0, "unit": "mi"}, "negativeActiveInstantaneousPower": {"l3": 0.0, "unit": "W"},
      "instantaneousCurrent": {"l1": 12.5, "l2": 12.0, "l3": 11.5, "total": 36.0, "unit": "A"}},
     {"voltage_l1": 230.1, "voltage_l2": 231.0, "voltage_l3": 229.5, "positive_power_total": 3500.0,
      "state_of_charge": 80.0, "driving_range": 250.0 * MI, "negative_power_l3": 0.0, "current_l1": 12.5,
      "current_l2": 12.0, "current_l3": 11.5, "current_total": 36.0}, None),
    # gauges next to an unknown metric and an odometer in mi: the others stay, in their order
    ({"voltage": {"l1": 230.0, "unit": "kV"}, "positiveActiveInstantaneousPower": {"l1": 1.5, "total": 4.5, "unit": "kW"},
      "odometer": {"value": 12.5, "unit": "mi"}, "zeta": {"value": -3.0}},
     {"positive_power_l1": 1500.0, "positive_power_total": 4500.0},
     {"voltage": {"l1": 230.0, "unit": "kV"}, "odometer": {"value": 12.5 * MI, "unit": "km"}, "zeta": {"value": -3.0}}),
    # odometers: every unit, normalised in place; an unknown unit, none, a negative one: kept as sent
    *[({"odometer": {"value": 1234.5, "unit": unit}, "voltage": {"value": 1.0}}, {},
       {"odometer": {"value": 1234.5 * f, "unit": "km"}, "voltage": {"value": 1.0}})
      for unit, f in {"km": 1.0, "m": 1e-3, "mi": MI, "MI": MI, " Km ": 1.0}.items()],
    ({"odometer": {"value": 3.0, "unit": "furlong"}}, {}, {"odometer": {"value": 3.0, "unit": "furlong"}}),
    ({"odometer": {"value": 3.0}}, {}, {"odometer": {"value": 3.0}}),
    ({"odometer": {"value": -3.0, "unit": "km"}}, {}, {"odometer": {"value": -3.0, "unit": "km"}}),
    # gauge metrics that do not normalise stay as sent (and have no gauge values)...
    *[({metric: measurement}, {}, {metric: measurement}) for metric, measurement in [
        ("instantaneousVoltage", {"l1": 230.0}),  # no unit
        ("instantaneousVoltage", {"l1": 230.0, "unit": None}),
        ("positiveActiveInstantaneousPower", {"total": 2.0, "unit": "GW"}),  # unknown unit
        ("instantaneousCurrent", {"l1": 2.0, "unit": "kA"}),
        ("range", {"value": 5.0, "unit": "ft"}),
        ("stateOfCharge", {"value": 5.0, "unit": 5}),
        ("instantaneousVoltage", {"l1": 1.0, "unit": "V\u0000"}),  # (a NUL: neither text nor jsonb in PostgreSQL)
        ("stateOfCharge", {"value": 5.0, "l1": 1.0, "unit": "%"}),  # a field it does not have
        ("instantaneousVoltage", {"l1": 1.0, "value": 2.0, "unit": "V"}),
        ("instantaneousCurrent", {"unit": "A"}),  # no number
        ("stateOfCharge", {"unit": "%"}),
        ("instantaneousVoltage", {"l1": "230", "unit": "V"}),
        ("stateOfCharge", {"value": 100.5, "unit": "%"}),  # outside 0..100
        ("stateOfCharge", {"value": -1.0, "unit": "percent"}),
        ("range", {"value": -0.5, "unit": "km"}),  # negative
        ("positiveActiveInstantaneousPower", {"l1": 1.0, "l2": 2e9, "unit": "MW"}),  # above 1e15 W once converted
        ("range", 5.0),  # not an object
    ]],
    # ...while the other gauge metrics of their row move
    ({"stateOfCharge": {"value": 120.0, "unit": "%"}, "range": {"value": 10.0, "unit": "km"}},
     {"driving_range": 10.0}, {"stateOfCharge": {"value": 120.0, "unit": "%"}}),
    # a row whose extra holds the escape \u0000 anywhere is left as it is (PostgreSQL's json functions refuse it)
    ({"voltage": {"l1": 1.0, "unit": "\u0000"}, "range": {"value": 1.0, "unit": "km"}}, {},
     {"voltage": {"l1": 1.0, "unit": "\u0000"}, "range": {"value": 1.0, "unit": "km"}}),
    # no extra at all, and no instantaneous metric
    (None, {}, None),
    ({"voltage": {"l1": 1.0}}, {}, {"voltage": {"l1": 1.0}}),
]


def apply_sqlite(db: sqlite3.Connection, sql: str) -> None:
    with db:
        for statement in _statements(sql):
            db.execute(statement)


def sqlite_at_version(path: Path, version: int) -> sqlite3.Connection:
    """A new SQLite database with the migrations up to `version` applied and recorded (`user_version`, as the store
    would have): tests/pg.py's `database_at_version` for SQLite. Autocommit; the caller closes it."""
    db = sqlite3.connect(path, isolation_level=None)
    for number, text in migrations("sqlite"):
        if number <= version:
            apply_sqlite(db, text)
    db.execute(f"PRAGMA user_version = {int(version)}")
    return db


@pytest.fixture(params=BACKENDS)
def version4(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A backend at schema version 4 with the CASES rows: (backend, connection)."""
    extras = [None if extra is None else orjson.dumps(extra) for extra, _, _ in CASES]
    if request.param == "sqlite":
        db = sqlite_at_version(tmp_path / "v4.db", 4)
        db.executemany("INSERT INTO readings (entity_id, ts, positive_total, extra) VALUES (?, ?, ?, ?)",
                       [(ENTITY.bytes, T0 + k, float(k), extra) for k, extra in enumerate(extras)])
        yield "sqlite", db
        db.close()
        return
    import psycopg

    from ..pg import database_at_version

    with database_at_version(4) as url, psycopg.connect(url, autocommit=True) as conn:
        conn.cursor().executemany(
            "INSERT INTO readings (entity_id, ts, positive_total, extra) VALUES (%s, %s, %s, %s)",
            [(ENTITY, T0 + k, float(k), None if e is None else e.decode()) for k, e in enumerate(extras)])
        yield "postgres", conn


def migrate_to_5(backend: str, conn: Any) -> None:
    """Migration 0005 as the store applies it: its SQL, then its data migration, in one transaction."""
    [text] = [text for number, text in migrations(backend) if number == 5]
    if backend == "sqlite":
        with conn:
            conn.execute("BEGIN")
            for statement in _statements(text):
                conn.execute(statement)
            DATA_MIGRATIONS[5](sqlite_sql(conn))
    else:
        with conn.transaction():
            conn.execute(text)
            DATA_MIGRATIONS[5](postgres_sql(conn))


def rows(backend: str, conn: Any) -> list[tuple[Any, ...]]:
    names = ", ".join(("ts", "positive_total", *GAUGE_COLUMNS, "extra" if backend == "sqlite" else "extra::text"))
    return conn.execute(f"SELECT {names} FROM readings ORDER BY ts").fetchall()


def test_migration_0005_moves_gauges_out_of_extra(version4: Any) -> None:
    backend, conn = version4
    migrate_to_5(backend, conn)
    found = rows(backend, conn)
    assert len(found) == len(CASES)
    for k, ((extra, columns, kept), row) in enumerate(zip(CASES, found)):
        ts, register, *gauges, stored = row
        assert (ts, register) == (T0 + k, float(k))
        assert dict(zip(GAUGE_COLUMNS, gauges)) == {c: columns.get(c) for c in GAUGE_COLUMNS}, (k, extra)
        assert all(type(g) is float for g in gauges if g is not None)
        if kept is None:
            assert stored is None, (k, extra)
        else:
            got = orjson.loads(stored)
            assert list(got.items()) == list(kept.items()), (k, extra)  # (values and the order of the metrics)
            for name, measurement in got.items():  # (what is kept is kept as sent, its field order too)
                if name != "odometer" and isinstance(measurement, dict):
                    assert list(measurement.items()) == list(kept[name].items())


def test_migration_0005_schema(version4: Any) -> None:
    backend, conn = version4
    migrate_to_5(backend, conn)
    if backend == "sqlite":
        columns = [row[1] for row in conn.execute("PRAGMA table_info(readings)")]
        types = {row[1]: row[2] for row in conn.execute("PRAGMA table_info(readings)")}
        blocks = [(row[1], row[2], row[3], row[5]) for row in conn.execute("PRAGMA table_info(gauge_blocks)")]
        assert {types[c] for c in GAUGE_COLUMNS} == {"REAL"}
        assert types["extra"] == "BLOB"
        assert blocks == [("entity_id", "BLOB", 1, 1), ("width", "INTEGER", 1, 2), ("block", "INTEGER", 1, 3),
                          ("summaries", "BLOB", 1, 0)]
        assert "WITHOUT ROWID" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'gauge_blocks'").fetchone()[0]
    else:
        query = ("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                 "WHERE table_name = %s ORDER BY ordinal_position")
        found = conn.execute(query, ("readings",)).fetchall()
        columns = [name for name, _, _ in found]
        types = {name: (kind, nullable) for name, kind, nullable in found}
        assert {types[c] for c in GAUGE_COLUMNS} == {("double precision", "YES")}
        assert types["extra"] == ("json", "YES")
        blocks = conn.execute(query, ("gauge_blocks",)).fetchall()
        assert blocks == [("entity_id", "uuid", "NO"), ("width", "bigint", "NO"), ("block", "bigint", "NO"),
                          ("summaries", "bytea", "NO")]
        key = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = 'gauge_blocks'::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)"
        ).fetchall()
        assert [name for (name,) in key] == ["entity_id", "width", "block"]
    assert columns == ["entity_id", "ts", *REGISTER_COLUMNS, "extra", *GAUGE_COLUMNS]
    assert conn.execute("SELECT count(*) FROM gauge_blocks").fetchone()[0] == 0


@pytest.mark.parametrize("k", range(len(CASES)))
def test_the_cases_agree_with_the_parser(k: int) -> None:
    """Metric by metric: a gauge metric moves iff ingest accepts it today, with the values ingest gives; an
    odometer is rewritten iff ingest accepts it, as ingest writes it; anything else stays."""
    extra, columns, kept = CASES[k]
    if b"\\u0000" in orjson.dumps(extra):  # (the row is left as it is: see CASES)
        assert kept == extra and not columns
        return
    for name, measurement in (extra or {}).items():
        try:
            parsed = parse_reading({"timestamp": "2024-05-27T13:00:00Z", "data": {name: measurement}})
        except DomainError:
            parsed = None
        if name in GAUGE_UNITS:
            if parsed is None:
                assert kept is not None and kept[name] == measurement
            else:
                assert kept is None or name not in kept
                for (metric, _), column, value in zip(GAUGE_SERIES, GAUGE_COLUMNS, parsed.gauges):
                    if metric == name:
                        assert columns.get(column) == value
        elif name == "odometer" and parsed is not None:
            assert kept is not None and kept[name] == parsed.data[name]
        else:
            assert kept is not None and kept[name] == measurement


def test_the_metrics_kept_keep_their_stored_text() -> None:
    """Beside what moves, `extra` keeps each member's stored text (number spelling, spacing) in its place."""
    text = ('{"zeta": {"value": 1.50, "unit" : "x"}, "range": {"value": 2, "unit": "mi"}, '
            '"odometer": {"value": 1e1, "unit": "M"}, "voltage": [1E3]}')
    gauges, kept = gauges_out_of_extra(text)
    assert kept == '{"zeta":{"value": 1.50, "unit" : "x"},"odometer":{"value":0.01,"unit":"km"},"voltage":[1E3]}'
    assert dict(zip(GAUGE_COLUMNS, gauges)) == {c: 2 * MI if c == "driving_range" else None for c in GAUGE_COLUMNS}
    assert gauges_out_of_extra('{"zeta": 1, "range": {"value": 2}}') is None  # (nothing moves: not written)
    assert gauges_out_of_extra("[1]") is None
