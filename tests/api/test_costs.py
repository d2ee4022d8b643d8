"""GET …/costs and …/costs/total over HTTP, on both backends (docs/semantics.md §15, Costs).

The tariff and the price series are written through the API (PUT …/tariff, PUT /v1/prices/{id}); each expected
cost is computed from `/aggregations` of the same entity (its tier, total and gas values) times the prices, so
a cost is held to the consumption the customer's own endpoint shows. Tolerances: each served value is rounded to
1e-9, so a sum of n of them may differ from the exact sum by n · 5e-10.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connect_readings.wire import csv_rows

from ..conftest import ENTITY, OTHER, ApiClient, make_token

URL = f"/v1/entities/{ENTITY}"
COSTS = f"{URL}/costs"
TOTAL = f"{COSTS}/total"
AGG = f"{URL}/aggregations"
BRUSSELS = ZoneInfo("Europe/Brussels")
WRITER = "readings:read readings:write entities:write tariffs:write"
EPS = 1e-8


# -- set-up: an entity in Brussels, its meter, prices and tariff ---------------------------------------------
@pytest.fixture
def api(client: ApiClient) -> ApiClient:
    """The test client with a token that may also write entities, tariffs and prices; ENTITY registered in
    Europe/Brussels."""
    client.token = make_token(scope=WRITER)
    response = client.put(URL, json={"type": "Meter", "timeZone": "Europe/Brussels"})
    assert response.status_code in (200, 201), response.text
    return client


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local(text: str) -> datetime:
    """A Brussels wall time (the earlier instant when shown twice), as a UTC datetime: arithmetic on it is
    elapsed time (two datetimes of one tzinfo would subtract as wall times)."""
    return datetime.fromisoformat(text).replace(tzinfo=BRUSSELS).astimezone(UTC)


def meter(client: ApiClient, start: datetime, end: datetime, step: timedelta = timedelta(minutes=15),
          export: bool = False, gas: bool = False, entity: uuid.UUID = ENTITY) -> None:
    """Readings every `step` over [start, end] (both ends read): an import register whose consumption varies
    per step and falls in t1 on even UTC hours and in t2 on odd ones; optionally an export register (midday
    hours) and a gas meter."""
    readings: list[dict[str, Any]] = []
    t1 = t2 = out = volume = 0.0
    t, k = start, 0
    while t <= end:
        data: dict[str, Any] = {"positiveActiveEnergy": {"t1": round(t1, 6), "t2": round(t2, 6),
                                                         "total": round(t1 + t2, 6), "unit": "kWh"}}
        if export:
            data["negativeActiveEnergy"] = {"total": round(out, 6), "unit": "kWh"}
        if gas:
            data["positiveGasVolume"] = {"value": round(volume, 6), "unit": "m3"}
        readings.append({"timestamp": iso(t), "data": data})
        step_kwh = 0.05 + 0.01 * ((k * 7) % 11)
        if t.astimezone(UTC).hour % 2 == 0:
            t1 += step_kwh
        else:
            t2 += step_kwh
        if 10 <= t.astimezone(UTC).hour < 15:
            out += 0.2
        volume += 0.01 * (k % 3)
        t, k = t + step, k + 1
    for i in range(0, len(readings), 5000):
        response = client.ingest(entity, readings[i:i + 5000])
        assert response.status_code == 200, response.text


def put_prices(client: ApiClient, start: datetime, prices: list[float | None], step: timedelta = timedelta(hours=1),
               unit: str = "EUR/kWh") -> str:
    """A price series of a fresh id: consecutive intervals of `step` from `start` (None: no interval there)."""
    price_id = f"test-{uuid.uuid4().hex[:12]}"
    data = [{"start": iso(start + k * step), "end": iso(start + (k + 1) * step), "price": p}
            for k, p in enumerate(prices) if p is not None]
    response = client.put(f"/v1/prices/{price_id}", json={"name": "test prices", "unit": unit, "data": data})
    assert response.status_code in (200, 201), response.text
    return price_id


def put_tariff(client: ApiClient, *periods: dict[str, Any], currency: str = "EUR",
               entity: uuid.UUID = ENTITY) -> None:
    response = client.put(f"/v1/entities/{entity}/tariff", json={"currency": currency, "periods": list(periods)})
    assert response.status_code in (200, 201), response.text


def get_all(client: ApiClient, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(path, params={**params, "pageSize": "10000"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["links"]["next"] is None
    return body["data"]


def window(start: datetime, end: datetime, resolution: str, **more: str) -> dict[str, str]:
    return {"start": iso(start), "end": iso(end), "resolution": resolution, **more}


def start_of(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["timeframe"]["start"])


def hour_price(intervals: dict[datetime, float], t: datetime) -> float | None:
    """The price of the hourly interval holding `t` (UTC hour)."""
    return intervals.get(t.astimezone(UTC).replace(minute=0, second=0, microsecond=0))


# -- tier prices: cost = Σ tier energy × price, from /aggregations ------------------------------------------
def test_tier_prices_are_the_aggregations_tiers_times_their_prices(api: ApiClient) -> None:
    start, end = local("2025-03-10T00:00"), local("2025-03-11T00:00")
    meter(api, start, end)
    put_tariff(api, {"from": "2025-01-01T00:00:00+01:00", "import": {"t1": 0.31, "t2": 0.22}})
    for resolution in ("15 minutes", "1 hour", "6 hours", "1 day"):
        q = window(start, end, resolution)
        aggregations, costs = get_all(api, AGG, q), get_all(api, COSTS, q)
        assert [c["timeframe"] for c in costs] == [a["timeframe"] for a in aggregations], resolution
        for a, c in zip(aggregations, costs):
            energy = a["data"]["positiveActiveEnergy"]
            assert c["entityId"] == str(ENTITY) and c["currency"] == "EUR" and c["id"] != a["id"]
            assert set(c["data"]) == {"import", "vat", "total"}  # only what the tariff prices
            assert c["data"]["import"]["energy"] == energy["total"]
            assert c["data"]["import"]["cost"] == pytest.approx(energy["t1"] * 0.31 + energy["t2"] * 0.22, abs=EPS)
            assert c["data"]["import"]["unpricedEnergy"] == pytest.approx(0.0, abs=EPS)
            assert c["data"]["vat"] == 0.0 and c["data"]["total"] == c["data"]["import"]["cost"]


def test_a_tier_without_a_price_is_unpriced_energy(api: ApiClient) -> None:
    start, end = local("2025-03-10T00:00"), local("2025-03-10T12:00")
    meter(api, start, end)
    put_tariff(api, {"from": "2025-01-01T00:00:00+01:00", "import": {"t1": 0.25}})
    q = window(start, end, "1 hour")
    for a, c in zip(get_all(api, AGG, q), get_all(api, COSTS, q), strict=True):
        energy = a["data"]["positiveActiveEnergy"]
        assert c["data"]["import"]["cost"] == pytest.approx(energy["t1"] * 0.25, abs=EPS)
        assert c["data"]["import"]["unpricedEnergy"] == pytest.approx(energy["t2"], abs=EPS)
        assert c["data"]["import"]["energy"] == energy["total"]


# -- dynamic hourly prices ------------------------------------------------------------------------------------
def dynamic_case(api: ApiClient, start: datetime, end: datetime, price: Callable[[int], float | None],
                 factor: float = 1.0, adder: float = 0.0) -> dict[datetime, float]:
    """Readings every 15 minutes over [start, end], hourly prices `price(k)` for its k-th hour, a tariff
    pricing import by them (× factor + adder); returns the unit price per UTC hour."""
    meter(api, start, end)
    hours = int((end - start) / timedelta(hours=1))
    series = [price(k) for k in range(hours)]
    price_id = put_prices(api, start, series)
    put_tariff(api, {"from": "2025-01-01T00:00:00+01:00",
                     "import": {"prices": price_id, "factor": factor, "adder": adder}})
    return {(start + k * timedelta(hours=1)).astimezone(UTC): factor * p + adder
            for k, p in enumerate(series) if p is not None}


def expected_from_quarters(api: ApiClient, start: datetime, end: datetime, unit: dict[datetime, float],
                           costs: list[dict[str, Any]]) -> None:
    """Each cost bucket = Σ of its quarter-hours' /aggregations × the price of their hour."""
    quarters = [(start_of(q), q["data"]["positiveActiveEnergy"]["total"])
                for q in get_all(api, AGG, window(start, end, "15 minutes"))]
    for c in costs:
        b0, b1 = start_of(c), datetime.fromisoformat(c["timeframe"]["end"])
        inside = [(t, kwh, hour_price(unit, t)) for t, kwh in quarters if b0 <= t < b1]
        cost = sum(kwh * price for _, kwh, price in inside if price is not None)
        unpriced = sum(kwh for _, kwh, price in inside if price is None)
        assert c["data"]["import"]["cost"] == pytest.approx(cost, abs=EPS * len(inside)), c["timeframe"]
        assert c["data"]["import"]["unpricedEnergy"] == pytest.approx(unpriced, abs=EPS * len(inside))
        assert c["data"]["import"]["energy"] == pytest.approx(sum(kwh for _, kwh, _ in inside),
                                                              abs=EPS * len(inside))


