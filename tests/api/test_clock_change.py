"""The clock change over HTTP, on both backends (docs/semantics.md §2, §4): one grid for every endpoint.

A table of days and resolutions with the bucket counts and lengths worked out by hand from the zone's rules (the
grid operator's counts: 92 / 96 / 100 quarter-hours, 23 / 24 / 25 hours); aggregations, statistics, CSV and the
Python client's DataFrame must all give them. Then `start`/`end` without an offset: wall time in the request's
zone, the ambiguous and the skipped one included.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connect_readings.client import Client
from connect_readings.domain.timefmt import format_datetime, parse_datetime

from ..conftest import ApiClient

MIN = 60_000_000

# zone, local day, resolution → number of buckets, their lengths in minutes in order (run-length: (minutes, n))
DAYS: list[tuple[str, str, str, str, int, list[tuple[int, int]]]] = [
    ("Brussels, autumn: 100 quarter-hours, 02:00-03:00 twice",
     "Europe/Brussels", "2024-10-27", "15 minutes", 100, [(15, 100)]),
    ("Brussels, spring: 92 quarter-hours", "Europe/Brussels", "2024-03-31", "15 minutes", 92, [(15, 92)]),
    ("Brussels, a summer day: 96 quarter-hours", "Europe/Brussels", "2024-06-12", "15 minutes", 96, [(15, 96)]),
    ("Brussels, autumn: 25 hours", "Europe/Brussels", "2024-10-27", "1 hour", 25, [(60, 25)]),
    ("Brussels, spring: 23 hours", "Europe/Brussels", "2024-03-31", "1 hour", 23, [(60, 23)]),
    ("Brussels, a summer day: 24 hours", "Europe/Brussels", "2024-06-12", "PT1H", 24, [(60, 24)]),
    ("London, 90 minutes in autumn: 01:30 BST to 01:30 GMT is 60 minutes",
     "Europe/London", "2024-10-27", "90 minutes", 17, [(90, 1), (60, 1), (90, 15)]),
    ("New York, autumn: 100 quarter-hours", "America/New_York", "2024-11-03", "15 minutes", 100, [(15, 100)]),
    ("New York, spring: 92 quarter-hours", "America/New_York", "2024-03-10", "15 minutes", 92, [(15, 92)]),
    ("Lord Howe, autumn (a 30-minute shift): 98 quarter-hours",
     "Australia/Lord_Howe", "2024-04-07", "15 minutes", 98, [(15, 98)]),
    ("Lord Howe, spring: 94 quarter-hours", "Australia/Lord_Howe", "2024-10-06", "15 minutes", 94, [(15, 94)]),
    ("Lord Howe, autumn, hours: 01:00 lasts 90 minutes (60 does not divide the 30-minute shift)",
     "Australia/Lord_Howe", "2024-04-07", "1 hour", 24, [(60, 1), (90, 1), (60, 22)]),
]


def local_day(zone: str, day: str) -> tuple[str, str]:
    """The day's start and end as RFC 3339 with their own offsets."""
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(day).replace(tzinfo=tz)
    end = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=tz)
    return start.isoformat(), end.isoformat()


def steady_meter(client: ApiClient, entity: uuid.UUID, start: str, end: str) -> None:
    """1 kW all day: a register reading every 5 minutes (UTC) from an hour before to an hour after, and the power."""
    t, last = parse_datetime(start) - 60 * MIN, parse_datetime(end) + 60 * MIN
    readings = []
    while t <= last:
        hours = (t - parse_datetime(start)) / (60 * MIN)
        readings.append({"timestamp": format_datetime(t), "data": {
            "positiveActiveEnergy": {"total": 1000.0 + hours, "unit": "kWh"},
            "positiveActiveInstantaneousPower": {"total": 1000.0, "unit": "W"}}})
        t += 5 * MIN
    response = client.post(f"/v1/entities/{entity}/readings", json={"data": readings})
    assert response.status_code == 200, response.text


def lengths(items: list[dict], zone: str) -> list[tuple[int, int]]:
    """Run-length of the buckets' lengths in minutes, from their timeframes as served."""
    runs: list[tuple[int, int]] = []
    for item in items:
        minutes = (parse_datetime(item["timeframe"]["end"]) - parse_datetime(item["timeframe"]["start"])) // MIN
        runs[-1:] = [(minutes, runs[-1][1] + 1)] if runs and runs[-1][0] == minutes else runs[-1:] + [(minutes, 1)]
    return runs


