"""`costs` and `cost_total` of `Client` and `AsyncClient` against the real server (conftest.py), and their
`.to_pandas()`: the household of the demo under a tariff with every component (dynamic import prices)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import msgspec
import pandas as pd
import pytest

from connect_readings import demo
from connect_readings.client import AsyncClient, Client, ConnectReadingsError, Cost, CostData, EnergyCost
from connect_readings.domain.timefmt import format_datetime, from_micros
from connect_readings.wire import csv_rows
from tests.test_crash_safety import Server, token

from .conftest import HOUR_US, NOW_US
from .test_client import raw_pages

START = from_micros(NOW_US - 3 * demo.DAY)
END = from_micros(NOW_US)
PRICE_ID = "client-test-dayahead"
TARIFF_WRITER = "readings:read tariffs:write"


@pytest.fixture(scope="module")
def tariffed(loaded: Server) -> Server:
    """The household priced: hourly dynamic import prices over the three days, export, capacity, fixed, VAT."""
    headers = {"Authorization": f"Bearer {token(scope=TARIFF_WRITER)}"}
    hours = (NOW_US - (NOW_US - 3 * demo.DAY)) // HOUR_US
    data = [{"start": format_datetime(NOW_US - 3 * demo.DAY + k * HOUR_US),
             "end": format_datetime(NOW_US - 3 * demo.DAY + (k + 1) * HOUR_US), "price": 60.0 + 7.5 * (k % 9)}
            for k in range(hours)]
    response = httpx.put(f"{loaded.url}/v1/prices/{PRICE_ID}", headers=headers,
                         json={"name": "day-ahead (test)", "unit": "EUR/MWh", "data": data})
    assert response.status_code in (200, 201), response.text
    tariff = {"currency": "EUR", "periods": [{
        "from": "2000-01-01T00:00:00Z", "import": {"prices": PRICE_ID, "factor": 1.0, "adder": 0.11},
        "export": {"total": 0.03}, "capacity": {"perKwYear": 53.0}, "fixed": {"perYear": 120.0}, "vat": 0.06}]}
    response = httpx.put(f"{loaded.url}/v1/entities/{demo.HOUSEHOLD}/tariff", headers=headers, json=tariff)
    assert response.status_code in (200, 201), response.text
    return loaded


def test_costs_iterator_is_the_servers_pages_concatenated(client: Client, tariffed: Server, bearer: str):
    pages = raw_pages(tariffed, bearer, f"/v1/entities/{demo.HOUSEHOLD}/costs",
                      {"start": START.isoformat(), "end": END.isoformat(), "resolution": "15 minutes",
                       "timeZone": "Europe/Brussels", "pageSize": "50"})
    expected = msgspec.json.decode(msgspec.json.encode([item for page in pages for item in page]), type=list[Cost])
    listed = client.costs(demo.HOUSEHOLD, START, END, resolution="15 minutes", time_zone="Europe/Brussels",
                          page_size=50)
    got = list(listed)
    assert got == expected and len(got) == 3 * 96
    assert [len(page.items) for page in listed.pages()] == [len(page) for page in pages]
    first = got[0]
    assert isinstance(first, Cost) and isinstance(first.data, CostData) and isinstance(first.data.import_, EnergyCost)
    assert first.entity_id == demo.HOUSEHOLD and first.currency == "EUR" and first.timeframe.start == START
    assert first.data.gas is None  # not in the tariff
    for cost in got:
        data = cost.data
        parts = (data.import_.cost, data.export.cost, data.capacity.cost, data.fixed.cost, data.vat)
        assert data.total == pytest.approx(sum(parts), abs=1e-8)
        assert data.export.cost <= 0 and data.import_.unpriced_energy == 0.0


def test_cost_total_is_the_sum_of_the_buckets(client: Client, tariffed: Server):
    total = client.cost_total(demo.HOUSEHOLD, START, END)
    hours = list(client.costs(demo.HOUSEHOLD, START, END, resolution="1 hour"))
    assert isinstance(total, Cost) and total.timeframe.start == START and total.timeframe.end == END
    assert len(hours) == 72
    assert total.data.import_.cost == pytest.approx(sum(h.data.import_.cost for h in hours), abs=1e-6)
    assert total.data.total == pytest.approx(sum(h.data.total for h in hours), abs=1e-6)
    assert total.data.fixed.cost == pytest.approx(sum(h.data.fixed.cost for h in hours), abs=1e-6)


def test_costs_frame(client: Client, tariffed: Server):
    listed = client.costs(demo.HOUSEHOLD, START, END, resolution="1 hour", time_zone="Europe/Brussels", page_size=10)
    costs = list(listed)
    df = listed.to_pandas()
    assert len(df) == len(costs) == 72
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "Europe/Brussels"
    assert df.index.name == "timeframe.start" and list(df.index) == [c.timeframe.start for c in costs]
    # the CSV's columns in its order, less the index and what no bucket has (gas)
    assert list(df.columns) == [name for name in csv_rows.COST_COLUMNS if name in df.columns]
    assert {"currency", "import.cost", "import.energy", "import.unpricedEnergy", "export.cost", "capacity.cost",
            "fixed.cost", "vat", "total"} <= set(df.columns) and "gas.cost" not in df.columns
    assert df["import.cost"].tolist() == [c.data.import_.cost for c in costs]
    assert df["total"].tolist() == [c.data.total for c in costs] and df["total"].dtype == "float64"
    assert (df["currency"] == "EUR").all() and df["timeframe.end"].dt.tz is not None
    total = client.cost_total(demo.HOUSEHOLD, START, END).to_pandas()
    assert len(total) == 1 and total.index[0] == START and total["total"].iloc[0] == pytest.approx(df["total"].sum())


def test_async_costs_equal_the_sync_ones(client: Client, tariffed: Server, bearer: str):
    async def fetch():
        async with AsyncClient(tariffed.url, bearer) as aclient:
            items = [c async for c in aclient.costs(demo.HOUSEHOLD, START, END, resolution="15 minutes",
                                                    page_size=40)]
            pages = [len(page.items) async for page in aclient.costs(
                demo.HOUSEHOLD, START, END, resolution="15 minutes", page_size=40).pages()]
            frame = await aclient.costs(demo.HOUSEHOLD, START, END, resolution="1 day",
                                        time_zone="Europe/Brussels").to_pandas()
            total = await aclient.cost_total(demo.HOUSEHOLD, START, END)
            return items, pages, frame, total

    items, pages, frame, total = asyncio.run(fetch())
    assert items == list(client.costs(demo.HOUSEHOLD, START, END, resolution="15 minutes"))
    assert len(items) == 288 and pages == [40] * 7 + [8]
    assert str(frame.index.tz) == "Europe/Brussels" and 3 <= len(frame) <= 4
    assert total == client.cost_total(demo.HOUSEHOLD, START, END)


def test_an_entity_without_a_tariff_and_errors(client: Client, tariffed: Server):
    days = list(client.costs(demo.GAS_METER, END - timedelta(days=1), END, resolution="1 day"))
    assert days and all(day.currency is None and day.data == CostData() for day in days)
    assert client.cost_total(demo.GAS_METER, END - timedelta(days=1), END).data == CostData()
    with pytest.raises(ConnectReadingsError) as caught:
        list(client.costs(demo.HOUSEHOLD, START, END, resolution="fortnightly"))
    assert (caught.value.status, caught.value.code) == (400, "InvalidResolution")
    with pytest.raises(ConnectReadingsError) as caught:
        client.cost_total(demo.HOUSEHOLD, END, START)
    assert (caught.value.status, caught.value.code) == (400, "InvalidTimeWindow")
