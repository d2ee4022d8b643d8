"""Ingest and raw readings over HTTP (semantics.md §1, §2, §6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any

import orjson
import pytest

from connect_readings.storage.base import Store

from ..conftest import ENTITY, OTHER, ApiClient, energy, make_token

BASE = f"/v1/entities/{ENTITY}/readings"


def test_ingest_then_read_back_in_canonical_units(client: ApiClient) -> None:
    response = client.ingest(ENTITY, [
        energy("2024-05-27T13:00:00Z", 1500, t1=1000, t2=500, unit="Wh"),
        {"timestamp": "2024-05-27 13:00:10+02:00", "data": {"positiveGasVolume": {"value": 2500, "unit": "l"}}},
    ])
    assert response.status_code == 200
    assert response.json() == {"received": 2, "written": 2, "replaced": 0}
    page = client.get(BASE, params={"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z"}).json()
    assert [r["timestamp"] for r in page["data"]] == ["2024-05-27T11:00:10Z", "2024-05-27T13:00:00Z"]
    assert page["data"][0]["data"] == {"positiveGasVolume": {"value": 2.5, "unit": "m3"}}
    assert page["data"][1]["data"] == {"positiveActiveEnergy": {"t1": 1.0, "t2": 0.5, "total": 1.5, "unit": "kWh"}}
    assert page["data"][1]["id"] == str(uuid.uuid5(uuid.UUID("5b0d7a8e-1f55-4a3c-9a53-6f3f5c1e2a01"),
                                                   f"{ENTITY}|{1716814800000000}"))
    assert page["links"]["next"] is None and page["meta"]["continuationToken"] is None


@pytest.mark.parametrize(("unit", "value", "expected"), [
    ("Wh", 1000, 1.0), ("kWh", 2, 2.0), ("MWh", 0.5, 500.0), ("kwh", 3, 3.0),
])
def test_energy_units_are_normalised(client: ApiClient, unit: str, value: float, expected: float) -> None:
    assert client.ingest(ENTITY, [energy("2024-01-01T00:00:00Z", value, unit=unit)]).status_code == 200
    last = client.get(f"{BASE}/last").json()
    assert last["data"]["positiveActiveEnergy"] == {"total": expected, "unit": "kWh"}


@pytest.mark.parametrize(("unit", "value", "expected"), [("m3", 2, 2.0), ("m³", 2, 2.0), ("dm3", 500, 0.5), ("l", 250, 0.25)])
def test_volume_units_are_normalised(client: ApiClient, unit: str, value: float, expected: float) -> None:
    reading = {"timestamp": "2024-01-01T00:00:00Z", "data": {"positiveGasVolume": {"value": value, "unit": unit}}}
    assert client.ingest(ENTITY, [reading]).status_code == 200
    assert client.get(f"{BASE}/last").json()["data"]["positiveGasVolume"] == {"value": expected, "unit": "m3"}


# Numbers must be finite and bounded, so that nothing is ever served as null (issue 10): registers up to
# 1e12 kWh or m3 after unit conversion, other metrics within ±1e15.
BOUNDS = [
    ({"positiveActiveEnergy": {"total": 1e308, "unit": "MWh"}}, None),
    ({"positiveActiveEnergy": {"total": 1e9, "unit": "MWh"}}, {"total": 1e12, "unit": "kWh"}),
    ({"positiveActiveEnergy": {"total": 1e15, "unit": "Wh"}}, {"total": 1e12, "unit": "kWh"}),
    ({"positiveActiveEnergy": {"total": 1.0000001e12, "unit": "kWh"}}, None),
    ({"positiveActiveEnergy": {"t1": 1e13, "total": 1, "unit": "kWh"}}, None),
    ({"positiveGasVolume": {"value": 1.7e308, "unit": "m3"}}, None),
    ({"positiveGasVolume": {"value": 1e15, "unit": "l"}}, {"value": 1e12, "unit": "m3"}),
    ({"negativeGasVolume": {"value": 1.0000001e15, "unit": "dm3"}}, None),
    ({"voltage": {"l1": -1e15, "unit": "V"}}, {"l1": -1e15, "unit": "V"}),
    ({"voltage": {"value": 1.0000001e15}}, None),
    ({"voltage": {"total": -1e308}}, None),
]


@pytest.mark.parametrize(("data", "stored"), BOUNDS)
def test_numbers_are_finite_and_bounded(client: ApiClient, data: dict[str, Any], stored: dict[str, Any] | None) -> None:
    response = client.ingest(ENTITY, [{"timestamp": "2024-05-27T13:00:00Z", "data": data}])
    if stored is None:
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["code"] == "InvalidReading"
        assert client.get(f"{BASE}/last").status_code == 404
    else:
        assert response.status_code == 200, response.text
        assert list(client.get(f"{BASE}/last").json()["data"].values()) == [stored]


def test_ingest_is_idempotent_and_replaces(client: ApiClient) -> None:
    batch = [energy(f"2024-05-27T13:0{i}:00Z", i) for i in range(5)]
    assert client.ingest(ENTITY, batch).json() == {"received": 5, "written": 5, "replaced": 0}
    assert client.ingest(ENTITY, batch).json() == {"received": 5, "written": 5, "replaced": 5}
    client.ingest(ENTITY, [energy("2024-05-27T13:02:00Z", 42)])
    page = client.get(BASE, params={"start": "2024-05-27T13:00:00Z", "end": "2024-05-27T14:00:00Z"}).json()
    assert [r["data"]["positiveActiveEnergy"]["total"] for r in page["data"]] == [0, 1, 42, 3, 4]


def test_repeated_timestamp_in_one_batch_keeps_the_last(client: ApiClient) -> None:
    result = client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1), energy("2024-05-27T13:00:00Z", 2)]).json()
    assert result == {"received": 2, "written": 1, "replaced": 0}
    assert client.get(f"{BASE}/last").json()["data"]["positiveActiveEnergy"]["total"] == 2


BAD_ITEMS = [
    ({"timestamp": "yesterday", "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh"}}}, "InvalidDateTime"),
    ({"timestamp": "2024-13-01T00:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh"}}}, "InvalidDateTime"),
    ({"data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh"}}}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z"}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z", "data": {}}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"t1": 1, "unit": "kWh"}}}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1, "unit": "J"}}}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": 1}}}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": -1, "unit": "kWh"}}}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": "1", "unit": "kWh"}}}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveActiveEnergy": {"total": True, "unit": "kWh"}}}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": "kWh"}}}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z", "data": {"Bad Name": {"value": 1}}}, "InvalidReading"),
    ({"timestamp": "2024-05-27T13:00:00Z", "data": {"voltage": 230}}, "InvalidReading"),
    ("not an object", "InvalidReading"),
]


@pytest.mark.parametrize(("bad", "code"), BAD_ITEMS)
def test_a_bad_item_refuses_the_whole_batch(client: ApiClient, bad: object, code: str) -> None:
    good = [energy("2024-05-27T12:00:00Z", 1), energy("2024-05-27T12:15:00Z", 2)]
    response = client.ingest(ENTITY, [*good, bad])
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == code
    assert error["message"].startswith("data[2]:")
    assert client.get(f"{BASE}/last").status_code == 404  # nothing written, entity not even created


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"data": []}', b'{"data": {}}', b'{"data": [], "x": 1}', b"null"])
def test_malformed_bodies_are_400(client: ApiClient, body: bytes) -> None:
    response = client.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] in {"InvalidJson", "InvalidBatch"}


_R = b'{"timestamp":"2024-05-27T13:00:00Z","data":{"voltage":{"value":1,"unit":"V"}}}'
# A key given twice anywhere in the body is DuplicateKey (no silent "last one wins"), naming the reading.
DUPLICATES = [
    (b'{"data":[' + _R + b'],"data":[' + _R + b"]}", None),
    (b'{"data":[' + _R + b"," + _R.replace(b'{"timestamp"', b'{"timestamp":"x","timestamp"') + b"]}", 1),
    (b'{"data":[' + _R.replace(b'"data":{', b'"data":{"voltage":{"l1":1},') + b"]}", 0),
    (b'{"data":[' + _R + b"," + _R + b"," + _R.replace(b'"unit":"V"', b'"unit":"V","unit":"kV"') + b"]}", 2),
    (b'{"data":[' + _R.replace(b'"unit":"V"', b'"unit":"V","u\\u006eit":"V"') + b"]}", 0),
    (b'{"data":[' + _R.replace(b'"value":1', b'"value":"one","value":1') + b"]}", 0),  # typed check fails first
    (b'{"data":[' + _R.replace(b'"value":1', b'"value":{"a":1,"a":1}') + b"]}", 0),
]


@pytest.mark.parametrize(("body", "index"), DUPLICATES)
def test_a_key_given_twice_is_refused(client: ApiClient, body: bytes, index: int | None) -> None:
    response = client.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "DuplicateKey"
    assert error["description"] == (None if index is None else f"index {index}")
    assert index is None or error["message"].startswith(f"data[{index}]:")
    assert client.get(f"{BASE}/last").status_code == 404


def test_escaped_colons_are_not_mistaken_for_keys(client: ApiClient) -> None:
    body = (b'{"data":[' + _R.replace(b'"unit":"V"', b'"unit":"\\u003a\\\\u003a:"').replace(b"13:00:00", b"13\\u003a00:00")
            + b"]}")
    response = client.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert client.get(f"{BASE}/last").json()["data"]["voltage"]["unit"] == ":\\u003a:"


@pytest.mark.parametrize(("content_type", "status"), [
    (None, 415), ("text/plain", 415), ("application/x-www-form-urlencoded", 415),
    ("multipart/form-data; boundary=x", 415), ("text/json", 415), ("application/jsonp", 415),
    ("application/json-seq", 415), ("application/problem+json", 415), ("application/json; charset=latin-1", 415),
    ("application/json; charset=utf-16", 415), ("", 415), (";application/json", 415),
    ("application/json", 200), ("application/json; charset=utf-8", 200), ("Application/JSON;Charset=UTF-8", 200),
    ('application/json ; charset="utf-8"', 200), ("application/json; version=1", 200),
])
def test_only_json_bodies_are_read(client: ApiClient, content_type: str | None, status: int) -> None:
    body = b'{"data":[' + _R + b"]}"
    response = client.post(BASE, content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    if status == 415:
        assert response.json()["errors"][0]["code"] == "UnsupportedMediaType"
        assert client.get(f"{BASE}/last").status_code == 404


def test_overflowing_number_is_refused(client: ApiClient) -> None:
    body = b'{"data": [{"timestamp": "2024-05-27T13:00:00Z", "data": {"voltage": {"value": 1e400}}}]}'
    response = client.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] in {"InvalidJson", "InvalidReading"}


def test_batch_limit(client: ApiClient) -> None:
    batch = [energy("2024-01-01T00:00:00Z", 1)] * 10_001
    response = client.ingest(ENTITY, batch)
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "BatchTooLarge"


@pytest.mark.parametrize(("span_minutes", "size"), [(None, 7), (10, 7), (10, 9), (8, 7), (25, 4)])
def test_concatenated_pages_equal_one_big_page(client: ApiClient, store: Store, span_minutes: int | None,
                                               size: int) -> None:
    """Also read in windows (`readings_in_windows`, as on TimescaleDB) of 10 minutes from 13:00 (pages of 9 read
    10 readings: the first ends exactly at its window's end), 8 (from 12:56) and 25 (from 12:55, past a 20-minute
    gap): same pages, same next links."""
    minutes = [*range(30), *range(50, 60)]
    client.ingest(ENTITY, [energy(f"2024-05-27T13:{m:02d}:00Z", m) for m in minutes])
    store.readings_span = None if span_minutes is None else span_minutes * 60_000_000  # type: ignore[attr-defined]
    params = {"start": "2024-05-27T13:00:00Z", "end": "2024-05-27T14:00:00Z"}
    big = client.get(BASE, params={**params, "pageSize": 1000}).json()["data"]
    pages, url = [], None
    response = client.get(BASE, params={**params, "pageSize": size})
    while True:
        body = response.json()
        assert body["meta"]["pageSize"] == size
        pages.extend(body["data"])
        url = body["links"]["next"]
        if url is None:
            assert body["meta"]["continuationToken"] is None
            break
        assert url.startswith("http://localhost/v1/")
        response = client.get(url)
    assert pages == big and [r["timestamp"] for r in big] == [f"2024-05-27T13:{m:02d}:00Z" for m in minutes]


def test_tampered_or_foreign_token_is_400(client: ApiClient) -> None:
    client.ingest(ENTITY, [energy(f"2024-05-27T13:{m:02d}:00Z", m) for m in range(10)])
    params = {"start": "2024-05-27T13:00:00Z", "end": "2024-05-27T14:00:00Z", "pageSize": 3}
    token = client.get(BASE, params=params).json()["meta"]["continuationToken"]
    payload, mac = token.split(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + mac
    for bad, other in [(tampered, {}), ("garbage", {}), (token, {"end": "2024-05-27T15:00:00Z"})]:
        response = client.get(BASE, params={**params, **other, "continuationToken": bad})
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "InvalidContinuationToken"


def _signed(client: ApiClient, payload: bytes) -> str:
    """A token with this payload and a valid MAC: what only a bug or a leaked key could produce."""
    key = client.app.state.api.paging_key  # type: ignore[attr-defined]
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (payload, mac))


# Payloads of validly signed tokens: Q is the query's digest, P a position inside its window.
SIGNED_PAYLOADS = [
    (b'{"q":Q,"p":"abc","n":null}', 400), (b'{"q":Q,"n":null}', 400), (b'{"q":Q}', 400), (b"[Q,P]", 400),
    (b'"a string"', 400), (b"1", 400), (b"null", 400), (b"not json", 400), (b"\xff", 400), (b'{"q":Q,"p":1.5e15}', 400),
    (b'{"q":Q,"p":true}', 400), (b'{"q":Q,"p":100000000000000000000000000000}', 400), (b'{"q":Q,"p":[P]}', 400),
    (b'{"q":Q,"p":-9000000000000000000}', 400), (b'{"q":Q,"p":P,"n":"x"}', 400), (b'{"q":Q,"p":P,"n":1e300}', 400),
    (b'{"q":Q,"p":P,"n":9000000000000000000}', 400), (b'{"q":5,"p":P}', 400), (b'{"p":P}', 400),
    (b'{"q":Q,"p":P,"n":null}', 200), (b'{"q":Q,"p":P}', 200),
]


@pytest.mark.parametrize(("payload", "status"), SIGNED_PAYLOADS, ids=lambda v: v.decode(errors="replace")[:28] if isinstance(v, bytes) else str(v))
def test_signed_token_with_a_bad_payload_is_400(client: ApiClient, payload: bytes, status: int) -> None:
    client.ingest(ENTITY, [energy(f"2024-05-27T13:{m:02d}:00Z", m) for m in range(10)])
    params = {"start": "2024-05-27T13:00:00Z", "end": "2024-05-27T14:00:00Z", "pageSize": 3}
    token = client.get(BASE, params=params).json()["meta"]["continuationToken"]
    fields = orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    payload = payload.replace(b"Q", orjson.dumps(fields["q"])).replace(b"P", str(fields["p"]).encode())
    response = client.get(BASE, params={**params, "continuationToken": _signed(client, payload)})
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["errors"][0]["code"] == "InvalidContinuationToken"


@pytest.mark.parametrize(("params", "code"), [
    ({}, "MissingParameter"),
    ({"start": ""}, "InvalidDateTime"),
    ({"start": "  "}, "InvalidDateTime"),
    ({"start": "2024-05-27T00:00:00Z", "end": ""}, "InvalidDateTime"),
    ({"start": "2024-05-27T00:00:00Z", "pageSize": ""}, "InvalidPageSize"),
    ({"start": "2024-05-28T00:00:00Z", "end": "2024-05-27T00:00:00Z"}, "InvalidTimeWindow"),
    ({"start": "2024-05-27T00:00:00Z", "end": "2024-05-27T00:00:00Z"}, "InvalidTimeWindow"),
    ({"start": "nope"}, "InvalidDateTime"),
    ({"start": "2024-05-27T00:00:00Z", "pageSize": "0"}, "InvalidPageSize"),
    ({"start": "2024-05-27T00:00:00Z", "pageSize": "10001"}, "InvalidPageSize"),
    ({"start": "2024-05-27T00:00:00Z", "pageSize": "ten"}, "InvalidPageSize"),
])
def test_bad_query_parameters(client: ApiClient, params: dict[str, str], code: str) -> None:
    client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1)])
    response = client.get(BASE, params=params)
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == code


def test_no_token_is_401_with_challenge(client: ApiClient) -> None:
    response = client.get(f"{BASE}/last", headers={"Authorization": None})
    client.token = ""
    response = client.get(f"{BASE}/last")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["code"] == "Unauthorized"


def test_entity_outside_token_is_404_like_unknown(client: ApiClient) -> None:
    client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1)])
    client.token = make_token(entities=[str(OTHER)])
    hidden = client.get(f"{BASE}/last")
    unknown = client.get(f"/v1/entities/{OTHER}/readings/last")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()
    assert client.get("/v1/entities/not-a-uuid/readings/last").json() == hidden.json()


def test_read_scope_cannot_write(client: ApiClient) -> None:
    client.token = make_token(scope="readings:read")
    response = client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1)])
    assert response.status_code == 403 and response.json()["errors"][0]["code"] == "Forbidden"


def test_health_and_openapi_need_no_token(client: ApiClient) -> None:
    client.token = ""
    assert client.get("/healthz").json() == {"status": "ok"}
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "Connect.Service.Reading.Api.Models.V1.PagedAggregations" in schemas
    assert doc["paths"]["/v1/entities/{entityId}/aggregations"]["get"]["operationId"] == "get-getaggregationsasync"


def test_unknown_route_and_method_carry_error_body(client: ApiClient) -> None:
    assert client.get("/nope").json()["errors"][0]["code"] == "NotFound"
    response = client.delete(BASE)
    assert response.status_code == 405 and response.json()["errors"][0]["code"] == "MethodNotAllowed"
