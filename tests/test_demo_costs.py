"""The demo's prices and contracts (issue 21): the synthetic Belgian day-ahead series `be-dayahead` (its shape,
its intervals, its span), the three entities' tariffs in a demo database, and the household's daily costs
through the real app. The generator is deterministic (seeded): every bound below was read from its output for
these dates and holds with a margin."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.demo import (
    DEMO_PRICES,
    DEMO_PRICES_NAME,
    DEMO_PRICES_UNIT,
    EV_CHARGER,
    GAS_METER,
    HOUSEHOLD,
    MINUTE,
    SECOND,
    day_ahead,
    demo_tariffs,
    load_demo,
)
from connect_readings.domain.prices import PriceInterval
from connect_readings.domain.tariffs import parse_tariff
from connect_readings.storage import open_store
from connect_readings.storage.base import Store

from .conftest import SECRET, ApiClient

BRUSSELS = ZoneInfo("Europe/Brussels")
HOUR = 3600 * SECOND


def local(*wall: int) -> int:
    """µs of a wall time in Brussels."""
    return int(datetime(*wall, tzinfo=BRUSSELS).timestamp()) * SECOND


def wall(t: int) -> datetime:
    return datetime.fromtimestamp(t / SECOND, BRUSSELS)


def by_day(intervals: list[PriceInterval]) -> dict[date, list[tuple[float, float]]]:
    """Local date → [(local hour of the interval's start, EUR/MWh)]."""
    days: dict[date, list[tuple[float, float]]] = defaultdict(list)
    for i in intervals:
        w = wall(i.start)
        days[w.date()].append((w.hour + w.minute / 60, i.price * 1000))
    return days


def between(day: list[tuple[float, float]], lo: float, hi: float) -> list[float]:
    return [price for hour, price in day if lo <= hour < hi]


# -- the shape: a week of January and one of June 2026 (Monday to Sunday), hand-checkable facts -----------------

JANUARY = day_ahead(local(2026, 1, 12), local(2026, 1, 19))
JUNE = day_ahead(local(2026, 6, 15), local(2026, 6, 22))
JANUARY_DAYS = by_day(JANUARY)
JUNE_DAYS = by_day(JUNE)


def every_day(check: Callable[[list[tuple[float, float]]], bool]) -> Callable[[dict], bool]:
    return lambda days: all(check(day) for day in days.values())


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


# (what, which week, the check). Hand-read, EUR/MWh: January weekdays ≈ 80–98 at night, 100–115 at midday,
# 160–175 at the evening peak; the weekend ≈ 15 % lower. June ≈ 27–50 at night, 66–88 at the evening peak,
# a midday mean of −10…+33 (the cloudy Wednesday 17th the highest, about its night's); Sunday June 21 negative
# from 11:45 to 14:15 (11 quarter-hours, down to −26.4).
FACTS: list[tuple[str, dict, Callable[[dict], bool]]] = [
    ("seven local days of 96 quarter-hours", JANUARY_DAYS,
     lambda d: len(d) == 7 and all(len(x) == 96 for x in d.values())),
    ("seven local days of 96 quarter-hours", JUNE_DAYS,
     lambda d: len(d) == 7 and all(len(x) == 96 for x in d.values())),
    ("the evening peak (18–21) above every midday price (11–15)", JANUARY_DAYS,
     every_day(lambda day: max(between(day, 18, 21)) > max(between(day, 11, 15)) + 25)),
    ("the evening peak (18–21) above every midday price (11–15)", JUNE_DAYS,
     every_day(lambda day: max(between(day, 18, 21)) > max(between(day, 11, 15)) + 20)),
    ("the evening peak above the morning peak (07–09), that above the night (00–05)", JANUARY_DAYS,
     every_day(lambda day: max(between(day, 18, 21)) > max(between(day, 7, 9)) > mean(between(day, 0, 5)))),
    ("the evening peak is the day's highest price", JUNE_DAYS,
     every_day(lambda day: max(between(day, 18, 21)) == max(p for _, p in day))),
    ("no negative price in January; a winter base of 60–200", JANUARY_DAYS,
     lambda d: all(60 < p < 200 for day in d.values() for _, p in day)),
    ("January's weekday middays 90–130", JANUARY_DAYS,
     lambda d: all(90 < mean(between(d[date(2026, 1, x)], 11, 15)) < 130 for x in range(12, 17))),
    ("the January weekend lower than its weekdays", JANUARY_DAYS,
     lambda d: max(mean([p for _, p in d[date(2026, 1, x)]]) for x in (17, 18))
     < min(mean([p for _, p in d[date(2026, 1, x)]]) for x in range(12, 17))),
    ("a June night plateau of 25–55", JUNE_DAYS, every_day(lambda day: all(25 < p < 55 for p in between(day, 0, 5)))),
    ("the midday dip: June's midday below its night but on the cloudy Wednesday", JUNE_DAYS,
     lambda d: [x.day for x, day in d.items() if mean(between(day, 11, 15)) >= mean(between(day, 0, 5))] == [17]),
    ("some negative quarter-hours on the sunny Sunday's midday (8 or more, between 11:00 and 15:00)", JUNE_DAYS,
     lambda d: len([h for h, p in d[date(2026, 6, 21)] if p < 0]) >= 8
     and all(11 <= h < 15 for h, p in d[date(2026, 6, 21)] if p < 0)),
    ("negative prices only around midday (10–16)", JUNE_DAYS,
     lambda d: all(10 <= h < 16 for day in d.values() for h, p in day if p < 0)),
    ("June far cheaper than January on the whole", JUNE_DAYS,
     lambda d: mean([p for day in d.values() for _, p in day]) < 0.5 * mean([i.price * 1000 for i in JANUARY])),
]


@pytest.mark.parametrize("what, days, check", FACTS, ids=[f"{i}-{f[0][:40]}" for i, f in enumerate(FACTS)])
def test_the_price_shape(what: str, days: dict, check: Callable[[dict], bool]) -> None:
    assert check(days), what


def test_prices_are_whole_cents_per_mwh_stored_per_kwh() -> None:
    for i in JANUARY + JUNE:
        assert round(i.price * 100_000) == pytest.approx(i.price * 100_000, abs=1e-6)


@pytest.mark.parametrize("first, end, counts, step", [
    ((2025, 9, 29), (2025, 10, 3), [24, 24, 96, 96], None),  # the move to quarter-hours on 2025-10-01
    ((2025, 3, 30), (2025, 3, 31), [23], HOUR),  # spring forward: 23 hours
    ((2025, 10, 26), (2025, 10, 27), [100], 15 * MINUTE),  # fall back: 25 hours of quarter-hours
    ((2026, 3, 29), (2026, 3, 30), [92], 15 * MINUTE),
    ((2025, 1, 1), (2025, 2, 1), [24] * 31, HOUR),
])
def test_hourly_before_2025_10_01_quarter_hours_from_then_on(first: tuple, end: tuple, counts: list[int],
                                                               step: int | None) -> None:
    intervals = day_ahead(local(*first), local(*end))
    days = by_day(intervals)
    assert [len(x) for x in days.values()] == counts
    for i in intervals:
        assert i.end - i.start == (HOUR if i.start < local(2025, 10, 1) else 15 * MINUTE)
        if step is not None:
            assert i.end - i.start == step


@pytest.mark.parametrize("start, end, first, last", [
    (local(2026, 1, 12), local(2026, 1, 19), local(2026, 1, 12), local(2026, 1, 19)),  # local midnights: as is
    (local(2026, 6, 15, 13, 7), local(2026, 6, 17, 0, 0, 1), local(2026, 6, 15), local(2026, 6, 18)),
    (local(2025, 9, 1, 23, 59), local(2025, 11, 1, 1), local(2025, 9, 1), local(2025, 11, 2)),
])
def test_contiguous_from_the_local_midnight_before_to_the_one_after(start: int, end: int, first: int,
                                                                    last: int) -> None:
    intervals = day_ahead(start, end)
    assert intervals[0].start == first and intervals[-1].end == last
    for a, b in pairwise(intervals):
        assert a.end == b.start  # no gap, no overlap
        assert a.start < a.end


def test_deterministic_and_the_same_whatever_the_window() -> None:
    assert day_ahead(local(2026, 6, 15), local(2026, 6, 22)) == JUNE
    assert day_ahead(local(2026, 6, 20), local(2026, 6, 21)) == [i for i in JUNE if wall(i.start).day == 20]


# -- a demo database: the series over its days and tomorrow, the three tariffs, the costs ----------------------

NOW = local(2026, 12, 17, 15, 30)
DAYS = 3


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("demo-costs") / "demo.db")
    store = open_store(path)
    try:
        assert load_demo(store, NOW, days=DAYS) == DAYS * (8640 + 24 + 1440)
    finally:
        store.close()
    return path


@pytest.fixture(scope="module")
def api(database: str) -> Iterator[ApiClient]:
    with ApiClient(create_app(Settings(database=database, jwt_secret=SECRET))) as client:
        yield client


def test_the_demo_database_holds_the_series_over_its_days_and_tomorrow(database: str) -> None:
    store = open_store(database)
    try:
        info, = store.price_series(DEMO_PRICES)
        stored = store.price_intervals(DEMO_PRICES, 0, 2**62)
    finally:
        store.close()
    assert (info.series.name, info.series.unit) == (DEMO_PRICES_NAME, DEMO_PRICES_UNIT)
    # the demo's first local day (Dec 14, 15:30 → its midnight) to the next local midnight after now + 1 day
    assert (info.first, info.last) == (local(2026, 12, 14), local(2026, 12, 19))
    assert info.intervals == 5 * 96 == len(stored)
    assert stored == day_ahead(local(2026, 12, 14), local(2026, 12, 19))


def test_tomorrow_ends_at_the_next_local_midnight_even_at_a_midnight(tmp_path: Path) -> None:
    path = str(tmp_path / "midnight.db")
    store = open_store(path)
    try:
        load_demo(store, local(2026, 6, 20), days=1)
        info, = store.price_series(DEMO_PRICES)
    finally:
        store.close()
    # now + 1 day is Jun 21 00:00 local: the next local midnight after it is Jun 22
    assert (info.first, info.last) == (local(2026, 6, 19), local(2026, 6, 22))


def test_both_backends_store_the_series_and_the_tariffs(store: Store) -> None:
    """The shared `store` fixture: SQLite, and PostgreSQL when a server is up."""
    now = local(2026, 3, 29, 12)  # the spring clock change: a 23-hour local day of 92 quarter-hours
    load_demo(store, now, days=1)
    info, = store.price_series(DEMO_PRICES)
    assert (info.first, info.last, info.intervals) == (local(2026, 3, 28), local(2026, 3, 31), 96 + 92 + 96)
    assert store.price_intervals(DEMO_PRICES, 0, 2**62) == day_ahead(local(2026, 3, 28), local(2026, 3, 31))
    for entity, tariff in demo_tariffs(local(2026, 3, 28)).items():
        assert parse_tariff((store.tariff(entity) or "").encode(), None) == tariff


def test_the_demo_database_holds_the_three_tariffs(database: str) -> None:
    store = open_store(database)
    try:
        documents = {entity: store.tariff(entity) for entity in (HOUSEHOLD, GAS_METER, EV_CHARGER)}
    finally:
        store.close()
    expected = demo_tariffs(local(2026, 12, 14))
    for entity, document in documents.items():
        assert document is not None
        assert parse_tariff(document.encode(), None) == expected[entity]  # a valid PUT body, as written
    household, gas, charger = (json.loads(documents[e] or "")["periods"] for e in (HOUSEHOLD, GAS_METER, EV_CHARGER))
    assert household == [{"from": "2026-12-13T23:00:00Z",
                          "import": {"prices": "be-dayahead", "factor": 1.0, "adder": 0.13},
                          "export": {"prices": "be-dayahead", "factor": 0.9, "adder": -0.015},
                          "capacity": {"perKwYear": 53.0}, "fixed": {"perYear": 100.0}, "vat": 0.06}]
    assert gas[0]["gas"] == {"perKwh": 0.065, "kwhPerM3": 10.5} and gas[0]["vat"] == 0.06
    assert charger == [{"from": "2026-12-13T23:00:00Z", "import": {"total": 0.2738}, "vat": 0.0}]


def costs(api: ApiClient, entity: object, start: str, end: str) -> list[dict]:
    response = api.get(f"/v1/entities/{entity}/costs", params={"start": start, "end": end, "resolution": "1 day"})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_the_households_daily_costs_are_all_priced(api: ApiClient) -> None:
    days = costs(api, HOUSEHOLD, "2026-12-15", "2026-12-17")
    assert [d["timeframe"]["start"] for d in days] == ["2026-12-15T00:00:00+01:00", "2026-12-16T00:00:00+01:00"]
    for d in days:
        data = d["data"]
        imported = data["import"]
        assert imported["energy"] > 5 and imported["unpricedEnergy"] == 0
        # day-ahead (≈ 0.08–0.18 EUR/kWh in December) + 0.13 per kWh
        assert 0.19 < imported["cost"] / imported["energy"] < 0.33
        assert data["export"]["unpricedEnergy"] == 0 and data["export"]["cost"] <= 0
        assert data["capacity"]["cost"] > 0
        assert data["fixed"]["cost"] == pytest.approx(100 / 12 / 31, rel=1e-3)  # a day of December's twelfth
        assert data["vat"] == pytest.approx(0.06 * (imported["cost"] + data["capacity"]["cost"]
                                                    + data["fixed"]["cost"]), abs=1e-6)
        assert data["total"] > imported["cost"]


def test_the_gas_meter_and_the_charger_are_priced_too(api: ApiClient) -> None:
    for d in costs(api, GAS_METER, "2026-12-15", "2026-12-17"):
        gas = d["data"]["gas"]
        assert gas["volume"] > 1 and gas["unpricedVolume"] == 0
        assert gas["cost"] == pytest.approx(gas["volume"] * 0.6825, abs=1e-6)  # 0.065 × 10.5 per m³
        assert d["data"]["vat"] > 0
    for d in costs(api, EV_CHARGER, "2026-12-14", "2026-12-17"):
        imported = d["data"]["import"]
        assert imported["unpricedEnergy"] == 0
        assert imported["cost"] == pytest.approx(imported["energy"] * 0.2738, abs=1e-6)
        assert d["data"]["vat"] == 0


def test_the_series_is_listed_by_the_app(api: ApiClient) -> None:
    response = api.get("/v1/prices")
    assert response.status_code == 200, response.text
    assert DEMO_PRICES in json.dumps(response.json())
