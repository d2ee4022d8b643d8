"""The entity registry's PUT against hostile input, on both backends (docs/semantics.md §12; issue 19 items 5, 6,
11): nesting and NUL characters refused before they reach a store (no 500 on PUT, none later on GET), a key
given twice refused as for ingest, numbers as documented (doubles; beyond one refused), a parent the token may
not see served as null, and the parent cycle check serialised with the write (no cycle from concurrent PUTs)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from connect_readings.domain.entities import EntityRecord
from connect_readings.storage.base import Store

from ..conftest import ENTITY, OTHER, ApiClient, make_token

ALL = "readings:read readings:write entities:write"
URL = f"/v1/entities/{ENTITY}"


@pytest.fixture
def admin(client: ApiClient) -> ApiClient:
    client.token = make_token(scope=ALL)
    return client


def put_raw(client: ApiClient, entity: uuid.UUID, body: bytes) -> Any:
    return client.put(f"/v1/entities/{entity}", content=body, headers={"Content-Type": "application/json"})


def nested(depth: int, leaf: str = "1") -> str:
    """An object `depth` levels deep as JSON text: nested(1) is {"k":1}, nested(2) is {"k":{"k":1}}."""
    return '{"k":' * depth + leaf + "}" * depth


def assert_refused(client: ApiClient, response: Any, code: str, field: str | None = None) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == code, error
    if field is not None:
        assert field in error["message"], error
    assert client.get(URL).status_code == 404  # nothing registered


# -- nesting: a documented bound, refused on PUT, so a stored entity can always be served --------------------
def test_properties_nest_at_most_32_deep(admin: ApiClient) -> None:
    response = put_raw(admin, ENTITY, f'{{"properties":{nested(32)}}}'.encode())
    assert response.status_code == 201, response.text
    assert admin.get("/v1/entities").status_code == 200
    mixed = '{"properties":' + '{"a":[' * 16 + "1" + "]}" * 16 + "}"  # arrays count as levels too: 32 deep
    assert put_raw(admin, ENTITY, mixed.encode()).status_code == 200


@pytest.mark.parametrize("depth", [33, 252, 253, 300, 1000])
def test_properties_nested_deeper_are_refused(admin: ApiClient, depth: int) -> None:
    response = put_raw(admin, ENTITY, f'{{"properties":{nested(depth)}}}'.encode())
    assert_refused(admin, response, "InvalidEntity", "'properties'")
    assert admin.get("/v1/entities").status_code == 200


def test_a_body_nested_beyond_the_json_reader_is_invalid_json(admin: ApiClient) -> None:
    response = put_raw(admin, ENTITY, f'{{"properties":{nested(5000)}}}'.encode())
    assert_refused(admin, response, "InvalidJson", "deep")


def test_arrays_nested_deeper_are_refused(admin: ApiClient) -> None:
    response = put_raw(admin, ENTITY, b'{"properties":{"a":' + b"[" * 40 + b"]" * 40 + b"}}")
    assert_refused(admin, response, "InvalidEntity", "'properties'")


def test_an_entity_stored_deep_before_the_bound_is_still_served(admin: ApiClient, store: Store) -> None:
    """A row written before the bound (PUT then accepted 254 levels) must not make the listing a 500."""
    deep: Any = 1
    for _ in range(254):
        deep = {"k": deep}
    store.put_entity(EntityRecord(ENTITY, "Meter", properties=deep, created=1))
    listed = admin.get("/v1/entities")
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"][0]["properties"] == deep
    one = admin.get(URL)
    assert one.status_code == 200 and one.json()["properties"] == deep


# -- NUL: PostgreSQL text cannot hold it; refused on both backends -------------------------------------------
@pytest.mark.parametrize("body, field", [
    ('{"name":"a\\u0000b"}', "'name'"),
    ('{"brand":"\\u0000"}', "'brand'"),
    ('{"identifier":"SN\\u0000"}', "'identifier'"),
    ('{"properties":{"a":"x\\u0000"}}', "'properties'"),
    ('{"properties":{"a\\u0000":1}}', "'properties'"),
    ('{"properties":{"a":[{"b":["\\u0000"]}]}}', "'properties'"),
    ('{"timeZone":"Europe/Brussels\\u0000"}', "'timeZone'"),
    ('{"type":"Meter\\u0000"}', "'type'"),
])
def test_nul_characters_are_refused(admin: ApiClient, body: str, field: str) -> None:
    assert_refused(admin, put_raw(admin, ENTITY, body.encode()), "InvalidEntity", field)


def test_a_nul_refused_on_replace_keeps_the_old_description(admin: ApiClient) -> None:
    assert put_raw(admin, ENTITY, b'{"name":"kept"}').status_code == 201
    response = put_raw(admin, ENTITY, b'{"name":"bad\\u0000"}')
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == "InvalidEntity"
    assert admin.get(URL).json()["name"] == "kept"


def test_an_escaped_backslash_u0000_is_text_not_nul(admin: ApiClient) -> None:
    response = put_raw(admin, ENTITY, b'{"name":"\\\\u0000","properties":{"p":"\\\\u0000"}}')
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "\\u0000" and response.json()["properties"] == {"p": "\\u0000"}


# -- a key given twice: DuplicateKey, anywhere in the body, as for ingest -----------------------------------
@pytest.mark.parametrize("body", [
    '{"name":"a","name":"b"}',
    '{"name":"a","n\\u0061me":"b"}',
    '{"properties":{"a":1,"a":2}}',
    '{"properties":{"a":[{"b":1,"b":1}]}}',
    '{"type":null,"type":"Meter"}',
    '{"properties":null,"properties":{}}',
])
def test_a_key_given_twice_is_duplicate_key(admin: ApiClient, body: str) -> None:
    assert_refused(admin, put_raw(admin, ENTITY, body.encode()), "DuplicateKey")


def test_a_repeated_key_inside_a_string_is_not_a_duplicate(admin: ApiClient) -> None:
    response = put_raw(admin, ENTITY, b'{"name":"a:b\\u003a","properties":{"x":"\\"x\\":1"}}')
    assert response.status_code == 201, response.text


# -- numbers in properties: doubles (integers of 64 bits exact); beyond a double refused ---------------------
def test_numbers_in_properties_are_doubles(admin: ApiClient) -> None:
    body = (b'{"properties":{"u64":18446744073709551615,"i64":-9223372036854775808,"big":18446744073709551616,'
            b'"tiny":1e-400,"f":1.10,"e":1E2}}')
    response = put_raw(admin, ENTITY, body)
    assert response.status_code == 201, response.text
    expected = {"u64": 2**64 - 1, "i64": -2**63, "big": 1.8446744073709552e19, "tiny": 0.0, "f": 1.1, "e": 100.0}
    assert response.json()["properties"] == expected
    served = admin.get(URL)
    assert served.json()["properties"] == expected
    assert b'"u64":18446744073709551615' in served.content and b'"big":1.8446744073709552e+19' in served.content


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400, "1.5e309"])
def test_a_number_beyond_a_double_is_refused(admin: ApiClient, number: str) -> None:
    response = put_raw(admin, ENTITY, f'{{"properties":{{"a":[{number}]}}}}'.encode())
    assert_refused(admin, response, "InvalidEntity", "'properties'")


@pytest.mark.parametrize("body", [b'{"properties":{"a":NaN}}', b'{"properties":{"a":Infinity}}',
                                  b'{"name":"\xff"}', b'{"name":"\\ud800"}', b'{"a":1,}'])
def test_what_is_not_json_stays_invalid_json(admin: ApiClient, body: bytes) -> None:
    assert_refused(admin, put_raw(admin, ENTITY, body), "InvalidJson")


# -- a parent outside the token is served as null --------------------------------------------------------
def test_a_parent_the_token_may_not_see_is_served_as_null(admin: ApiClient) -> None:
    assert put_raw(admin, OTHER, b'{"name":"secret site"}').status_code == 201
    assert put_raw(admin, ENTITY, f'{{"parentId":"{OTHER}"}}'.encode()).status_code == 201
    assert admin.get(URL).json()["parentId"] == str(OTHER)  # a token that sees both: the parent
    admin.token = make_token([str(ENTITY)], scope=ALL)
    assert admin.get(URL).json()["parentId"] is None
    assert admin.get("/v1/entities").json()["data"][0]["parentId"] is None
    admin.token = make_token([str(ENTITY), str(OTHER)])
    assert admin.get(URL).json()["parentId"] == str(OTHER)
    listed = {item["id"]: item["parentId"] for item in admin.get("/v1/entities").json()["data"]}
    assert listed == {str(ENTITY): str(OTHER), str(OTHER): None}


# -- the cycle check and the write are one transaction ------------------------------------------------------
def test_concurrent_puts_never_make_a_parent_cycle(admin: ApiClient, store: Store, monkeypatch: Any) -> None:
    """PUT X {parentId: Y} and PUT Y {parentId: X} at once: exactly one succeeds, the other is 400 (it would make
    a cycle), in every round. Reads made outside the write transaction are slowed down a little, so that a check
    made there (before the write) loses the race at once instead of now and then."""
    for name in ("entity", "entity_head"):
        original = getattr(store, name)

        def slow(*args: Any, _original: Any = original) -> Any:
            found = _original(*args)
            time.sleep(0.003)  # between the read and whatever the caller does with it
            return found

        monkeypatch.setattr(store, name, slow)
    cycles, rounds = 0, 15
    for _ in range(rounds):
        x, y = uuid.uuid4(), uuid.uuid4()
        assert put_raw(admin, x, b"{}").status_code == 201 and put_raw(admin, y, b"{}").status_code == 201
        barrier = threading.Barrier(2)
        statuses: dict[uuid.UUID, int] = {}

        def parent(child: uuid.UUID, of: uuid.UUID, barrier: threading.Barrier = barrier,
                   statuses: dict[uuid.UUID, int] = statuses) -> None:
            barrier.wait()
            statuses[child] = put_raw(admin, child, f'{{"parentId":"{of}"}}'.encode()).status_code

        threads = [threading.Thread(target=parent, args=(x, y)), threading.Thread(target=parent, args=(y, x))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stored_x, stored_y = store.entity(x), store.entity(y)
        assert stored_x is not None and stored_y is not None
        if stored_x.parent_id == y and stored_y.parent_id == x:
            cycles += 1
        else:
            assert sorted(statuses.values()) == [200, 400], statuses
    assert cycles == 0, f"{cycles} of {rounds} rounds made a cycle"


def test_the_store_refuses_a_cycle_in_its_write_transaction(store: Store) -> None:
    """The check is the store's, so every writer of the registry keeps it; a refusal writes nothing."""
    from connect_readings.domain.errors import DomainError

    x, y, z = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    store.put_entity(EntityRecord(x, created=1))
    store.put_entity(EntityRecord(y, parent_id=x, created=1))
    store.put_entity(EntityRecord(z, parent_id=y, created=1))
    with pytest.raises(DomainError) as refused:
        store.put_entity(EntityRecord(x, name="renamed", parent_id=z, created=1))
    assert refused.value.code == "InvalidEntity" and "'parentId'" in refused.value.message
    after = store.entity(x)
    assert after is not None and after.parent_id is None and after.name is None
    record, created = store.put_entity(EntityRecord(x, name="renamed", created=1))  # the connection is usable
    assert record.name == "renamed" and not created
