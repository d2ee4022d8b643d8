"""The entity registry (docs/semantics.md §12) on both backends: PUT validation (a table, one rule a row),
201 vs 200, scopes, 404s, listing with paging and visibility, created/lastSeen kept by ingest, a registered
entity without readings, and the entity's timeZone as the default of its queries."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from connect_readings.storage.base import Store

from ..conftest import ENTITY, OTHER, ApiClient, energy, make_token

ALL = "readings:read readings:write entities:write"
THIRD = uuid.UUID("22222222-3333-4444-8555-666666666666")
URL = f"/v1/entities/{ENTITY}"


@pytest.fixture
def admin(client: ApiClient) -> ApiClient:
    client.token = make_token(scope=ALL)
    return client


def put(client: ApiClient, entity: uuid.UUID, body: Any, **kwargs: Any) -> Any:
    return client.put(f"/v1/entities/{entity}", json=body, **kwargs)


# (body, the field the 400 InvalidEntity message names): every rule is a row
INVALID: list[tuple[Any, str]] = [
    ({"type": "Toaster"}, "'type'"),
    ({"type": "meter"}, "'type'"),
    ({"type": 3}, "'type'"),
    ({"name": "x" * 201}, "'name'"),
    ({"brand": "x" * 201}, "'brand'"),
    ({"identifier": "x" * 201}, "'identifier'"),
    ({"name": 12}, "'name'"),
    ({"brand": ["a"]}, "'brand'"),
    ({"identifier": {"a": 1}}, "'identifier'"),
    ({"timeZone": "Mars/Olympus"}, "'timeZone'"),
    ({"timeZone": "europe/brussels"}, "'timeZone'"),
    ({"timeZone": 1}, "'timeZone'"),
    ({"properties": [1, 2]}, "'properties'"),
    ({"properties": "a"}, "'properties'"),
    ({"properties": {"blob": "x" * (16 * 1024)}}, "'properties'"),
    ({"parentId": "not-a-uuid"}, "'parentId'"),
    ({"parentId": 5}, "'parentId'"),
    ({"parentId": str(ENTITY)}, "'parentId'"),  # itself
    ({"parentId": str(THIRD)}, "'parentId'"),  # not registered
    ({"colour": "red"}, "'colour'"),  # unknown field
    ({"id": str(ENTITY)}, "'id'"),  # the server's fields are not input
    ({"created": "2024-01-01T00:00:00Z"}, "'created'"),
    ([], "object"),
    ("Meter", "object"),
]


@pytest.mark.parametrize("body, field", INVALID)
def test_put_refuses_invalid_input_naming_the_field(admin: ApiClient, body: Any, field: str) -> None:
    response = put(admin, ENTITY, body)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidEntity" and field in error["message"], error
    assert admin.get(URL).status_code == 404  # nothing registered


def test_put_refuses_what_is_not_json(admin: ApiClient) -> None:
    response = admin.put(URL, content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "InvalidJson"
    response = admin.put(URL, content=b"{}", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_properties_up_to_16_kib_and_200_character_strings_are_accepted(admin: ApiClient) -> None:
    properties = {"blob": "x" * (16 * 1024 - 12)}
    response = put(admin, ENTITY, {"name": "n" * 200, "properties": properties})
    assert response.status_code == 201, response.text
    assert response.json()["properties"] == properties


def test_put_creates_201_then_replaces_200(admin: ApiClient) -> None:
    put(admin, OTHER, {"type": "SolarPlant"})
    body = {"type": "Inverter", "name": "Roof", "brand": "Acme", "identifier": "SN-1", "parentId": str(OTHER),
            "properties": {"kWp": 6.4, "panels": [1, 2]}, "timeZone": "Europe/Brussels"}
    created = put(admin, ENTITY, body)
    assert created.status_code == 201, created.text
    entity = created.json()
    assert {k: entity[k] for k in body} == body
    assert entity["id"] == str(ENTITY) and entity["lastSeen"] is None and entity["created"].endswith("Z")
    assert admin.get(URL).json() == entity
    replaced = put(admin, ENTITY, {"name": "Roof west"})
    assert replaced.status_code == 200
    again = replaced.json()
    # PUT replaces the description: what is left out is null; created is kept
    assert again["name"] == "Roof west" and again["type"] is None and again["parentId"] is None
    assert again["created"] == entity["created"]
    assert put(admin, ENTITY, {}).status_code == 200


def test_a_parent_may_not_make_a_cycle(admin: ApiClient) -> None:
    assert put(admin, OTHER, {}).status_code == 201
    assert put(admin, ENTITY, {"parentId": str(OTHER)}).status_code == 201
    response = put(admin, OTHER, {"parentId": str(ENTITY)})
    assert response.status_code == 400 and "'parentId'" in response.json()["errors"][0]["message"]


def test_a_parent_outside_the_token_is_refused_like_an_unknown_one(admin: ApiClient) -> None:
    put(admin, OTHER, {})
    admin.token = make_token([str(ENTITY)], scope=ALL)
    hidden = put(admin, ENTITY, {"parentId": str(OTHER)})
    unknown = put(admin, ENTITY, {"parentId": str(THIRD)})
    assert hidden.status_code == unknown.status_code == 400
    assert hidden.content == unknown.content


def test_put_needs_the_entities_write_scope(client: ApiClient) -> None:
    client.token = make_token(scope="readings:read readings:write")
    response = put(client, ENTITY, {"type": "Meter"})
    assert response.status_code == 403 and "entities:write" in response.json()["errors"][0]["message"]
    client.token = make_token(scope="entities:write")
    assert put(client, ENTITY, {"type": "Meter"}).status_code == 201
    assert client.get(URL).status_code == 403  # reading needs readings:read
    assert client.get("/v1/entities").status_code == 403
    client.token = None
    assert client.get("/v1/entities", headers={"Authorization": None}).status_code == 401


def test_unknown_and_hidden_entities_are_the_same_404(admin: ApiClient) -> None:
    put(admin, OTHER, {"type": "Meter"})
    admin.token = make_token([str(ENTITY)], scope=ALL)
    hidden = admin.get(f"/v1/entities/{OTHER}")
    unknown = admin.get(URL)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.content == unknown.content and hidden.json()["errors"][0]["code"] == "EntityNotFound"
    assert admin.get("/v1/entities/not-a-uuid").content == unknown.content
    # PUT to an entity outside the token is the same 404, and changes nothing
    assert put(admin, OTHER, {"type": "EV"}).content == unknown.content


def test_listing_pages_by_id_and_shows_only_visible_entities(admin: ApiClient) -> None:
    ids = sorted([ENTITY, OTHER, THIRD, uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)])
    for entity in ids:
        assert put(admin, entity, {"name": str(entity)[:8]}).status_code == 201
    seen, url, pages = [], "/v1/entities?pageSize=1", 0
    while url:
        body = admin.get(url).json()
        assert body["meta"]["pageSize"] == 1 and len(body["data"]) <= 1
        seen += [item["id"] for item in body["data"]]
        url, pages = body["links"]["next"], pages + 1
        assert (url is None) == (body["meta"]["continuationToken"] is None)
    assert seen == [str(e) for e in ids] and pages in (len(ids), len(ids) + 1)
    whole = admin.get("/v1/entities?pageSize=2").json()
    assert [item["id"] for item in whole["data"]] == [str(e) for e in ids[:2]]
    token = whole["meta"]["continuationToken"]
    # the token is bound to the list: altered or used elsewhere, it is refused
    assert admin.get(f"/v1/entities?continuationToken={token[:-2]}xx").json()["errors"][0]["code"] \
        == "InvalidContinuationToken"
    response = admin.get(f"/v1/entities/{ENTITY}/readings?start=2024-01-01T00:00:00Z&continuationToken={token}")
    assert response.json()["errors"][0]["code"] == "InvalidContinuationToken"
    assert admin.get("/v1/entities?pageSize=0").json()["errors"][0]["code"] == "InvalidPageSize"
    for query in ("colour=red", "=1", "pageSize=2&start=2024-01-01T00:00:00Z"):
        response = admin.get(f"/v1/entities?{query}")
        assert response.status_code == 400 and response.json()["errors"][0]["code"] == "UnknownParameter"
    # a token naming some entities sees only those (and its paging skips the others)
    admin.token = make_token([str(ids[4]), str(ids[1]), str(uuid.uuid4())])
    seen, url = [], "/v1/entities?pageSize=1"
    while url:
        body = admin.get(url).json()
        seen += [item["id"] for item in body["data"]]
        url = body["links"]["next"]
    assert seen == [str(ids[1]), str(ids[4])]
    admin.token = make_token([])
    assert admin.get("/v1/entities").json()["data"] == []


def test_ingest_registers_and_keeps_created_and_last_seen(admin: ApiClient) -> None:
    assert admin.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1), energy("2024-05-27T14:00:00Z", 2)]).status_code == 200
    entity = admin.get(URL).json()
    assert entity["lastSeen"] == "2024-05-27T14:00:00Z" and entity["type"] is None and entity["name"] is None
    created = entity["created"]
    assert created > "2025"  # the ingest's wall-clock time, not the readings'
    admin.ingest(ENTITY, [energy("2024-05-28T00:00:00Z", 3)])
    assert admin.get(URL).json()["lastSeen"] == "2024-05-28T00:00:00Z"
    admin.ingest(ENTITY, [energy("2024-05-01T00:00:00Z", 0.5)])  # a late batch: lastSeen never moves back
    entity = admin.get(URL).json()
    assert entity["lastSeen"] == "2024-05-28T00:00:00Z" and entity["created"] == created
    # a PUT keeps both
    entity = put(admin, ENTITY, {"type": "Meter"}).json()
    assert entity["lastSeen"] == "2024-05-28T00:00:00Z" and entity["created"] == created


def test_put_does_not_change_the_data_version(admin: ApiClient, store: Store) -> None:
    admin.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1)])
    version = store.entity_version(ENTITY)
    put(admin, ENTITY, {"name": "x"})
    assert store.entity_version(ENTITY) == version


READS = [
    "readings?start=2024-01-01T00:00:00Z&end=2024-02-01T00:00:00Z",
    "aggregations?start=2024-01-01T00:00:00Z&end=2024-01-03T00:00:00Z&resolution=1%20day",
    "aggregations/total?start=2024-01-01T00:00:00Z&end=2024-01-03T00:00:00Z",
    "statistics?start=2024-01-01T00:00:00Z&end=2024-01-03T00:00:00Z&resolution=1%20day",
    "statistics/capacity-tariff?start=2024-01-01T00:00:00Z&end=2024-03-01T00:00:00Z",
]


@pytest.mark.parametrize("path", READS)
def test_a_registered_entity_without_readings_reads_empty(admin: ApiClient, path: str) -> None:
    assert admin.get(f"{URL}/{path}").status_code == 404  # not registered: 404
    put(admin, ENTITY, {"type": "HeatPump"})
    response = admin.get(f"{URL}/{path}")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data in ([], {}), data


def test_last_reading_of_a_registered_entity_without_readings_is_reading_not_found(admin: ApiClient) -> None:
    put(admin, ENTITY, {})
    response = admin.get(f"{URL}/readings/last")
    assert response.status_code == 404 and response.json()["errors"][0]["code"] == "ReadingNotFound"


def test_the_entity_time_zone_is_the_default_of_its_queries(admin: ApiClient) -> None:
    admin.ingest(ENTITY, [energy(f"2024-01-0{d}T{h:02d}:00:00Z", 24 * d + h) for d in (1, 2, 3) for h in range(24)])
    day = f"{URL}/aggregations?start=2024-01-02T00:00:00%2B01:00&end=2024-01-03T00:00:00%2B01:00&resolution=1%20day"
    utc = admin.get(day).json()["data"][0]
    assert utc["timeframe"]["start"] == "2024-01-01T23:00:00Z"
    put(admin, ENTITY, {"timeZone": "Europe/Brussels"})
    local = admin.get(day).json()["data"][0]
    assert local["timeframe"]["start"] == "2024-01-02T00:00:00+01:00"
    assert local == admin.get(day + "&timeZone=Europe/Brussels").json()["data"][0]
    assert admin.get(day + "&timeZone=UTC").json()["data"][0] == utc  # the request's zone wins
    # the bucket ids and the cache follow the zone used: a changed entity zone is never served from the cache
    put(admin, ENTITY, {"timeZone": "Asia/Tokyo"})
    assert admin.get(day).json()["data"][0]["timeframe"]["start"].endswith("+09:00")
    stats = f"{URL}/statistics?start=2024-01-02T00:00:00Z&end=2024-01-03T00:00:00Z&resolution=1%20day"
    assert admin.get(stats).json()["data"][0]["timeframe"]["start"].endswith("+09:00")
    total = f"{URL}/aggregations/total?start=2024-01-02T00:00:00Z&end=2024-01-03T00:00:00Z"
    assert admin.get(total).json()["timeframe"]["start"] == "2024-01-02T09:00:00+09:00"
    tariff = f"{URL}/statistics/capacity-tariff?start=2024-01-01T00:00:00Z&end=2024-02-01T00:00:00Z"
    assert admin.get(tariff).json()["data"][0]["timeframe"]["start"].endswith("+09:00")
    put(admin, ENTITY, {})  # no zone of its own: the capacity tariff is Brussels', the others UTC
    assert admin.get(tariff).json()["data"][0]["timeframe"]["start"].endswith("+01:00")
    assert admin.get(total).json()["timeframe"]["start"] == "2024-01-02T00:00:00Z"


def test_a_continuation_token_is_bound_to_the_zone_used(admin: ApiClient) -> None:
    admin.ingest(ENTITY, [energy(f"2024-01-0{d}T{h:02d}:00:00Z", 24 * d + h) for d in (1, 2, 3) for h in range(24)])
    put(admin, ENTITY, {"timeZone": "Europe/Brussels"})
    first = admin.get(f"{URL}/aggregations?start=2024-01-01T00:00:00Z&end=2024-01-04T00:00:00Z"
                      "&resolution=1%20day&pageSize=1").json()
    follow = admin.get(first["links"]["next"])
    assert follow.status_code == 200 and follow.json()["data"][0]["timeframe"]["start"].endswith("+01:00")
    put(admin, ENTITY, {"timeZone": "Asia/Tokyo"})
    refused = admin.get(first["links"]["next"])
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "InvalidContinuationToken"