@pytest.mark.parametrize(("zone", "day", "resolution", "count", "runs"), [case[1:] for case in DAYS],
                         ids=[case[0] for case in DAYS])
def test_every_endpoint_has_the_grid_operators_buckets(client: ApiClient, zone: str, day: str, resolution: str,
                                                       count: int, runs: list[tuple[int, int]]) -> None:
    entity = uuid.uuid4()
    start, end = local_day(zone, day)
    steady_meter(client, entity, start, end)
    query = {"start": start, "end": end, "resolution": resolution, "timeZone": zone, "pageSize": "1000"}

    aggregations = client.get(f"/v1/entities/{entity}/aggregations", params=query).json()["data"]
    assert len(aggregations) == count
    assert lengths(aggregations, zone) == runs
    assert aggregations[0]["timeframe"]["start"] == format_datetime(parse_datetime(start), ZoneInfo(zone))
    assert aggregations[-1]["timeframe"]["end"] == format_datetime(parse_datetime(end), ZoneInfo(zone))
    for item in aggregations:  # 1 kW: every bucket holds its length in hours, no spike anywhere
        minutes = (parse_datetime(item["timeframe"]["end"]) - parse_datetime(item["timeframe"]["start"])) // MIN
        assert item["data"]["positiveActiveEnergy"]["total"] == pytest.approx(minutes / 60, abs=1e-9)
    assert len({item["id"] for item in aggregations}) == count

    statistics = client.get(f"/v1/entities/{entity}/statistics", params=query).json()["data"]
    assert [s["timeframe"] for s in statistics] == [a["timeframe"] for a in aggregations]

    for path in ("aggregations", "statistics"):
        csv_query = {k: v for k, v in query.items() if k != "pageSize"} | {"format": "csv"}
        response = client.get(f"/v1/entities/{entity}/{path}", params=csv_query)
        assert response.status_code == 200, response.text
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == count, path

    with Client("http://localhost", client.token, transport=client._transport) as python_client:
        frame = python_client.aggregations(entity, start=datetime.fromisoformat(start), end=datetime.fromisoformat(end),
                                           resolution=resolution, time_zone=zone).to_pandas()
    assert len(frame) == count


def test_the_autumn_peak_is_the_largest_quarter_hour(client: ApiClient) -> None:
    """2 kW during the first 02:00-02:15 (CEST) only, 1 kW else: the peak is that quarter-hour's 0.5 kWh × 4."""
    entity = uuid.uuid4()
    start, end = local_day("Europe/Brussels", "2024-10-27")
    first = parse_datetime("2024-10-27T02:00:00+02:00")
    t, last, value, readings = parse_datetime(start), parse_datetime(end), 0.0, []
    while t <= last:
        readings.append({"timestamp": format_datetime(t), "data": {"positiveActiveEnergy": {"total": value,
                                                                                             "unit": "kWh"}}})
        value += (0.5 if first <= t < first + 15 * MIN else 0.25) / 3
        t += 5 * MIN
    assert client.post(f"/v1/entities/{entity}/readings", json={"data": readings}).status_code == 200
    query = {"start": start, "end": end, "timeZone": "Europe/Brussels"}
    day = client.get(f"/v1/entities/{entity}/statistics", params=query | {"resolution": "1 day"}).json()["data"]
    peak = day[0]["data"]["positiveActiveEnergy"]["peakDemand"]
    assert peak == {"value": 2.0, "energy": 0.5, "start": "2024-10-27T02:00:00+02:00",
                    "end": "2024-10-27T02:15:00+02:00"}
    quarters = client.get(f"/v1/entities/{entity}/aggregations",
                          params=query | {"resolution": "15 minutes", "pageSize": "200"}).json()["data"]
    assert max(q["data"]["positiveActiveEnergy"]["total"] for q in quarters) * 4 == pytest.approx(peak["value"])


