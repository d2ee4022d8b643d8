"""Migration 0006 (the entity registry) on both backends: a database at schema version 5 (migrations 0001–0005
applied as raw SQL) with entities and readings gets `created` (the first reading, else the migration's time)
and `last_seen` (the latest reading), every descriptive field null, and its data version kept."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connect_readings.storage import open_store
from connect_readings.storage.base import Store, latest_migration

from ..conftest import BACKENDS
from .test_gauge_migration import sqlite_at_version

WITH_READINGS = uuid.UUID("0b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d")
WITHOUT = uuid.UUID("1b7c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d")
T0 = 1_716_800_000_000_000
STAMPS = [T0 + 3_600_000_000, T0, T0 + 7_200_000_000]


@pytest.fixture(params=BACKENDS)
def version5(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database (path or URL) of a backend at schema version 5 with two entities, one with readings."""
    if request.param == "sqlite":
        path = tmp_path / "v5.db"
        db = sqlite_at_version(path, 5)
        db.executemany("INSERT INTO entities (entity_id, version) VALUES (?, ?)",
                       [(WITH_READINGS.bytes, 7), (WITHOUT.bytes, 0)])
        db.executemany("INSERT INTO readings (entity_id, ts, positive_total) VALUES (?, ?, ?)",
                       [(WITH_READINGS.bytes, ts, float(k)) for k, ts in enumerate(STAMPS)])
        db.close()
        yield str(path)
        return
    import psycopg

    from ..pg import database_at_version

    with database_at_version(5) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.cursor().executemany("INSERT INTO entities (entity_id, version) VALUES (%s, %s)",
                                      [(WITH_READINGS, 7), (WITHOUT, 0)])
            conn.cursor().executemany("INSERT INTO readings (entity_id, ts, positive_total) VALUES (%s, %s, %s)",
                                      [(WITH_READINGS, ts, float(k)) for k, ts in enumerate(STAMPS)])
        yield url


def test_migration_0006_fills_created_and_last_seen(version5: str) -> None:
    before = time.time_ns() // 1000
    store: Store = open_store(version5)
    after = time.time_ns() // 1000
    try:
        assert store.schema_state().applied == latest_migration("postgres")
        with_readings = store.entity(WITH_READINGS)
        assert with_readings is not None
        assert (with_readings.created, with_readings.last_seen) == (min(STAMPS), max(STAMPS))
        assert (with_readings.type, with_readings.name, with_readings.brand, with_readings.identifier,
                with_readings.parent_id, with_readings.properties, with_readings.time_zone) == (None,) * 7
        without = store.entity(WITHOUT)
        assert without is not None and without.last_seen is None
        assert before - 5_000_000 <= without.created <= after + 5_000_000  # the migration's time
        assert store.entity_version(WITH_READINGS) == 7  # the data version is kept
        assert [e.entity_id for e in store.entities(None, 10)] == [WITH_READINGS, WITHOUT]
        # ingest after the migration keeps them: lastSeen only moves forward
        from connect_readings.domain.readings import parse_reading
        store.ingest(WITH_READINGS, [parse_reading({"timestamp": "2000-01-01T00:00:00Z",
                                                    "data": {"positiveActiveEnergy": {"total": 0, "unit": "kWh"}}})])
        again = store.entity(WITH_READINGS)
        assert again is not None and (again.created, again.last_seen) == (min(STAMPS), max(STAMPS))
    finally:
        store.close()


def test_entities_of_the_store_page_and_filter(store: Store) -> None:
    from connect_readings.domain.entities import EntityRecord

    ids = sorted(uuid.UUID(int=n * 2**120 + 5) for n in range(1, 8))
    for n, entity in enumerate(ids):
        record, created = store.put_entity(EntityRecord(entity, "Meter", f"m{n}", created=T0 + n))
        assert created and record.created == T0 + n
    assert [e.entity_id for e in store.entities(None, 3)] == ids[:3]
    assert [e.entity_id for e in store.entities(ids[2], 3)] == ids[3:6]
    assert [e.entity_id for e in store.entities(ids[5], 3)] == ids[6:]
    visible = {ids[1], ids[4], ids[6], uuid.uuid4()}
    assert [e.entity_id for e in store.entities(None, 2, visible)] == [ids[1], ids[4]]
    assert [e.entity_id for e in store.entities(ids[4], 2, visible)] == [ids[6]]
    assert store.entities(None, 5, set()) == []
    record, created = store.put_entity(EntityRecord(ids[0], None, "renamed", properties={"a": [1]},
                                                    time_zone="Europe/Brussels", created=T0 + 99))
    assert not created and record.created == T0 and record.name == "renamed" and record.properties == {"a": [1]}
    assert store.entity_head(ids[0]) == (0, "Europe/Brussels", T0)  # (version, zone, created)
    assert store.entity(uuid.uuid4()) is None and store.entity_head(uuid.uuid4()) is None