@pytest.mark.parametrize("resolution, buckets", [("15 minutes", 192), ("1 hour", 48), ("1 day", 2)])
def test_dynamic_hourly_prices_in_brussels(api: ApiClient, resolution: str, buckets: int) -> None:
    start, end = local("2025-03-10T00:00"), local("2025-03-12T00:00")
    unit = dynamic_case(api, start, end, lambda k: round(0.08 + 0.013 * ((k * 5) % 17), 4), 1.1, 0.012)
    costs = get_all(api, COSTS, window(start, end, resolution))
    assert len(costs) == buckets
    expected_from_quarters(api, start, end, unit, costs)
    if resolution == "1 day":
        hourly = get_all(api, COSTS, window(start, end, "1 hour"))
        for day in costs:
            day_end = datetime.fromisoformat(day["timeframe"]["end"])
            hours = [h for h in hourly if start_of(day) <= start_of(h) < day_end]
            assert len(hours) == 24
            assert day["data"]["import"]["cost"] == pytest.approx(sum(h["data"]["import"]["cost"] for h in hours),
                                                                  abs=EPS * 24)


def test_a_missing_price_hour_is_unpriced_energy(api: ApiClient) -> None:
    start, end = local("2025-03-10T00:00"), local("2025-03-11T00:00")
    unit = dynamic_case(api, start, end, lambda k: None if k == 10 else 0.1 + 0.01 * k)
    hourly = get_all(api, COSTS, window(start, end, "1 hour"))
    aggregations = get_all(api, AGG, window(start, end, "1 hour"))
    gap = next(h for h in hourly if start_of(h) == local("2025-03-10T10:00"))
    gap_energy = next(a for a in aggregations if start_of(a) == local("2025-03-10T10:00"))[
        "data"]["positiveActiveEnergy"]["total"]
    assert gap["data"]["import"] == {"energy": gap_energy, "cost": 0.0, "unpricedEnergy": gap_energy}
    assert all(h["data"]["import"]["unpricedEnergy"] == 0.0 for h in hourly if h is not gap)
    [day] = get_all(api, COSTS, window(start, end, "1 day"))
    assert day["data"]["import"]["unpricedEnergy"] == pytest.approx(gap_energy, abs=EPS)
    expected_from_quarters(api, start, end, unit, [day, *hourly])


