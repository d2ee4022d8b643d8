"""The do-it-yourself peer: the same meters in plain PostgreSQL, and the SQL a TimescaleDB user would write.

`date_bin('1 day', ts, '2000-01-03')` buckets (TimescaleDB's `time_bucket` origin), the first and last value of
each register per bucket, and the consumption as the delta between consecutive buckets' last values with
`lag()`. Plain PostgreSQL has no `first()/last()` aggregates, so two usual spellings are timed and the
faster one is the peer's figure (the comparison gives the peer its best case):

- `array_agg`: `(array_agg(v ORDER BY ts DESC))[1]`, one pass with GROUP BY;
- `distinct_on`: `DISTINCT ON (bucket) … ORDER BY bucket, ts [DESC]` for the first and the last rows.

Note the peer does less than we do (no interpolation at bucket edges, no reset handling, no paging).
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from .common import log
from .datagen import HOUSEHOLD_REGISTERS, iso_timestamps
from .datasets import SeriesSpec

DSN_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "connect_readings_bench_peer"
DSN = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
COLUMNS = ("pos_t1", "pos_t2", "pos_total", "neg_t1", "neg_total")  # HOUSEHOLD_REGISTERS order
ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"

_LAST = ",\n         ".join(
    f"(array_agg({c} ORDER BY ts))[1] AS first_{c}, (array_agg({c} ORDER BY ts DESC))[1] AS last_{c}" for c in COLUMNS
)
_OUT = ",\n       ".join(
    f"last_{c} - first_{c} AS within_{c}, last_{c} - lag(last_{c}) OVER w AS {c}" for c in COLUMNS
)
QUERIES = {
    "array_agg": f"""
SELECT bucket,
       {_OUT}
FROM (
  SELECT date_bin('1 day', ts, {ORIGIN}) AS bucket,
         {_LAST}
  FROM readings
  WHERE entity_id = %(entity)s AND ts >= %(start)s AND ts < %(end)s
  GROUP BY 1
) b
WINDOW w AS (ORDER BY bucket)
ORDER BY bucket""",
    "distinct_on": f"""
WITH firsts AS (
  SELECT DISTINCT ON (bucket) bucket, {", ".join(f"{c} AS first_{c}" for c in COLUMNS)}
  FROM (SELECT date_bin('1 day', ts, {ORIGIN}) AS bucket, ts, {", ".join(COLUMNS)} FROM readings
        WHERE entity_id = %(entity)s AND ts >= %(start)s AND ts < %(end)s) r
  ORDER BY bucket, ts
), lasts AS (
  SELECT DISTINCT ON (bucket) bucket, {", ".join(f"{c} AS last_{c}" for c in COLUMNS)}
  FROM (SELECT date_bin('1 day', ts, {ORIGIN}) AS bucket, ts, {", ".join(COLUMNS)} FROM readings
        WHERE entity_id = %(entity)s AND ts >= %(start)s AND ts < %(end)s) r
  ORDER BY bucket, ts DESC
)
SELECT bucket,
       {_OUT}
FROM firsts JOIN lasts USING (bucket)
WINDOW w AS (ORDER BY bucket)
ORDER BY bucket""",
}

# Not the peer (the issue defines it as the aggregate query above), shown for information: the same idea as
# ours spelled in SQL — one index seek per bucket edge (LATERAL … ORDER BY ts DESC LIMIT 1), no scan.
_EDGE_VALUES = ", ".join(COLUMNS)
INFO_QUERIES = {
    "lateral_seek": f"""
