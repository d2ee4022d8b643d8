"""`AsyncClient` on the main paths, against the same real server: the same answers as `Client`."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from connect_readings import demo
from connect_readings.client import AsyncClient, Client, ConnectReadingsError, RetryPolicy
from connect_readings.domain.timefmt import from_micros
from tests.test_crash_safety import Server

from .conftest import NOW_US, principal_token
from .test_retries import LIMITED

START = from_micros(NOW_US - 2 * demo.DAY)
END = from_micros(NOW_US)


def run(coroutine):
    return asyncio.run(coroutine)


def test_async_aggregations_equal_the_sync_ones(client: Client, loaded: Server, bearer: str):
    async def fetch():
        async with AsyncClient(loaded.url, bearer) as aclient:
            items = [b async for b in aclient.aggregations(demo.HOUSEHOLD, START, END, resolution="15 minutes",
                                                           time_zone="Europe/Brussels", page_size=40)]
            pages = [len(page.items) async for page in aclient.aggregations(
                demo.HOUSEHOLD, START, END, resolution="15 minutes", page_size=40).pages()]
            frame = await aclient.aggregations(demo.HOUSEHOLD, START, END, resolution="15 minutes",
                                               time_zone="Europe/Brussels").to_pandas()
            return items, pages, frame

    items, pages, frame = run(fetch())
    assert items == list(client.aggregations(demo.HOUSEHOLD, START, END, resolution="15 minutes",
                                             time_zone="Europe/Brussels"))
    assert len(items) == 192 and pages == [40] * 4 + [32]
    assert str(frame.index.tz) == "Europe/Brussels" and len(frame) == 192


def test_async_other_endpoints(client: Client, loaded: Server, bearer: str):
    entity = uuid.uuid4()

    async def calls():
        async with AsyncClient(loaded.url, bearer) as aclient:
            put = await aclient.put_entity(entity, type="Battery", name="Home battery")
            written = await aclient.ingest(entity, [
                {"timestamp": START, "data": {"stateOfCharge": {"value": 40.0, "unit": "%"}}},
                {"timestamp": END, "data": {"stateOfCharge": {"value": 80.0, "unit": "%"}}},
            ])
            readings = await aclient.readings(entity, START, END + (END - START)).to_list()
            last, total, months, health = await asyncio.gather(
                aclient.last_reading(demo.HOUSEHOLD), aclient.aggregation_total(demo.HOUSEHOLD, START, END),
                aclient.capacity_tariff(demo.HOUSEHOLD, START, END), aclient.health())
            stats = [s async for s in aclient.statistics(demo.HOUSEHOLD, START, END, resolution="1 day")]
            listed = [e.id async for e in aclient.entities(page_size=2)]
            return put, written, readings, last, total, months, health, stats, listed

    put, written, readings, last, total, months, health, stats, listed = run(calls())
    assert put.name == "Home battery" and written.written == 2
    assert [r.data["stateOfCharge"]["value"] for r in readings] == [40.0, 80.0]
    assert last == client.last_reading(demo.HOUSEHOLD) and total == client.aggregation_total(demo.HOUSEHOLD, START, END)
    assert months == client.capacity_tariff(demo.HOUSEHOLD, START, END) and health.status == "ok"
    assert stats == list(client.statistics(demo.HOUSEHOLD, START, END, resolution="1 day"))
    assert entity in listed


@pytest.mark.parametrize("bearer_token, status, code", [
    (None, 404, "EntityNotFound"),
    ("not-a-jwt", 401, "Unauthorized"),
])
def test_async_errors(loaded: Server, bearer: str, bearer_token: str | None, status: int, code: str):
    async def ask():
        async with AsyncClient(loaded.url, bearer_token or bearer) as aclient:
            await aclient.entity(uuid.uuid4())

    with pytest.raises(ConnectReadingsError) as caught:
        run(ask())
    assert (caught.value.status, caught.value.code) == (status, code)


def test_async_retries_after_429(tmp_path):
    async def twice(url: str, retry: RetryPolicy):
        async with AsyncClient(url, principal_token(), retry=retry) as aclient:
            await aclient.put_entity(demo.HOUSEHOLD, type="Meter")
            return await aclient.entity(demo.HOUSEHOLD)

    with Server(tmp_path / "limited.db", env=LIMITED) as server:
        assert run(twice(server.url, RetryPolicy())).type == "Meter"
        with pytest.raises(ConnectReadingsError) as caught:
            run(twice(server.url, RetryPolicy.none()))
    assert caught.value.status == 429