def test_negative_prices(api: ApiClient) -> None:
    start, end = local("2025-05-11T00:00"), local("2025-05-12T00:00")
    unit = dynamic_case(api, start, end, lambda k: -0.04 - 0.01 * (k % 3) if 10 <= k < 16 else 0.12)
    hourly = get_all(api, COSTS, window(start, end, "1 hour"))
    negative = [h for h in hourly if 10 <= start_of(h).astimezone(BRUSSELS).hour < 16]
    assert len(negative) == 6 and all(h["data"]["import"]["cost"] < 0 for h in negative)
    assert all(h["data"]["total"] == h["data"]["import"]["cost"] for h in hourly)  # (no VAT)
    expected_from_quarters(api, start, end, unit, hourly)


def test_a_late_price_correction_is_priced_at_once(api: ApiClient) -> None:
    """The same page asked before and after a PUT that corrects one hour: the second answer prices the hour
    anew (the use case keeps recent price windows in memory, keyed by the series' revision)."""
    start, end = local("2025-03-10T00:00"), local("2025-03-10T04:00")
    meter(api, start, end)
    price_id = put_prices(api, start, [0.1, 0.2, 0.3, 0.4])
    put_tariff(api, {"from": "2025-01-01T00:00:00+01:00", "import": {"prices": price_id}})
    before = get_all(api, COSTS, window(start, end, "1 hour"))
    assert before == get_all(api, COSTS, window(start, end, "1 hour"))
    hour = start + timedelta(hours=2)
    response = api.put(f"/v1/prices/{price_id}", json={"unit": "EUR/kWh", "data": [
        {"start": iso(hour), "end": iso(hour + timedelta(hours=1)), "price": 0.9}]})
    assert response.status_code == 200, response.text
    after = get_all(api, COSTS, window(start, end, "1 hour"))
    assert [a["data"] for a in after if start_of(a) != hour] == [b["data"] for b in before if start_of(b) != hour]
    [old], [new] = ([item["data"]["import"] for item in items if start_of(item) == hour] for items in (before, after))
    assert new["energy"] == old["energy"] > 0
    assert new["cost"] == pytest.approx(old["cost"] * 3, abs=EPS)  # 0.9 instead of 0.3


