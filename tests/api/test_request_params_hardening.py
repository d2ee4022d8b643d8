"""Issue 19, items 9 and 11: continuation tokens outside the window, a signed `pageSize`, `format` where only JSON is
answered, and the empty `continuationToken` that generated clients send."""

from __future__ import annotations

import base64
import uuid

import orjson
import pytest

from connect_readings.domain import paging
from connect_readings.domain.timefmt import MIN_US, parse_datetime

from ..conftest import ApiClient

START, END = "2024-05-27T00:00:00Z", "2024-05-28T00:00:00Z"


def fill(client: ApiClient, entity: uuid.UUID) -> None:
    readings = [{"timestamp": f"2024-05-27T{h:02d}:{m:02d}:00Z",
                 "data": {"positiveActiveEnergy": {"total": h + m / 60, "unit": "kWh"},
                          "positiveActiveInstantaneousPower": {"total": 1000.0, "unit": "W"}}}
                for h in range(24) for m in (0, 30)]
    assert client.post(f"/v1/entities/{entity}/readings", json={"data": readings}).status_code == 200


PAGED = {
    "readings": {"start": START, "end": END, "pageSize": "5"},
    "aggregations": {"start": START, "end": END, "resolution": "1 hour", "pageSize": "5"},
    "statistics": {"start": START, "end": END, "resolution": "1 hour", "pageSize": "5"},
}


def resigned(client: ApiClient, token: str, position: int) -> str:
    """The token with another position, signed with the service's own key (as a leaked key or a bug would)."""
    payload = orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=" * (-len(token.split(".")[0]) % 4)))
    return paging._sign(client.app.state.api.paging_key, {**payload, "p": position})


@pytest.mark.parametrize("path", list(PAGED))
@pytest.mark.parametrize("position", [0, -1, MIN_US, parse_datetime(START) - 1, parse_datetime(END),
                                      parse_datetime("2199-01-01T00:00:00Z")],
                         ids=["epoch", "minus-one", "1900", "before-start", "at-end", "after-end"])
def test_a_signed_position_outside_the_window_is_a_400(client: ApiClient, path: str, position: int) -> None:
    entity = uuid.uuid4()
    fill(client, entity)
    first = client.get(f"/v1/entities/{entity}/{path}", params=PAGED[path]).json()
    token = first["meta"]["continuationToken"]
    assert token
    response = client.get(f"/v1/entities/{entity}/{path}",
                          params={**PAGED[path], "continuationToken": resigned(client, token, position)})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["code"] == "InvalidContinuationToken"


@pytest.mark.parametrize("path", list(PAGED))
def test_an_empty_continuation_token_is_the_first_page(client: ApiClient, path: str) -> None:
    entity = uuid.uuid4()
    fill(client, entity)
    first = client.get(f"/v1/entities/{entity}/{path}", params=PAGED[path])
    empty = client.get(f"/v1/entities/{entity}/{path}", params={**PAGED[path], "continuationToken": ""})
    assert empty.status_code == 200 and empty.json() == first.json()


def test_an_empty_continuation_token_lists_the_first_entities(client: ApiClient) -> None:
    fill(client, uuid.uuid4())
    assert client.get("/v1/entities", params={"continuationToken": ""}).json() == client.get("/v1/entities").json()


@pytest.mark.parametrize("size", ["+5", " 5", "5 ", "-5", "0x5", "٥"])
def test_page_size_is_ascii_digits_only(client: ApiClient, size: str) -> None:
    entity = uuid.uuid4()
    fill(client, entity)
    response = client.get(f"/v1/entities/{entity}/readings", params={"start": START, "pageSize": size})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "InvalidPageSize"


def test_a_plus_in_the_query_string_is_a_space_and_refused(client: ApiClient) -> None:
    entity = uuid.uuid4()
    fill(client, entity)
    response = client.get(f"/v1/entities/{entity}/readings?start={START}&pageSize=+5")
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "InvalidPageSize"


@pytest.mark.parametrize(("path", "query"), [
    ("aggregations/total", {"start": START, "end": END}),
    ("readings/last", {}),
    ("statistics/capacity-tariff", {"start": START, "end": END}),
])
def test_format_where_only_json_is_answered(client: ApiClient, path: str, query: dict[str, str]) -> None:
    entity = uuid.uuid4()
    fill(client, entity)
    url = f"/v1/entities/{entity}/{path}"
    refused = client.get(url, params={**query, "format": "csv"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "InvalidFormat"
    assert client.get(url, params={**query, "format": "json"}).status_code == 200
    assert client.get(url, params=query).status_code == 200
