"""Migration 0005's data migration on both backends against a reference written here: hand-made version-4 rows
with gauge metrics, odometers and other metrics in `extra` (units in any case and spacing, wrong fields, wrong
types, numbers near the bounds) get exactly the gauge columns and keep exactly the `extra` the reference gives.

Each example runs in a transaction that is rolled back: the rows, migration 0005's SQL and its data migration.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from connect_readings.storage.base import GAUGE_COLUMNS, migrations
from connect_readings.storage.migrate import DATA_MIGRATIONS
from connect_readings.storage.sqlite import _Sql as sqlite_sql
from connect_readings.storage.sqlite import _statements

from ..conftest import BACKENDS
from .test_gauge_migration import sqlite_at_version

ENTITY = uuid.UUID("5d7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d")
T0 = 1_716_800_000_000_000

# The reference: per metric, its columns by field, its units (lower-cased) and the bounds once converted.
POWER = {"w": 1.0, "kw": 1000.0, "mw": 1000000.0}
DISTANCE = {"km": 1.0, "m": 0.001, "mi": 1.609344}
PHASES = ("l1", "l2", "l3", "total")
REFERENCE: dict[str, tuple[dict[str, str], dict[str, float], float, float]] = {
    "positiveActiveInstantaneousPower": ({f: f"positive_power_{f}" for f in PHASES}, POWER, -1e15, 1e15),
    "negativeActiveInstantaneousPower": ({f: f"negative_power_{f}" for f in PHASES}, POWER, -1e15, 1e15),
    "instantaneousVoltage": ({f: f"voltage_{f}" for f in PHASES}, {"v": 1.0, "kv": 1000.0}, -1e15, 1e15),
    "instantaneousCurrent": ({f: f"current_{f}" for f in PHASES}, {"a": 1.0, "ma": 0.001}, -1e15, 1e15),
    "stateOfCharge": ({"value": "state_of_charge"}, {"%": 1.0, "percent": 1.0}, 0.0, 100.0),
    "range": ({"value": "driving_range"}, DISTANCE, 0.0, 1e15),
    "odometer": ({"value": ""}, DISTANCE, 0.0, 1e15),  # (no column: rewritten in km in extra)
}


def converted(name: str, measurement: Any) -> dict[str, float] | None:
    """The numbers of a known metric in its normalised unit by field, or None when it does not normalise."""
    if name not in REFERENCE or type(measurement) is not dict or type(measurement.get("unit")) is not str:
        return None
    columns, units, low, high = REFERENCE[name]
    factor = units.get(measurement["unit"].strip().lower())
    if factor is None:
        return None
    out = {}
    for field, value in measurement.items():
        if field == "unit" or (field in columns and value is None):
            continue
        if field not in columns or type(value) not in (int, float):
            return None
        out[field] = value * factor
        if not low <= out[field] <= high:
            return None
    return out or None


def reference(extra: dict[str, Any] | None) -> tuple[dict[str, float], dict[str, Any] | None]:
    """(the gauge columns a version-4 row's `extra` gives, the `extra` it keeps)."""
    if extra is None or b"\\u0000" in orjson.dumps(extra):
        return {}, extra
    columns: dict[str, float] = {}
    kept: dict[str, Any] = {}
    for name, measurement in extra.items():
        numbers = converted(name, measurement)
        if numbers is None:
            kept[name] = measurement
        elif name == "odometer":
            kept[name] = {"value": numbers["value"], "unit": "km"}
        else:
            columns |= {REFERENCE[name][0][field]: value for field, value in numbers.items()}
    if kept == extra:  # (nothing normalised: the row is not written)
        return columns, extra
    return columns, kept or None


NUMBERS = st.one_of(st.floats(-2e15, 2e15), st.floats(-1.0, 120.0), st.integers(-10**16, 10**16),
                    st.sampled_from([0.0, -0.0, 100.0, 100.5, 1e15, -1e15, 1e12, 1e12 + 1, 6.2e11, 0.1]))
VALUES = st.one_of(NUMBERS, NUMBERS, NUMBERS, st.none(), st.booleans(), st.just("230"),
                   st.lists(st.integers(0, 9), max_size=1))
ODD_UNITS = st.sampled_from(["GW", "kA", "ft", "", "w h", "V\u0000", "\u212aW"])  # (\u212a: the Kelvin sign)


def spelled(unit: str) -> st.SearchStrategy[str]:
    """A unit as a sender may spell it: any case, with spaces around it."""
    return st.builds(lambda case, pad: pad[0] + case + pad[1], st.sampled_from([unit, unit.upper(), unit.title()]),
                     st.sampled_from([("", ""), (" ", ""), ("\t", "\n"), ("\u3000", " ")]))


@st.composite
def measurements(draw: st.DrawFn, name: str) -> Any:
    """Mostly a measurement of the metric's shape (its fields, one of its units), else anything."""
    columns, units, _, _ = REFERENCE.get(name, ({"value": ""}, {"km": 1.0}, 0, 0))
    if draw(st.integers(0, 3)) == 0:
        fields = st.sampled_from(["l1", "l2", "l3", "total", "value", "t1", "zeta"])
        unit = st.one_of(st.sampled_from(sorted(units)).flatmap(spelled), ODD_UNITS, st.none(), st.integers(0, 9))
        measurement = draw(st.dictionaries(fields, VALUES, max_size=4))
        if draw(st.booleans()):
            measurement["unit"] = draw(unit)
        return draw(st.one_of(st.just(measurement), NUMBERS, st.text(max_size=3)))
    measurement = draw(st.dictionaries(st.sampled_from(sorted(columns)), st.one_of(NUMBERS, st.none()),
                                       min_size=1, max_size=4))
    return measurement | {"unit": draw(st.sampled_from(sorted(units)).flatmap(spelled))}


@st.composite
def extras(draw: st.DrawFn) -> dict[str, Any] | None:
    names = draw(st.lists(st.sampled_from([*REFERENCE, "voltage", "zeta"]), unique=True, max_size=5))
    return None if not names and draw(st.booleans()) else {name: draw(measurements(name)) for name in names}


@pytest.fixture(params=BACKENDS)
def version4(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """An empty database at schema version 4: (backend, autocommit connection)."""
    if request.param == "sqlite":
        db = sqlite_at_version(tmp_path / "v4.db", 4)
        yield "sqlite", db
        db.close()
        return
    import psycopg

    from ..pg import database_at_version

    with database_at_version(4) as url, psycopg.connect(url, autocommit=True) as conn:
        yield "postgres", conn


def migrated(backend: str, conn: Any, extras: list[dict[str, Any] | None]) -> list[tuple[Any, ...]]:
    """The rows after migration 0005 (SQL and data migration), read before the transaction is rolled back."""
    [text] = [text for number, text in migrations(backend) if number == 5]
    stored = [None if e is None else orjson.dumps(e) for e in extras]
    names = ", ".join((*GAUGE_COLUMNS, "CAST(extra AS TEXT)"))
    if backend == "sqlite":
        conn.execute("BEGIN")
        try:
            conn.executemany("INSERT INTO readings (entity_id, ts, extra) VALUES (?, ?, ?)",
                             [(ENTITY.bytes, T0 + k, e) for k, e in enumerate(stored)])
            for statement in _statements(text):
                conn.execute(statement)
            DATA_MIGRATIONS[5](sqlite_sql(conn))
            return conn.execute(f"SELECT {names} FROM readings ORDER BY ts").fetchall()
        finally:
            conn.execute("ROLLBACK")
    from connect_readings.storage.postgres import _Sql as postgres_sql

    with conn.transaction(force_rollback=True):
        conn.cursor().executemany("INSERT INTO readings (entity_id, ts, extra) VALUES (%s, %s, %s)",
                                  [(ENTITY, T0 + k, None if e is None else e.decode()) for k, e in enumerate(stored)])
        conn.execute(text)
        DATA_MIGRATIONS[5](postgres_sql(conn))
        return conn.execute(f"SELECT {names} FROM readings ORDER BY ts").fetchall()


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(extras=st.lists(extras(), min_size=1, max_size=8))
def test_migration_0005_converts_as_the_reference(version4: tuple[str, Any], extras: list[Any]) -> None:
    backend, conn = version4
    found = migrated(backend, conn, extras)
    assert len(found) == len(extras)
    for extra, (*gauges, stored) in zip(extras, found):
        note(f"{backend}: {extra!r}")
        columns, kept = reference(extra)
        assert dict(zip(GAUGE_COLUMNS, gauges)) == {c: columns.get(c) for c in GAUGE_COLUMNS}
        assert all(type(g) is float for g in gauges if g is not None)
        if kept is None:
            assert stored is None
        else:
            got = orjson.loads(stored)
            assert list(got.items()) == list(kept.items())  # (the values and the order of the metrics)
            assert [list(m) for m in got.values() if type(m) is dict] == [list(m) for m in kept.values()
                                                                          if type(m) is dict]
