"""`Client` against a real server (conftest.py): every endpoint, paging, typed results, errors."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest

from connect_readings import demo
from connect_readings.client import (Aggregation, CapacityMonth, Client, ConnectReadingsError, Entity, Reading,
                                     Statistics)
from connect_readings.domain.timefmt import from_micros
from tests.test_crash_safety import Server, token

from .conftest import GAS_START_US, NOW_US, YEAR_START_US

BRUSSELS = ZoneInfo("Europe/Brussels")
START = from_micros(NOW_US - 3 * demo.DAY)
END = from_micros(NOW_US)


def raw_pages(server: Server, bearer: str, path: str, params: dict[str, str]) -> list[list[dict]]:
    """The server's pages as plain JSON, by following `continuationToken` by hand."""
    pages = []
    while True:
        body = httpx.get(f"{server.url}{path}", params=params, headers={"Authorization": f"Bearer {bearer}"}).json()
        pages.append(body["data"])
        next_token = body["meta"]["continuationToken"]
        if next_token is None:
            return pages
        params = {**params, "continuationToken": next_token}


def test_aggregations_iterator_is_the_servers_pages_concatenated(client: Client, loaded: Server, bearer: str):
    pages = raw_pages(loaded, bearer, f"/v1/entities/{demo.HOUSEHOLD}/aggregations",
                      {"start": START.isoformat(), "end": END.isoformat(), "resolution": "15 minutes",
                       "timeZone": "Europe/Brussels", "pageSize": "50"})
    assert len(pages) >= 5  # 288 buckets
    expected = msgspec.json.decode(msgspec.json.encode([item for page in pages for item in page]),
                                   type=list[Aggregation])
    got = list(client.aggregations(demo.HOUSEHOLD, start=START, end=END, resolution="15 minutes",
                                   time_zone="Europe/Brussels", page_size=50))
    assert got == expected
    assert len(got) == 3 * 96
    assert [len(page.items) for page in client.aggregations(
        demo.HOUSEHOLD, start=START, end=END, resolution="15 minutes", time_zone="Europe/Brussels",
        page_size=50).pages()] == [len(page) for page in pages]


def test_aggregations_are_typed_and_tz_aware(client: Client):
    buckets = list(client.aggregations(demo.HOUSEHOLD, start=START, end=END, resolution="1 hour",
                                       time_zone="Europe/Brussels"))
    first = buckets[0]
    assert isinstance(first, Aggregation) and first.entity_id == demo.HOUSEHOLD
    assert first.timeframe.start == START
    assert first.timeframe.start.utcoffset() == START.astimezone(BRUSSELS).utcoffset()  # in the query's zone
    assert first.timeframe.end - first.timeframe.start == timedelta(hours=1)
    energy = first.data["positiveActiveEnergy"]
    assert energy.unit == "kWh" and energy.total == pytest.approx((energy.t1 or 0) + (energy.t2 or 0))
    assert [b.timeframe.start for b in buckets] == sorted(b.timeframe.start for b in buckets)


def test_total_is_the_sum_of_the_buckets(client: Client):
    total = client.aggregation_total(demo.HOUSEHOLD, START, END)
    days = list(client.aggregations(demo.HOUSEHOLD, START, END, resolution="6 hours"))
    assert total.timeframe.start == START and total.timeframe.end == END
    assert total.data["positiveActiveEnergy"].total == pytest.approx(
        sum(b.data["positiveActiveEnergy"].total for b in days))


def test_readings_and_last_reading(client: Client):
    readings = list(client.readings(demo.HOUSEHOLD, START, END, page_size=20))
    assert len(readings) == 72  # hourly over three days
    assert all(isinstance(r, Reading) and r.timestamp.tzinfo is not None for r in readings)
    assert readings[0].timestamp == START and readings[-1].timestamp == END - timedelta(hours=1)
    assert readings[0].data["positiveActiveEnergy"]["unit"] == "kWh"  # stored as kWh, sent in Wh
    last = client.last_reading(demo.HOUSEHOLD)
    assert last.timestamp == END and last.entity_id == demo.HOUSEHOLD


def test_statistics(client: Client):
    stats = list(client.statistics(demo.HOUSEHOLD, START, END, resolution="1 day", time_zone="Europe/Brussels",
                                   metrics=["instantaneousVoltage", "positiveActiveEnergy"]))
    assert all(isinstance(s, Statistics) for s in stats) and 3 <= len(stats) <= 4
    voltage = stats[1].data["instantaneousVoltage"]
    assert voltage.unit == "V" and 225 < voltage.l1.mean < 240
    assert voltage.l1.min_at.utcoffset() == voltage.l1.min_at.astimezone(BRUSSELS).utcoffset()
    assert stats[1].timeframe.start <= voltage.l1.min_at < stats[1].timeframe.end
    peak = stats[1].data["positiveActiveEnergy"].peak_demand
    assert peak is not None and peak.end - peak.start == timedelta(minutes=15)


