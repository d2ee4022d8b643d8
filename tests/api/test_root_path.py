"""CONNECT_READINGS_ROOT_PATH: every route, the OpenAPI `servers` entry and `links.next` under the prefix."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.storage.base import Store

from ..conftest import ENTITY, ApiClient, energy

ROOT = "/connect"
PARAMS = {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z", "resolution": "15 minutes"}


@pytest.fixture
def rooted(settings: Settings, store: Store) -> Iterator[ApiClient]:
    app = create_app(dataclasses.replace(settings, root_path=ROOT + "/"), store)  # a trailing slash is dropped
    with ApiClient(app) as client:
        client.root_path = ROOT
        yield client


def _meter(client: ApiClient) -> None:
    readings = [energy(f"2024-05-27T{q // 4:02d}:{q % 4 * 15:02d}:00Z", q * 0.25) for q in range(4 * 10 + 1)]
    assert client.post(f"{ROOT}/v1/entities/{ENTITY}/readings", json={"data": readings}).status_code == 200


def test_every_route_is_served_under_the_root_path_only(rooted: ApiClient) -> None:
    _meter(rooted)
    for path in ("/healthz", "/readyz", "/openapi.json", f"/v1/entities/{ENTITY}/readings/last"):
        assert rooted.get(ROOT + path).status_code == 200, path
        outside = rooted.get(path)
        assert outside.status_code == 404 and outside.json()["errors"][0]["code"] == "NotFound", path
    assert rooted.get(f"{ROOT}/openapi.json").json()["servers"] == [{"url": ROOT}]


def test_continuation_link_followed_as_is_works_under_the_root_path(rooted: ApiClient, client: ApiClient) -> None:
    _meter(rooted)
    client.ingest(ENTITY, [energy(f"2024-05-27T{q // 4:02d}:{q % 4 * 15:02d}:00Z", q * 0.25) for q in range(41)])
    expected = client.get(f"/v1/entities/{ENTITY}/aggregations", params={**PARAMS, "pageSize": 1000}).json()["data"]
    assert len(expected) == 40
    collected: list[Any] = []
    response = rooted.get(f"{ROOT}/v1/entities/{ENTITY}/aggregations", params={**PARAMS, "pageSize": 7})
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        collected.extend(body["data"])
        pages += 1
        link = body["links"]["next"]
        if link is None:
            break
        assert link.startswith(f"{str(rooted.base_url).rstrip('/')}{ROOT}/v1/entities/{ENTITY}/aggregations?"), link
        response = rooted.get(link)  # as given: no prefix added or removed by the client
    assert pages == 6 and collected == expected


def test_public_url_is_the_origin_in_front_of_the_root_path(settings: Settings, store: Store) -> None:
    app = create_app(dataclasses.replace(settings, root_path=ROOT, public_url="https://api.example.com"), store)
    with ApiClient(app) as client:
        client.root_path = ROOT
        _meter(client)
        body = client.get(f"{ROOT}/v1/entities/{ENTITY}/readings", params={**PARAMS, "pageSize": 5}).json()
    assert body["links"]["next"].startswith(f"https://api.example.com{ROOT}/v1/entities/{ENTITY}/readings?")


@pytest.mark.parametrize("root", ["connect", "/con nect", "/a//b", "/x?y"])
def test_a_malformed_root_path_is_refused_at_start(settings: Settings, store: Store, root: str) -> None:
    with pytest.raises(ValueError, match="root path"):
        create_app(dataclasses.replace(settings, root_path=root), store)