def test_prices_in_eur_per_mwh_are_per_kwh_divided_by_1000(api: ApiClient) -> None:
    start, end = local("2025-03-10T00:00"), local("2025-03-10T06:00")
    meter(api, start, end)
    price_id = put_prices(api, start, [85.2, -3.5, 120.0, 0.0, 64.71, 99.99], unit="EUR/MWh")
    put_tariff(api, {"from": "2025-01-01T00:00:00+01:00", "import": {"prices": price_id}})
    unit = {(start + k * timedelta(hours=1)).astimezone(UTC): p / 1000
            for k, p in enumerate([85.2, -3.5, 120.0, 0.0, 64.71, 99.99])}
    expected_from_quarters(api, start, end, unit, get_all(api, COSTS, window(start, end, "1 hour")))


def test_the_autumn_clock_change_day(api: ApiClient) -> None:
    """2025-10-26 in Brussels is 25 hours long: 25 hourly prices, 100 quarter-hours, one day bucket."""
    start, end = local("2025-10-26T00:00"), local("2025-10-27T00:00")
    assert end - start == timedelta(hours=25)
    unit = dynamic_case(api, start, end, lambda k: round(0.05 + 0.007 * k, 4))
    assert len(unit) == 25
    [day] = get_all(api, COSTS, window(start, end, "1 day"))
    assert day["timeframe"] == {"start": "2025-10-26T00:00:00+02:00", "end": "2025-10-27T00:00:00+01:00"}
    hourly = get_all(api, COSTS, window(start, end, "1 hour"))
    quarters = get_all(api, COSTS, window(start, end, "15 minutes"))
    assert len(hourly) == 25 and len(quarters) == 100
    assert [h["timeframe"]["start"][11:] for h in hourly[2:4]] == ["02:00:00+02:00", "02:00:00+01:00"]
    expected_from_quarters(api, start, end, unit, [day, *hourly, *quarters])
    for finer in (hourly, quarters):
        assert day["data"]["import"]["cost"] == pytest.approx(sum(b["data"]["import"]["cost"] for b in finer),
                                                              abs=EPS * len(finer))


@pytest.mark.parametrize(("zone", "day", "length", "quarters"), [
    ("Europe/Brussels", "2025-03-30", timedelta(hours=23), 92),  # spring forward: 02:00 → 03:00
    ("Australia/Lord_Howe", "2025-04-06", timedelta(hours=24, minutes=30), 98),  # back by 30 minutes at 02:00
    ("Australia/Lord_Howe", "2025-10-05", timedelta(hours=23, minutes=30), 94),  # forward by 30 minutes
])
def test_clock_change_days_read_through_the_quarter_hour_edges(api: ApiClient, zone: str, day: str,
                                                                length: timedelta, quarters: int) -> None:
    """Days of a spring change and of a 30-minute change, asked in their zone: UTC-hourly prices cut the local
    buckets (in Lord Howe every local hour edge after a change is half past a UTC hour), each cut read from the
    stored quarter-hour edges; every bucket's cost is its quarter-hours' /aggregations × their hour's price, and
    the day is the sum of its hours and of its quarter-hours (a last half hour without a price is unpriced)."""
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(day).replace(tzinfo=tz).astimezone(UTC)
    end = (datetime.fromisoformat(day) + timedelta(days=1)).replace(tzinfo=tz).astimezone(UTC)
    assert end - start == length
    on_the_hour = start.replace(minute=0)  # prices on UTC hours (+10:30's midnight is half past one)
    unit = dynamic_case(api, on_the_hour, end, lambda k: round(0.04 + 0.009 * ((k * 7) % 13), 4))
    asked = {"timeZone": zone}
    [whole] = get_all(api, COSTS, window(start, end, "1 day", **asked))
    hourly = get_all(api, COSTS, window(start, end, "1 hour", **asked))
    quarter_hours = get_all(api, COSTS, window(start, end, "15 minutes", **asked))
    assert len(quarter_hours) == quarters
    expected_from_quarters(api, start, end, unit, [whole, *hourly, *quarter_hours])
    for finer in (hourly, quarter_hours):
        assert whole["data"]["import"]["cost"] == pytest.approx(sum(b["data"]["import"]["cost"] for b in finer),
                                                                abs=EPS * len(finer))


