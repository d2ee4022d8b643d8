"""Concurrent writers and readers of one entity: every response shows exactly one state of the data.

The real server runs with two worker processes (so readers and writers also meet across processes). Writers
keep rewriting the same window of N readings, one minute apart, with a batch in which everything follows
from the batch's generation g: reading i has the register total i·g and the metric generation = g. Readers
fetch raw pages (inline and in a worker thread), `readings/last`, `aggregations/total` and bucket pages, and
check that each response implies a single g: one generation per page, (N−1)·g for the total, 60·g per full
hour bucket. A torn read (part old batch, part new) shows up as two generations or a slope that is no g.
"""

from __future__ import annotations

import calendar
import itertools
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from .test_crash_safety import Server, token

ENTITY = "c0ffee00-0000-4000-8000-00000000c0c0"
N = 600  # readings per batch: 10 hours, one a minute
T0 = 1_709_251_200  # 2024-03-01T00:00:00Z
HOUR = 3600


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _batch(generation: int) -> dict[str, Any]:
    return {"data": [
        {"timestamp": _iso(T0 + 60 * i), "data": {
            "positiveActiveEnergy": {"total": float(i * generation), "unit": "kWh"},
            "generation": {"value": generation},
        }} for i in range(N)
    ]}


class Run:
    def __init__(self) -> None:
        self.generations = itertools.count(1)
        self.highest_sent = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.checks: Counter[str] = Counter()
        self.writes = 0

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def one_generation(self, kind: str, found: set[float]) -> None:
        with self.lock:
            self.checks[kind] += 1
            highest = self.highest_sent
        if len(found) != 1:
            self.fail(f"{kind}: mixed generations {sorted(found)}")
            return
        (g,) = found
        if not (g == int(g) and 1 <= g <= highest):
            self.fail(f"{kind}: generation {g} was never written (highest sent {highest})")


def _writer(url: str, run: Run) -> None:
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token()}"}) as http:
        while not run.stop.is_set():
            with run.lock:
                generation = next(run.generations)
                run.highest_sent = max(run.highest_sent, generation)
            response = http.post(f"/v1/entities/{ENTITY}/readings", json=_batch(generation))
            if response.status_code != 200:
                run.fail(f"write: {response.status_code} {response.text[:200]}")
                return
            with run.lock:
                run.writes += 1


KINDS = ("page-thread", "page-inline", "last", "total", "buckets")


def _reader(url: str, run: Run, seed: int, kinds: tuple[str, ...]) -> None:
    rng = random.Random(seed)
    base = f"/v1/entities/{ENTITY}"
    window = {"start": _iso(T0), "end": _iso(T0 + 10 * HOUR)}
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token(scope='readings:read')}"}) as http:
        while not run.stop.is_set():
            kind = rng.choice(kinds)
            if kind == "page-thread":  # pageSize > 200: answered from a worker thread
                response = http.get(f"{base}/readings", params={**window, "pageSize": 1000})
            elif kind == "page-inline":
                offset = rng.randrange(N - 50)
                response = http.get(f"{base}/readings", params={
                    "start": _iso(T0 + 60 * offset), "end": window["end"], "pageSize": 50})
            elif kind == "last":
                response = http.get(f"{base}/readings/last")
            elif kind == "total":
                response = http.get(f"{base}/aggregations/total", params=window)
            elif kind == "buckets":
                response = http.get(f"{base}/aggregations", params={**window, "resolution": "1 hour"})
            else:  # starts before the data: the page is assembled from more than one look at the store
                response = http.get(f"{base}/aggregations", params={
                    "start": _iso(T0 - 2 * HOUR), "end": window["end"], "resolution": "1 hour", "pageSize": 5})
            if response.status_code != 200:
                run.fail(f"{kind}: {response.status_code} {response.text[:200]}")
                return
            body = response.json()
            if kind.startswith("page"):
                items = body["data"]
                slopes = set()
                for item in items:
                    i = (_seconds(item["timestamp"]) - T0) // 60
                    total = item["data"]["positiveActiveEnergy"]["total"]
                    slopes.add(item["data"]["generation"]["value"])
                    if i:
                        slopes.add(total / i)
                run.one_generation(kind, slopes)
                if kind == "page-thread" and len(items) != N:
                    run.fail(f"{kind}: {len(items)} readings instead of {N}")
            elif kind == "last":
                run.one_generation(kind, {body["data"]["generation"]["value"],
                                          body["data"]["positiveActiveEnergy"]["total"] / (N - 1)})
            elif kind == "total":
                run.one_generation(kind, {body["data"]["positiveActiveEnergy"]["total"] / (N - 1)})
            else:
                slopes = set()
                for bucket in body["data"]:
                    start = max(_seconds(bucket["timeframe"]["start"]), T0)
                    end = min(_seconds(bucket["timeframe"]["end"]), T0 + 60 * (N - 1))
                    slopes.add(bucket["data"]["positiveActiveEnergy"]["total"] / ((end - start) // 60))
                run.one_generation(kind, slopes)


def _seconds(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def _guard(run: Run, target: Any, *args: Any) -> None:
    try:
        target(*args)
    except Exception as exc:  # noqa: BLE001 (reported by the test)
        run.fail(f"{target.__name__}: {exc!r}")


def _hammer(tmp_path: Path, kinds: tuple[str, ...], seconds: float) -> Run:
    with Server(tmp_path / "concurrency.db", workers=2) as server:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token()}"}) as http:
            assert http.post(f"/v1/entities/{ENTITY}/readings", json=_batch(1)).status_code == 200
        run = Run()
        next(run.generations)
        run.highest_sent = 1
        threads = [threading.Thread(target=_guard, args=(run, _writer, server.url, run)) for _ in range(2)]
        threads += [threading.Thread(target=_guard, args=(run, _reader, server.url, run, seed, kinds))
                    for seed in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        run.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return run


@pytest.mark.slow
def test_concurrent_writers_and_readers_see_whole_batches(tmp_path: Path) -> None:
    run = _hammer(tmp_path, KINDS, seconds=7)
    assert not run.errors, run.errors[:10]
    assert run.writes >= 10, run.writes
    for kind in KINDS:
        assert run.checks[kind] >= 5, run.checks


@pytest.mark.slow
def test_aggregation_page_built_from_several_chunks_is_one_snapshot(tmp_path: Path) -> None:
    """The page starts with empty buckets, so service.aggregation_page asks the store more than once; all of
    it must come from one snapshot (store.snapshot()). Before that, this mixed two batches within seconds."""
    run = _hammer(tmp_path, ("buckets-chunked",), seconds=5)
    assert run.checks["buckets-chunked"] >= 5, run.checks
    assert not run.errors, run.errors[:10]
