"""Claims read with care (issue 19): booleans are not NumericDates, `entities: ["*"]` is every entity, and the
Authorization header's spellings (semantics.md §8)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from ..conftest import ENTITY, OTHER, SECRET, ApiClient, energy, make_token

LAST = f"/v1/entities/{ENTITY}/readings/last"


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {"scope": "readings:read readings:write", "entities": "*", "iat": now, "exp": now + 600}
    body.update(overrides)
    return body


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_numeric_date_is_refused(client: ApiClient, claim: str, value: bool) -> None:
    """`True` is 1 to Python: `exp: true` must not read as 1970 (expired), nor `nbf: false` as valid."""
    token = jwt.encode(_claims(**{claim: value}), SECRET, algorithm="HS256")
    response = client.get(LAST, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="connect-readings", error="invalid_token"'
    error = response.json()["errors"][0]
    assert error["code"] == "Unauthorized"
    assert error["message"] == "the bearer token's 'exp', 'nbf' and 'iat' must be numbers of seconds"


def _seed_both(client: ApiClient) -> None:
    for entity in (ENTITY, OTHER):
        assert client.ingest(entity, [energy("2024-05-27T13:00:00Z", 1)]).status_code == 200


def _sees(client: ApiClient, token: str) -> set[str]:
    seen = set()
    for entity in (ENTITY, OTHER):
        response = client.get(f"/v1/entities/{entity}/readings/last", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (200, 404), response.text
        if response.status_code == 200:
            seen.add(str(entity))
    return seen


def test_entities_star_alone_in_a_list_is_every_entity(client: ApiClient) -> None:
    _seed_both(client)
    every = {str(ENTITY), str(OTHER)}
    assert _sees(client, make_token(entities="*")) == every
    assert _sees(client, make_token(entities=["*"])) == every
    # beside UUIDs "*" is just an item that is not a UUID: ignored
    assert _sees(client, make_token(entities=["*", str(OTHER)])) == {str(OTHER)}
    assert _sees(client, make_token(entities=["*", "*"])) == set()
    assert _sees(client, make_token(entities="**")) == set()


@pytest.mark.parametrize("template", ["Bearer {}", "bearer {}", "BEARER {}", "Bearer   {}", "  Bearer {}  "])
def test_accepted_spellings_of_the_header(client: ApiClient, template: str) -> None:
    response = client.get(LAST, headers={"Authorization": template.format(make_token())})
    assert response.status_code == 404, response.text  # accepted; no reading yet


@pytest.mark.parametrize("suffix", ["=", "==", "==="])
def test_a_padded_token_is_refused(client: ApiClient, suffix: str) -> None:
    token = make_token()
    assert client.get(LAST, headers={"Authorization": f"Bearer {token}"}).status_code == 404
    response = client.get(LAST, headers={"Authorization": f"Bearer {token}{suffix}"})
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0] == {
        "code": "Unauthorized", "message": "the bearer token is not a well-formed JWT", "description": None}


def test_padding_inside_the_token_is_refused(client: ApiClient) -> None:
    head, payload, signature = next(parts for parts in (make_token(pad="x" * n).split(".") for n in range(4))
                                    if len(parts[1]) % 4)
    padded = payload + "=" * (-len(payload) % 4)
    assert client.get(LAST, headers={"Authorization": f"Bearer {head}.{payload}.{signature}"}).status_code == 404
    response = client.get(LAST, headers={"Authorization": f"Bearer {head}.{padded}.{signature}"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "the bearer token is not a well-formed JWT"
