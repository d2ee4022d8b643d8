"""A database made by schema version 3 (register columns r0..r11, a register bitmask, numbered registers in the
side tables) migrates to the named schema and then answers every request exactly as version 3's code did.

`fixtures/schema3.db` was written by the code of schema version 3 through its own ingest (meter resets, a late
out-of-order batch, gas, instantaneous metrics, a rare register); `fixtures/schema3_answers.json` holds that
code's answers to `scripts/compare_answers.py`'s requests, byte for byte. On PostgreSQL the same rows are put
into a database at schema version 3 (migrations 0001–0003 only), which the store then migrates.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from connect_readings.storage import open_store
from connect_readings.storage.base import migrations

from ..conftest import BACKENDS

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "schema3_answers.json").read_text())
TABLES = ("meta", "entities", "readings", "resets", "series")


def compare_answers() -> ModuleType:
    path = Path(__file__).parent.parent.parent / "scripts" / "compare_answers.py"
    spec = importlib.util.spec_from_file_location("compare_answers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=BACKENDS)
def schema3_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A copy of the fixture (SQLite), or a PostgreSQL database at version 3 holding the same rows."""
    if request.param == "sqlite":
        path = tmp_path / "schema3.db"
        shutil.copy(FIXTURES / "schema3.db", path)
        yield str(path)
        return
    import psycopg

    from ..pg import database_at_version

    with database_at_version(3) as url:
        source = sqlite3.connect(FIXTURES / "schema3.db")
        with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
            for table in TABLES:
                found = source.execute(f"SELECT * FROM {table}")
                columns = [d[0] for d in found.description]
                names = ", ".join(f'"{c}"' for c in columns)
                cur.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})",
                    [tuple(_pg_value(c, v) for c, v in zip(columns, row)) for row in found.fetchall()],
                )
        source.close()
        yield url


def _pg_value(column: str, value: Any) -> Any:
    if column == "entity_id":
        return uuid.UUID(bytes=value)
    if column == "extra" and value is not None:
        return bytes(value).decode()
    return value


def test_schema3_database_migrates_and_answers_as_before(schema3_database: str) -> None:
    store = open_store(schema3_database)
    assert store.migrate() == migrations("sqlite")[-1][0] == migrations("postgres")[-1][0]
    store.close()
    window = EXPECTED["window"]
    script = compare_answers()
    answers = script.dump(schema3_database, window["entities"], script.micros(window["start"]),
                          script.micros(window["end"]))
    expected = EXPECTED["answers"]
    assert len(answers) == len(expected)
    for got, want in zip(answers, expected):
        if "resolution=45+minutes&timeZone=Europe%2FBerlin&pageSize=200" in got["path"]:
            same_but_split_at_the_clock_change(got["body"], want["body"])
            continue
        assert (unsigned(got["path"]), got["status"], unsigned(without_bucket_ids(got["body"]))) == (
            unsigned(want["path"]), want["status"], unsigned(without_bucket_ids(in_watts(want["body"]))))


def same_but_split_at_the_clock_change(got: str, want: str) -> None:
    """45-minute buckets in Berlin over 2024-03-31's gap: version 3 had 01:30 CET to 02:15 (read as CET), 45
    minutes; now 03:00 CEST, which the clock shows, is an edge too (docs/semantics.md §4), so that one bucket is
    two (30 + 15 minutes) holding the same consumption; every other bucket is unchanged."""
    new, old = json.loads(got)["data"], json.loads(want)["data"]
    frames = lambda items: [(i["timeframe"]["start"], i["timeframe"]["end"]) for i in items]  # noqa: E731
    split = [(a, b) for a, b in frames(old) if (a, b) not in frames(new)]
    assert split == [("2024-03-31T01:30:00+01:00", "2024-03-31T03:15:00+02:00")]
    assert [f for f in frames(new) if f not in frames(old)] == [
        ("2024-03-31T01:30:00+01:00", "2024-03-31T03:00:00+02:00"), ("2024-03-31T03:00:00+02:00", "2024-03-31T03:15:00+02:00")]
    for metric in {m for item in old for m in item["data"]}:
        field = "value" if "Volume" in metric else "total"
        amount = lambda items: sum(i["data"].get(metric, {}).get(field) or 0.0 for i in items)  # noqa: E731
        assert amount(new) == pytest.approx(amount(old), abs=1e-9), metric


def unsigned(text: str) -> str:
    """Continuation tokens blanked: since the grid of clock-change days moved (docs/semantics.md §4) a token is
    bound to the grid's version, so version 3's tokens differ (and are refused), by design."""
    return re.sub(r"(continuationToken=|\"continuationToken\":\")[A-Za-z0-9_.%-]+", r"\1…", text)


def without_bucket_ids(body: str) -> str:
    """Bucket ids blanked: they now name the answered timeframe (docs/semantics.md §6), a deliberate change.
    Everything else of the bucket stays byte for byte; the ids are checked to be distinct UUIDs."""
    document = json.loads(body)
    items = document.get("data") if isinstance(document, dict) else None
    if not isinstance(items, list) or not items or "timeframe" not in items[0]:
        return body
    ids = [item.pop("id") for item in items]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i).version == 5 for i in ids)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def in_watts(body: str) -> str:
    """Version 3's answer with its instantaneous power in W, as migration 0005 stores it (statistics §2): the one
    deliberate change. The fixture sent power in kW; every other byte stays as version 3 wrote it."""
    if '"kW"' not in body:
        return body
    document = json.loads(body)
    items = document["data"] if isinstance(document.get("data"), list) else [document]
    for item in items:
        power = item.get("data", {}).get("positiveActiveInstantaneousPower")
        if power is not None and power.get("unit") == "kW":
            for field in ("l1", "l2", "l3", "total"):
                if field in power:
                    power[field] = power[field] * 1000.0
            power["unit"] = "W"
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def test_migrated_gauges_have_the_block_summaries_ingest_would_keep(schema3_database: str, tmp_path: Path) -> None:
    """Migration 0005 builds `gauge_blocks` from the stored readings: statistics of the migrated database equal
    those of a fresh database that ingested the same readings (in shuffled batches)."""
    import random

    from connect_readings.ingest.copy import chunks
    from connect_readings.storage.base import as_reading
    from connect_readings.domain.interval import parse_resolution
    from connect_readings.usecases.statistics import STATISTICS_METRICS, StatisticsQuery, statistics_page

    migrated = open_store(schema3_database)
    fresh = open_store(str(tmp_path / "fresh.db"))
    rng = random.Random(5)
    compared = 0
    for entity in migrated.entity_ids():
        readings = [as_reading(r) for rows in chunks(migrated, entity, 1000) for r in rows]
        rng.shuffle(readings)
        for i in range(0, len(readings), 97):
            fresh.ingest(entity, readings[i:i + 97])
        for resolution in ("15 minutes", "1 hour", "1 day"):
            query = StatisticsQuery(entity, readings and min(r.ts for r in readings) - 1,
                                    max(r.ts for r in readings) + 1, parse_resolution(resolution), None,
                                    STATISTICS_METRICS, 15 * 60_000_000)
            with migrated.snapshot():
                a = statistics_page(migrated, query, query.start, 10_000)
            with fresh.snapshot():
                b = statistics_page(fresh, query, query.start, 10_000)
            assert a.items == b.items
            compared += sum(len(bucket.gauges) for bucket in a.items)
    assert compared > 100  # the fixture has instantaneous power: the comparison saw gauges
    migrated.close()
    fresh.close()
