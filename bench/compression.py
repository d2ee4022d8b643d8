"""TimescaleDB's native compression of old readings against the same hypertable uncompressed, in one run (issue 22,
item 2; docs/postgresql.md, "Compression").

    python -m bench.compression [--days 40] [--rounds 7] [--per-round 5] [--explain]

Starts two throwaway TimescaleDB servers from the same binaries with the same settings (bench.engines' `Node`:
scripts/scaleout.sh's test settings, fsync off), writes the same data into each through `PostgresStore.ingest`
(the demo household meter, a reading every 10 s for --days days from 2024-05-31, batches of 5,000), then on one
compresses every chunk (compress_chunk, what the policy of CONNECT_READINGS_TIMESCALEDB_COMPRESS_AFTER_DAYS does to
chunks older than its age; 2024 is older than any) and ANALYZEs both. Measured:

  1. size: hypertable_size('readings') on each, and the compressed one's hypertable_compression_stats;
  2. reads, in-process, the two databases taking turns request by request (bench.engines' requests): a month of
     15-minute aggregations (2,880 buckets), a month of daily buckets (Europe/Brussels), a 1,000-reading page,
     and the two aggregations answered from the readings around every edge only ("seeks");
  3. late batches into an old chunk, one hour of readings (360) each, a different hour every time, taking turns:
     "replace" rewrites stored readings (same timestamps), "insert" adds readings between stored ones (+5 s);
  4. the reads again, now that the compressed chunks have rows written into them (partially compressed), and after
     recompressing them (compress_chunk again).

A round's figure is the median of --per-round calls (after one unmeasured); printed: the median of the rounds'
figures and of the per-round compressed / uncompressed ratios (their range), and the load average at the start
and end of each phase. Needs PostgreSQL 15's server binaries and TimescaleDB installed into them
(scripts/scaleout.sh builds it). Results in bench/results/compression.json.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec

from connect_readings.demo import HOUSEHOLD
from connect_readings.domain.readings import Reading
from connect_readings.storage.postgres import PostgresStore

from .common import RESULTS, log
from .engines import DAY, SECOND, T0, arguments, explain, fill, household_readings, in_turns, load, reads, servers

HOUR = 3_600 * SECOND
LATE_FIRST_DAY = 2  # the late batches' hours: from 2024-06-02 on, one hour apart, all in compressed chunks
NAMES = ("uncompressed", "compressed")


def sizes(store: PostgresStore) -> dict[str, int]:
    with store.connection() as conn:
        row = conn.execute("SELECT hypertable_size('readings'), (SELECT sum(total_bytes) FROM "
                           "hypertable_detailed_size('readings')), pg_database_size(current_database())").fetchone()
        stats = conn.execute("SELECT total_chunks, number_compressed_chunks, before_compression_total_bytes, "
                             "after_compression_total_bytes FROM hypertable_compression_stats('readings')").fetchone()
    assert row is not None
    found = {"hypertable_bytes": int(row[0]), "database_bytes": int(row[2])}
    if stats is not None and stats[1]:
        found.update(chunks=int(stats[0]), compressed_chunks=int(stats[1]), before_compression_bytes=int(stats[2]),
                     after_compression_bytes=int(stats[3]))
    return found


def compress(store: PostgresStore) -> float:
    t = time.perf_counter()
    with store.connection() as conn:
        conn.execute("SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('readings') c")
        conn.execute("ANALYZE readings")
    return time.perf_counter() - t


def chunk_states(store: PostgresStore) -> str:
    with store.connection() as conn:
        rows = conn.execute("SELECT c.status FROM _timescaledb_catalog.chunk c JOIN _timescaledb_catalog.hypertable h "
                            "ON h.id = c.hypertable_id WHERE h.table_name = 'readings' AND NOT c.dropped").fetchall()
    partial = sum(1 for (s,) in rows if s & 8)
    return f"{len(rows)} chunks, {sum(1 for (s,) in rows if s & 1)} compressed ({partial} of them partially)"


def timed_rounds(calls: dict[str, dict[str, Callable[[], object]]], rounds: int, per_round: int, label: str
                 ) -> dict[str, dict[str, list[float]]]:
    """Per request, per database: the rounds' medians (ms); the two take turns, each call in a round."""
    return in_turns(NAMES, list(calls[NAMES[0]]), rounds, per_round, lambda key: lambda name: calls[name][key](),
                    f"{label} ")


def late_batches(stores: dict[str, PostgresStore], data: list[Reading], rounds: int, per_round: int
                 ) -> dict[str, dict[str, list[float]]]:
    """One hour of readings per call, a new hour every call (the same hour on both databases): replaced with
    themselves, or 360 new readings 5 s after the stored ones."""
    index = {r.ts: i for i, r in enumerate(data)}
    hour = iter(range(10_000))

    def batch(kind: str) -> list[Reading]:
        start = T0 + LATE_FIRST_DAY * DAY + next(hour) * 3 * HOUR  # 3 h apart: no two batches share a compressed batch
        first = index[start]
        readings = data[first:first + 360]
        if kind == "insert":
            readings = [msgspec.structs.replace(r, ts=r.ts + 5 * SECOND) for r in readings]
        return readings

    def step(kind: str) -> Callable[[str], None]:
        readings = batch(kind)

        def write(name: str) -> None:
            result = stores[name].ingest(HOUSEHOLD, readings)
            assert result.written == 360 and result.replaced == (360 if kind == "replace" else 0), result
        return write

    return in_turns(NAMES, ("replace", "insert"), rounds, per_round, step, "late batches ")