# start/end as sent, zone parameter (None: the entity's own, Europe/Brussels) → the instant it names
NAIVE: list[tuple[str, str, str | None, str]] = [
    ("a date is local midnight", "2024-01-01", "Europe/Brussels", "2023-12-31T23:00:00Z"),
    ("the entity's zone when there is no timeZone", "2024-01-01", None, "2023-12-31T23:00:00Z"),
    ("a date-time is wall time", "2024-06-12T08:30:00", "Europe/Brussels", "2024-06-12T06:30:00Z"),
    ("ambiguous (shown twice): the earlier instant", "2024-10-27T02:30:00", "Europe/Brussels", "2024-10-27T00:30:00Z"),
    ("skipped: moves forward (read with the offset before)", "2024-03-31T02:30:00", "Europe/Brussels",
     "2024-03-31T01:30:00Z"),
    ("New York's skipped 02:30", "2024-03-10T02:30", "America/New_York", "2024-03-10T07:30:00Z"),
    ("Lord Howe's ambiguous 01:45", "2024-04-07T01:45:00", "Australia/Lord_Howe", "2024-04-06T14:45:00Z"),
    ("an offset wins over the zone", "2024-01-01T00:00:00Z", "Europe/Brussels", "2024-01-01T00:00:00Z"),
    ("lower-case t and z (RFC 3339)", "2024-01-01t00:00:00z", "Europe/Brussels", "2024-01-01T00:00:00Z"),
    ("UTC is UTC", "2024-01-01", "UTC", "2024-01-01T00:00:00Z"),
]


@pytest.mark.parametrize(("start", "zone", "instant"), [case[1:] for case in NAIVE], ids=[case[0] for case in NAIVE])
def test_start_without_an_offset_is_wall_time_in_the_requests_zone(client: ApiClient, start: str, zone: str | None,
                                                                   instant: str) -> None:
    entity = uuid.uuid4()
    response = client.put(f"/v1/entities/{entity}", json={"type": "Meter", "timeZone": "Europe/Brussels"},
                          headers={"Authorization": f"Bearer {entities_token()}"})
    assert response.status_code in (200, 201), response.text
    end = format_datetime(parse_datetime(instant) + 24 * 60 * MIN)
    query = {"start": start, "end": end} | ({} if zone is None else {"timeZone": zone})
    total = client.get(f"/v1/entities/{entity}/aggregations/total", params=query)
    assert total.status_code == 200, total.text
    assert parse_datetime(total.json()["timeframe"]["start"]) == parse_datetime(instant)
    # the readings of a window start there too
    steady = [{"timestamp": format_datetime(parse_datetime(instant) + m * MIN),
               "data": {"positiveActiveEnergy": {"total": float(m + 1), "unit": "kWh"}}} for m in (-1, 0, 1)]
    assert client.post(f"/v1/entities/{entity}/readings", json={"data": steady}).status_code == 200
    readings = client.get(f"/v1/entities/{entity}/readings", params=query).json()["data"]
    assert [parse_datetime(r["timestamp"]) for r in readings] == [parse_datetime(instant) + m * MIN for m in (0, 1)]


def test_a_naive_end_is_wall_time_too(client: ApiClient) -> None:
    entity = uuid.uuid4()
    start, end = local_day("Europe/Brussels", "2024-10-27")
    steady_meter(client, entity, start, end)
    query = {"start": "2024-10-27", "end": "2024-10-28", "timeZone": "Europe/Brussels", "resolution": "1 hour"}
    items = client.get(f"/v1/entities/{entity}/aggregations", params=query).json()["data"]
    assert len(items) == 25
    assert (items[0]["timeframe"]["start"], items[-1]["timeframe"]["end"]) == (
        "2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00")


def test_a_clipped_bucket_has_the_id_of_what_it_answers(client: ApiClient) -> None:
    entity = uuid.uuid4()
    start, end = local_day("Europe/Brussels", "2024-06-12")
    steady_meter(client, entity, start, end)

    def page(first: str) -> list[dict]:
        query = {"start": first, "end": end, "resolution": "1 hour"}
        return client.get(f"/v1/entities/{entity}/aggregations", params=query).json()["data"]

    whole, clipped = page(start), page(format_datetime(parse_datetime(start) + 5 * MIN))
    assert whole[0]["data"] != clipped[0]["data"]
    assert whole[0]["id"] != clipped[0]["id"]
    assert [b["id"] for b in whole[1:]] == [b["id"] for b in clipped[1:]]


def entities_token() -> str:
    from ..conftest import make_token
    return make_token(scope="readings:read readings:write entities:write")


def test_utc_offsets_are_untouched() -> None:
    """Readings' own timestamps without an offset stay UTC (only a query's start/end read a zone)."""
    assert parse_datetime("2024-01-01T00:00:00") == int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()) * 10**6
