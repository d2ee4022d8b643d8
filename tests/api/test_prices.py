"""Price series (docs/semantics.md §15) over the real app, on both backends: PUT then GET round trips, each
interval replacing what it overlaps, units, paging, every bad input a 400 that stores nothing, scopes, 404s;
and `connect-readings import --prices` of the ENTSO-E fixtures into a real SQLite database."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connect_readings.api.app import create_app
from connect_readings.cli import main
from connect_readings.config import Settings
from connect_readings.domain.timefmt import format_datetime
from connect_readings.ingest.entsoe import parse_entsoe
from connect_readings.storage.sqlite import SQLiteStore

from ..conftest import SECRET, ApiClient, make_token

WRITER = "readings:read tariffs:write"
URL = "/v1/prices/be-dayahead"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "entsoe"


@pytest.fixture
def admin(client: ApiClient) -> ApiClient:
    client.token = make_token(scope=WRITER)
    return client


def at(minute: int) -> str:
    """2024-01-01 00:00 UTC + `minute` minutes."""
    return f"2024-01-{1 + minute // 1440:02d}T{minute % 1440 // 60:02d}:{minute % 60:02d}:00Z"


def iv(start: int, end: int, price: float) -> dict[str, Any]:
    return {"start": at(start), "end": at(end), "price": price}


def put(client: ApiClient, data: list[dict[str, Any]], unit: str = "EUR/kWh", url: str = URL, **more: Any) -> Any:
    return client.put(url, json={"unit": unit, "data": data, **more})


def stored(client: ApiClient, url: str = URL, **query: Any) -> list[tuple[str, str, float]]:
    """Every interval of the series, following links.next."""
    found: list[tuple[str, str, float]] = []
    params: dict[str, Any] = {"pageSize": 10000, **query}
    while True:
        response = client.get(url, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        found += [(item["start"], item["end"], item["price"]) for item in body["data"]]
        if body["links"]["next"] is None:
            return found
        params["continuationToken"] = body["meta"]["continuationToken"]


# (stored, written, the series after): a row per rule of "an interval replaces whatever it overlaps"
REPLACEMENTS: list[tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[int, int, float]]]] = [
    ([iv(0, 60, 1.0)], [iv(15, 30, 9.0)], [(0, 15, 1.0), (15, 30, 9.0), (30, 60, 1.0)]),
    ([iv(0, 60, 1.0), iv(60, 120, 2.0)], [iv(30, 90, 9.0)], [(0, 30, 1.0), (30, 90, 9.0), (90, 120, 2.0)]),
    ([iv(0, 60, 1.0), iv(60, 120, 2.0)], [iv(0, 120, 5.0)], [(0, 120, 5.0)]),
    ([iv(0, 60, 1.0)], [iv(60, 120, 2.0)], [(0, 60, 1.0), (60, 120, 2.0)]),  # adjacent: nothing replaced
    ([iv(60, 120, 1.0)], [iv(0, 180, 2.0)], [(0, 180, 2.0)]),  # covers it and more
    ([iv(0, 60, 1.0)], [iv(0, 60, 1.5)], [(0, 60, 1.5)]),  # the same interval, corrected
    # a gap between two new intervals keeps what is stored there
    ([iv(0, 180, 1.0)], [iv(0, 30, 2.0), iv(150, 180, 3.0)], [(0, 30, 2.0), (30, 150, 1.0), (150, 180, 3.0)]),
    # hours replaced by quarter-hours, partly
    ([iv(0, 60, 1.0), iv(60, 120, 2.0)], [iv(45, 60, 7.0), iv(60, 75, 8.0)],
     [(0, 45, 1.0), (45, 60, 7.0), (60, 75, 8.0), (75, 120, 2.0)]),
    # a late correction replacing a whole day of quarter-hours by hours
    ([iv(15 * q, 15 * q + 15, float(q)) for q in range(96)], [iv(60 * h, 60 * h + 60, -h / 10) for h in range(24)],
     [(60 * h, 60 * h + 60, -h / 10) for h in range(24)]),
]


@pytest.mark.parametrize("first, second, expected", REPLACEMENTS)
def test_an_interval_replaces_what_it_overlaps(admin: ApiClient, first: list[dict[str, Any]],
                                               second: list[dict[str, Any]],
                                               expected: list[tuple[int, int, float]]) -> None:
    assert put(admin, first).status_code == 201
    response = put(admin, second)
    assert response.status_code == 200, response.text
    assert response.json()["intervals"] == len(expected)
    assert stored(admin) == [(at(s), at(e), p) for s, e, p in expected]


def test_put_then_get_round_trip(admin: ApiClient) -> None:
    response = put(admin, [iv(60, 120, 0.2), iv(0, 60, -0.05)], name="Belgian day-ahead")
    assert response.status_code == 201
    assert response.json() == {"priceId": "be-dayahead", "name": "Belgian day-ahead", "unit": "EUR/kWh",
                               "currency": "EUR", "intervals": 2, "first": at(0), "last": at(120)}
    assert stored(admin) == [(at(0), at(60), -0.05), (at(60), at(120), 0.2)]  # negative prices are valid
    listed = admin.get("/v1/prices").json()["data"]
    assert listed == [response.json()]
    # in the request's zone's offsets; a name left out keeps the stored one
    again = put(admin, [], url=URL + "?timeZone=Europe/Brussels")
    assert again.status_code == 200
    assert again.json()["name"] == "Belgian day-ahead" and again.json()["first"] == "2024-01-01T01:00:00+01:00"
    assert stored(admin, timeZone="Europe/Brussels")[0] == ("2024-01-01T01:00:00+01:00", "2024-01-01T02:00:00+01:00",
                                                            -0.05)


@pytest.mark.parametrize("unit, price, per_kwh", [
    ("EUR/MWh", 85.2, 0.0852), ("EUR/MWh", -0.01, -1e-05), ("EUR/MWh", 1000, 1.0), ("EUR/kWh", 0.25, 0.25),
    ("EUR/MWh", 0, 0.0),
])
def test_prices_are_stored_per_kwh(admin: ApiClient, unit: str, price: float, per_kwh: float) -> None:
    response = put(admin, [iv(0, 60, price)], unit=unit)
    assert response.status_code == 201 and response.json()["unit"] == unit
    assert stored(admin) == [(at(0), at(60), per_kwh)]


def test_wall_times_in_the_request_zone(admin: ApiClient) -> None:
    body = [{"start": "2024-01-01T01:00:00", "end": "2024-01-01T02:00:00", "price": 1.0}]
    assert put(admin, body, url=URL + "?timeZone=Europe/Brussels").status_code == 201
    assert stored(admin) == [(at(0), at(60), 1.0)]


def test_paging_through_a_series(admin: ApiClient) -> None:
    assert put(admin, [iv(15 * q, 15 * q + 15, q / 100) for q in range(96)]).status_code == 201
    everything = stored(admin)
    assert len(everything) == 96
    pages = []
    params: dict[str, Any] = {"pageSize": 7}
    while True:
        body = admin.get(URL, params=params).json()
        assert len(body["data"]) <= 7 and body["meta"]["pageSize"] == 7
        pages.append(body["data"])
        if body["links"]["next"] is None:
            break
        assert "continuationToken=" in body["links"]["next"]
        params["continuationToken"] = body["meta"]["continuationToken"]
    assert len(pages) == 14
    assert [(i["start"], i["end"], i["price"]) for page in pages for i in page] == everything
    # a window: the intervals overlapping [start, end), the first may start before start
    window = stored(admin, start=at(20), end=at(61), pageSize=2)
    assert [w[0] for w in window] == [at(15), at(30), at(45), at(60)]
    # a token of another query is refused
    token = admin.get(URL, params={"pageSize": 2}).json()["meta"]["continuationToken"]
    response = admin.get(URL, params={"pageSize": 2, "start": at(30), "continuationToken": token})
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "InvalidContinuationToken"


# (body, code): every bad input of the contract is a 400 that stores nothing
INVALID: list[tuple[Any, str]] = [
    ({"unit": "EUR/kWh", "data": [iv(0, 60, 1.0), iv(30, 90, 2.0)]}, "InvalidPrices"),  # overlapping
    ({"unit": "EUR/kWh", "data": [iv(0, 60, 1.0), iv(0, 60, 2.0)]}, "InvalidPrices"),  # the same twice
    ({"unit": "EUR/kWh", "data": [iv(60, 60, 1.0)]}, "InvalidPrices"),  # end = start
    ({"unit": "EUR/kWh", "data": [iv(60, 0, 1.0)]}, "InvalidPrices"),  # end < start
    ({"unit": "EUR/kWh", "data": [{"start": at(0), "end": at(60), "price": "1.0"}]}, "InvalidPrices"),
    ({"unit": "EUR/kWh", "data": [{"start": at(0), "end": at(60), "price": None}]}, "InvalidPrices"),
    ({"unit": "EUR/kWh", "data": [{"start": at(0), "end": at(60), "price": True}]}, "InvalidPrices"),
    ({"unit": "EUR/kWh", "data": [{"start": at(0), "end": at(60)}]}, "InvalidPrices"),
    ({"unit": "EUR/kWh", "data": [{"start": "yesterday", "end": at(60), "price": 1}]}, "InvalidPrices"),
    ({"unit": "EUR/kWh", "data": [{"start": at(0), "end": at(60), "price": 1, "vat": 0}]}, "InvalidPrices"),
    ({"unit": "USD/MWh", "data": []}, "InvalidPrices"),
    ({"data": []}, "InvalidPrices"),  # no unit
    ({"unit": "EUR/kWh"}, "InvalidPrices"),  # no data
    ({"unit": "EUR/kWh", "data": {}}, "InvalidPrices"),
    ({"unit": "EUR/kWh", "data": [], "name": 5}, "InvalidPrices"),
    ({"unit": "EUR/kWh", "data": [], "name": "x" * 201}, "InvalidPrices"),
    ({"unit": "EUR/kWh", "data": [], "colour": "red"}, "InvalidPrices"),
    ([], "InvalidPrices"),
]


@pytest.mark.parametrize("body, code", INVALID)
def test_bad_input_is_a_400_that_stores_nothing(admin: ApiClient, body: Any, code: str) -> None:
    assert put(admin, [iv(0, 60, 1.0)], name="kept").status_code == 201
    before = admin.get(URL).json(), admin.get("/v1/prices").json()
    response = admin.put(URL, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == code
    assert (admin.get(URL).json(), admin.get("/v1/prices").json()) == before


RAW_ITEM = b'{"unit": "EUR/kWh", "data": [{"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z", "price": '


@pytest.mark.parametrize("raw", [RAW_ITEM + b"NaN}]}", RAW_ITEM + b"1e400}]}", RAW_ITEM + b"Infinity}]}",
                                 b'{"unit": "EUR/kWh", "unit": "EUR/MWh", "data": []}', b"not json"])
def test_a_price_that_is_not_a_finite_number_or_broken_json_is_refused(admin: ApiClient, raw: bytes) -> None:
    response = admin.put(URL, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] in ("InvalidJson", "DuplicateKey", "InvalidPrices")
    assert admin.get(URL).status_code == 404  # nothing stored, not even the series


@pytest.mark.parametrize("price_id", ["BE-dayahead", "be_dayahead", "x" * 65, "é"])
def test_a_bad_price_id_is_a_400(admin: ApiClient, price_id: str) -> None:
    response = put(admin, [], url=f"/v1/prices/{price_id}")
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "InvalidPriceId"
    assert admin.get("/v1/prices").json() == {"data": []}


def test_writing_needs_tariffs_write_reading_needs_readings_read(client: ApiClient) -> None:
    client.token = make_token(scope="readings:read readings:write entities:write")
    response = put(client, [iv(0, 60, 1.0)])
    assert response.status_code == 403 and response.json()["errors"][0]["code"] == "Forbidden"
    client.token = make_token(scope=WRITER)
    assert put(client, [iv(0, 60, 1.0)]).status_code == 201
    client.token = make_token(scope="tariffs:write")
    assert client.get(URL).status_code == 403 and client.get("/v1/prices").status_code == 403
    client.token = make_token([], scope="readings:read")  # series are shared: no entity needed to read them
    assert client.get(URL).status_code == 200 and len(client.get("/v1/prices").json()["data"]) == 1
    client.token = None  # type: ignore[assignment]
    assert client.get(URL, headers={"Authorization": None}).status_code == 401


def test_an_unknown_series_is_a_404(admin: ApiClient) -> None:
    response = admin.get("/v1/prices/nl-dayahead")
    assert response.status_code == 404 and response.json()["errors"][0]["code"] == "PriceSeriesNotFound"
    assert admin.get("/v1/prices").json() == {"data": []}


def test_a_series_without_intervals(admin: ApiClient) -> None:
    response = put(admin, [], name="later")
    assert response.status_code == 201 and response.json()["intervals"] == 0
    assert response.json()["first"] is None and response.json()["last"] is None
    assert stored(admin) == []


# -- connect-readings import --prices, into a real SQLite database ----------------------------------------------
@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.xml")))
def test_cli_import_of_an_entsoe_document(tmp_path: Path, fixture: str) -> None:
    database = str(tmp_path / "prices.db")
    path = FIXTURES / fixture
    result = CliRunner().invoke(main, ["import", str(path), "--prices", "be-dayahead", "--format", "entsoe",
                                       "--name", "BE", "--database", database])
    assert result.exit_code == 0, result.output
    expected = parse_entsoe(path.read_bytes())
    assert f"read {len(expected)} price intervals" in result.output
    store = SQLiteStore(database)
    try:
        with ApiClient(create_app(Settings(database=database, jwt_secret=SECRET), store)) as client:
            client.token = make_token(scope="readings:read")
            got = stored(client)
            info = client.get("/v1/prices").json()["data"][0]
    finally:
        store.close()
    assert got == [(format_datetime(i.start), format_datetime(i.end), i.price) for i in expected]
    assert info["unit"] == "EUR/MWh" and info["name"] == "BE" and info["intervals"] == len(expected)


def test_cli_import_of_a_price_csv_and_its_usage_errors(tmp_path: Path) -> None:
    database = str(tmp_path / "prices.db")
    source = tmp_path / "prices.csv"
    source.write_text("start,end,price\n2024-01-01T00:00:00Z,2024-01-01T01:00:00Z,85.2\n"
                      "2024-01-01T01:00:00Z,2024-01-01T02:00:00Z,-3\n")
    run = CliRunner().invoke
    result = run(main, ["import", str(source), "--prices", "be-dayahead", "--database", database])
    assert result.exit_code == 0, result.output
    store = SQLiteStore(database)
    try:
        assert [(i.start, i.price) for i in store.price_intervals("be-dayahead", 0, 2 ** 62)] == [
            (1704067200000000, 0.0852), (1704070800000000, -0.003)]
    finally:
        store.close()
    for args, message in ((["--prices", "x", "--entity", "8667fb97-68f2-485a-87c7-f3bdfa9482e1"], "either"),
                          ([], "either"),
                          (["--prices", "x", "--format", "jsonl"], "--format entsoe"),
                          (["--prices", "x", "--format", "entsoe", "--unit", "EUR/kWh"], "--unit"),
                          (["--prices", "Bad_Id"], "price id"),
                          (["--entity", "8667fb97-68f2-485a-87c7-f3bdfa9482e1", "--format", "entsoe"], "--prices")):
        result = run(main, ["import", str(source), *args, "--database", database])
        assert result.exit_code != 0 and message in result.output, (args, result.output)


def test_copy_carries_the_price_series_and_tariffs(tmp_path: Path, store: Any) -> None:
    """`connect-readings copy` (ingest/copy.py): the series with their intervals, each entity's tariff."""
    from connect_readings.domain.entities import EntityRecord
    from connect_readings.domain.prices import PriceInterval, PriceSeries
    from connect_readings.ingest.copy import copy_store

    from ..conftest import ENTITY

    source = SQLiteStore(str(tmp_path / "source.db"))
    try:
        intervals = [PriceInterval(3_600_000_000 * h, 3_600_000_000 * (h + 1), h / 100 - 0.05) for h in range(30)]
        source.put_prices(PriceSeries("be-dayahead", "BE", "EUR/MWh"), intervals, 1)
        source.put_entity(EntityRecord(ENTITY, "Meter", "Household", created=5))
        document = '{"currency":"EUR","periods":[]}'
        assert source.put_tariff(ENTITY, document, 7) is True
        report = copy_store(source, store)
        assert (report.price_series, report.tariffs) == (1, 1)
        assert store.price_intervals("be-dayahead", -(2**62), 2**62) == intervals
        assert store.price_series() == source.price_series()
        assert store.tariff(ENTITY) == document
        assert store.put_tariff(ENTITY, document, 8) is False  # replaced
        assert store.put_tariff(uuid.uuid4(), document, 8) is None  # no such entity: nothing written
    finally:
        source.close()