# -- tariff changes, capacity, fixed, VAT, export, gas -------------------------------------------------------
def test_a_tariff_change_at_local_midnight_inside_a_month_bucket(api: ApiClient) -> None:
    start, end = local("2025-01-01T00:00"), local("2025-02-01T00:00")
    meter(api, start, end, step=timedelta(hours=1))
    put_tariff(api, {"from": "2024-12-01T00:00:00+01:00", "import": {"total": 0.30}},
               {"from": "2025-01-16T00:00:00+01:00", "import": {"total": 0.40}})
    [month] = get_all(api, COSTS, window(start, end, "1 month"))
    days = get_all(api, AGG, window(start, end, "1 day"))
    assert len(days) == 31
    before = sum(d["data"]["positiveActiveEnergy"]["total"] for d in days if start_of(d) < local("2025-01-16T00:00"))
    after = sum(d["data"]["positiveActiveEnergy"]["total"] for d in days if start_of(d) >= local("2025-01-16T00:00"))
    assert month["data"]["import"]["cost"] == pytest.approx(before * 0.30 + after * 0.40, abs=EPS * 31)
    assert month["data"]["import"]["energy"] == pytest.approx(before + after, abs=EPS * 31)
    daily = get_all(api, COSTS, window(start, end, "1 day"))
    assert [d["data"]["import"]["cost"] for d in daily] == pytest.approx(
        [d["data"]["positiveActiveEnergy"]["total"] * (0.30 if start_of(d) < local("2025-01-16T00:00") else 0.40)
         for d in days], abs=EPS)


def test_capacity_and_fixed_are_pro_rata_and_a_months_quarter_hours_add_up_to_it(api: ApiClient) -> None:
    start, end = local("2025-02-01T00:00"), local("2025-03-01T00:00")
    meter(api, start, end)
    put_tariff(api, {"from": "2025-01-01T00:00:00+01:00", "import": {"total": 0.3},
                     "capacity": {"perKwYear": 53.26}, "fixed": {"perYear": 120.0}})
    [month] = api.get(f"{URL}/statistics/capacity-tariff", params={"start": iso(start), "end": iso(end)}).json()["data"]
    capacity = month["rollingMean"] * 53.26 / 12
    quarters = get_all(api, COSTS, window(start, end, "15 minutes"))
    assert len(quarters) == 28 * 96
    assert sum(q["data"]["fixed"]["cost"] for q in quarters) == pytest.approx(10.0, abs=1e-6)
    assert sum(q["data"]["capacity"]["cost"] for q in quarters) == pytest.approx(capacity, abs=1e-6)
    assert all(abs(q["data"]["fixed"]["cost"] - 10.0 / 2688) < 1.5e-9 for q in quarters)
    [whole] = get_all(api, COSTS, window(start, end, "1 month"))
    total = api.get(TOTAL, params={"start": iso(start), "end": iso(end)}).json()
    for item in (whole, total):
        assert item["data"]["fixed"]["cost"] == 10.0
        assert item["data"]["capacity"]["cost"] == pytest.approx(capacity, abs=1e-9)
    # a window of 7 days: 7/28 of the month
    week = api.get(TOTAL, params={"start": iso(start), "end": iso(start + timedelta(days=7))}).json()
    assert week["data"]["fixed"]["cost"] == pytest.approx(2.5, abs=1e-9)
    assert week["data"]["capacity"]["cost"] == pytest.approx(capacity / 4, abs=1e-9)


def test_capacity_and_fixed_months_are_the_entitys_whatever_the_requests_zone(api: ApiClient) -> None:
    """A UTC month bucket of a Brussels entity: 671 of February's 672 hours and 1 of March's 743 (its clocks
    go forward on the 30th)."""
    meter(api, local("2025-01-31T00:00"), local("2025-03-02T00:00"), step=timedelta(hours=1))
    put_tariff(api, {"from": "2025-01-01T00:00:00+01:00", "fixed": {"perYear": 120.0}})
    [february] = get_all(api, COSTS, {"start": "2025-02-01T00:00:00Z", "end": "2025-03-01T00:00:00Z",
                                      "resolution": "1 month", "timeZone": "UTC"})
    assert february["timeframe"] == {"start": "2025-02-01T00:00:00Z", "end": "2025-03-01T00:00:00Z"}
    assert february["data"]["fixed"]["cost"] == pytest.approx(10.0 * 671 / 672 + 10.0 / 743, abs=2e-9)


