"""An entity's tariff (docs/semantics.md §15) over the real app, on both backends: PUT then GET round trips in
the entity's zone, 201 vs 200, every bad input a 400 InvalidTariff that stores nothing, a price series that
does not exist, scopes, 404s, and DELETE of the entity removing its tariff."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ..conftest import ENTITY, OTHER, ApiClient, make_token

ALL = "readings:read readings:write entities:write tariffs:write"
URL = f"/v1/entities/{ENTITY}/tariff"

FIXED = {"currency": "EUR", "periods": [{"from": "2024-01-01T00:00:00+01:00", "import": {"t1": 0.32, "t2": 0.27},
                                         "export": {"total": 0.04}, "vat": 0.06}]}
FULL = {"currency": "EUR", "periods": [
    {"from": "2024-01-01T00:00:00+01:00", "import": {"t1": 0.32, "t2": 0.27}, "export": {"total": 0.04},
     "gas": {"perM3": 1.1}, "capacity": {"perKwYear": 53.27}, "fixed": {"perYear": -12.0}, "vat": 0.06},
    {"from": "2024-07-01T00:00:00+02:00", "import": {"prices": "be-dayahead", "factor": 1.1, "adder": 0.012},
     "export": {"prices": "be-dayahead", "factor": 0.9, "adder": -0.005},
     "gas": {"perKwh": 0.07, "kwhPerM3": 10.35}, "vat": 0.21},
]}


@pytest.fixture
def admin(client: ApiClient) -> ApiClient:
    client.token = make_token(scope=ALL)
    assert client.put(f"/v1/entities/{ENTITY}", json={"timeZone": "Europe/Brussels"}).status_code == 201
    assert client.put("/v1/prices/be-dayahead", json={"unit": "EUR/MWh", "data": []}).status_code == 201
    return client


def with_period(**fields: Any) -> dict[str, Any]:
    return {"currency": "EUR", "periods": [{"from": "2024-01-01T00:00:00Z", **fields}]}


def test_put_then_get_round_trip_in_the_entity_zone(admin: ApiClient) -> None:
    response = admin.put(URL, json=FULL)
    assert response.status_code == 201, response.text
    assert response.json() == FULL
    assert admin.get(URL).json() == FULL
    utc = admin.get(URL, params={"timeZone": "UTC"}).json()
    assert [p["from"] for p in utc["periods"]] == ["2023-12-31T23:00:00Z", "2024-06-30T22:00:00Z"]
    # a wall time without an offset is the entity's zone
    local = {"currency": "EUR", "periods": [{"from": "2024-01-01T00:00:00", "import": {"total": 0.3}, "vat": 0}]}
    response = admin.put(URL, json=local)
    assert response.status_code == 200  # replaced
    assert response.json()["periods"] == [{"from": "2024-01-01T00:00:00+01:00", "import": {"total": 0.3}, "vat": 0}]
    assert admin.get(URL).json() == response.json()  # the whole tariff was replaced


def test_the_request_zone_wins_over_the_entity_zone(admin: ApiClient) -> None:
    body = {"currency": "EUR", "periods": [{"from": "2024-01-01T00:00:00", "import": {"total": 0.3}}]}
    response = admin.put(URL + "?timeZone=America/New_York", json=body)
    assert response.status_code == 201
    assert response.json()["periods"][0]["from"] == "2024-01-01T00:00:00-05:00"
    assert admin.get(URL).json()["periods"][0]["from"] == "2024-01-01T06:00:00+01:00"


def test_an_empty_tariff_prices_nothing_but_is_stored(admin: ApiClient) -> None:
    assert admin.put(URL, json={"currency": "EUR", "periods": []}).status_code == 201
    assert admin.get(URL).json() == {"currency": "EUR", "periods": []}


# (body, what the message names): every bad input of the contract is a 400 InvalidTariff that stores nothing
INVALID: list[tuple[Any, str]] = [
    ({"currency": "EUR", "periods": [{"from": "2024-02-01T00:00:00Z"}, {"from": "2024-01-01T00:00:00Z"}]},
     "periods[1]"),  # out of order
    ({"currency": "EUR", "periods": [{"from": "2024-01-01T00:00:00Z"}, {"from": "2024-01-01T00:00:00Z"}]},
     "periods[1]"),  # the same instant twice
    (with_period(water={"perM3": 1}), "water"),  # an unknown component
    (with_period(**{"import": {"t5": 0.3}}), "t5"),  # an unknown tier
    (with_period(**{"import": {"peak": 0.3}}), "peak"),
    (with_period(vat=-0.06), "vat"),  # a negative VAT
    (with_period(vat=6), "vat"),  # a percentage, not a fraction
    (with_period(**{"import": {"total": "0.3"}}), "total"),  # not a number
    (with_period(**{"import": {"t1": True}}), "t1"),
    (with_period(**{"import": {"total": 0.3, "t1": 0.2}}), "not both"),
    (with_period(**{"import": {"prices": "nl-dayahead"}}), "nl-dayahead"),  # an unknown price series
    (with_period(export={"prices": "Not A Slug"}), "prices"),
    (with_period(gas={"perKwh": 0.07}), "kwhPerM3"),
    (with_period(gas={"perKwh": 0.07, "kwhPerM3": 0}), "kwhPerM3"),
    (with_period(capacity={"perKwYear": "53"}), "perKwYear"),
    ({"currency": "EUR", "periods": [{"import": {"total": 0.3}}]}, "from"),
    ({"currency": "EUR", "periods": [{"from": "soon"}]}, "from"),
    ({"currency": "euro", "periods": []}, "currency"),
    ({"currency": "EUR", "periods": [], "owner": "me"}, "owner"),
    ({"currency": "EUR", "periods": {}}, "periods"),
    ([], "object"),
]


@pytest.mark.parametrize("body, named", INVALID)
def test_bad_input_is_a_400_that_stores_nothing(admin: ApiClient, body: Any, named: str) -> None:
    assert admin.put(URL, json=FIXED).status_code == 201
    response = admin.put(URL, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidTariff" and named in error["message"], error
    assert admin.get(URL).json() == FIXED


def test_an_unknown_price_series_stores_no_first_tariff(admin: ApiClient) -> None:
    response = admin.put(URL, json=with_period(**{"import": {"prices": "fr-dayahead"}}))
    assert response.status_code == 400 and "fr-dayahead" in response.json()["errors"][0]["message"]
    assert admin.get(URL).json()["errors"][0]["code"] == "TariffNotFound"
    assert admin.put("/v1/prices/fr-dayahead", json={"unit": "EUR/kWh", "data": []}).status_code == 201
    assert admin.put(URL, json=with_period(**{"import": {"prices": "fr-dayahead"}})).status_code == 201


@pytest.mark.parametrize("raw, code", [
    (b'{"currency": "EUR", "periods": [{"from": "2024-01-01T00:00:00Z", "import": {"total": NaN}}]}', "InvalidJson"),
    (b'{"currency": "EUR", "periods": [{"from": "2024-01-01T00:00:00Z", "import": {"total": 1e999}}]}', "InvalidJson"),
    (b'{"currency": "EUR", "currency": "EUR", "periods": []}', "DuplicateKey"),
])
def test_non_finite_numbers_and_repeated_keys(admin: ApiClient, raw: bytes, code: str) -> None:
    response = admin.put(URL, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == code
    assert admin.get(URL).status_code == 404


def test_writing_needs_tariffs_write(admin: ApiClient) -> None:
    admin.token = make_token(scope="readings:read readings:write entities:write")
    response = admin.put(URL, json=FIXED)
    assert response.status_code == 403 and response.json()["errors"][0]["code"] == "Forbidden"
    admin.token = make_token(scope=ALL)
    assert admin.get(URL).status_code == 404  # nothing was stored
    assert admin.put(URL, json=FIXED).status_code == 201
    admin.token = make_token([str(ENTITY)], scope="readings:read")  # reading needs readings:read
    assert admin.get(URL).json() == FIXED
    admin.token = make_token(scope="tariffs:write")
    assert admin.get(URL).status_code == 403


def test_404s(admin: ApiClient) -> None:
    response = admin.get(URL)
    assert response.status_code == 404 and response.json()["errors"][0]["code"] == "TariffNotFound"
    for token, url in ((make_token(scope=ALL), f"/v1/entities/{uuid.uuid4()}/tariff"),   # unknown
                       (make_token([str(OTHER)], scope=ALL), URL),                       # outside the token
                       (make_token(scope=ALL), "/v1/entities/not-a-uuid/tariff")):       # malformed
        admin.token = token
        for response in (admin.get(url), admin.put(url, json=FIXED)):
            assert response.status_code == 404, (url, response.text)
            assert response.json()["errors"][0]["code"] == "EntityNotFound"
    admin.token = make_token(scope=ALL)
    assert admin.get(URL).json()["errors"][0]["code"] == "TariffNotFound"


def test_deleting_the_entity_deletes_its_tariff(admin: ApiClient) -> None:
    assert admin.put(URL, json=FIXED).status_code == 201
    assert admin.put(f"/v1/entities/{OTHER}", json={}).status_code == 201
    assert admin.put(f"/v1/entities/{OTHER}/tariff", json=FIXED).status_code == 201
    assert admin.delete(f"/v1/entities/{ENTITY}").status_code == 204
    assert admin.get(URL).json()["errors"][0]["code"] == "EntityNotFound"
    assert admin.put(f"/v1/entities/{ENTITY}", json={}).status_code == 201  # registered anew: no tariff
    assert admin.get(URL).json()["errors"][0]["code"] == "TariffNotFound"
    kept = admin.get(f"/v1/entities/{OTHER}/tariff", params={"timeZone": "Europe/Brussels"})
    assert kept.json() == FIXED  # another entity's is kept
