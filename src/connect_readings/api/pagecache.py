"""Encoded aggregation pages, remembered under the entity's data version, within a byte budget.

A dashboard asks for the same page again and again; between two ingests of that entity the answer cannot
change, so it is computed and encoded once (`python -m bench --only hot` names the effect: see
BENCHMARKS.md). Every ingest bumps the version in its transaction and the version is read in the page's own
snapshot, so a remembered page is exactly what a fresh computation would give. What is kept is the encoded
items (bytes), so the budget counts what the process really holds: a page is kept as an exact copy, since
orjson returns its output in the buffer it grew while encoding (about twice the JSON's length, whose unused
tail the allocator hands out again and again until RSS holds it all). Least recently used pages go first.
Thread-safe: pages are computed in worker threads. The budget is `page_cache_mib` per worker process, one
of the caches in docs/operations.md, "Memory".
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

ENTRY_OVERHEAD = 768
"""Bytes counted per entry besides its body: the key (a query, its entity id and zone), the entry, the
dictionary slot (measured with tracemalloc: ≈ 550–730; tests/api/test_pagecache_memory.py)."""

MAX_PAGE_BYTES = 1024 * 1024
"""A page whose items encode to more is never remembered (a pageSize of ~3,000 buckets and up): each would
evict dozens of dashboard pages, and copies of MiB each, churned by four threads, leave the allocator's heaps
fragmented beyond what the budget counts (4 threads asking 10,000-bucket pages: 326 MiB peak RSS with them
kept, 211 MiB without; BENCHMARKS.md, "Memory and durability")."""


@dataclass(frozen=True, slots=True)
class CachedPage:
    items: bytes
    """The page's items as a JSON array."""
    next_position: int | None

    @property
    def size(self) -> int:
        return len(self.items) + ENTRY_OVERHEAD


class PageCache:
    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> CachedPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return page

    def put(self, key: Hashable, page: CachedPage) -> None:
        """Remember a page, dropping the least recently used ones over the budget; a page larger than an
        eighth of the budget, or than MAX_PAGE_BYTES, is not remembered (it would evict many small ones)."""
        if page.size * 8 > self.budget_bytes or len(page.items) > MAX_PAGE_BYTES:
            return
        page = CachedPage(bytes(memoryview(page.items)), page.next_position)  # exactly len(items) bytes
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self.bytes -= old.size
            self._pages[key] = page
            self.bytes += page.size
            while self.bytes > self.budget_bytes:
                _, dropped = self._pages.popitem(last=False)
                self.bytes -= dropped.size

    def drop(self, where: Callable[[Hashable], bool]) -> int:
        """Forget every page whose key `where` accepts (a deleted entity's); returns how many."""
        with self._lock:
            keys = [key for key in self._pages if where(key)]
            for key in keys:
                self.bytes -= self._pages.pop(key).size
        return len(keys)

    def __len__(self) -> int:
        return len(self._pages)
