"""Retries against a real server that rate-limits (a request every 2 s, burst 1), and against no server at all.

(Every 2 s rather than every second: a first request slower than the refill, under load, would leave the
second one a token and no 429 to test.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connect_readings import demo
from connect_readings.client import Client, ConnectReadingsError, RetryPolicy
from tests.test_crash_safety import Server, free_port

from .conftest import principal_token

LIMITED = {"CONNECT_READINGS_RATE_LIMIT_PER_S": "0.5", "CONNECT_READINGS_RATE_LIMIT_BURST": "1"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database = Path(tmp_path_factory.mktemp("limited")) / "limited.db"
    with Server(database, env=LIMITED) as running:
        yield running


def test_429_is_retried_after_retry_after(limited: Server):
    with Client(limited.url, principal_token(), retry=RetryPolicy(backoff_s=0.05)) as client:
        client.put_entity(demo.HOUSEHOLD, type="Meter")  # the bucket's one token
        started = time.monotonic()
        assert client.entity(demo.HOUSEHOLD).type == "Meter"  # 429 Retry-After: 1 or 2, then 200
        assert time.monotonic() - started >= 1.0


def test_without_retries_the_429_is_raised(limited: Server):
    with Client(limited.url, principal_token(), retry=RetryPolicy.none()) as client:
        client.put_entity(demo.HOUSEHOLD, type="Meter")
        with pytest.raises(ConnectReadingsError) as caught:
            client.entity(demo.HOUSEHOLD)
    error = caught.value
    assert (error.status, error.code) == (429, "TooManyRequests") and error.retry_after in (1.0, 2.0)
    assert error.request_id


def test_a_retry_after_beyond_the_time_budget_is_not_waited_for(limited: Server):
    with Client(limited.url, principal_token(), retry=RetryPolicy(max_total_s=0.9)) as client:
        client.put_entity(demo.HOUSEHOLD, type="Meter")
        started = time.monotonic()
        with pytest.raises(ConnectReadingsError, match="TooManyRequests"):
            client.entity(demo.HOUSEHOLD)
        assert time.monotonic() - started < 0.9


def test_paging_rides_out_the_rate_limit(limited: Server):
    with Client(limited.url, principal_token()) as client:
        client.put_entity(demo.EV_CHARGER, type="ChargePoint")
        entities = [entity.id for entity in client.entities(page_size=1)]  # a page a request, one in 2 s
    assert {demo.HOUSEHOLD, demo.EV_CHARGER} <= set(entities)


def test_no_server_is_a_connection_error_after_the_attempts():
    policy = RetryPolicy(max_attempts=3, backoff_s=0.01, jitter=False)
    with Client(f"http://127.0.0.1:{free_port()}", "t", retry=policy) as client:
        started = time.monotonic()
        with pytest.raises(ConnectReadingsError) as caught:
            client.health()
    assert (caught.value.status, caught.value.code) == (None, "ConnectionError")
    assert time.monotonic() - started >= 0.03  # waited 0.01 then 0.02