def test_capacity_tariff(client: Client):
    months = client.capacity_tariff(demo.HOUSEHOLD, from_micros(YEAR_START_US), END)
    assert 12 <= len(months) <= 14 and all(isinstance(m, CapacityMonth) for m in months)
    assert all(m.billed_peak >= 2.5 and 1 <= m.months_in_mean <= 12 for m in months)
    assert months[-1].months_in_mean == 12


def test_entities_put_get_list(client: Client):
    new = uuid.uuid4()
    created = client.put_entity(new, type="HeatPump", name="Heat pump", properties={"kW": 8},
                                parent_id=demo.HOUSEHOLD, time_zone="Europe/Amsterdam")
    assert isinstance(created, Entity) and created.parent_id == demo.HOUSEHOLD
    assert created.created.tzinfo is not None and created.properties == {"kW": 8}
    renamed = client.put_entity(new, type="HeatPump", name="Renamed")
    assert renamed.name == "Renamed" and renamed.time_zone is None and renamed.created == created.created
    assert client.entity(new) == renamed
    listed = list(client.entities(page_size=1))
    ids = [entity.id for entity in listed]
    assert {demo.HOUSEHOLD, demo.GAS_METER, new} <= set(ids) and ids == sorted(ids, key=str)


def test_delete_entity(client: Client):
    """`delete_entity` → None, then the entity is gone (404); a parent is refused (409) while it has a child."""
    parent, child = uuid.uuid4(), uuid.uuid4()
    client.put_entity(parent, name="site")
    client.put_entity(child, name="meter", parent_id=parent)
    client.ingest(child, [{"timestamp": "2024-05-27T10:00:00Z",
                           "data": {"positiveActiveEnergy": {"total": 1.0, "unit": "kWh"}}}])
    with pytest.raises(ConnectReadingsError) as caught:
        client.delete_entity(parent)
    assert (caught.value.status, caught.value.code) == (409, "EntityHasChildren") and str(child) in caught.value.message
    assert client.delete_entity(child) is None and client.delete_entity(str(parent)) is None
    for gone in (parent, child):
        with pytest.raises(ConnectReadingsError) as caught:
            client.entity(gone)
        assert (caught.value.status, caught.value.code) == (404, "EntityNotFound")
        with pytest.raises(ConnectReadingsError) as caught:
            client.delete_entity(gone)
        assert (caught.value.status, caught.value.code) == (404, "EntityNotFound")


def test_health_and_readiness(client: Client):
    assert client.health().status == "ok"
    ready = client.readiness()
    assert ready.status == "ready" and ready.schema_version >= 1
    assert "/v1/entities/{entityId}/aggregations" in client.openapi()["paths"]


ERRORS = [  # (what is asked, status, code)
    (lambda c: c.entity(uuid.uuid4()), 404, "EntityNotFound"),
    (lambda c: list(c.aggregations(demo.HOUSEHOLD, START, END, resolution="fortnightly")), 400, "InvalidResolution"),
    (lambda c: list(c.readings(demo.HOUSEHOLD, END, START)), 400, "InvalidTimeWindow"),
    (lambda c: c.capacity_tariff(demo.HOUSEHOLD, START, END, time_zone="Mars/Olympus"), 400, "UnknownTimeZone"),
    (lambda c: c.ingest(demo.HOUSEHOLD, [{"timestamp": END, "data": {"positiveActiveEnergy": {"total": "x"}}}]),
     400, None),
]


@pytest.mark.parametrize("ask, status, code", ERRORS)
def test_errors_carry_status_code_and_request_id(client: Client, ask, status: int, code: str | None):
    with pytest.raises(ConnectReadingsError) as caught:
        ask(client)
    assert caught.value.status == status
    assert caught.value.code == code if code else caught.value.code.startswith("Invalid")
    assert caught.value.message and caught.value.request_id


@pytest.mark.parametrize("bearer_token, status, code", [
    ("not-a-jwt", 401, "Unauthorized"),
    (token(secret="another-secret-of-at-least-32-bytes!!!"), 401, "Unauthorized"),
    (token(scope="readings:write"), 403, "Forbidden"),
])
def test_bad_tokens(loaded: Server, bearer_token: str, status: int, code: str):
    with Client(loaded.url, bearer_token) as client, pytest.raises(ConnectReadingsError) as caught:
        client.last_reading(demo.HOUSEHOLD)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_gas_meter_in_utc(client: Client):
    start = from_micros(GAS_START_US // demo.DAY * demo.DAY + demo.DAY)  # a UTC midnight
    days = list(client.aggregations(demo.GAS_METER, start, start + timedelta(days=2), resolution="1 day"))
    assert len(days) == 2 and days[0].timeframe.start.tzinfo == timezone.utc
    assert days[0].data["positiveGasVolume"].unit == "m3" and days[0].data["positiveGasVolume"].value > 0


def test_naive_and_date_bounds_are_in_the_query_zone(client: Client):
    local_midnight = datetime.combine(END.astimezone(BRUSSELS).date(), datetime.min.time())
    [bucket] = list(client.aggregations(demo.HOUSEHOLD, start=local_midnight - timedelta(days=1),
                                        end=local_midnight.date(), resolution="1 day", time_zone="Europe/Brussels"))
    assert bucket.timeframe.end == local_midnight.replace(tzinfo=BRUSSELS)