def test_vat_export_and_gas(api: ApiClient) -> None:
    start, end = local("2025-06-02T00:00"), local("2025-06-03T00:00")
    meter(api, start, end, export=True, gas=True)
    put_tariff(api, {"from": "2025-01-01T00:00:00+02:00", "import": {"total": 0.27}, "export": {"total": 0.04},
                     "gas": {"perKwh": 0.07, "kwhPerM3": 10.35}, "fixed": {"perYear": 36.5}, "vat": 0.06})
    q = window(start, end, "1 hour")
    aggregations, costs = get_all(api, AGG, q), get_all(api, COSTS, q)
    assert len(costs) == len(aggregations) == 24
    for a, c in zip(aggregations, costs):
        data = c["data"]
        assert list(data) == ["import", "export", "gas", "fixed", "vat", "total"]
        imported = a["data"]["positiveActiveEnergy"]["total"]
        exported = a["data"]["negativeActiveEnergy"]["total"]
        volume = a["data"]["positiveGasVolume"]["value"]
        assert data["import"] == {"energy": imported, "cost": pytest.approx(imported * 0.27, abs=EPS),
                                  "unpricedEnergy": 0.0}
        assert data["export"] == {"energy": exported, "cost": pytest.approx(-exported * 0.04, abs=EPS),
                                  "unpricedEnergy": 0.0}
        assert data["gas"] == {"volume": volume, "cost": pytest.approx(volume * 0.7245, abs=EPS), "unpricedVolume": 0.0}
        assert data["fixed"]["cost"] == pytest.approx(36.5 / 12 / (30 * 24), abs=2e-9)
        # VAT on import, gas and fixed, never on export
        base = data["import"]["cost"] + data["gas"]["cost"] + data["fixed"]["cost"]
        assert data["vat"] == pytest.approx(0.06 * base, abs=EPS)
        assert data["total"] == pytest.approx(base + data["export"]["cost"] + data["vat"], abs=EPS)
    assert any(c["data"]["export"]["cost"] < 0 for c in costs)


def test_an_entity_without_a_tariff_answers_empty_data(api: ApiClient) -> None:
    start, end = local("2025-03-10T00:00"), local("2025-03-10T06:00")
    entity = uuid.uuid4()
    meter(api, start, end, entity=entity)
    body = api.get(f"/v1/entities/{entity}/costs", params=window(start, end, "1 hour")).json()
    assert len(body["data"]) == 6
    assert all(item["data"] == {} and item["currency"] is None for item in body["data"])
    total = api.get(f"/v1/entities/{entity}/costs/total", params={"start": iso(start), "end": iso(end)}).json()
    assert total["data"] == {} and total["currency"] is None


def test_an_empty_tariff_prices_nothing(api: ApiClient) -> None:
    start, end = local("2025-03-10T00:00"), local("2025-03-10T03:00")
    meter(api, start, end)
    put_tariff(api)
    assert [item["data"] for item in get_all(api, COSTS, window(start, end, "1 hour"))] == [{}, {}, {}]


def test_buckets_without_readings_are_skipped_fixed_costs_too(api: ApiClient) -> None:
    """Coverage is [first reading, last reading] (semantics §5): outside it no bucket, so no fixed cost."""
    start = local("2025-03-10T00:00")
    meter(api, start + timedelta(hours=2), start + timedelta(hours=4, minutes=30))
    put_tariff(api, {"from": "2025-01-01T00:00:00+01:00", "import": {"total": 0.3}, "fixed": {"perYear": 120.0}})
    q = window(start, start + timedelta(hours=8), "1 hour")
    costs = get_all(api, COSTS, q)
    assert [c["timeframe"]["start"] for c in costs] == [
        "2025-03-10T02:00:00+01:00", "2025-03-10T03:00:00+01:00", "2025-03-10T04:00:00+01:00"]
    assert [c["timeframe"] for c in costs] == [a["timeframe"] for a in get_all(api, AGG, q)]
    hour = 10.0 / (31 * 24 - 1)  # March in Brussels: 743 hours
    assert [c["data"]["fixed"]["cost"] for c in costs] == pytest.approx([hour, hour, hour], abs=2e-9)
    # (a partly covered bucket is shown with the fixed cost of its whole time, as its timeframe says)
    total = api.get(TOTAL, params={"start": q["start"], "end": q["end"]}).json()
    assert total["data"]["fixed"]["cost"] == pytest.approx(8 * hour, abs=2e-9)


