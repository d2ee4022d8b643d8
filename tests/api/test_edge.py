"""The edge of the service: headers on every response, the hosts it answers to, the base of its links
(semantics.md §6, §7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.storage.sqlite import SQLiteStore

from ..conftest import ENTITY, SECRET, ApiClient, energy, make_token

BASE = f"/v1/entities/{ENTITY}/readings"
AGG = f"/v1/entities/{ENTITY}/aggregations"
WINDOW = {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z"}


def _client(tmp_path: Path, **settings: Any) -> ApiClient:
    db = str(tmp_path / "edge.db")
    return ApiClient(create_app(Settings(database=db, jwt_secret=SECRET, **settings), SQLiteStore(db)))


def _assert_security_headers(response: httpx.Response) -> None:
    for name, value in (("cache-control", "no-store"), ("x-content-type-options", "nosniff")):
        assert response.headers.get_list(name) == [value], (response.status_code, response.request.url, name)


# (method, url, extra request arguments, expected status)
REQUESTS: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/healthz", {}, 200),
    ("GET", "/openapi.json", {}, 200),
    ("GET", BASE, {"params": {**WINDOW, "pageSize": 1}}, 200),
    ("GET", f"{BASE}/last", {}, 200),
    ("GET", AGG, {"params": {**WINDOW, "resolution": "1 hour"}}, 200),
    ("GET", f"{AGG}/total", {"params": WINDOW}, 200),
    ("POST", BASE, {"json": {"data": [energy("2024-05-27T14:00:00Z", 3)]}}, 200),
    ("GET", AGG, {"params": {**WINDOW, "resolution": "1 quarter"}}, 400),
    ("GET", f"{BASE}/last", {"headers": {"Authorization": "Bearer nope"}}, 401),
    ("GET", f"{BASE}/last", {"headers": {"Authorization": f"Bearer {make_token(scope='x')}"}}, 403),
    ("GET", "/v1/entities/not-a-uuid/readings/last", {}, 404),
    ("GET", "/nowhere", {}, 404),
    ("DELETE", BASE, {}, 405),
    ("POST", BASE, {"content": b"x" * 5000, "headers": {"Content-Type": "application/json"}}, 413),
    ("GET", f"{BASE}/last", {"headers": {"X-Padding": "p" * 20_000}}, 431),
    ("GET", f"{BASE}/", {"follow_redirects": False}, 307),
]


def test_every_response_carries_no_store_and_nosniff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _client(tmp_path, max_body_bytes=4096) as client:
        client.ingest(ENTITY, [energy("2024-05-27T12:00:00Z", 1), energy("2024-05-27T13:00:00Z", 2)])
        for method, url, kwargs, status in REQUESTS:
            response = client.request(method, url, **kwargs)
            assert response.status_code == status, (method, url, response.text[:200])
            _assert_security_headers(response)

        def bug(*args: Any) -> Any:
            raise KeyError("bug")

        monkeypatch.setattr(client.app.state.api.store, "last_reading", bug)  # type: ignore[attr-defined]
        response = TestClient.request(client, "GET", f"{BASE}/last", headers={"Authorization": f"Bearer {make_token()}"})
        assert response.status_code == 500
        _assert_security_headers(response)


# -- the hosts we answer to, and the base of links ---------------------------------------------------------
def _paged(client: TestClient, headers: dict[str, str]) -> httpx.Response:
    return client.get(BASE, params={**WINDOW, "pageSize": 1}, headers=headers)


def _next(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["links"]["next"].split("?")[0]


PAGE_PATH = BASE
# (settings, peer address, request headers, the next link's URL without query, or the error code)
HOSTS: list[tuple[dict[str, Any], str, dict[str, str], str]] = [
    # default: loopback names (any port), the listen address unless a wildcard
    ({}, "127.0.0.1", {"Host": "localhost"}, f"http://localhost{PAGE_PATH}"),
    ({}, "127.0.0.1", {"Host": "LOCALHOST:8080"}, f"http://LOCALHOST:8080{PAGE_PATH}"),
    ({}, "127.0.0.1", {"Host": "127.0.0.1:8080"}, f"http://127.0.0.1:8080{PAGE_PATH}"),
    ({}, "::1", {"Host": "[::1]:8080"}, f"http://[::1]:8080{PAGE_PATH}"),
    ({}, "127.0.0.1", {"Host": "evil.example"}, "InvalidHost"),
    ({}, "127.0.0.1", {"Host": "localhost.evil.example"}, "InvalidHost"),
    ({}, "127.0.0.1", {"Host": "10.1.2.3:8080"}, "InvalidHost"),
    ({"host": "10.1.2.3"}, "10.9.9.9", {"Host": "10.1.2.3:8080"}, f"http://10.1.2.3:8080{PAGE_PATH}"),
    ({"host": "0.0.0.0"}, "10.9.9.9", {"Host": "10.1.2.3:8080"}, "InvalidHost"),
    # malformed Host values
    ({}, "127.0.0.1", {"Host": "local host"}, "InvalidHost"),
    ({}, "127.0.0.1", {"Host": "localhost:99999"}, "InvalidHost"),
    ({}, "127.0.0.1", {"Host": "localhost:"}, "InvalidHost"),
    ({}, "127.0.0.1", {"Host": "[::1"}, "InvalidHost"),
    ({}, "127.0.0.1", {"Host": "[zz::1]"}, "InvalidHost"),
    ({}, "127.0.0.1", {"Host": "localhost/evil"}, "InvalidHost"),
    ({}, "127.0.0.1", {"Host": "user@localhost"}, "InvalidHost"),
    # an explicit list replaces the default; '*.x' matches subdomains only; '*' anything
    ({"allowed_hosts": ("*.example.com",)}, "127.0.0.1", {"Host": "a.example.com"}, f"http://a.example.com{PAGE_PATH}"),
    ({"allowed_hosts": ("*.example.com",)}, "127.0.0.1", {"Host": "example.com"}, "InvalidHost"),
    ({"allowed_hosts": ("*.example.com",)}, "127.0.0.1", {"Host": "evilexample.com"}, "InvalidHost"),
    ({"allowed_hosts": ("*.example.com",)}, "127.0.0.1", {"Host": "localhost"}, "InvalidHost"),
    ({"allowed_hosts": ("*",)}, "127.0.0.1", {"Host": "anything.example"}, f"http://anything.example{PAGE_PATH}"),
    # public_url: links from it whatever the (allowed) Host; its host is allowed by default
    ({"public_url": "https://api.example.com/readings/"}, "127.0.0.1", {"Host": "api.example.com"},
     f"https://api.example.com/readings{PAGE_PATH}"),
    ({"public_url": "https://api.example.com"}, "127.0.0.1", {"Host": "localhost:8080"}, f"https://api.example.com{PAGE_PATH}"),
    ({"public_url": "https://api.example.com"}, "127.0.0.1", {"Host": "evil.example"}, "InvalidHost"),
    # X-Forwarded-* from a peer that is not a trusted proxy: ignored
    ({}, "127.0.0.1", {"Host": "localhost", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
                       "X-Forwarded-Prefix": "/x"}, f"http://localhost{PAGE_PATH}"),
    ({"trusted_proxies": ("10.0.0.0/8",)}, "127.0.0.1", {"Host": "localhost", "X-Forwarded-Host": "evil.example"},
     f"http://localhost{PAGE_PATH}"),
    # from a trusted proxy: honoured, the forwarded host checked like a Host, the last value of a list counts
    ({"trusted_proxies": ("10.0.0.0/8",), "allowed_hosts": ("api.example.com",)}, "10.0.0.7",
     {"Host": "backend:8080", "X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "https",
      "X-Forwarded-Prefix": "/readings/"}, f"https://api.example.com/readings{PAGE_PATH}"),
    ({"trusted_proxies": ("10.0.0.7",), "allowed_hosts": ("api.example.com",)}, "10.0.0.7",
     {"Host": "api.example.com", "X-Forwarded-Proto": "https"}, f"https://api.example.com{PAGE_PATH}"),
    ({"trusted_proxies": ("10.0.0.7", "::1"), "allowed_hosts": ("api.example.com",)}, "10.0.0.7",
     {"Host": "x", "X-Forwarded-Host": "evil.example, api.example.com"}, f"http://api.example.com{PAGE_PATH}"),
    ({"trusted_proxies": ("10.0.0.7",), "allowed_hosts": ("api.example.com",)}, "10.0.0.7",
     {"Host": "api.example.com", "X-Forwarded-Host": "api.example.com, evil.example"}, "InvalidHost"),
    ({"trusted_proxies": ("10.0.0.7",)}, "10.0.0.7", {"Host": "localhost", "X-Forwarded-Proto": "ftp"}, "InvalidHost"),
    ({"trusted_proxies": ("10.0.0.7",)}, "10.0.0.7", {"Host": "localhost", "X-Forwarded-Prefix": "//evil.example"},
     "InvalidHost"),
    ({"trusted_proxies": ("10.0.0.7",)}, "10.0.0.7", {"Host": "localhost", "X-Forwarded-Prefix": "/a b"}, "InvalidHost"),
]


@pytest.mark.parametrize(("settings", "peer", "headers", "expected"), HOSTS)
def test_hosts_and_links(tmp_path: Path, settings: dict[str, Any], peer: str, headers: dict[str, str],
                         expected: str) -> None:
    db = str(tmp_path / "hosts.db")
    app = create_app(Settings(database=db, jwt_secret=SECRET, **settings), SQLiteStore(db))
    auth = {"Authorization": f"Bearer {make_token()}"}
    with TestClient(app, base_url="http://localhost", client=(peer, 50000)) as client:
        for ts in ("2024-05-27T12:00:00Z", "2024-05-27T13:00:00Z"):
            client.post(BASE, json={"data": [energy(ts, 1)]}, headers={**auth, **headers})
        response = _paged(client, {**auth, **headers})
        _assert_security_headers(response)
        if expected == "InvalidHost":
            assert response.status_code == 400, response.text
            assert response.json()["errors"][0]["code"] == "InvalidHost"
            assert "evil" not in response.text
            return
        assert _next(response) == expected
        # the trailing-slash redirect points at the same base
        redirect = client.get(f"{BASE}/", params=WINDOW, headers={**auth, **headers}, follow_redirects=False)
        assert redirect.status_code == 307
        assert redirect.headers["location"] == f"{expected}?start=2024-05-27T00%3A00%3A00Z&end=2024-05-28T00%3A00%3A00Z"


def test_a_forged_host_is_refused_everywhere_but_healthz(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        evil = {"Host": "evil.example"}
        for method, url, kwargs, _ in REQUESTS[1:]:
            response = client.request(method, url, **{**kwargs, "headers": {**kwargs.get("headers", {}), **evil}})
            assert response.status_code == 400 and response.json()["errors"][0]["code"] == "InvalidHost", url
        assert client.get("/healthz", headers=evil).status_code == 200


@pytest.mark.parametrize("settings", [
    {"allowed_hosts": ("localhost:8080",)}, {"allowed_hosts": ("*example.com",)}, {"allowed_hosts": ("a*.com",)},
    {"allowed_hosts": ("::1",)}, {"allowed_hosts": ("http://x",)}, {"trusted_proxies": ("proxy.local",)},
    {"trusted_proxies": ("10.0.0.0/33",)}, {"public_url": "api.example.com"}, {"public_url": "ftp://x"},
    {"public_url": "https://x/?a=1"},
])
def test_bad_edge_settings_are_refused_at_start(tmp_path: Path, settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        create_app(Settings(database=str(tmp_path / "x.db"), jwt_secret=SECRET, **settings))


def test_list_settings_from_variables_and_flags() -> None:
    env = {"CONNECT_READINGS_ALLOWED_HOSTS": "api.example.com, *.example.org", "CONNECT_READINGS_TRUSTED_PROXIES": "10.0.0.1"}
    settings = Settings.from_env(env)
    assert settings.allowed_hosts == ("api.example.com", "*.example.org")
    assert settings.trusted_proxies == ("10.0.0.1",)
    assert Settings.from_env(env, trusted_proxies="10.0.0.0/8,::1").trusted_proxies == ("10.0.0.0/8", "::1")
    assert Settings.from_env(Settings.from_env(env).to_env()) == settings
