"""Issue 19, item 1: the work a request may cause is bounded before it starts, the first use of a zone is cheap,
and computation stops at the deadline — so six heavy requests with a read-only token no longer stop the API.

Against a real `connect-readings serve` (one worker, the default four store threads): six attackers ask for
three centuries of month buckets in six zones (aggregations, pageSize 10000) and of month statistics with peak
demand, while a normal client asks for a small page; the normal client keeps ≥ 90 % success. Before: each
heavy request burned 7-26 s of CPU (zone transitions probed hour by hour), the normal client got 504s.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from connect_readings.domain.interval import Interval
from connect_readings.storage.base import StoreTimeout
from connect_readings.storage.sqlite import SQLiteStore
from connect_readings.usecases.aggregations import AggregationQuery, aggregation_page
from connect_readings.usecases.pages import deadline_scope

from .test_crash_safety import Server, token

ENTITY = "9f0e1d2c-3b4a-4596-8877-665544332211"
ZONES = ["America/Toronto", "America/Vancouver", "America/Mexico_City", "Asia/Singapore", "Asia/Hong_Kong",
         "Europe/Rome"]


def readings(start_year: int, years: int) -> list[dict]:
    """A reading on the first of every month, so every month bucket has data (the heavy case)."""
    out, value = [], 0.0
    for year in range(start_year, start_year + years):
        for month in range(1, 13):
            value += 100.0
            out.append({"timestamp": f"{year}-{month:02d}-01T00:00:00Z",
                        "data": {"positiveActiveEnergy": {"total": value, "unit": "kWh"}}})
    return out


@pytest.mark.slow
def test_six_heavy_requests_leave_the_api_to_a_normal_client(tmp_path: Path) -> None:
    server = Server(tmp_path / "heavy.db", env={"CONNECT_READINGS_REQUEST_TIMEOUT_S": "10"}).start()
    try:
        bearer = token()
        auth = {"Authorization": f"Bearer {bearer}"}
        batch = readings(1990, 210)
        for i in range(0, len(batch), 5000):
            assert httpx.post(f"{server.url}/v1/entities/{ENTITY}/readings", json={"data": batch[i:i + 5000]},
                              headers=auth, timeout=60).status_code == 200
        read_only = {"Authorization": f"Bearer {token(scope='readings:read')}"}
        heavy: list[tuple[int, float]] = []
        normal: list[bool] = []
        stop = time.monotonic() + 20

        def attacker(zone: str, statistics: bool) -> None:
            path = "statistics" if statistics else "aggregations"
            start = "1900-01-02" if statistics else "1990-01-01"
            while time.monotonic() < stop:
                began = time.monotonic()
                try:
                    answer = httpx.get(f"{server.url}/v1/entities/{ENTITY}/{path}", headers=read_only, timeout=30,
                                       params={"start": start, "end": "2199-12-31", "resolution": "1 mon",
                                               "pageSize": "10000", "timeZone": zone})
                    heavy.append((answer.status_code, time.monotonic() - began))
                except httpx.HTTPError:
                    heavy.append((0, time.monotonic() - began))

        def client() -> None:
            while time.monotonic() < stop:
                try:
                    answer = httpx.get(f"{server.url}/v1/entities/{ENTITY}/aggregations", headers=read_only,
                                       timeout=5, params={"start": "2024-01-01T00:00:00Z",
                                                          "end": "2024-06-01T00:00:00Z", "resolution": "1 mon"})
                    normal.append(answer.status_code == 200)
                except httpx.HTTPError:
                    normal.append(False)
                time.sleep(0.1)

        threads = [threading.Thread(target=attacker, args=(zone, i % 2 == 1)) for i, zone in enumerate(ZONES)]
        threads.append(threading.Thread(target=client))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        success = sum(normal) / len(normal)
        statuses = sorted({status for status, _ in heavy})
        print(f"\nnormal client: {sum(normal)}/{len(normal)} = {success:.1%}; heavy requests: {len(heavy)}, "
              f"statuses {statuses}, slowest {max(s for _, s in heavy):.2f} s")
        assert success >= 0.9
        assert 500 not in statuses and 0 not in statuses
        # the statistics page would evaluate ~30 million demand windows: refused before any work
        refused = httpx.get(f"{server.url}/v1/entities/{ENTITY}/statistics", headers=read_only, timeout=30,
                            params={"start": "1900-01-02", "end": "2199-12-31", "resolution": "1 mon",
                                    "pageSize": "10000", "timeZone": "Europe/Rome"})
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["code"] == "TooManyDemandWindows"
        assert "1000000" in refused.json()["errors"][0]["message"]
    finally:
        server.kill()


def test_computation_stops_at_the_deadline(tmp_path: Path) -> None:
    """Past its deadline a page stops between chunks (StoreTimeout, answered 504), whatever is left to do."""
    store = SQLiteStore(str(tmp_path / "deadline.db"))
    try:
        query = AggregationQuery(uuid.uuid4(), 0, 10**15, Interval(0, 0, 60_000_000), None)
        with pytest.raises(StoreTimeout), deadline_scope(time.monotonic() - 1), store.snapshot():
            aggregation_page(store, query, 0, 10_000)
        with deadline_scope(time.monotonic() + 60), store.snapshot():
            assert aggregation_page(store, query, 0, 10).items == []  # (within its deadline: answered)
    finally:
        store.close()
