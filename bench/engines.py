"""TimescaleDB against plain PostgreSQL on the same data, in one run (issue 22, item 2).

    python -m bench.engines [--days 40] [--rounds 7]

Starts two throwaway PostgreSQL servers from the same binaries with the same settings (scripts/scaleout.sh's
test settings: fsync off), one with `timescaledb` preloaded (so the store's migration makes `readings` a
hypertable), writes the same data into each through `PostgresStore.ingest` (the demo household meter, a reading
every 10 s for --days days from 2024-05-31, batches of 5,000), ANALYZEs both, then times the three reads the issue names,
in-process, the engines taking turns request by request:

  1. a month of 15-minute aggregations (June 2024: one page of 2,880 buckets, UTC);
  2. a month of daily buckets (Europe/Brussels);
  3. a page of 1,000 readings;

each also through the readings around every edge only ("seeks": `register_brackets`, what every page did before
the stored edges answered them). A round's figure is the median of --per-round requests; printed: the median of
the rounds' and of the per-round TimescaleDB / PostgreSQL ratios (their range). Target: ratio ≤ 1.0.
Needs PostgreSQL 15's server binaries (PG_BIN, default /usr/lib/postgresql/15/bin) and the TimescaleDB extension
installed into them (scripts/scaleout.sh builds it). Results in bench/results/engines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from connect_readings.demo import HOUSEHOLD, household
from connect_readings.domain.interval import parse_resolution
from connect_readings.domain.readings import Reading, parse_reading
from connect_readings.domain.registers import aggregate
from connect_readings.storage.base import reading_window
from connect_readings.storage.postgres import PostgresStore
from connect_readings.usecases.aggregations import AggregationQuery, aggregation_page
from connect_readings.usecases.readings import readings_page

from .common import RESULTS, free_port, log

SECOND = 1_000_000
DAY = 86_400 * SECOND
T0 = 1_717_113_600 * SECOND  # 2024-05-31T00:00Z
MONTH = (1_717_200_000 * SECOND, 1_719_792_000 * SECOND)  # June 2024 (UTC)
BRUSSELS_MONTH = (1_717_192_800 * SECOND, 1_719_784_800 * SECOND)  # June 2024 in Brussels (+02:00)
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
CONF = """listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{dir}'
shared_preload_libraries = '{preload}'
fsync = off
synchronous_commit = off
full_page_writes = off
timescaledb.telemetry_level = off
"""


def household_readings(days: int) -> list[Reading]:
    """The demo household meter from T0 for `days` days (a reading every 10 s), parsed as ingest parses it."""
    return [parse_reading(item) for item in household(T0, T0 + days * DAY)]


@contextmanager
def servers(prefix: str, preloads: dict[str, str]) -> Iterator[dict[str, "Node"]]:
    """Throwaway servers by name, each with its `shared_preload_libraries` (`Node`), in a fresh folder (owned by
    `postgres` when this runs as root); stopped and removed on leaving, whatever happened."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    nodes: dict[str, Node] = {}
    try:
        for name, preload in preloads.items():
            nodes[name] = Node(root, name, preload)
        yield nodes
    finally:
        for node in nodes.values():
            node.stop()
        shutil.rmtree(root, ignore_errors=True)


class Node:
    """A throwaway PostgreSQL server (run as the `postgres` OS user when this runs as root)."""

    def __init__(self, root: Path, name: str, preload: str) -> None:
        self.dir, self.port = root / name, free_port()
        self.log = root / f"{name}.log"
        self._run(str(PG_BIN / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        conf = CONF.format(port=self.port, dir=self.dir, preload=preload)
        if preload != "timescaledb":
            conf = conf.replace("timescaledb.telemetry_level = off\n", "")
        with (self.dir / "postgresql.conf").open("a") as fh:
            fh.write(conf)
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-w", "-t", "60", "start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True)

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "stop")


def reads(store: PostgresStore) -> dict[str, Callable[[], object]]:
    """The measured requests (each inside one snapshot, as the API runs them)."""
    utc_month = AggregationQuery(HOUSEHOLD, *MONTH, parse_resolution("15 minutes"), None)
    daily = AggregationQuery(HOUSEHOLD, *BRUSSELS_MONTH, parse_resolution("1 day"), ZoneInfo("Europe/Brussels"))

    def page(query: AggregationQuery, size: int) -> Callable[[], object]:
        def run() -> object:
            with store.snapshot():
                found = aggregation_page(store, query, query.start, size)
            assert len(found.items) == size, len(found.items)
            return found
        return run

    def seeks(query: AggregationQuery, size: int) -> Callable[[], object]:
        edges = query.grid.page_edges(query.start, query.start, query.end, size)

        def run() -> object:
            with store.snapshot():
                return aggregate(edges, store.register_brackets(HOUSEHOLD, edges))
        return run

    def readings() -> object:
        with store.snapshot():
            found = readings_page(store, HOUSEHOLD, MONTH[0], MONTH[1], 1000)
        assert len(found.items) == 1000
        return found

    return {"month × 15 min": page(utc_month, 2880), "month × 1 day": page(daily, 30), "1,000 readings": readings,
            "month × 15 min (seeks)": seeks(utc_month, 2880), "month × 1 day (seeks)": seeks(daily, 30)}


