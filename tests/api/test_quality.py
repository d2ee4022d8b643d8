"""The interval import's quality marks in `/statistics?metrics=quality` (issue 20; docs/semantics.md §10, §14),
over HTTP on both backends.

The fixture day (Fluvius, 2024-10-27, the autumn change, Europe/Brussels) has three 'Geschat' quarter-hours of
`Afname Nacht`: 02:15–02:30, 02:30–02:45 and 02:45–02:00 (CET), the first hour 02:00–03:00 CEST, i.e.
00:15–00:30Z, 00:30–00:45Z and 00:45–01:00Z. Each marks the reading at its END with
`quality: {"value": 1, "unit": "Geschat"}`: 00:30Z, 00:45Z and 01:00Z. A bucket counts the marks on the
readings in its (start, end], so by hand:

| resolution (zone)            | bucket start                 | intervals | readings | statuses       |
|------------------------------|------------------------------|-----------|----------|----------------|
| 15 minutes (UTC)             | 2024-10-27T00:15:00Z         | 1         | 1        | Geschat 1      |
| 15 minutes (UTC)             | 2024-10-27T00:30:00Z         | 1         | 1        | Geschat 1      |
| 15 minutes (UTC)             | 2024-10-27T00:45:00Z         | 1         | 1        | Geschat 1      |
| 1 hour (Europe/Brussels)     | 2024-10-27T02:00:00+02:00    | 3         | 3        | Geschat 3      |
| 1 day (Europe/Brussels)      | 2024-10-27T00:00:00+02:00    | 3         | 3        | Geschat 3      |

No other bucket has `quality`. The cost follows the marks: the store reads them through a partial index,
whose use EXPLAIN shows on both backends.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import pytest

from connect_readings.ingest.importer import import_file
from connect_readings.storage import postgres as pg_store
from connect_readings.storage import sqlite as sqlite_store
from connect_readings.storage.base import Store

from ..conftest import ENTITY, OTHER, ApiClient

FIXTURES = Path(__file__).parent.parent / "fixtures" / "intervals"
STATS = f"/v1/entities/{ENTITY}/statistics"
DAY = {"start": "2024-10-26T22:00:00Z", "end": "2024-10-27T23:00:00Z"}
GESCHAT = {"intervals": 1, "readings": 1, "statuses": {"Geschat": 1}}


def _import(store: Store, text: str) -> Any:
    return import_file(store, ENTITY, io.BytesIO(text.encode()), "interval")  # type: ignore[arg-type]


@pytest.fixture
def imported(client: ApiClient, store: Store) -> ApiClient:
    report = _import(store, (FIXTURES / "fluvius_2024-10-27.csv").read_text(encoding="utf-8"))
    assert report.rejected == [] and report.notes == ["intervals not measured (kept as `quality`): Geschat 3"]
    return client


def stats(client: ApiClient, resolution: str, metrics: str = "quality", **params: Any) -> list[dict[str, Any]]:
    query = {**DAY, "resolution": resolution, "metrics": metrics, "pageSize": "1000", **params}
    response = client.get(STATS, params=query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["links"]["next"] is None
    return body["data"]  # type: ignore[no-any-return]


def marks(items: list[dict[str, Any]], metric: str = "quality") -> list[tuple[str, Any]]:
    return [(it["timeframe"]["start"], it["data"][metric]) for it in items if metric in it["data"]]


@pytest.mark.parametrize(("resolution", "zone", "expected"), [
    ("15 minutes", "UTC", [("2024-10-27T00:15:00Z", GESCHAT), ("2024-10-27T00:30:00Z", GESCHAT),
                           ("2024-10-27T00:45:00Z", GESCHAT)]),
    ("1 hour", "Europe/Brussels", [("2024-10-27T02:00:00+02:00",
                                    {"intervals": 3, "readings": 3, "statuses": {"Geschat": 3}})]),
    ("1 day", "Europe/Brussels", [("2024-10-27T00:00:00+02:00",
                                   {"intervals": 3, "readings": 3, "statuses": {"Geschat": 3}})]),
])
def test_each_bucket_counts_the_marks_of_the_intervals_it_holds(imported: ApiClient, resolution: str, zone: str,
                                                                 expected: list[tuple[str, Any]]) -> None:
    items = stats(imported, resolution, timeZone=zone)
    assert marks(items) == expected
    assert len(items) == len(expected)  # only quality asked: a bucket without a mark is left out
    assert all(set(it["data"]) == {"quality"} for it in items)


def test_buckets_without_marks_have_no_quality(imported: ApiClient) -> None:
    items = stats(imported, "15 minutes", "positiveActiveEnergy,quality", timeZone="UTC")
    assert len(items) == 100  # every quarter-hour of the 25-hour day has its peak demand
    assert marks(items) == [("2024-10-27T00:15:00Z", GESCHAT), ("2024-10-27T00:30:00Z", GESCHAT),
                            ("2024-10-27T00:45:00Z", GESCHAT)]
    assert all("positiveActiveEnergy" in it["data"] for it in items)
    # an hour in UTC: 00:00–01:00Z holds all three ends (00:30, 00:45, 01:00), 01:00–02:00Z none
    hours = stats(imported, "1 hour", "positiveActiveEnergy,quality", timeZone="UTC")
    assert marks(hours) == [("2024-10-27T00:00:00Z", {"intervals": 3, "readings": 3, "statuses": {"Geschat": 3}})]


def test_a_reading_at_a_buckets_end_marks_that_bucket_and_the_window_is_start_exclusive(imported: ApiClient) -> None:
    # the window (00:00Z, 00:30Z]: the mark at 00:30Z ends the interval 00:15–00:30Z, inside the window
    items = stats(imported, "15 minutes", start="2024-10-27T00:00:00Z", end="2024-10-27T00:30:00Z", timeZone="UTC")
    assert marks(items) == [("2024-10-27T00:15:00Z", GESCHAT)]
    # from 00:30Z: that mark's interval is before the window
    items = stats(imported, "15 minutes", start="2024-10-27T00:30:00Z", end="2024-10-27T00:45:00Z", timeZone="UTC")
    assert marks(items) == [("2024-10-27T00:30:00Z", GESCHAT)]
    # a bucket cut by the window's start: (00:40Z, 00:45Z] still holds the mark at 00:45Z
    items = stats(imported, "15 minutes", start="2024-10-27T00:40:00Z", end="2024-10-27T01:10:00Z", timeZone="UTC")
    assert marks(items) == [("2024-10-27T00:40:00Z", GESCHAT), ("2024-10-27T00:45:00Z", GESCHAT)]


def test_pages_skip_to_the_next_mark(imported: ApiClient) -> None:
    query: dict[str, Any] = {**DAY, "resolution": "15 minutes", "metrics": "quality", "pageSize": "1", "timeZone": "UTC"}
    url: str | None = STATS
    found = []
    while url is not None:
        response = imported.get(url, params=query if url == STATS else None)
        assert response.status_code == 200, response.text
        body = response.json()
        found += marks(body["data"])
        url = body["links"]["next"]
    assert found == [("2024-10-27T00:15:00Z", GESCHAT), ("2024-10-27T00:30:00Z", GESCHAT),
                     ("2024-10-27T00:45:00Z", GESCHAT)]


def test_gas_marks_are_gas_quality_and_statuses_are_counted_apart(imported: ApiClient, store: Store) -> None:
    lines = (FIXTURES / "fluvius_gas_2024-10-27.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):  # 06:00–07:00 CET estimated (ends 06:00Z), 07:00–08:00 missing (07:00Z)
        if line.startswith("27/10/2024;06:00:00") and ";m³;" in line:
            lines[i] = line.replace("Gevalideerd", "Geschat")
        if line.startswith("27/10/2024;07:00:00") and ";m³;" in line:
            lines[i] = line.replace("Gevalideerd", "Ontbrekend")
    report = _import(store, "".join(lines))
    assert report.rejected == [] and "Geschat 1, Ontbrekend 1" in " ".join(report.notes)
    items = stats(imported, "1 day", "quality,gasQuality", timeZone="Europe/Brussels")
    assert marks(items) == [("2024-10-27T00:00:00+02:00", {"intervals": 3, "readings": 3, "statuses": {"Geschat": 3}})]
    assert marks(items, "gasQuality") == [("2024-10-27T00:00:00+02:00", {
        "intervals": 2, "readings": 2, "statuses": {"Geschat": 1, "Ontbrekend": 1}})]
    hours = stats(imported, "1 hour", "gasQuality", timeZone="UTC")
    assert marks(hours, "gasQuality") == [("2024-10-27T05:00:00Z", {"intervals": 1, "readings": 1, "statuses": {"Geschat": 1}}),
                                          ("2024-10-27T06:00:00Z", {"intervals": 1, "readings": 1, "statuses": {"Ontbrekend": 1}})]


def test_csv_has_the_quality_columns(imported: ApiClient) -> None:
    response = imported.get(STATS, params={**DAY, "resolution": "1 hour", "metrics": "quality", "timeZone": "UTC",
                                           "format": "csv"})
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][4:] == ["quality.intervals", "quality.readings", "quality.statuses"]
    assert [row[2:] for row in rows[1:]] == [["2024-10-27T00:00:00Z", "2024-10-27T01:00:00Z", "3", "3", '{"Geschat":3}']]


def test_an_unknown_metric_is_still_refused(imported: ApiClient) -> None:
    response = imported.get(STATS, params={**DAY, "resolution": "1 hour", "metrics": "quality,qualities"})
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "UnknownMetric"


def test_a_dense_entity_without_marks_answers_fast_without_the_metric(client: ApiClient, store: Store) -> None:
    """A demo-like entity: a day of 10-second readings (power, energy), no marks: the metric is left out, and the
    answer does not read the readings for it (one index seek per page and per skip)."""
    t0 = 1_716_768_000  # 2024-05-27T00:00:00Z
    readings = [{"timestamp": f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t0 + 10 * i))}Z", "data": {
        "positiveActiveEnergy": {"total": 1000.0 + i * 0.001, "unit": "kWh"},
        "positiveActiveInstantaneousPower": {"total": 360.0 + i % 7, "unit": "W"}}} for i in range(8640)]
    for k in range(0, len(readings), 2000):
        assert client.ingest(OTHER, readings[k:k + 2000]).status_code == 200
    url = f"/v1/entities/{OTHER}/statistics"
    began = time.perf_counter()
    response = client.get(url, params={"start": "2024-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z",
                                       "resolution": "15 minutes", "metrics": "quality,gasQuality"})
    elapsed = time.perf_counter() - began
    assert response.status_code == 200 and response.json()["data"] == [] and response.json()["links"]["next"] is None
    assert elapsed < 2.0, elapsed
    items = client.get(url, params={"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z",
                                    "resolution": "1 hour", "metrics": "positiveActiveInstantaneousPower,quality"}).json()["data"]
    assert len(items) == 24 and all(set(it["data"]) == {"positiveActiveInstantaneousPower"} for it in items)


def test_the_store_reads_the_marks_through_the_partial_index(imported: ApiClient, store: Store) -> None:
    lo, hi = 0, 2**62
    found = store.quality_marks(ENTITY, "quality", lo, hi, 100)
    assert [(value, status) for _, value, status in found] == [(1.0, "Geschat")] * 3
    assert store.quality_marks(ENTITY, "gasQuality", lo, hi, 100) == []
    if isinstance(store, sqlite_store.SQLiteStore):
        plan = " ".join(row[-1] for row in store.db.execute(
            "EXPLAIN QUERY PLAN " + sqlite_store.QUALITY_MARKS_SQL, (ENTITY.bytes, lo, hi, '"quality"', 100)))
        assert "USING INDEX readings_quality" in plan, plan
    else:
        assert isinstance(store, pg_store.PostgresStore)
        with store.connection() as conn:
            conn.execute("ANALYZE readings")
        with store.connection() as conn, conn.transaction():
            # a handful of rows: whether the planner prefers the index is what is asked, not its cost guess (on
            # Citus the shard's query is planned on a worker, which takes SET LOCAL when told to propagate it)
            conn.execute("SET LOCAL citus.propagate_set_commands = 'local'")
            conn.execute("SET LOCAL enable_seqscan = off")
            plan = " ".join(row[0] for row in conn.execute(
                "EXPLAIN " + pg_store.QUALITY_MARKS_SQL, (ENTITY, lo, hi, '"quality"', 100)))
        assert "readings_quality" in plan, plan
