"""Shared fixtures: a real store per backend, the real app behind Starlette's test client, tokens."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.storage.base import Store
from connect_readings.storage.sqlite import SQLiteStore

from .openapi_check import check_response

SECRET = "test-secret-of-at-least-32-bytes-long!!"
ENTITY = uuid.UUID("8667fb97-68f2-485a-87c7-f3bdfa9482e1")
OTHER = uuid.UUID("11111111-2222-4333-8444-555555555555")

BACKENDS = ["sqlite"]
try:  # the PostgreSQL backend adds itself when available (tests/pg.py)
    from .pg import postgres_backend_param, make_postgres_store  # noqa: F401

    BACKENDS.append(postgres_backend_param())
except ImportError:
    pass


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    if request.param == "sqlite":
        s: Store = SQLiteStore(str(tmp_path / "readings.db"))
    else:
        s = make_postgres_store(request)
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return Settings(database=str(tmp_path / "unused.db"), jwt_secret=SECRET)


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator["ApiClient"]:
    app = create_app(settings, store)
    with ApiClient(app) as c:
        yield c


def make_token(
    entities: list[str] | str = "*", scope: str = "readings:read readings:write", ttl: int = 3600, **claims: Any
) -> str:
    now = int(time.time())
    body = {"scope": scope, "entities": entities, "iat": now, "exp": now + ttl, **claims}
    return jwt.encode(body, SECRET, algorithm="HS256")


class ApiClient(TestClient):
    """The framework's test client on the real app; every response is checked against the OpenAPI document."""

    def __init__(self, app: Any, token: str | None = None) -> None:
        super().__init__(app, base_url="http://localhost", raise_server_exceptions=False)
        self.token = token or make_token()
        self.root_path = ""
        """Set to the app's CONNECT_READINGS_ROOT_PATH: the document's paths are then matched below it."""

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token and "Authorization" not in headers and "authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        headers = {k: v for k, v in headers.items() if v is not None}
        response = super().request(method, url, headers=headers, **kwargs)
        check_response(response, self.root_path)
        return response

    def ingest(self, entity: uuid.UUID, readings: list[dict[str, Any]]) -> Any:
        return self.post(f"/v1/entities/{entity}/readings", json={"data": readings})


def energy(ts: str, total: float, t1: float | None = None, t2: float | None = None, unit: str = "kWh",
           **more: Any) -> dict[str, Any]:
    """A reading with a positiveActiveEnergy register."""
    register: dict[str, Any] = {"total": total, "unit": unit}
    if t1 is not None:
        register["t1"] = t1
    if t2 is not None:
        register["t2"] = t2
    return {"timestamp": ts, "data": {"positiveActiveEnergy": register, **more}}


IN_CI = bool(os.environ.get("CI"))
