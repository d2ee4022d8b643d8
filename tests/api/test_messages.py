"""Error messages are ours, written for the API's user: never Python's, a library's, or a traceback (issue 10).

Many bad inputs — a table of known-nasty ones, then generated ones — go to every endpoint; every refusal must
be a 4xx with the error body, and its message must read like ours.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_readings.domain.errors import quoted

from ..conftest import ENTITY, SECRET, ApiClient, energy

AGG = f"/v1/entities/{ENTITY}/aggregations"
READINGS = f"/v1/entities/{ENTITY}/readings"
GOOD = {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z", "resolution": "1 hour"}
PARAMETERS = ["start", "end", "resolution", "pageSize", "continuationToken", "timeZone"]
PATHS = [AGG, f"{AGG}/total", READINGS]

# What Python, its libraries or a repr let slip.
PYTHONISH = re.compile(
    r"timedelta|datetime\.|Traceback|object has no attribute|invalid literal|NoneType|\bNone\b|not subscriptable"
    r"|unsupported operand|takes \d+ positional|Expected `|msgspec|orjson|pydantic|jwt\.|PyJWT|sqlite|psycopg"
    r"|Error\b|Exception\b|\.py\b|line \d+|<class|<[a-z_.]+ object|0x[0-9a-f]{6,}|\\x[0-9a-f]{2}|(?<![\w'])b['\"]|\['"
    r"|\bint\(|\bfloat\(|\bstr\(|Not Found|Method Not Allowed",
)

NASTY = [
    "", " ", "\x00", "\ud7ff", "\u202e", "'", '"', "\\", "%", "../..", "a" * 300, "１", "-1", "0", "1e400", "nan",
    "inf", "-inf", "+24:00", "2024-05-27T13:00:00+24:00", "2024-05-27T13:00:00+99:99", "2024-05-27T13:00:00-23:59",
    "9999-12-31T23:59:59+23:59", "0001-01-01T00:00:00-23:59", "2024-02-30", "2024-05-27T13:00:00.1234567890123Z",
    "P1Y" * 50, "99999999999999999999 hours", "1e308 hours", "999999999 years", "2147483648 months",
    "9223372036854775807 microseconds", "0 days 99999999999:00:00", "1:99999999999999999", "PT9999999999999999999H",
    "P99999999999999999999D", "PT0.0000001S", "1 millennium", "Europe/Berlin", "localtime", "posix/UTC",
    "Factory", "x.y", "a.b.c", "eyJxIjoiIn0.AAAA", "1 hour ago", "1,5 hours", "None", "null", "[]", "{}",
]


def _check(response: httpx.Response, *sent: str) -> None:
    """A 4xx with our error body; its text, once the client's own `sent` texts are taken out, is ours."""
    assert response.status_code < 500, response.text
    if response.status_code < 400:
        return
    [error] = response.json()["errors"]
    assert error["code"] and error["message"], error
    echoes = {form[:n] for text in sent for form in (text, quoted(text, 10**6)[1:-1])
              for n in (16, 17, 40, 57, 64, len(form))}
    for text in (error["message"], error["description"] or ""):
        for echo in sorted(echoes, key=len, reverse=True):
            text = text.replace(echo, "") if echo else text
        assert not PYTHONISH.search(text), (response.request.url, error)


@pytest.fixture
def seeded(client: ApiClient) -> ApiClient:
    client.ingest(ENTITY, [energy("2024-05-27T12:00:00Z", 1), energy("2024-05-27T13:00:00Z", 2)])
    return client


@pytest.mark.parametrize("value", NASTY, ids=lambda v: repr(v)[:20])
def test_nasty_query_values(seeded: ApiClient, value: str) -> None:
    for path in PATHS:
        for name in PARAMETERS:
            _check(seeded.get(path, params={**GOOD, name: value}), value)


def _token(**claims: Any) -> str:
    body = {"scope": "readings:read", "entities": "*", "exp": int(time.time()) + 60, **claims}
    return jwt.encode(body, SECRET, algorithm="HS256")


