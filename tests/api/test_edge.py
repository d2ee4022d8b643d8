"""The edge of the service: headers on every response (semantics.md §7)."""

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