# -- paging, CSV, total -----------------------------------------------------------------------------------
def priced_day(api: ApiClient) -> tuple[datetime, datetime]:
    """A day of readings (import and export) priced by every kind of component but gas."""
    start, end = local("2025-03-10T00:00"), local("2025-03-11T00:00")
    meter(api, start, end, export=True)
    put_tariff(api, {"from": "2025-01-01T00:00:00+01:00",
                     "import": {"prices": put_prices(api, start, [0.1 + 0.01 * (k % 5) for k in range(24)])},
                     "export": {"total": 0.03}, "capacity": {"perKwYear": 40.0}, "fixed": {"perYear": 90.0},
                     "vat": 0.21})
    return start, end


def test_pages_concatenate_to_one_big_page(api: ApiClient) -> None:
    start, end = priced_day(api)
    q = window(start, end, "15 minutes")
    big = get_all(api, COSTS, q)
    assert len(big) == 96
    collected, response = [], api.get(COSTS, params={**q, "pageSize": 7})
    while True:
        body = response.json()
        assert body["meta"]["pageSize"] == 7
        collected.extend(body["data"])
        if body["links"]["next"] is None:
            break
        assert body["meta"]["continuationToken"] in body["links"]["next"] and len(body["data"]) == 7
        response = api.get(body["links"]["next"])
    assert collected == big
    # a token of /aggregations does not continue /costs, nor one of another window
    token = api.get(AGG, params={**q, "pageSize": 2}).json()["meta"]["continuationToken"]
    response = api.get(COSTS, params={**q, "continuationToken": token})
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "InvalidContinuationToken"
    token = api.get(COSTS, params={**q, "pageSize": 2}).json()["meta"]["continuationToken"]
    response = api.get(COSTS, params={**q, "resolution": "1 hour", "continuationToken": token})
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "InvalidContinuationToken"


def test_ids_are_deterministic_and_not_the_aggregations(api: ApiClient) -> None:
    start, end = priced_day(api)
    q = window(start, end, "1 hour")
    first, again = get_all(api, COSTS, q), get_all(api, COSTS, {**q, "resolution": "PT1H"})
    assert [c["id"] for c in first] == [c["id"] for c in again] and len({c["id"] for c in first}) == 24
    assert not {c["id"] for c in first} & {a["id"] for a in get_all(api, AGG, q)}
    for item in first:
        uuid.UUID(item["id"])