def explain(name: str, store: PostgresStore) -> None:
    """The readings page's statement as the store sends it (on TimescaleDB with its first window's bounds as
    constants, `readings_in_windows`), prepared: its plan with the page's values (a custom plan) and its generic plan,
    each when made and when reused."""
    within = ""
    if store.readings_span is not None:
        lo, hi = reading_window(MONTH[0], store.readings_span)
        within = f"AND ts >= {lo} AND ts < {hi} "
    query = (f"PREPARE page(uuid, int8, int8, int8) AS SELECT * FROM readings WHERE entity_id = $1 AND ts >= $2 "
             f"AND ts < $3 {within}ORDER BY ts LIMIT $4")
    with store.connection() as conn:
        for mode in ("force_custom_plan", "force_generic_plan"):
            conn.execute(f"SET plan_cache_mode = {mode}")
            conn.execute("DEALLOCATE ALL")
            conn.execute(query)
            for _ in range(2):  # planned, then (generic) reused
                lines = [row[0] for row in conn.execute(
                    f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE page('{HOUSEHOLD}', {MONTH[0]}, {MONTH[1]}, 1001)")]
                times = [line.strip() for line in lines if line.strip().startswith(("Planning", "Execution Time"))]
                log(f"{name} {mode}: {'; '.join(times)}; {lines[0].strip()} … {len(lines)} lines")
        conn.execute("DEALLOCATE ALL")
        conn.execute("RESET plan_cache_mode")


def plans_kept(name: str, store: PostgresStore) -> None:
    """Which plans the readings statements got, on the connection the timed reads used (generic: none made)."""
    with store.connection() as conn:
        rows = conn.execute("SELECT generic_plans, custom_plans, statement FROM pg_prepared_statements "
                            "WHERE statement LIKE '%FROM readings WHERE entity_id = $1 AND ts >= $2 AND ts < $3%' "
                            "ORDER BY generic_plans + custom_plans DESC").fetchall()
    log(f"{name}: readings statements prepared: " + "; ".join(
        f"{'window' if re.search(r'ts < -?[0-9]+ ORDER BY', s) else 'range'} {g} generic / {c} custom"
        for g, c, s in rows))


def load() -> str:
    """The load averages (1/5/15 min), for the log: the machine is shared."""
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def arguments(prog: str, doc: str | None, argv: list[str] | None) -> argparse.Namespace:
    """The options both engine benches take."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="also EXPLAIN ANALYZE the readings page on each")
    return parser.parse_args(argv)


def fill(stores: dict[str, PostgresStore], data: list[Reading]) -> None:
    """The same readings into every store, 5,000 a batch, then ANALYZE."""
    for name, store in stores.items():
        t = time.perf_counter()
        for i in range(0, len(data), 5000):
            store.ingest(HOUSEHOLD, data[i:i + 5000])
        with store.connection() as conn:
            conn.execute("ANALYZE")
        log(f"{name}: {len(data):,} readings in {time.perf_counter() - t:.0f} s (load {load()})")


def in_turns(names: Sequence[str], keys: Sequence[str], rounds: int, per_round: int,
             step: Callable[[str], Callable[[str], object]], label: str) -> dict[str, dict[str, list[float]]]:
    """Per key, per name: each round's median ms of `per_round` calls (after one untimed). `step(key)` prepares
    a call (untimed) and gives it for each name; the names take turns call by call, the order flipped every call
    and round."""
    figures: dict[str, dict[str, list[float]]] = {key: {name: [] for name in names} for key in keys}
    for rnd in range(rounds):
        for key in keys:
            laps: dict[str, list[float]] = {name: [] for name in names}
            for i in range(per_round + 1):
                call = step(key)
                for name in (names if (i + rnd) % 2 == 0 else names[::-1]):
                    t = time.perf_counter()
                    call(name)
                    if i:
                        laps[name].append((time.perf_counter() - t) * 1000)
            for name, values in laps.items():
                figures[key][name].append(statistics.median(values))
        log(f"{label}round {rnd + 1}/{rounds} (load {load()}): " + "; ".join(
            f"{key} {v[names[0]][-1]:.1f} / {v[names[1]][-1]:.1f}" for key, v in figures.items()))
    return figures


def main(argv: list[str] | None = None) -> int:
    args = arguments("python -m bench.engines", __doc__, argv)
    began = time.perf_counter()
    data = household_readings(args.days)
    with servers("connect-readings-engines-", {"postgres": "", "timescaledb": "timescaledb"}) as nodes:
        stores = {name: PostgresStore(node.url) for name, node in nodes.items()}
        fill(stores, data)
        with stores["timescaledb"].connection() as conn:
            chunks = conn.execute("SELECT count(*) FROM timescaledb_information.chunks").fetchone()[0]
        if args.explain:
            for name, store in stores.items():
                explain(name, store)
        calls = {name: reads(store) for name, store in stores.items()}
        figures = in_turns(list(stores), list(calls["postgres"]), args.rounds, args.per_round,
                           lambda key: lambda name: calls[name][key](), "")
        if args.explain:
            for name, store in stores.items():
                plans_kept(name, store)
        for store in stores.values():
            store.close()
    table = {}
    print(f"\n{len(data):,} readings ({args.days} days every 10 s), TimescaleDB {chunks} chunks; "
          f"{args.rounds} rounds × {args.per_round}; {time.perf_counter() - began:.0f} s")
    print(f"{'request':26} {'PostgreSQL':>11} {'TimescaleDB':>12} {'TS / PG':>8}  range")
    for key, per in figures.items():
        ratios = [t / p for t, p in zip(per["timescaledb"], per["postgres"])]
        table[key] = {"postgres_ms": statistics.median(per["postgres"]), "timescaledb_ms":
                      statistics.median(per["timescaledb"]), "ratio": statistics.median(ratios),
                      "ratio_range": [min(ratios), max(ratios)]}
        print(f"{key:26} {table[key]['postgres_ms']:9.2f} ms {table[key]['timescaledb_ms']:9.2f} ms "
              f"{table[key]['ratio']:8.2f}  {min(ratios):.2f}–{max(ratios):.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "engines.json").write_text(json.dumps({"days": args.days, "rounds": args.rounds,
                                                      "figures": table, "raw": figures}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
