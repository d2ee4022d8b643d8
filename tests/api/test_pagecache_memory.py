"""The page cache's budget bounds the memory it really holds (docs/operations.md, "Memory").

orjson hands back its output in the buffer it grew while encoding, about twice the JSON's length; a cache
that kept those buffers would hold twice its budget, and the process's RSS would creep up towards that as
the unused tails get reused. Measured with tracemalloc (every Python allocation, orjson's included) around
pages encoded the way the API encodes them, under keys of the API's shape.
"""

from __future__ import annotations

import tracemalloc
import uuid
from zoneinfo import ZoneInfo

import orjson
import pytest

from connect_readings.api.pagecache import ENTRY_OVERHEAD, MAX_PAGE_BYTES, CachedPage, PageCache
from connect_readings.domain.interval import Interval
from connect_readings.usecases.aggregations import AggregationQuery

ENTITY = uuid.UUID("8667fb97-68f2-485a-87c7-f3bdfa9482e1")
BUDGET = 4 * 1024 * 1024


def encoded_page(n: int, buckets: int = 200) -> bytes:
    """A page of JSON items, encoded by orjson as the API does (~200 bytes a bucket)."""
    return orjson.dumps([{
        "id": str(uuid.UUID(int=n * 1000 + i)), "entityId": str(ENTITY),
        "start": f"2024-05-{1 + i // 96:02d}T{i % 96 // 4:02d}:{i % 4 * 15:02d}:00+02:00",
        "end": f"2024-05-{1 + i // 96:02d}T{i % 96 // 4:02d}:{i % 4 * 15 + 14:02d}:59+02:00",
        "data": {"positiveActiveEnergy": {"total": 0.25 * i + n, "unit": "kWh"}},
    } for i in range(buckets)])


@pytest.mark.parametrize("buckets", [200, 25])
def test_the_budget_bounds_the_memory_held(buckets: int) -> None:
    """Large pages (where orjson's slack would show) and small ones (where the key and the entry weigh)."""
    cache = PageCache(BUDGET)
    zone = ZoneInfo("Europe/Brussels")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(300 * 200 // buckets):  # ~12 MB of pages through a 4 MiB cache
            key = (AggregationQuery(ENTITY, n * 900_000_000, (n + 200) * 900_000_000,
                                    Interval(0, 0, 900_000_000), zone), 0, 200, n)
            cache.put(key, CachedPage(encoded_page(n, buckets), None))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) > 50 and cache.bytes <= BUDGET
    assert held <= cache.bytes * 1.02, f"the cache counts {cache.bytes:,} bytes but holds {held:,}"


def test_a_remembered_page_is_the_page() -> None:
    cache = PageCache(BUDGET)
    items = encoded_page(1)
    cache.put("k", CachedPage(items, 7))
    page = cache.get("k")
    assert page is not None and page.items == items and page.next_position == 7


def test_a_page_over_a_mebibyte_is_not_remembered_whatever_the_budget() -> None:
    """A 10,000-bucket page (~2 MB) would fit an eighth of a 64 MiB budget; kept, four threads asking such
    pages churn MiB-sized copies through the allocator (326 MiB peak RSS, BENCHMARKS.md)."""
    cache = PageCache(64 * 1024 * 1024)
    big = encoded_page(1, buckets=10_000)
    assert len(big) > MAX_PAGE_BYTES and (len(big) + ENTRY_OVERHEAD) * 8 < cache.budget_bytes
    cache.put("big", CachedPage(big, None))
    cache.put("dashboard", CachedPage(encoded_page(2), None))
    assert cache.get("big") is None and cache.get("dashboard") is not None
