"""Per-principal limits: a token bucket and requests in progress, answered 429 with Retry-After; off by default."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.storage.base import Store

from ..conftest import ENTITY, ApiClient, energy, make_token
from ..openapi_check import check_response

LAST = f"/v1/entities/{ENTITY}/readings/last"


def _limited(settings: Settings, store: Store, **limits: Any) -> ApiClient:
    return ApiClient(create_app(dataclasses.replace(settings, **limits), store))


def _seed(client: ApiClient) -> None:
    assert client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1)]).status_code == 200


def test_rate_per_principal_with_burst_then_refill(settings: Settings, store: Store) -> None:
    with _limited(settings, store, rate_limit_per_s=2.0, rate_limit_burst=3) as client:
        alice, bob = make_token(sub="alice"), make_token(sub="bob")
        client.token = alice
        _seed(client)  # 1 of alice's 3
        assert [client.get(LAST).status_code for _ in range(2)] == [200, 200]
        refused = client.get(LAST)
        assert refused.status_code == 429
        assert refused.json()["errors"][0]["code"] == "TooManyRequests"
        assert refused.headers["retry-after"] == "1"
        assert client.get(LAST, headers={"Authorization": f"Bearer {bob}"}).status_code == 200  # another principal
        assert client.get(LAST, headers={"Authorization": f"Bearer {make_token(sub='alice', ttl=60)}"}
                          ).status_code == 429  # the same subject with another token: the same bucket
        time.sleep(0.6)  # > 1/2 s: one token back
        assert client.get(LAST).status_code == 200
        assert client.get(LAST).status_code == 429


def test_retry_after_is_the_wait_for_the_next_token(settings: Settings, store: Store) -> None:
    with _limited(settings, store, rate_limit_per_s=0.2, rate_limit_burst=1) as client:
        _seed(client)
        refused = client.get(LAST)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "5"


def test_a_token_without_subject_is_its_own_principal(settings: Settings, store: Store) -> None:
    with _limited(settings, store, rate_limit_per_s=1.0, rate_limit_burst=1) as client:
        _seed(client)
        assert client.get(LAST).status_code == 429
        assert client.get(LAST, headers={"Authorization": f"Bearer {make_token(ttl=120)}"}).status_code == 200


def test_probes_the_contract_and_refused_tokens_are_not_counted(settings: Settings, store: Store) -> None:
    with _limited(settings, store, rate_limit_per_s=1.0, rate_limit_burst=2) as client:
        for _ in range(5):
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
            assert client.get("/openapi.json").status_code == 200
            assert client.get(LAST, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
        _seed(client)
        assert client.get(LAST).status_code == 200


def test_limits_are_off_by_default(client: ApiClient) -> None:
    _seed(client)
    assert {client.get(LAST).status_code for _ in range(200)} == {200}


def test_requests_in_progress_per_principal(settings: Settings, store: Store) -> None:
    """While alice's upload is still arriving, her next request is refused; bob's is not; then hers passes."""
    asyncio.run(_in_progress(settings, store))


async def _in_progress(settings: Settings, store: Store) -> None:
    app = create_app(dataclasses.replace(settings, concurrency_limit=1), store)
    alice, bob = make_token(sub="alice"), make_token(sub="bob")
    body = orjson.dumps({"data": [energy("2024-05-27T13:00:00Z", 1)]})
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[:10]
        started.set()
        await finish.wait()
        yield body[10:]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as http:
        async def get(token: str) -> httpx.Response:
            response = await http.get(LAST, headers={"Authorization": f"Bearer {token}"})
            check_response(response)
            return response

        upload = asyncio.create_task(http.post(f"/v1/entities/{ENTITY}/readings", content=slow_body(), headers={
            "Authorization": f"Bearer {alice}", "Content-Type": "application/json"}))
        await asyncio.wait_for(started.wait(), 10)
        refused = await get(alice)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["errors"][0]["code"] == "TooManyConcurrentRequests"
        assert (await get(bob)).status_code == 404  # no reading stored yet: not limited, just not there
        finish.set()
        assert (await asyncio.wait_for(upload, 10)).status_code == 200
        assert (await get(alice)).status_code == 200


def test_limits_are_checked_at_start(settings: Settings, store: Store) -> None:
    for bad in ({"rate_limit_per_s": -1.0}, {"rate_limit_burst": 0}, {"concurrency_limit": -2}):
        with pytest.raises(ValueError):
            create_app(dataclasses.replace(settings, **bad), store)