def summary(figures: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    table = {}
    for key, per in figures.items():
        ratios = [c / u for c, u in zip(per["compressed"], per["uncompressed"])]
        table[key] = {"uncompressed_ms": statistics.median(per["uncompressed"]),
                      "uncompressed_range": [min(per["uncompressed"]), max(per["uncompressed"])],
                      "compressed_ms": statistics.median(per["compressed"]),
                      "compressed_range": [min(per["compressed"]), max(per["compressed"])],
                      "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)]}
    return table


def show(title: str, table: dict[str, Any]) -> None:
    print(f"\n{title}")
    print(f"{'':26} {'uncompressed':>20} {'compressed':>20} {'C / U':>6}  range")
    for key, f in table.items():
        u, c = f["uncompressed_range"], f["compressed_range"]
        print(f"{key:26} {f['uncompressed_ms']:7.2f} ({u[0]:.1f}–{u[1]:.1f}) ms {f['compressed_ms']:7.2f} "
              f"({c[0]:.1f}–{c[1]:.1f}) ms {f['ratio']:6.2f}  {f['ratio_range'][0]:.2f}–{f['ratio_range'][1]:.2f}")


def main(argv: list[str] | None = None) -> int:
    args = arguments("python -m bench.compression", __doc__, argv)
    began = time.perf_counter()
    data = household_readings(args.days)
    result: dict[str, Any] = {"days": args.days, "rounds": args.rounds, "per_round": args.per_round,
                              "readings": len(data), "load": {"start": load()}}
    with servers("connect-readings-compression-", {name: "timescaledb" for name in NAMES}) as nodes:
        # the compressed one as CONNECT_READINGS_TIMESCALEDB_COMPRESS_AFTER_DAYS=30 migrates it (its policy would
        # compress every chunk of 2024 on its first run; compress_chunk does it now)
        stores = {name: PostgresStore(node.url, compress_after_days=30 if name == "compressed" else None)
                  for name, node in nodes.items()}
        fill(stores, data)
        result["size_before"] = sizes(stores["compressed"])
        result["compress_s"] = compress(stores["compressed"])
        result["size_uncompressed"] = sizes(stores["uncompressed"])
        result["size_compressed"] = sizes(stores["compressed"])
        log(f"compressed in {result['compress_s']:.1f} s: {chunk_states(stores['compressed'])}; "
            f"{result['size_uncompressed']} → {result['size_compressed']}")
        if args.explain:
            for name, store in stores.items():
                explain(name, store)
        calls = {name: reads(store) for name, store in stores.items()}
        result["load"]["reads"] = load()
        result["reads"] = summary(timed_rounds(calls, args.rounds, args.per_round, "reads"))
        result["load"]["late"] = load()
        result["late"] = summary(late_batches(stores, data, args.rounds, args.per_round))
        result["states_after_late"] = chunk_states(stores["compressed"])
        result["size_after_late"] = sizes(stores["compressed"])
        result["load"]["partial"] = load()
        result["reads_partial"] = summary(timed_rounds(calls, args.rounds, args.per_round, "reads (partial)"))
        result["recompress_s"] = compress(stores["compressed"])
        result["states_recompressed"] = chunk_states(stores["compressed"])
        result["size_recompressed"] = sizes(stores["compressed"])
        result["load"]["recompressed"] = load()
        result["reads_recompressed"] = summary(timed_rounds(calls, args.rounds, args.per_round, "reads (recompressed)"))
        result["load"]["end"] = load()
        for store in stores.values():
            store.close()
    u, c = result["size_uncompressed"], result["size_compressed"]
    print(f"\n{len(data):,} readings ({args.days} days every 10 s); {args.rounds} rounds × {args.per_round}; "
          f"{time.perf_counter() - began:.0f} s; load (1/5/15 min) {result['load']}")
    print(f"hypertable_size('readings'): uncompressed {u['hypertable_bytes'] / 2**20:.1f} MiB, compressed "
          f"{c['hypertable_bytes'] / 2**20:.1f} MiB ({u['hypertable_bytes'] / c['hypertable_bytes']:.1f}×); chunks "
          f"{c.get('before_compression_bytes', 0) / 2**20:.1f} → {c.get('after_compression_bytes', 0) / 2**20:.1f} MiB; "
          f"compress_chunk of all {c.get('chunks')} chunks {result['compress_s']:.1f} s; after the late batches "
          f"{result['states_after_late']}, {result['size_after_late']['hypertable_bytes'] / 2**20:.1f} MiB; "
          f"recompressed in {result['recompress_s']:.1f} s: {result['states_recompressed']}, "
          f"{result['size_recompressed']['hypertable_bytes'] / 2**20:.1f} MiB (not vacuumed)")
    show("reads, every chunk compressed (ms)", result["reads"])
    show("late batch of 360 readings into an old chunk (ms)", result["late"])
    show("reads, after the late batches (partially compressed chunks)", result["reads_partial"])
    show("reads, recompressed", result["reads_recompressed"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compression.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
