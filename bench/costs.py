"""Costs against aggregations (issue 21): the same page of `/costs` and of `/aggregations`, timed in one run.

    python -m bench.costs                       # SQLite and PostgreSQL (if 127.0.0.1:5432 answers), 7 rounds
    python -m bench.costs --rounds 11 --per-round 5
    python -m bench.costs --backends sqlite     # SQLite only
    python -m bench.costs --profile             # also pyinstrument of costs_page in-process (bench/results/)

Data (per backend, built fresh into bench/data/ or a fresh PostgreSQL database, dropped afterwards): two
entities in Europe/Brussels with the same year of 15-minute register readings (`datagen.Household`:
two tiers, injection, a meter reset; 2022-12-31T00:00Z + 366 days = 35,136 readings each, written through
`parse_reading` + `store.ingest`), the hourly price series `bench-dayahead` of 2023 (the demo's synthetic
Belgian day-ahead, `demo.day_ahead`: 8,760 intervals, seasonal and daily shape, negative on sunny spring
and summer weekends), and a dynamic tariff each, from 2023-01-01T00:00+01:00: import at the price + 0.13,
export at 0.9 × the price − 0.015, fixed 100 EUR/year, VAT 6 %; entity "cap" also has the capacity tariff
(53 EUR per kW-year), entity "nocap" has none (the difference is what the capacity path costs).

Measured through the real server (`connect-readings serve --workers 1`, page cache off, so the
aggregations baseline is computed on every request as the costs are; one keep-alive HTTP connection):

- year: 2023 in Europe/Brussels, resolution 1 day, pageSize 366 (365 buckets);
- month: July 2023, 15 minutes (2,976 buckets, one page);
- day: Sunday 2023-07-02, 15 minutes (96 buckets).

Per round, for each page, the three requests (aggregations, costs cap, costs nocap) take turns `--per-round`
times, in an order that flips every round; a round's figure is the median of its requests, its ratio is
costs / aggregations of that round. Printed: the median of the rounds' ratios with their range (min–max),
and the median latencies. Target (issue 21): the year of daily costs ≤ 3 × the aggregations page.
Results in bench/results/costs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
import uuid
from typing import Any

from .common import (
    DATA,
    HOST,
    RESULTS,
    Client,
    Server,
    cli_executable,
    ensure_tools,
    free_port,
    log,
    remove_db,
    token,
)

ensure_tools(need_wrk=False)  # numpy, before datagen imports it

from connect_readings.demo import day_ahead
from connect_readings.domain.entities import EntityRecord
from connect_readings.domain.prices import PriceSeries
from connect_readings.domain.readings import parse_reading
from connect_readings.storage import open_store

from .datagen import SECOND, Household, entity_uuid, wire_readings

PG_ADMIN = os.environ.get("CONNECT_READINGS_BENCH_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
ZONE = "Europe/Brussels"
DATA_START = 1_672_444_800 * SECOND  # 2022-12-31T00:00Z: covers 2023 in Brussels
STEP = 900 * SECOND
COUNT = 366 * 96
YEAR_LO = 1_672_527_600 * SECOND  # 2023-01-01T00:00+01:00
YEAR_HI = 1_704_063_600 * SECOND  # 2024-01-01T00:00+01:00
PRICE_ID = "bench-dayahead"
ENTITIES = {"cap": entity_uuid("costs", "capacity"), "nocap": entity_uuid("costs", "no capacity")}

PAGES = {
    "year × 1 day": ("2023-01-01T00:00:00", "2024-01-01T00:00:00", "1%20day", 366, 365),
    "month × 15 min": ("2023-07-01T00:00:00", "2023-08-01T00:00:00", "15%20minutes", 3000, 2976),
    "day × 15 min": ("2023-07-02T00:00:00", "2023-07-03T00:00:00", "15%20minutes", 96, 96),
}


def tariff(capacity: bool) -> str:
    period: dict[str, Any] = {
        "from": "2023-01-01T00:00:00+01:00",
        "import": {"prices": PRICE_ID, "factor": 1, "adder": 0.13},
        "export": {"prices": PRICE_ID, "factor": 0.9, "adder": -0.015},
        "fixed": {"perYear": 100},
        "vat": 0.06,
    }
    if capacity:
        period["capacity"] = {"perKwYear": 53}
    return json.dumps({"currency": "EUR", "periods": [period]})


def populate(database: str) -> dict[str, Any]:
    """Entities, readings, prices and tariffs into `database` (a fresh one)."""
    store = open_store(database)
    began = time.perf_counter()
    now = int(time.time()) * SECOND
    try:
        for label, entity in ENTITIES.items():
            store.put_entity(EntityRecord(entity, "electricityMeter", f"costs bench {label}", time_zone=ZONE,
                                          created=now))
            meter = Household(DATA_START, STEP, seed=21, reset_at=COUNT // 2 + 7)
            for block in meter.blocks(COUNT, 5_000):
                store.ingest(entity, [parse_reading(item) for item in wire_readings(block)])
        prices = day_ahead(YEAR_LO, YEAR_HI)
        negative = sum(p.price < 0 for p in prices)
        store.put_prices(PriceSeries(PRICE_ID, "Belgian day-ahead (synthetic), bench", "EUR/MWh"), prices, now)
        for label, entity in ENTITIES.items():
            store.put_tariff(entity, tariff(label == "cap"), now)
    finally:
        store.close()
    info = {"readings_per_entity": COUNT, "price_intervals": len(prices), "negative_prices": negative,
            "price_min_eur_kwh": min(p.price for p in prices), "price_max_eur_kwh": max(p.price for p in prices),
            "build_seconds": round(time.perf_counter() - began, 1)}
    log(f"  built {database.rsplit('/', 1)[-1]}: {info}")
    return info


def path_of(kind: str, entity: uuid.UUID, page: str) -> str:
    start, end, resolution, size, _ = PAGES[page]
    return (f"/v1/entities/{entity}/{kind}?start={start}&end={end}&resolution={resolution}"
            f"&timeZone={ZONE}&pageSize={size}")


def check(client: Client) -> None:
    """Each page answers its buckets, and a cost's import energy is the aggregations' value."""
    for page, (*_, buckets) in PAGES.items():
        agg = client.get_json(path_of("aggregations", ENTITIES["cap"], page))
        for label, entity in ENTITIES.items():
            cost = client.get_json(path_of("costs", entity, page))
            assert len(agg["data"]) == buckets == len(cost["data"]), (page, len(agg["data"]), len(cost["data"]))
            assert ("capacity" in cost["data"][0]["data"]) == (label == "cap"), cost["data"][0]
            a, c = agg["data"][0], cost["data"][0]
            energy = a["data"]["positiveActiveEnergy"]["total"]
            assert abs(c["data"]["import"]["energy"] - energy) < 1e-6, (page, c, a)


def measure(server: Server, rounds: int, per_round: int) -> dict[str, Any]:
    client = Client(server.port, token(scope="readings:read"))
    check(client)
    kinds = {"aggregations": ("aggregations", ENTITIES["cap"]), "costs": ("costs", ENTITIES["cap"]),
             "costs_nocap": ("costs", ENTITIES["nocap"])}
    out: dict[str, Any] = {}
    for page in PAGES:
        paths = {k: path_of(kind, entity, page) for k, (kind, entity) in kinds.items()}
        for path in paths.values():  # warm
            client.get(path)
        per: dict[str, list[float]] = {k: [] for k in kinds}
        ratio: dict[str, list[float]] = {"costs": [], "costs_nocap": []}
        loads = []
        for r in range(rounds):
            loads.append(os.getloadavg()[0])
            order = list(kinds) if r % 2 == 0 else list(reversed(kinds))
            samples: dict[str, list[float]] = {k: [] for k in kinds}
            for _ in range(per_round):
                for k in order:
                    status, _body, seconds = client.get(paths[k])
                    assert status == 200, (status, _body[:200])
                    samples[k].append(seconds)
            med = {k: statistics.median(v) for k, v in samples.items()}
            for k in kinds:
                per[k].append(med[k])
            for k, values in ratio.items():
                values.append(med[k] / med["aggregations"])
        out[page] = {
            "ms": {k: round(statistics.median(v) * 1000, 2) for k, v in per.items()},
            "ms_range": {k: [round(min(v) * 1000, 2), round(max(v) * 1000, 2)] for k, v in per.items()},
            "ratio": {k: round(statistics.median(v), 2) for k, v in ratio.items()},
            "ratio_range": {k: [round(min(v), 2), round(max(v), 2)] for k, v in ratio.items()},
            "load": [round(min(loads), 2), round(max(loads), 2)],
        }
        log(f"  {page}: {json.dumps(out[page])}")
    client.close()
    return out


def serve(name: str, database: str) -> Server:
    port = free_port()
    argv = [cli_executable(), "serve", "--host", HOST, "--port", str(port), "--database", database, "--workers", "1"]
    return Server(name, argv, port, {"CONNECT_READINGS_PAGE_CACHE_MIB": "0", "CONNECT_READINGS_PAGE_CACHE": "0"})


def profile(database: str, name: str) -> None:
    """pyinstrument of the year page of costs (capacity) in-process, and of the aggregations page beside it."""
    from zoneinfo import ZoneInfo

    from pyinstrument import Profiler

    from connect_readings.domain.interval import parse_resolution
    from connect_readings.usecases.aggregations import (
        AggregationQuery,
        aggregation_page,
    )
    from connect_readings.usecases.costs import costs_page

    tz = ZoneInfo(ZONE)
    store = open_store(database)
    try:
        for label in ("cap", "nocap"):
            q = AggregationQuery(ENTITIES[label], YEAR_LO, YEAR_HI, parse_resolution("1 day"), tz)
            for what, call in (("costs", lambda q=q: costs_page(store, q, tz, YEAR_LO, 366)),
                               ("aggregations", lambda q=q: aggregation_page(store, q, YEAR_LO, 366))):
                with store.snapshot():
                    call()  # warm
                profiler = Profiler(interval=0.0005)
                profiler.start()
                for _ in range(10):
                    with store.snapshot():
                        call()
                profiler.stop()
                out = RESULTS / f"costs-profile-{name}-{what}-{label}.txt"
                out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
                log(f"  profile: {out}")
    finally:
        store.close()


def pg_database() -> tuple[str, Any] | None:
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        return None
    from urllib.parse import urlsplit, urlunsplit

    name = f"bench_costs_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:  # no server: SQLite only
        log(f"PostgreSQL not available ({exc}); SQLite only")
        return None
    parts = urlsplit(PG_ADMIN)

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    return urlunsplit(parts._replace(path="/" + name)), drop


def analyze(database: str) -> None:
    import psycopg

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ANALYZE")


def report(results: dict[str, Any]) -> str:
    header = ("| backend | page | aggregations | costs (capacity) | costs / aggregations | costs (no capacity) "
              "| no capacity / aggregations | load (1 min) |")
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for backend, pages in results["backends"].items():
        for page, r in pages.items():
            ms, rr = r["ms"], r["ratio_range"]
            lines.append(
                f"| {backend} | {page} | {ms['aggregations']:.1f} ms | {ms['costs']:.1f} ms | "
                f"**{r['ratio']['costs']:.2f}×** ({rr['costs'][0]:.2f}–{rr['costs'][1]:.2f}) | "
                f"{ms['costs_nocap']:.1f} ms | {r['ratio']['costs_nocap']:.2f}× "
                f"({rr['costs_nocap'][0]:.2f}–{rr['costs_nocap'][1]:.2f}) | {r['load'][0]:.1f}–{r['load'][1]:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.costs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=5, help="requests of each kind per round")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the year page in-process")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"command": "python -m bench.costs " + " ".join(argv if argv is not None else sys.argv[1:]),
                               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "uptime_start": os.getloadavg(),
                               "rounds": args.rounds, "per_round": args.per_round, "data": {}, "backends": {}}
    for backend in args.backends.split(","):
        drop = None
        if backend == "sqlite":
            DATA.mkdir(parents=True, exist_ok=True)
            path = DATA / "costs.db"
            remove_db(path)
            database = str(path)
        elif backend == "postgres":
            found = pg_database()
            if found is None:
                continue
            database, drop = found
        else:
            parser.error(f"unknown backend {backend}")
        try:
            log(f"{backend}: building")
            results["data"][backend] = populate(database)
            if backend == "postgres":
                analyze(database)
            with serve(f"costs-{backend}", database) as server:
                log(f"{backend}: measuring ({args.rounds} rounds × {args.per_round})")
                results["backends"][backend] = measure(server, args.rounds, args.per_round)
            if args.profile:
                profile(database, backend)
        finally:
            if drop is not None:
                drop()
    results["uptime_end"] = os.getloadavg()
    (RESULTS / "costs.json").write_text(json.dumps(results, indent=1, default=str))
    table = report(results)
    print(table)
    year = [p["year × 1 day"]["ratio"]["costs"] for p in results["backends"].values()]
    print(f"\nyear × 1 day, costs / aggregations: {', '.join(f'{r:.2f}×' for r in year)} (target ≤ 3×)")
    return 0 if all(r <= 3 for r in year) else 1


if __name__ == "__main__":
    sys.exit(main())