AUTHORIZATIONS = [
    "", "Bearer", "Bearer ", "Basic abc", "Bearer x", "Bearer a.b.c", "Bearer e30.e30.e30", "Bearer !!!.!!!.!!!",
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.e30", "Bearer eyJhbGciOjV9.e30.e30", "Bearer eyJ0eXAiOiJKV1QifQ.e30.e30",
    f"Bearer {_token(exp='x')}", f"Bearer {_token(exp=None)}", f"Bearer {_token(nbf=[1])}", f"Bearer {_token(iat={})}",
    f"Bearer {_token(aud=5)}", f"Bearer {_token(scope=5, entities={'a': 1})}", f"Bearer {_token(exp=10**400)}",
]


@pytest.mark.parametrize("authorization", AUTHORIZATIONS, ids=lambda v: v[:24])
def test_nasty_authorizations(seeded: ApiClient, authorization: str) -> None:
    _check(seeded.get(f"{READINGS}/last", headers={"Authorization": authorization}))


BODIES = [
    b"", b"{", b"[]", b"null", b"5", b'"x"', b'{"data": 5}', b'{"data": [5]}', b'{"data": [null]}', b'{"data": [[]]}',
    b'{"data": [{"timestamp": 5}]}', b'{"data": [{"timestamp": null, "data": null}]}',
    b'{"data": [{"timestamp": "2024-01-01", "data": {"x": {"l1": "a"}}}]}',
    b'{"data": [{"timestamp": "2024-01-01", "data": {"positiveActiveEnergy": {"total": {"a": 1}, "unit": "kWh"}}}]}',
    b'{"data": [{"timestamp": "2024-01-01", "data": {"positiveActiveEnergy": {"total": 1, "unit": 5}}}]}',
    b'{"data": [{"timestamp": "2024-01-01", "data": {"positiveActiveEnergy": {"t1": -1, "total": 1, "unit": "kWh"}}}]}',
    b'{"data": [{"timestamp": "2024-01-01", "data": {"positiveActiveEnergy": {"total": 1e400, "unit": "kWh"}}}]}',
    b'{"data": [{"timestamp": "2024-01-01", "data": {"voltage": {"l1": 123456789012345678901234567890}}}]}',
    b'{"data": [{"timestamp": "2024-01-01", "data": {"voltage": {"unit": [1]}}}]}',
    b'{"data": [{"timestamp": "2024-01-01T00:00:00+24:00", "data": {"voltage": {"l1": 1}}}]}',
    b'{"data": [{"timestamp": "\\ud800", "data": {"voltage": {"l1": 1}}}]}', b"\xff\xfe",
    b'{"data": [{"timestamp": "2024-01-01", "data": {"\\u0000": {"l1": 1}}}]}',
    b'{"data": [{"timestamp": "2024-01-01", "data": {"voltage": {"l1": 1, "l1": 2}}}]}',
]


@pytest.mark.parametrize("body", BODIES, ids=lambda v: repr(v)[2:26])
def test_nasty_bodies(seeded: ApiClient, body: bytes) -> None:
    _check(seeded.post(READINGS, content=body, headers={"Content-Type": "application/json"}))


def test_refusals_of_the_framework(seeded: ApiClient) -> None:
    _check(seeded.get("/nowhere"))
    _check(seeded.delete(READINGS))
    _check(seeded.post(READINGS, content=b"{}", headers={"Content-Type": "text/plain"}))


# -- generated ---------------------------------------------------------------------------------------------
texts = st.text(max_size=40) | st.sampled_from(NASTY)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["timestamp", "data", "total", "unit", "t1", "value", "l1", "voltage", "positiveActiveEnergy",
                         "positiveGasVolume"]) | st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(PARAMETERS), value=texts, path=st.sampled_from(PATHS))
def test_generated_query_values(seeded: ApiClient, name: str, value: str, path: str) -> None:
    _check(seeded.get(path, params={**GOOD, name: value}), value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=json_values)
def test_generated_bodies(seeded: ApiClient, document: Any) -> None:
    for wrapped in (document, {"data": [document]}, {"data": [{"timestamp": "2024-05-27T14:00:00Z", "data": document}]}):
        body = json.dumps(wrapped).encode()  # (ints beyond 64 bits, Infinity: what a client may send)
        _check(seeded.post(READINGS, content=body, headers={"Content-Type": "application/json"}), *_strings(document))


def _strings(document: Any) -> list[str]:
    """Every key and string in a JSON document: what a message may rightly echo."""
    if isinstance(document, str):
        return [document]
    if isinstance(document, list):
        return [text for item in document for text in _strings(item)]
    if isinstance(document, dict):
        return [text for key, value in document.items() for text in (key, *_strings(value))]
    return []
