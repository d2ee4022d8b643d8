"""The page cache: bounded by bytes, least recently used first, safe from many threads, never stale."""

from __future__ import annotations

import threading
from typing import Any

from connect_readings.api.pagecache import ENTRY_OVERHEAD, CachedPage, PageCache

from ..conftest import ENTITY, ApiClient, energy


def page(size: int, tag: int = 0) -> CachedPage:
    return CachedPage(b"[" + b"0" * (size - 2) + b"]", tag)


def test_budget_counts_bytes_and_drops_the_least_recently_used() -> None:
    cache = PageCache(budget_bytes=10 * (1000 + ENTRY_OVERHEAD))
    for n in range(10):
        cache.put(n, page(1000, n))
    assert len(cache) == 10 and cache.bytes == 10 * (1000 + ENTRY_OVERHEAD)
    assert cache.get(0) is not None  # 0 is now the most recently used
    cache.put(10, page(1000))
    assert cache.get(1) is None and cache.get(0) is not None and cache.get(10) is not None
    assert cache.bytes <= cache.budget_bytes


def test_a_page_larger_than_an_eighth_of_the_budget_is_not_kept() -> None:
    cache = PageCache(budget_bytes=8_000)
    cache.put("big", page(1_000))
    cache.put("small", page(100))
    assert cache.get("big") is None and cache.get("small") is not None


def test_zero_budget_keeps_nothing() -> None:
    cache = PageCache(budget_bytes=0)
    cache.put("a", page(10))
    assert cache.get("a") is None and cache.bytes == 0


def test_replacing_a_key_does_not_count_it_twice() -> None:
    cache = PageCache(budget_bytes=100_000)
    cache.put("a", page(1000))
    cache.put("a", page(2000))
    assert cache.bytes == 2000 + ENTRY_OVERHEAD and len(cache) == 1


def test_many_threads_keep_the_accounting_exact() -> None:
    cache = PageCache(budget_bytes=50 * (500 + ENTRY_OVERHEAD))
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(2_000):
                cache.put((offset, n % 120), page(500, n))
                cache.get((offset, (n * 7) % 120))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert cache.bytes == len(cache) * (500 + ENTRY_OVERHEAD) <= cache.budget_bytes


def test_an_ingest_makes_the_next_request_compute_the_page_again(client: ApiClient) -> None:
    params: dict[str, Any] = {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z", "resolution": "1 day"}
    assert client.ingest(ENTITY, [energy("2024-05-27T00:00:00Z", 1), energy("2024-05-27T12:00:00Z", 2)]).status_code == 200
    url = f"/v1/entities/{ENTITY}/aggregations"
    first = client.get(url, params=params).json()["data"][0]["data"]["positiveActiveEnergy"]["total"]
    pages: PageCache = client.app.state.api.pages  # type: ignore[attr-defined]
    hits = pages.hits
    assert client.get(url, params=params).json()["data"][0]["data"]["positiveActiveEnergy"]["total"] == first == 1.0
    assert pages.hits == hits + 1  # the repeat came from the cache
    assert client.ingest(ENTITY, [energy("2024-05-27T18:00:00Z", 5)]).status_code == 200
    assert client.get(url, params=params).json()["data"][0]["data"]["positiveActiveEnergy"]["total"] == 4.0
