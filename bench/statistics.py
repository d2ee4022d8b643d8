"""Statistics micro-benchmark (issue 11): `GET …/statistics` pages and gauge ingest, in one process, per set of
block tiers.

    python -m bench.statistics                  # 30 days of 1-second data, tiers 15 min/1 h/1 d, and 15 min only
    python -m bench.statistics --quick          # 3 days, smoke version (a minute or two)
    python -m bench.statistics --days 365 --tiers 15,60,1440   # the full year at 1-second density (long: 31.5M readings)

Per set of tiers (`domain.gauges.TIERS`, patched in every module that imported it, before any store is built,
since the stored blocks depend on it; the finest tier stays 15 minutes), the figures, each measured in this run
against its baseline:

1. density: a `--days` × 1-day statistics page (metric positiveActiveInstantaneousPower: l1, l2, l3, total)
   over 1-second data / the same page over 15-minute data (target ≤ 2×), and the same in Asia/Kolkata
   (UTC+05:30, where 1-hour blocks misalign with the buckets);
2. hot page: a 25 × 15-minute statistics page over 10-second data / the 25 × 15-minute aggregations page of the
   same store, as throughput (target ≥ 0.5×); both are the service functions called directly inside
   `store.snapshot()` (no page cache, no HTTP);
3. ingest: `api.body.parse_batch` + `SQLiteStore.ingest` of bodies of 5,000 readings with registers + power
   (l1, l2, l3, total) + voltage (l1, l2, l3), one worker, readings/s (target ≥ 100k/s), and the same readings
   without the gauges as the baseline (the cost of the summaries is the ratio).

Data: stores written through `SQLiteStore.ingest` (batches of 10,000 `Reading` objects built directly), into a
temporary folder (one set per block width). Times are medians of `--repeat` runs (wall time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .common import ensure_tools

ensure_tools(need_wrk=True)  # numpy (before the modules below import it) and wrk

import numpy as np
import orjson

from connect_readings.usecases import aggregations as service, statistics as statistics_service
from connect_readings.ingest.batch import parse_batch
from connect_readings.domain import gauges as gauges_module
from connect_readings.domain import ingest as ingest_module
from connect_readings.domain.interval import parse_resolution
from connect_readings.domain.readings import GAUGE_COUNT, REGISTER_COUNT, Reading
from connect_readings.storage import sqlite as sqlite_module
from connect_readings.storage.sqlite import SQLiteStore

from .common import HOST, RESULTS, Server, cli_executable, free_port, log, run_wrk, token
from .datagen import MINUTE, SECOND

ENTITY = uuid.UUID("7a4c2e19-5b3d-4f61-8c0a-2e9d1b7f3a64")
T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * SECOND
DAY = 86_400 * SECOND
BATCH = 5_000
POWER = "positiveActiveInstantaneousPower"
KOLKATA = ZoneInfo("Asia/Kolkata")


def set_tiers(minutes: tuple[int, ...]) -> None:
    """TIERS everywhere it was imported by name (grep TIERS src/). The finest tier is BLOCK_US, which stays."""
    tiers = tuple(m * MINUTE for m in minutes)
    assert tiers[0] == gauges_module.BLOCK_US, "the finest tier is the 15-minute block"
    for module in (gauges_module, ingest_module, sqlite_module):
        module.TIERS = tiers  # type: ignore[attr-defined]


# -- data -------------------------------------------------------------------------------------------------
def meter(n: int, step: int, seed: int, first: int = T0, wh0: int = 1_000_000) -> dict[str, np.ndarray]:
    """A three-phase household: power per phase (W), total = their sum, voltage per phase, energy register."""
    rng = np.random.default_rng(seed)
    ts = first + np.arange(n, dtype=np.int64) * step
    hour = (ts // (3600 * SECOND)) % 24
    base = 300 + 900 * ((hour >= 7) & (hour < 23))
    phases = np.maximum(0, base[:, None] / 3 + rng.normal(0, 120, (n, 3))).round(1)
    total = phases.sum(axis=1).round(1)
    volts = (230 + rng.normal(0, 2, (n, 3))).round(1)
    wh = wh0 + np.cumsum(total * (step / SECOND) / 3600).astype(np.int64)
    return {"ts": ts, "phases": phases, "total": total, "volts": volts, "wh": wh}


def readings(m: dict[str, np.ndarray], lo: int, hi: int, with_gauges: bool = True) -> list[Reading]:
    """`Reading` objects as `parse_reading` makes them (kWh register, W and V gauges in GAUGE_SERIES order)."""
    out = []
    ts, ph, tot, v, wh = (m[k][lo:hi].tolist() for k in ("ts", "phases", "total", "volts", "wh"))
    pad_r = (None,) * (REGISTER_COUNT - 5)
    for i in range(hi - lo):
        kwh = wh[i] * 0.001
        data = {"positiveActiveEnergy": {"t1": kwh, "total": kwh, "unit": "kWh"}}
        registers = (kwh, None, None, None, kwh) + pad_r
        if not with_gauges:
            out.append(Reading(ts[i], data, registers))
            continue
        (p1, p2, p3), (v1, v2, v3) = ph[i], v[i]
        data[POWER] = {"l1": p1, "l2": p2, "l3": p3, "total": tot[i], "unit": "W"}
        data["instantaneousVoltage"] = {"l1": v1, "l2": v2, "l3": v3, "unit": "V"}
        gauges = (p1, p2, p3, tot[i], None, None, None, None, v1, v2, v3) + (None,) * (GAUGE_COUNT - 11)
        out.append(Reading(ts[i], data, registers, gauges))
    return out


def wire(m: dict[str, np.ndarray], lo: int, hi: int, with_gauges: bool) -> bytes:
    """A POST /readings body, registers in Wh as a meter sends them."""
    items = []
    stamps = [s + "Z" for s in np.datetime_as_string(m["ts"][lo:hi].astype("datetime64[us]"), unit="s").tolist()]
    ph, tot, v, wh = (m[k][lo:hi].tolist() for k in ("phases", "total", "volts", "wh"))
    for i in range(hi - lo):
        data: dict = {"positiveActiveEnergy": {"t1": wh[i], "total": wh[i], "unit": "Wh"}}
        if with_gauges:
            data[POWER] = {"l1": ph[i][0], "l2": ph[i][1], "l3": ph[i][2], "total": tot[i], "unit": "W"}
            data["instantaneousVoltage"] = {"l1": v[i][0], "l2": v[i][1], "l3": v[i][2], "unit": "V"}
        items.append({"timestamp": stamps[i], "data": data})
    return orjson.dumps({"data": items})


def build(path: Path, step: int, days: int, seed: int) -> SQLiteStore:
    n = days * DAY // step
    store = SQLiteStore(str(path))
    t0, wh = time.perf_counter(), 1_000_000
    for chunk, first in enumerate(range(0, n, 1_000_000)):  # generated a million at a time (a year is 31.5M)
        count = min(n - first, 1_000_000)
        m = meter(count, step, seed * 1000 + chunk, T0 + first * step, wh)
        wh = int(m["wh"][-1])
        for lo in range(0, count, 10_000):
            store.ingest(ENTITY, readings(m, lo, min(count, lo + 10_000)))
    log(f"  {path.name}: {n:,} readings in {time.perf_counter() - t0:.0f} s")
    return store


# -- measurements -----------------------------------------------------------------------------------------
def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def stats_call(store: SQLiteStore, start: int, end: int, width: str, size: int, tz: ZoneInfo | None = None):
    q = statistics_service.StatisticsQuery(ENTITY, start, end, parse_resolution(width), tz, (POWER,), 15 * MINUTE)

    def call() -> int:
        with store.snapshot():
            page = statistics_service.statistics_page(store, q, start, size)
        assert len(page.items) == size and all(len(b.gauges) == 4 for b in page.items), (len(page.items), size)
        return len(page.items)
    return call


def aggregation_call(store: SQLiteStore, start: int, end: int, size: int):
    q = service.AggregationQuery(ENTITY, start, end, parse_resolution("15 minutes"), None)

    def call() -> int:
        with store.snapshot():
            page = service.aggregation_page(store, q, start, size)
        assert len(page.items) == size
        return len(page.items)
    return call


def ingest_rate(folder: Path, bodies: list[bytes], n: int, repeat: int) -> float:
    """readings/s of parse_batch + ingest over the bodies into a fresh store (best of `repeat`)."""
    best = 0.0
    for r in range(repeat):
        path = folder / f"ingest-{r}-{time.monotonic_ns()}.db"
        store = SQLiteStore(str(path))
        t0 = time.perf_counter()
        for body in bodies:
            store.ingest(ENTITY, parse_batch(body, 10_000))
        best = max(best, n / (time.perf_counter() - t0))
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return best


def http_hot(database: Path, h0: int, h1: int, seconds: float) -> dict[str, float]:
    """The hot pages over HTTP: the real server (one worker), wrk -t2 -c32, aggregations and statistics in turns
    (A B A B, best of two each), with the page cache (as served) and without it (CONNECT_READINGS_PAGE_CACHE_MIB=0)."""
    from connect_readings.domain.timefmt import format_datetime

    window = f"start={format_datetime(h0)}&end={format_datetime(h1)}&resolution=15%20minutes"
    paths = {"agg": f"/v1/entities/{ENTITY}/aggregations?{window}",
             "stats": f"/v1/entities/{ENTITY}/statistics?{window}&metrics={POWER}"}
    bearer = token()
    found: dict[str, float] = {}
    for cache, env in (("cached", {}), ("uncached", {"CONNECT_READINGS_PAGE_CACHE_MIB": "0"})):
        port = free_port()
        argv = [cli_executable(), "serve", "--host", HOST, "--port", str(port), "--database", str(database),
                "--workers", "1"]
        with Server(f"statistics-{cache}", argv, port, env) as server:
            for _ in range(2):
                for kind, path in paths.items():
                    result = run_wrk(server.url(path), bearer, seconds)
                    assert result.non_2xx == 0, result.raw
                    key = f"http_{kind}_{cache}"
                    found[key] = max(found.get(key, 0.0), result.requests_per_s)
    return found


def run_tiers(tiers: tuple[int, ...], args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    set_tiers(tiers)
    name = "/".join(map(str, tiers))
    log(f"tiers {name} min: building stores")
    sub = folder / f"tiers{name.replace('/', '-')}"
    sub.mkdir()
    dense = build(sub / "1s.db", SECOND, args.days, 1)
    sparse = build(sub / "15min.db", 15 * MINUTE, args.days, 1)
    hot = build(sub / "10s.db", 10 * SECOND, args.hot_days, 2)
    r: dict[str, Any] = {"tiers": name}
    # 1. density: days × 1-day page (the first day starts with the data, so every bucket is whole)
    start, end = T0, T0 + args.days * DAY
    r["dense_ms"] = median_ms(stats_call(dense, start, end, "1 day", args.days), args.repeat)
    r["sparse_ms"] = median_ms(stats_call(sparse, start, end, "1 day", args.days), args.repeat)
    # Kolkata: local days start at 18:30 UTC; the first local day begins before the data, so ask from day 1
    k0 = T0 + DAY - (5 * 60 + 30) * MINUTE
    kd = args.days - 2
    r["dense_kolkata_ms"] = median_ms(stats_call(dense, k0, k0 + kd * DAY, "1 day", kd, KOLKATA), args.repeat)
    r["sparse_kolkata_ms"] = median_ms(stats_call(sparse, k0, k0 + kd * DAY, "1 day", kd, KOLKATA), args.repeat)
    # 2. hot page: 25 × 15 min in the middle of the 10-second data, both from the same store
    h0 = T0 + (args.hot_days // 2) * DAY + 9 * 3600 * SECOND
    h1 = h0 + 25 * 15 * MINUTE
    r["hot_stats_ms"] = median_ms(stats_call(hot, h0, h1, "15 minutes", 25), args.hot_repeat)
    r["hot_agg_ms"] = median_ms(aggregation_call(hot, h0, h1, 25), args.hot_repeat)
    for s in (dense, sparse, hot):
        s.close()
    if args.http:
        r.update(http_hot(sub / "10s.db", h0, h1, args.http_seconds))
    # 3. ingest, with gauges and without (baseline), alternating so both see the same load
    n = args.ingest_n
    m = meter(n, 10 * SECOND, 3)
    with_g = [wire(m, lo, min(n, lo + BATCH), True) for lo in range(0, n, BATCH)]
    without = [wire(m, lo, min(n, lo + BATCH), False) for lo in range(0, n, BATCH)]
    rates_g, rates_0 = [], []
    for _ in range(args.ingest_repeat):
        rates_g.append(ingest_rate(sub, with_g, n, 1))
        rates_0.append(ingest_rate(sub, without, n, 1))
    r["ingest_gauges"] = max(rates_g)
    r["ingest_plain"] = max(rates_0)
    for db in sub.glob("*.db*"):
        db.unlink()
    return r


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    days = args.days
    lines = [
        f"| tiers (min) | {days}×1 d page, 1 s data (ms) | same, 15 min data (ms) | ratio (≤ 2×) | Kolkata ratio "
        f"| 25×15 min stats (ms) | aggregations (ms) | throughput ratio (≥ 0.5×) "
        f"| ingest + gauges (r/s) | ingest, registers only (r/s) | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['tiers']} | {r['dense_ms']:.1f} | {r['sparse_ms']:.1f} | "
            f"{r['dense_ms'] / r['sparse_ms']:.2f}× | {r['dense_kolkata_ms'] / r['sparse_kolkata_ms']:.2f}× "
            f"({r['dense_kolkata_ms']:.1f} / {r['sparse_kolkata_ms']:.1f} ms) | "
            f"{r['hot_stats_ms']:.2f} | {r['hot_agg_ms']:.2f} | {r['hot_agg_ms'] / r['hot_stats_ms']:.2f}× | "
            f"{r['ingest_gauges']:,.0f} | {r['ingest_plain']:,.0f} | {r['ingest_gauges'] / r['ingest_plain']:.2f}× |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.statistics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 days, fewer repeats")
    parser.add_argument("--days", type=int, default=30, help="days of 1-second data (and buckets of the page)")
    parser.add_argument("--tiers", default="15,60,1440/15",
                        help="sets of tier widths in minutes (comma-separated), the sets separated by '/'")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-http", dest="http", action="store_false", help="skip the hot pages over HTTP")
    parser.add_argument("--http-seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.days, args.repeat = 3, 3
    args.hot_days = 2 if args.quick else 7
    args.hot_repeat = 50 if args.quick else 300
    args.ingest_n = 50_000 if args.quick else 200_000
    args.ingest_repeat = 2 if args.quick else 3
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-statistics-", dir=str(Path(__file__).parent)) as tmp:
        for tiers in args.tiers.split("/"):
            results.append(run_tiers(tuple(int(x) for x in tiers.split(",")), args, Path(tmp)))
            log(json.dumps(results[-1]))
    table = report(results, args)
    if args.http:
        table += "\n\n| tiers (min) | page cache | aggregations (req/s) | statistics (req/s) | ratio (≥ 0.5×) |\n|---|---|---|---|---|"
        for r in results:
            for cache in ("cached", "uncached"):
                a, b = r[f"http_agg_{cache}"], r[f"http_stats_{cache}"]
                table += f"\n| {r['tiers']} | {cache} | {a:,.0f} | {b:,.0f} | {b / a:.2f}× |"
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"statistics-{'quick' if args.quick else 'full'}.json").write_text(
        json.dumps({"args": vars(args), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
