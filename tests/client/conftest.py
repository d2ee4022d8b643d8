"""A real `connect-readings serve` (tests/test_crash_safety.Server) on a temporary SQLite database, with a
year of the demo's household meter and a month of its gas meter ingested through the client itself."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from connect_readings import demo
from connect_readings.client import Client
from tests.test_crash_safety import SECRET, Server, token

ALL_SCOPES = "readings:read readings:write entities:write"
HOUR_US = 3600 * demo.SECOND
NOW_US = time.time_ns() // 1000 // HOUR_US * HOUR_US
YEAR_START_US = NOW_US - 370 * demo.DAY
"""The household's hourly readings cover the last 370 days (the README's year, and then some)."""
GAS_START_US = NOW_US - 30 * demo.DAY


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database = Path(tmp_path_factory.mktemp("client")) / "client.db"
    with Server(database) as running:
        yield running


@pytest.fixture(scope="session")
def bearer() -> str:
    return token(scope=ALL_SCOPES)


@pytest.fixture(scope="session")
def loaded(server: Server, bearer: str) -> Server:
    """The server with the demo's household (hourly, 370 days) and gas meter (30 days) in it."""
    with Client(server.url, bearer) as client:
        client.ingest(demo.HOUSEHOLD, demo.household(YEAR_START_US, NOW_US + 1, step=HOUR_US))
        client.ingest(demo.GAS_METER, demo.gas(GAS_START_US, NOW_US + 1))
        client.put_entity(demo.HOUSEHOLD, type="Meter", name="Household meter", time_zone=demo.DEMO_TIME_ZONE)
    return server


@pytest.fixture
def client(loaded: Server, bearer: str) -> Iterator[Client]:
    with Client(loaded.url, bearer) as opened:
        yield opened


def principal_token(scope: str = ALL_SCOPES) -> str:
    """A token of a principal of its own (`sub`), so the rate limit it meets is its own."""
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "scope": scope, "entities": "*", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")