SELECT b.bucket, {", ".join(f"v.{c} - lag(v.{c}) OVER w AS {c}" for c in COLUMNS)}
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz, interval '1 day') AS b(bucket)
CROSS JOIN LATERAL (
  SELECT {_EDGE_VALUES} FROM readings
  WHERE entity_id = %(entity)s AND ts <= b.bucket ORDER BY ts DESC LIMIT 1
) v
WINDOW w AS (ORDER BY b.bucket)
ORDER BY b.bucket""",
}


class Peer:
    def __init__(self) -> None:
        import psycopg

        self.psycopg = psycopg
        with psycopg.connect(DSN_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
            admin.execute(f"CREATE DATABASE {DB_NAME}")
        self.conn = psycopg.connect(DSN, autocommit=True)
        self.conn.execute(
            "CREATE TABLE readings (entity_id uuid NOT NULL, ts timestamptz NOT NULL, "
            + ", ".join(f"{c} double precision" for c in COLUMNS) + ")"
        )
        self.loaded: list[SeriesSpec] = []

    def load(self, specs: Iterable[SeriesSpec]) -> float:
        """COPY the very series the SQLite file holds (same generator, same blocks, same floats)."""
        began = time.perf_counter()
        for spec in specs:
            log(f"PostgreSQL: loading {spec.label} × {spec.days} days ({spec.count:,} rows) …")
            eid = str(spec.entity)
            with self.conn.cursor() as cur, cur.copy(f"COPY readings (entity_id, ts, {', '.join(COLUMNS)}) FROM STDIN") as cp:
                for block in spec.blocks():
                    stamps = iso_timestamps(block.ts)
                    values = [(block.wh[k].astype(np.float64) * 0.001).tolist() for k in HOUSEHOLD_REGISTERS]
                    buf = io.StringIO()
                    for row in zip(stamps, *values):
                        buf.write(f"{eid}\t{row[0]}\t{row[1]!r}\t{row[2]!r}\t{row[3]!r}\t{row[4]!r}\t{row[5]!r}\n")
                    cp.write(buf.getvalue())
            self.loaded.append(spec)
        log("PostgreSQL: primary key (entity_id, ts), VACUUM ANALYZE …")
        self.conn.execute("ALTER TABLE readings ADD PRIMARY KEY (entity_id, ts)")
        self.conn.execute("VACUUM ANALYZE readings")
        return time.perf_counter() - began

    def check_same_data(self, spec: SeriesSpec, sqlite_path: str) -> bool:
        """Spot check: count, first and last rows equal the SQLite copy."""
        import sqlite3

        db = sqlite3.connect(sqlite_path)
        eid = spec.entity.bytes
        lite = db.execute("SELECT count(*), min(ts), max(ts) FROM readings WHERE entity_id = ?", (eid,)).fetchone()
        first = db.execute("SELECT r0, r1, r4, r5, r9 FROM readings WHERE entity_id = ? ORDER BY ts LIMIT 1", (eid,)).fetchone()
        last = db.execute("SELECT r0, r1, r4, r5, r9 FROM readings WHERE entity_id = ? ORDER BY ts DESC LIMIT 1", (eid,)).fetchone()
        db.close()
        pg = self.conn.execute(
            "SELECT count(*), (extract(epoch FROM min(ts)) * 1000000)::bigint, (extract(epoch FROM max(ts)) * 1000000)::bigint "
            "FROM readings WHERE entity_id = %s", (spec.entity,)
        ).fetchone()
        pg_first = self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM readings WHERE entity_id = %s ORDER BY ts LIMIT 1", (spec.entity,)).fetchone()
        pg_last = self.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM readings WHERE entity_id = %s ORDER BY ts DESC LIMIT 1", (spec.entity,)).fetchone()
        return tuple(lite) == tuple(pg) and tuple(first) == tuple(pg_first) and tuple(last) == tuple(pg_last)

    def time_query(self, name: str, spec: SeriesSpec, runs: int) -> tuple[float, int]:
        """Median seconds of `runs` executions (after one warm-up), rows fetched by the client."""
        from datetime import datetime, timezone

        args: dict[str, Any] = {
            "entity": spec.entity,
            "start": datetime.fromtimestamp(spec.start / 1e6, timezone.utc),
            "end": datetime.fromtimestamp(spec.end / 1e6, timezone.utc),
        }
        sql = QUERIES.get(name) or INFO_QUERIES[name]
        rows = self.conn.execute(sql, args).fetchall()  # warm-up (plans, caches)
        samples = []
        for _ in range(runs):
            began = time.perf_counter()
            rows = self.conn.execute(sql, args).fetchall()
            samples.append(time.perf_counter() - began)
        return statistics.median(samples), len(rows)

    def best(self, spec: SeriesSpec, runs: int) -> tuple[float, str, dict[str, float], int]:
        timings: dict[str, float] = {}
        nrows = 0
        for name in QUERIES:
            timings[name], nrows = self.time_query(name, spec, runs)
        winner = min(timings, key=timings.__getitem__)
        return timings[winner], winner, timings, nrows

    def close(self, drop: bool = True) -> None:
        self.conn.close()
        if drop:
            with self.psycopg.connect(DSN_ADMIN, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
