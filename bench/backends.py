"""SQLite beside PostgreSQL on the same data, in one run: ingest rate and aggregation page latency.

    python bench/backends.py [--readings 200000] [--batch 5000] [--pages 300]

Data: the demo household meter (two tariffs, injection; a reading every 10 s), parsed up front so only
`store.ingest` is timed, in batches of 5,000, oldest first, one entity. Then `service.aggregation_page` with
25 buckets (15 minutes, UTC; and 1 day in Europe/Berlin) at random positions inside the data, after a warm-up:
median and p95 per page. PostgreSQL: a fresh database on CONNECT_READINGS_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres), dropped afterwards; ANALYZE runs once after the ingest, as
autovacuum would.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from connect_readings.demo import HOUSEHOLD, household
from connect_readings.domain.interval import parse_resolution
from connect_readings.domain.readings import Reading, parse_reading
from connect_readings.usecases.aggregations import AggregationQuery, aggregation_page
from connect_readings.storage.base import Store
from connect_readings.storage.postgres import PostgresStore
from connect_readings.storage.sqlite import SQLiteStore

SECOND = 1_000_000
T0 = 1_714_521_600_000_000  # 2024-05-01T00:00Z
SERVER = os.environ.get("CONNECT_READINGS_BENCH_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
PAGES = [("15 minutes", None), ("1 day", "Europe/Berlin")]


def readings(count: int) -> list[Reading]:
    return [parse_reading(item) for item in household(T0, T0 + count * 10 * SECOND)]


def time_ingest(store: Store, data: list[Reading], batch: int) -> float:
    began = time.perf_counter()
    for i in range(0, len(data), batch):
        store.ingest(HOUSEHOLD, data[i:i + batch])
    return time.perf_counter() - began


def time_pages(store: Store, first: int, last: int, resolution: str, zone: str | None, pages: int) -> list[float]:
    width = parse_resolution(resolution)
    tz = ZoneInfo(zone) if zone else None
    rng = random.Random(7)
    # windows start inside the data and are long enough for 25 full buckets
    span = 25 * (86_400 if width.days else 900) * SECOND
    starts = [rng.randrange(first, max(first + 1, last - span)) for _ in range(pages)]
    laps = []
    for n, start in enumerate([*starts[:20], *starts]):  # the first 20 warm up caches and prepared statements
        query = AggregationQuery(HOUSEHOLD, start, start + 2 * span, width, tz)
        began = time.perf_counter()
        page = aggregation_page(store, query, start, 25)
        lap = time.perf_counter() - began
        assert len(page.items) == 25 or resolution != "15 minutes", len(page.items)
        if n >= 20:
            laps.append(lap)
    return laps


def run(name: str, store: Store, data: list[Reading], batch: int, pages: int,
        after_ingest: Callable[[], None] = lambda: None) -> dict[str, float]:
    elapsed = time_ingest(store, data, batch)
    after_ingest()
    result = {"ingest readings/s": len(data) / elapsed}
    for resolution, zone in PAGES:
        laps = time_pages(store, data[0].ts, data[-1].ts, resolution, zone, pages)
        label = f"{resolution}{' ' + zone if zone else ''}"
        result[f"page {label} median ms"] = statistics.median(laps) * 1000
        result[f"page {label} p95 ms"] = statistics.quantiles(laps, n=20)[-1] * 1000
    print(f"  {name}: done", file=sys.stderr)
    return result


def database_url(server: str, name: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path="/" + name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--pages", type=int, default=300)
    args = parser.parse_args()

    print(f"generating {args.readings:,} readings…", file=sys.stderr)
    data = readings(args.readings)
    results: dict[str, dict[str, float]] = {}

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(str(Path(tmp) / "bench.db"))
        results["sqlite"] = run("sqlite", store, data, args.batch, args.pages)
        store.close()

    name = f"connect_readings_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url(SERVER, name)
    try:
        pg = PostgresStore(url)

        def analyze() -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE")

        results["postgres"] = run("postgres", pg, data, args.batch, args.pages, analyze)
        with psycopg.connect(url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        pg.close()
    finally:
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    print(f"\n{len(data):,} readings, one entity, batches of {args.batch:,}; {args.pages} pages of 25 buckets each "
          f"(PostgreSQL {version}, same machine)\n")
    metrics = list(results["sqlite"])
    print(f"{'':34} {'SQLite':>12} {'PostgreSQL':>12} {'PG / SQLite':>12}")
    for metric in metrics:
        a, b = results["sqlite"][metric], results["postgres"][metric]
        fmt = "{:>12,.0f}" if "readings/s" in metric else "{:>12.2f}"
        print(f"{metric:34} {fmt.format(a)} {fmt.format(b)} {b / a:>12.2f}")


if __name__ == "__main__":
    main()