def test_csv_has_one_column_per_field_and_the_json_values(api: ApiClient) -> None:
    start, end = priced_day(api)
    q = window(start, end, "1 hour")
    items = get_all(api, COSTS, q)
    response = api.get(COSTS, params={**q, "format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="{ENTITY}_costs-1h_20250309T230000Z_20250310T230000Z.csv"'
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == csv_rows.COST_COLUMNS
    assert rows[0][4:] == ["currency", "import.energy", "import.cost", "import.unpricedEnergy", "export.energy",
                           "export.cost", "export.unpricedEnergy", "gas.volume", "gas.cost", "gas.unpricedVolume",
                           "capacity.cost", "fixed.cost", "vat", "total"]
    assert rows[1:] == [csv_rows.cost_row(item) for item in items]
    column = {name: i for i, name in enumerate(rows[0])}
    for row, item in zip(rows[1:], items):
        assert row[column["currency"]] == "EUR" and row[column["gas.cost"]] == ""
        for name in ("import.cost", "import.energy", "export.cost", "capacity.cost", "fixed.cost", "vat", "total"):
            part, _, field = name.partition(".")
            value = item["data"][part][field] if field else item["data"][part]
            assert float(row[column[name]]) == value
    accepted = api.get(COSTS, params=q, headers={"Accept": "text/csv"})
    assert accepted.text == response.text
    refused = api.get(COSTS, params={**q, "format": "csv", "pageSize": "5"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "InvalidParameter"
    decade = {"start": "2015-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z", "resolution": "15 minutes"}
    refused = api.get(COSTS, params={**decade, "format": "csv"})  # 350,640 buckets: over the 200,000 rows
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "TooManyRows"


def test_total_is_the_sum_of_the_windows_buckets(api: ApiClient) -> None:
    start, end = priced_day(api)
    a, b = start + timedelta(minutes=7), end - timedelta(minutes=52)
    buckets = get_all(api, COSTS, window(a, b, "1 hour"))
    total = api.get(TOTAL, params={"start": iso(a), "end": iso(b)}).json()
    assert total["timeframe"] == {"start": "2025-03-10T00:07:00+01:00", "end": "2025-03-10T23:08:00+01:00"}
    assert total["currency"] == "EUR" and total["entityId"] == str(ENTITY)
    uuid.UUID(total["id"])
    assert set(total["data"]) == {"import", "export", "capacity", "fixed", "vat", "total"}
    for part, fields in (("import", ("energy", "cost", "unpricedEnergy")), ("export", ("energy", "cost")),
                         ("capacity", ("cost",)), ("fixed", ("cost",))):
        for field in fields:
            assert total["data"][part][field] == pytest.approx(sum(x["data"][part][field] for x in buckets),
                                                               abs=EPS * len(buckets)), (part, field)
    for field in ("vat", "total"):
        assert total["data"][field] == pytest.approx(sum(x["data"][field] for x in buckets), abs=EPS * len(buckets))
    utc = api.get(TOTAL, params={"start": iso(a), "end": iso(b), "timeZone": "UTC"}).json()
    assert utc["data"] == total["data"] and utc["timeframe"]["start"] == "2025-03-09T23:07:00Z"
    empty = api.get(TOTAL, params={"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"}).json()
    assert empty["data"] == {}


# -- errors and access ------------------------------------------------------------------------------------
SEED = {"start": "2025-03-10T00:00:00+01:00", "end": "2025-03-11T00:00:00+01:00", "resolution": "1 hour"}


@pytest.mark.parametrize(("params", "code"), [
    ({"resolution": "1 month 3 days"}, "MixedMonthInterval"),
    ({"resolution": "0 minutes"}, "NonPositiveResolution"),
    ({"resolution": "1 quarter"}, "InvalidResolution"),
    ({"resolution": None}, "MissingParameter"),
    ({"resolution": ""}, "InvalidResolution"),
    ({"start": None}, "MissingParameter"),
    ({"start": ""}, "InvalidDateTime"),
    ({"start": "27/05/2024"}, "InvalidDateTime"),
    ({"end": "2025-03-09T00:00:00Z"}, "InvalidTimeWindow"),
    ({"end": SEED["start"]}, "InvalidTimeWindow"),
    ({"pageSize": "0"}, "InvalidPageSize"),
    ({"pageSize": "10001"}, "InvalidPageSize"),
    ({"timeZone": "Mars/Olympus"}, "UnknownTimeZone"),
    ({"continuationToken": "x.y"}, "InvalidContinuationToken"),
    ({"format": "xml"}, "InvalidFormat"),
])
def test_bad_parameters_are_400_as_for_aggregations(api: ApiClient, params: dict[str, Any], code: str) -> None:
    query = {k: v for k, v in {**SEED, **params}.items() if v is not None}
    for path in (COSTS, AGG):
        response = api.get(path, params=query)
        assert response.status_code == 400 and response.json()["errors"][0]["code"] == code, path


@pytest.mark.parametrize(("params", "code"), [
    ({"end": SEED["end"]}, "MissingParameter"),
    ({"start": SEED["start"], "end": ""}, "InvalidDateTime"),
    ({"start": SEED["end"], "end": SEED["start"]}, "InvalidTimeWindow"),
    ({"start": SEED["start"], "timeZone": ""}, "UnknownTimeZone"),
    ({"start": SEED["start"], "format": "csv"}, "InvalidFormat"),
])
def test_bad_parameters_of_the_total(api: ApiClient, params: dict[str, str], code: str) -> None:
    response = api.get(TOTAL, params=params)
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == code


def test_unknown_or_invisible_entity_is_404_and_readers_may_read(api: ApiClient) -> None:
    meter(api, local("2025-03-10T00:00"), local("2025-03-10T02:00"))
    for path in (f"/v1/entities/{uuid.uuid4()}/costs", f"/v1/entities/{uuid.uuid4()}/costs/total",
                 "/v1/entities/not-a-uuid/costs"):
        response = api.get(path, params=SEED)
        assert response.status_code == 404 and response.json()["errors"][0]["code"] == "EntityNotFound"
    api.token = make_token(entities=[str(OTHER)], scope="readings:read")
    assert api.get(COSTS, params=SEED).status_code == 404
    api.token = make_token(scope="readings:read")
    assert api.get(COSTS, params=SEED).status_code == 200 and api.get(TOTAL, params=SEED).status_code == 200
    api.token = make_token(scope="readings:write")
    response = api.get(COSTS, params=SEED)
    assert response.status_code == 403 and response.json()["errors"][0]["code"] == "Forbidden"
