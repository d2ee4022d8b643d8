"""What the metrics count, read from prometheus-client's registry in this process (the app in-process).

The exposition over several worker processes is tested on the real server: tests/test_operations_server.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.storage.base import Store

from ..conftest import ENTITY, ApiClient, energy, make_token

AGG = f"/v1/entities/{ENTITY}/aggregations"
TEMPLATE = "/v1/entities/{entityId}"
WINDOW = {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z"}


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def measured(settings: Settings, store: Store) -> Iterator[ApiClient]:
    with ApiClient(create_app(dataclasses.replace(settings, metrics_port=9999), store)) as client:
        yield client


def _meter(client: ApiClient, quarter_hours: int = 40) -> None:
    readings = [energy(f"2024-05-27T{q // 4:02d}:{q % 4 * 15:02d}:00Z", q * 0.25) for q in range(quarter_hours + 1)]
    assert client.ingest(ENTITY, readings).status_code == 200


def test_requests_by_route_template_and_status(measured: ApiClient) -> None:
    ok = {"method": "GET", "route": f"{TEMPLATE}/readings/last", "status": "200"}
    missing = {**ok, "status": "404"}
    before = value("connect_readings_requests_total", **ok), value("connect_readings_requests_total", **missing)
    seconds = value("connect_readings_request_duration_seconds_count", method="GET", route=ok["route"])
    unmatched = value("connect_readings_requests_total", method="GET", route="unmatched", status="404")
    _meter(measured)
    for _ in range(3):
        assert measured.get(f"/v1/entities/{ENTITY}/readings/last").status_code == 200
    assert measured.get("/v1/entities/99999999-9999-4999-8999-999999999999/readings/last").status_code == 404
    assert measured.get("/no/such/route").status_code == 404
    assert value("connect_readings_requests_total", **ok) == before[0] + 3
    assert value("connect_readings_requests_total", **missing) == before[1] + 1
    assert value("connect_readings_request_duration_seconds_count", method="GET", route=ok["route"]) == seconds + 4
    assert value("connect_readings_requests_total", method="GET", route="unmatched", status="404") == unmatched + 1
    assert value("connect_readings_requests_in_progress") == 0


def test_readings_ingested_and_replaced(measured: ApiClient) -> None:
    ingested, replaced = value("connect_readings_readings_ingested_total"), value("connect_readings_readings_replaced_total")
    _meter(measured, 40)  # 41 readings
    _meter(measured, 10)  # 11 of them again
    assert value("connect_readings_readings_ingested_total") == ingested + 52
    assert value("connect_readings_readings_replaced_total") == replaced + 11


def test_aggregation_page_cost_and_page_cache(measured: ApiClient) -> None:
    """A 7-bucket page asks the store for 8 bucket edges; asked again, it comes from the page cache."""
    _meter(measured)
    lookups = value("connect_readings_page_cache_lookups_total", result="hit"), value(
        "connect_readings_page_cache_lookups_total", result="miss")
    edges = value("connect_readings_aggregation_page_edges_sum"), value("connect_readings_aggregation_page_edges_count")
    items = value("connect_readings_page_items_sum", kind="aggregations")
    params = {**WINDOW, "resolution": "15 minutes", "pageSize": 7}
    first = measured.get(AGG, params=params)
    assert first.status_code == 200 and len(first.json()["data"]) == 7
    assert measured.get(AGG, params=params).json() == first.json()
    assert value("connect_readings_page_cache_lookups_total", result="miss") == lookups[1] + 1
    assert value("connect_readings_page_cache_lookups_total", result="hit") == lookups[0] + 1
    assert value("connect_readings_aggregation_page_edges_count") == edges[1] + 1
    assert value("connect_readings_aggregation_page_edges_sum") == edges[0] + 9  # 8 buckets (7 + 1 to look ahead)
    assert value("connect_readings_page_items_sum", kind="aggregations") == items + 7
    cache = measured.app.state.api.pages  # type: ignore[attr-defined]
    assert value("connect_readings_page_cache_bytes") == cache.bytes > 0
    assert value("connect_readings_page_cache_pages") == len(cache) == 1


def test_readings_per_page_and_store_thread_waits(measured: ApiClient) -> None:
    _meter(measured)
    items = value("connect_readings_page_items_sum", kind="readings")
    waits = value("connect_readings_store_queue_wait_seconds_count")
    body = measured.get(f"/v1/entities/{ENTITY}/readings", params={**WINDOW, "pageSize": 30}).json()
    assert len(body["data"]) == 30
    assert value("connect_readings_page_items_sum", kind="readings") == items + 30
    assert value("connect_readings_store_queue_wait_seconds_count") == waits + 1  # one store hop per request


def test_refusals_of_the_rate_limit_are_counted(settings: Settings, store: Store) -> None:
    limited = dataclasses.replace(settings, metrics_port=9999, rate_limit_per_s=0.1, rate_limit_burst=1)
    before = value("connect_readings_rate_limited_total", limit="rate")
    with ApiClient(create_app(limited, store), token=make_token(sub="busy")) as client:
        client.get("/v1/entities/99999999-9999-4999-8999-999999999999/readings/last")
        assert client.get(f"/v1/entities/{ENTITY}/readings/last").status_code == 429
    assert value("connect_readings_rate_limited_total", limit="rate") == before + 1


def test_metrics_are_off_by_default_and_never_on_the_api_port(client: ApiClient) -> None:
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    before = value("connect_readings_requests_total", **labels)
    assert client.get("/healthz").status_code == 200
    assert value("connect_readings_requests_total", **labels) == before
    assert client.app.state.api.metrics is None  # type: ignore[attr-defined]
    response = client.get("/metrics")
    assert response.status_code == 404 and response.json()["errors"][0]["code"] == "NotFound"
