"""Prometheus metrics (prometheus-client), correct with several worker processes.

Workers record into prometheus-client's multiprocess files; the `serve` process exposes their sum on its own
listener (`start_exporter`), apart from the API port, so one scrape sees every worker and a scrape never
waits behind API requests. prometheus-client picks its storage when it is first imported, from
PROMETHEUS_MULTIPROC_DIR: that is why it is imported here only inside functions, after the directory is set.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from .offload import ThreadPool

if TYPE_CHECKING:
    from ..config import Settings
    from ..usecases.pages import Page
    from ..storage.base import EntityDeletion, IngestResult
    from .pagecache import PageCache

T = TypeVar("T")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
EDGE_BUCKETS = (2, 5, 10, 26, 50, 101, 250, 1001, 2500, 10001, 25000)
ITEM_BUCKETS = (0, 1, 5, 10, 25, 50, 100, 250, 1000, 2500, 10000)


class Metrics:
    """Every metric of the process. One per process (`metrics()`): prometheus-client names are global."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter("connect_readings_requests", "HTTP requests answered, by route template and status",
                                ["method", "route", "status"])
        self.duration = Histogram("connect_readings_request_duration_seconds",
                                  "Time from the request's arrival to its last response byte, by route template",
                                  ["method", "route"], buckets=LATENCY_BUCKETS)
        self.in_progress = Gauge("connect_readings_requests_in_progress", "Requests being answered",
                                 multiprocess_mode="livesum")
        self.ingested = Counter("connect_readings_readings_ingested", "Readings written by ingests (replacements included)")
        self.replaced = Counter("connect_readings_readings_replaced", "Ingested readings that replaced a stored one")
        self.page_edges = Histogram("connect_readings_aggregation_page_edges",
                                    "Bucket edges asked of the store to compute one aggregation page (two index "
                                    "seeks each)", buckets=EDGE_BUCKETS)
        self.page_items = Histogram("connect_readings_page_items",
                                    "Items on a page computed from the store: buckets or raw readings",
                                    ["kind"], buckets=ITEM_BUCKETS)
        self.cache_lookups = Counter("connect_readings_page_cache_lookups",
                                     "Aggregation pages looked up in the page cache, by result", ["result"])
        self.cache_bytes = Gauge("connect_readings_page_cache_bytes", "Bytes held by the page caches",
                                 multiprocess_mode="livesum")
        self.cache_pages = Gauge("connect_readings_page_cache_pages", "Pages held by the page caches",
                                 multiprocess_mode="livesum")
        self.store_wait = Histogram("connect_readings_store_queue_wait_seconds",
                                    "Time a request's store work waited for a free store thread",
                                    buckets=WAIT_BUCKETS)
        self.entities_deleted = Counter("connect_readings_entities_deleted",
                                        "Entities deleted with all their data (DELETE /v1/entities/{entityId})")
        self.readings_deleted = Counter("connect_readings_readings_deleted", "Readings deleted with their entity")
        self.limited = Counter("connect_readings_rate_limited", "Requests answered 429, by the limit they hit",
                               ["limit"])
        self._children: dict[tuple[str, ...], Any] = {}
        self._hit = self.cache_lookups.labels("hit")
        self._miss = self.cache_lookups.labels("miss")
        self._aggregation_items = self.page_items.labels("aggregations")
        self._reading_items = self.page_items.labels("readings")

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        code = str(status) if status else "none"  # none: the client left before an answer
        children = self._children.get((method, route, code))
        if children is None:  # labels() costs a lock and validation: remember the children
            children = self._children[(method, route, code)] = (
                self.requests.labels(method, route, code), self.duration.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def ingest(self, result: IngestResult) -> None:
        self.ingested.inc(result.written)
        if result.replaced:
            self.replaced.inc(result.replaced)

    def aggregation_page(self, page: Page | None, cache: PageCache) -> None:
        """A page served from the cache (None), or computed from the store and then offered to the cache."""
        if page is None:
            self._hit.inc()
            return
        self._miss.inc()
        self.page_edges.observe(page.edges)
        self._aggregation_items.observe(len(page.items))
        self.cache_bytes.set(cache.bytes)
        self.cache_pages.set(len(cache))

    def entity_deleted(self, deletion: EntityDeletion, cache: PageCache) -> None:
        """An entity deleted: counted, and the page cache's gauges after its pages were dropped."""
        self.entities_deleted.inc()
        self.readings_deleted.inc(deletion.readings)
        self.cache_bytes.set(cache.bytes)
        self.cache_pages.set(len(cache))

    def readings_page(self, items: int) -> None:
        self._reading_items.observe(items)


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    return Metrics()


class MeasuredThreadPool(ThreadPool):
    """The store threads, telling `observe` how long each call waited for a free thread (seconds)."""

    def __init__(self, threads: int, observe: Callable[[float], None]) -> None:
        super().__init__(threads)
        self.observe = observe

    def run(self, fn: Callable[..., T], *args: Any) -> Any:
        queued = time.perf_counter()
        observe = self.observe

        def measured(*call_args: Any) -> T:
            observe(time.perf_counter() - queued)
            return fn(*call_args)

        return super().run(measured, *args)


def start_exporter(settings: Settings) -> str | None:
    """In the `serve` process, before the workers start: the metric files' directory, and the /metrics
    listener on settings.metrics_host:metrics_port. Returns the directory (None when metrics are off)."""
    if not settings.metrics_port:
        return None
    values = sys.modules.get("prometheus_client.values")
    if values is not None and values.ValueClass is values.MutexValue:
        raise RuntimeError("prometheus_client was imported before its multiprocess directory was set")
    path = _fresh_directory(settings.metrics_dir)
    os.environ[MULTIPROC_ENV] = path  # the workers inherit it
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=True)
    registry.register(_WorkersCollector(path))
    try:
        start_http_server(settings.metrics_port, settings.metrics_host, registry)
    except OSError as exc:
        raise OSError(f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {exc}") from None
    return path


def _fresh_directory(configured: str | None) -> str:
    """Files of an earlier run would be summed with this run's: a configured directory is emptied of them,
    otherwise a new one is made (and removed at exit)."""
    if configured is None:
        path = tempfile.mkdtemp(prefix="connect-readings-metrics-")
        atexit.register(shutil.rmtree, path, True)
        return path
    os.makedirs(configured, mode=0o700, exist_ok=True)
    for name in glob.glob(os.path.join(configured, "*.db")):
        os.remove(name)
    return configured


class _WorkersCollector:
    """The sum over every worker's files; a restarted worker's old in-progress/cache gauges are dropped."""

    def __init__(self, path: str) -> None:
        from prometheus_client.multiprocess import MultiProcessCollector

        self.path = path
        self.files = MultiProcessCollector(None, path)

    def collect(self) -> Any:
        from prometheus_client.multiprocess import mark_process_dead

        for name in glob.glob(os.path.join(self.path, "gauge_live*_*.db")):
            pid = int(name.rsplit("_", 1)[1][:-3])
            if not _alive(pid):
                mark_process_dead(pid, self.path)
        return self.files.collect()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
