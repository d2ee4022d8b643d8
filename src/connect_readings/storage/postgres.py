"""Scale-out backend: PostgreSQL (optionally Citus or TimescaleDB), answering exactly as SQLiteStore does.

Same schema as SQLite, column for column, with every key leading with entity_id, so every statement here is a
single-entity index seek or short range scan (and on Citus routes to exactly one shard). Timestamps are
bigint microseconds UTC rather than timestamptz: it is the representation of the domain and of SQLite, so
nothing is converted on the hot paths, comparisons are exact integer ones that no session TimeZone can
affect, and timestamptz would store the same 8 bytes at the same µs resolution anyway.

- ingest: one transaction per batch; the entity row is upserted first, which locks it, so batches of one
  entity serialise exactly like SQLite's single writer while different entities proceed in parallel. When
  nothing is stored in the batch's time span yet (appending, the usual case) the rows are COPYed (binary)
  straight into `readings`; otherwise into a per-connection temp table, then one INSERT … ON CONFLICT DO
  UPDATE. The resets side table is recomputed for the span the batch can affect, with `reset_deltas`.
- register_brackets: ONE statement for all instants of a page (so one round trip and one snapshot): two
  LATERAL `ORDER BY ts DESC/ASC LIMIT 1` index seeks per instant, a gated fallback seek per register only
  when the neighbouring reading lacks that register, and the resets of the span, via UNION ALL.
- Connections come from a psycopg_pool.ConnectionPool; every session has a statement_timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
import psycopg
from psycopg_pool import ConnectionPool

from ..domain.readings import REGISTER_COUNT, Reading, data_from_storage, last_per_timestamp, stored_data
from ..domain.registers import Bracket, ResetOffsets, Sample, reset_deltas, with_offsets
from .base import IngestResult, StoredReading
from .sqlite import migrations

REGISTER_COLUMNS = tuple(f"r{k}" for k in range(REGISTER_COUNT))
_COLS = ", ".join(REGISTER_COLUMNS)
_ROW = f"ts, {_COLS}"
STATEMENT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10
MIGRATION_LOCK = 0x636F6E6E656374  # pg_advisory_xact_lock key: concurrent starters migrate one at a time
HYPERTABLE_CHUNK_US = 7 * 86_400_000_000  # TimescaleDB chunk: one week of bigint µs

_STAGING = "readings_staging"
_STAGING_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (ts bigint NOT NULL, "
    + ", ".join(f"{c} double precision" for c in REGISTER_COLUMNS)
    + ", extra text) ON COMMIT DELETE ROWS"
)
_STAGING_TYPES = ["int8"] + ["float8"] * REGISTER_COUNT + ["text"]
_COPY_STAGING = f"COPY {_STAGING} ({_ROW}, extra) FROM STDIN (FORMAT BINARY)"
_READINGS_TYPES = ["uuid", "int8"] + ["float8"] * REGISTER_COUNT + ["text"]  # json travels as its text
_COPY_READINGS = f"COPY readings (entity_id, {_ROW}, extra) FROM STDIN (FORMAT BINARY)"
_COUNT_REPLACED = (
    f"SELECT count(*) FROM readings r JOIN {_STAGING} s ON r.ts = s.ts "
    "WHERE r.entity_id = %(e)s AND r.ts BETWEEN %(lo)s AND %(hi)s"
)
_UPSERT_READINGS = (
    f"INSERT INTO readings (entity_id, {_ROW}, extra) SELECT %s, {_ROW}, extra::json FROM {_STAGING} "
    "ON CONFLICT (entity_id, ts) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*REGISTER_COLUMNS, "extra"))
)
_UPSERT_ENTITY = (
    "INSERT INTO entities (entity_id, register_mask) VALUES (%s, %s) ON CONFLICT (entity_id) "
    "DO UPDATE SET register_mask = entities.register_mask | excluded.register_mask, version = entities.version + 1 "
    "RETURNING register_mask"
)
# Resets of register k in [lo, ends[k+1]]; a NULL end (register untouched) deletes nothing.
_DELETE_RESETS = (
    "DELETE FROM resets WHERE entity_id = %(e)s AND ts BETWEEN %(lo)s AND %(hi)s "
    "AND ts <= (%(ends)s::bigint[])[reg + 1]"
)
# Widen each register's series bounds to the batch's first/last reading having it (they never shrink).
_WIDEN_SERIES = (
    "INSERT INTO series (entity_id, reg, first_ts, last_ts) SELECT %(e)s, reg, f, l "
    "FROM unnest(%(regs)s::smallint[], %(first)s::bigint[], %(last)s::bigint[]) AS u(reg, f, l) "
    "ON CONFLICT (entity_id, reg) DO UPDATE SET first_ts = least(series.first_ts, excluded.first_ts), "
    "last_ts = greatest(series.last_ts, excluded.last_ts)"
)
_INSERT_RESETS = (
    'INSERT INTO resets (entity_id, reg, ts, "offset") SELECT %(e)s, reg, ts, o '
    "FROM unnest(%(regs)s::smallint[], %(ts)s::bigint[], %(offsets)s::float8[]) AS u(reg, ts, o)"
)


def _brackets_sql() -> str:
    """For every instant and register: the nearest reading at-or-before / at-or-after that has the register.

    Rows of the answer, by `kind`:
      0  per instant n: the neighbouring readings (two index seeks), b_ts/b_r and a_ts/a_r (register arrays);
      1  per (instant n, register k) whose neighbour lacks a register the entity has (mask bit): the nearest
         reading that has it, one more seek per side, run only when needed (its WHERE is a one-time filter on
         outer values, so the planner gates the index scan behind it), and only inside the register's series
         bounds [first_ts, last_ts] (none when the instant is outside them on the side sought): a register
         present in one reading among many is one seek, not a scan of the entity's history;
      2  the resets (reg in n) of the whole span the samples can cover: a superset, trimmed in Python.
    """
    pick = "CASE need.k " + " ".join(f"WHEN {k} THEN {c}" for k, c in enumerate(REGISTER_COLUMNS)) + " END"

    def array(alias: str) -> str:
        return "ARRAY[" + ", ".join(f"{alias}.{c}" for c in REGISTER_COLUMNS) + "]"

    return f"""
WITH m AS (SELECT register_mask AS mask FROM entities WHERE entity_id = %(e)s),
nb AS MATERIALIZED (
    SELECT i.n, i.t, b.ts AS b_ts, {array('b')} AS b_r,
           a.ts AS a_ts, {array('a')} AS a_r
    FROM m
    CROSS JOIN unnest(%(t)s::bigint[]) WITH ORDINALITY AS i(t, n)
    LEFT JOIN LATERAL (SELECT {_ROW} FROM readings WHERE entity_id = %(e)s AND ts <= i.t
                       ORDER BY ts DESC LIMIT 1) b ON true
    LEFT JOIN LATERAL (SELECT {_ROW} FROM readings WHERE entity_id = %(e)s AND ts >= i.t
                       ORDER BY ts ASC LIMIT 1) a ON true
),
gap AS (
    SELECT nb.n, nb.t, k.k,
           nb.b_ts IS NOT NULL AND nb.b_r[k.k + 1] IS NULL AS need_b,
           nb.a_ts IS NOT NULL AND nb.a_r[k.k + 1] IS NULL AS need_a
    FROM nb CROSS JOIN m CROSS JOIN generate_series(0, {REGISTER_COUNT - 1}) AS k(k)
    WHERE m.mask & (1 << k.k) <> 0
      AND ((nb.b_ts IS NOT NULL AND nb.b_r[k.k + 1] IS NULL) OR (nb.a_ts IS NOT NULL AND nb.a_r[k.k + 1] IS NULL))
),
need AS (
    SELECT gap.n, gap.k, s.first_ts AS b_lo, least(gap.t, s.last_ts) AS b_hi,
           greatest(gap.t, s.first_ts) AS a_lo, s.last_ts AS a_hi,
           gap.need_b AND gap.t >= s.first_ts AS need_b, gap.need_a AND gap.t <= s.last_ts AS need_a
    FROM gap JOIN series s ON s.entity_id = %(e)s AND s.reg = gap.k
),
fb AS MATERIALIZED (
    SELECT need.n, need.k, fb.ts AS b_ts, fb.v AS b_v, fa.ts AS a_ts, fa.v AS a_v
    FROM need
    LEFT JOIN LATERAL (SELECT ts, {pick} AS v FROM readings
                       WHERE need.need_b AND entity_id = %(e)s AND ts BETWEEN need.b_lo AND need.b_hi
                         AND {pick} IS NOT NULL
                       ORDER BY ts DESC LIMIT 1) fb ON true
    LEFT JOIN LATERAL (SELECT ts, {pick} AS v FROM readings
                       WHERE need.need_a AND entity_id = %(e)s AND ts BETWEEN need.a_lo AND need.a_hi
                         AND {pick} IS NOT NULL
                       ORDER BY ts ASC LIMIT 1) fa ON true
),
span AS (
    SELECT least((SELECT min(least(b_ts, a_ts)) FROM nb), (SELECT min(least(b_ts, a_ts)) FROM fb)) AS lo,
           greatest((SELECT max(greatest(b_ts, a_ts)) FROM nb), (SELECT max(greatest(b_ts, a_ts)) FROM fb)) AS hi
)
SELECT 0 AS kind, n, NULL::integer AS k, b_ts, NULL::float8 AS b_v, a_ts, NULL::float8 AS a_v, b_r, a_r FROM nb
UNION ALL
SELECT 1, n, k, b_ts, b_v, a_ts, a_v, NULL, NULL FROM fb
UNION ALL
SELECT 2, r.reg, NULL, r.ts, r."offset", NULL, NULL, NULL, NULL
FROM span JOIN resets r ON r.entity_id = %(e)s AND r.ts > span.lo AND r.ts <= span.hi
"""


BRACKETS_SQL = _brackets_sql()


@lru_cache(maxsize=4096)
def _probe_sql(mask: int) -> str:
    """Before a batch is written: how many readings its span [lo, hi] holds, and for each register of the
    entity the value before the span and the first reading after it (index seeks, one round trip).

    The seeks stay inside the register's series bounds as they are before the batch (the batch widens them
    afterwards, `_WIDEN_SERIES`), so a rare register costs one seek, not a scan of the entity's history; no
    bounds row (the register was never stored) means no such reading, and an empty range is no seek at all.
    """
    befores, laterals = [], []
    for k in _bits(mask):
        c = REGISTER_COLUMNS[k]
        befores.append(
            f"(SELECT {c} FROM readings WHERE entity_id = %(e)s AND ts >= b{k}.first_ts "
            f"AND ts < %(lo)s AND ts <= b{k}.last_ts AND {c} IS NOT NULL ORDER BY ts DESC LIMIT 1), a{k}.ts, a{k}.v"
        )
        laterals.append(
            f"LEFT JOIN series b{k} ON b{k}.entity_id = %(e)s AND b{k}.reg = {k} "
            f"LEFT JOIN LATERAL (SELECT ts, {c} AS v FROM readings WHERE entity_id = %(e)s AND ts > %(hi)s "
            f"AND ts >= b{k}.first_ts AND ts <= b{k}.last_ts AND {c} IS NOT NULL ORDER BY ts ASC LIMIT 1) a{k} ON true"
        )
    return (
        "SELECT s.n" + "".join(", " + b for b in befores)
        + " FROM (SELECT count(*) AS n FROM readings WHERE entity_id = %(e)s AND ts BETWEEN %(lo)s AND %(hi)s) s "
        + " ".join(laterals)
    )


@dataclass(frozen=True, slots=True)
class Extensions:
    """Which scale-out extensions this server can use (available and loadable, or already installed)."""

    citus: bool
    timescaledb: bool


class PostgresStore:
    def __init__(
        self, url: str, *, statement_timeout_s: float = STATEMENT_TIMEOUT_S, min_size: int = 1, max_size: int = 16,
        connect_timeout_s: int = CONNECT_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.statement_timeout_s = statement_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.migrate()  # on a direct connection: a bad URL fails here, at once, with the server's own message
        self._pinned: ContextVar[psycopg.Connection | None] = ContextVar(f"connect_readings_pg_{id(self)}", default=None)
        self._pool = ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=True, name="connect-readings",
            timeout=max(statement_timeout_s, 1.0),
            kwargs={"autocommit": True, "connect_timeout": connect_timeout_s, "application_name": "connect-readings"},
            configure=self._configure,
        )

    # -- connections and schema -------------------------------------------------------------------
    def _configure(self, conn: psycopg.Connection) -> None:
        timeout_ms = max(0, int(self.statement_timeout_s * 1000))
        settings = {
            "statement_timeout": f"{timeout_ms}ms",  # a slow query cannot hold a worker (or a lock) forever
            "idle_in_transaction_session_timeout": f"{max(timeout_ms, 60_000)}ms",
            # Every statement here is a single-entity index seek or ordered range scan. For a register that is
            # rarely present the planner would otherwise pick a bitmap (or, with one big entity, a sequential)
            # scan plus sort for "the nearest reading that has it": the entity's history instead of a seek.
            "enable_bitmapscan": "off",
            "enable_seqscan": "off",
            # The gated fallback seeks are costed as if they ran, which lifts the brackets statement over
            # jit_above_cost: compiling it would take seconds for a query that runs in a millisecond.
            "jit": "off",
        }
        conn.execute(
            "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in settings),
            [item for pair in settings.items() for item in pair],
        )
        conn.execute(_STAGING_DDL)

    def connection(self) -> AbstractContextManager[psycopg.Connection]:
        """A pooled connection with this store's session settings (maintenance, EXPLAIN, tests)."""
        return self._pool.connection()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside the block (on this thread or task) all see one snapshot: REPEATABLE READ, READ ONLY.

        For a page assembled from several store calls. A single call is one statement, hence one snapshot,
        without it.
        """
        if self._pinned.get() is not None:
            yield
            return
        with self._pool.connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            token = self._pinned.set(conn)
            try:
                yield
            finally:
                self._pinned.reset(token)
                conn.execute("ROLLBACK")  # read only: nothing to commit

    @contextmanager
    def _reader(self, binary: bool = True) -> Iterator[psycopg.Cursor]:
        pinned = self._pinned.get()
        if pinned is not None:
            with pinned.cursor(binary=binary) as cur:
                yield cur
            return
        with self._pool.connection() as conn, conn.cursor(binary=binary) as cur:
            yield cur

    def migrate(self) -> int:
        return migrate_database(self.url, self.connect_timeout_s)

    def close(self) -> None:
        self._pool.close()

    def meta_value(self, key: str, default: str) -> str:
        with self._pool.connection() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (key, default))
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        assert row is not None
        return row[0]

    # -- ingest -------------------------------------------------------------------------------------
    def ingest(self, entity_id: uuid.UUID, readings: Sequence[Reading]) -> IngestResult:
        batch = last_per_timestamp(readings)
        if not batch:
            return IngestResult(received=len(readings), written=0, replaced=0)
        lo, hi = batch[0].ts, batch[-1].ts
        mask = 0
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for reading in batch:
            for k, value in enumerate(reading.registers):
                if value is not None:
                    mask |= 1 << k
                    first.setdefault(k, reading.ts)
                    last[k] = reading.ts
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            row = cur.execute(_UPSERT_ENTITY, (entity_id, mask)).fetchone()  # locks the entity until commit
            assert row is not None
            registers = list(_bits(int(row[0])))
            probe = cur.execute(_probe_sql(int(row[0])), {"e": entity_id, "lo": lo, "hi": hi}).fetchone()
            assert probe is not None
            in_span = int(probe[0])
            before = {k: probe[1 + 3 * i] for i, k in enumerate(registers)}
            after: dict[int, Sample | None] = {
                k: (probe[2 + 3 * i], probe[3 + 3 * i]) if probe[2 + 3 * i] is not None else None
                for i, k in enumerate(registers)
            }
            if in_span == 0:
                # Nothing stored in the batch's span (the append case), and the entity lock keeps it so:
                # no conflict is possible, so the rows go straight into the table.
                replaced = 0
                with cur.copy(_COPY_READINGS) as copy:
                    copy.set_types(_READINGS_TYPES)
                    for reading in batch:
                        copy.write_row((entity_id, reading.ts, *reading.registers, _extra(reading)))
            else:
                with cur.copy(_COPY_STAGING) as copy:
                    copy.set_types(_STAGING_TYPES)
                    for reading in batch:
                        copy.write_row((reading.ts, *reading.registers, _extra(reading)))
                counted = cur.execute(_COUNT_REPLACED, {"e": entity_id, "lo": lo, "hi": hi}).fetchone()
                replaced = int(counted[0]) if counted else 0
                cur.execute(_UPSERT_READINGS, (entity_id,))
            self._refresh_resets(cur, entity_id, registers, batch, lo, hi, before, after, in_span == replaced)
            if first:  # after the probe, which seeks within the bounds of the readings stored before the batch
                regs = list(first)
                cur.execute(_WIDEN_SERIES, {"e": entity_id, "regs": regs, "first": [first[k] for k in regs],
                                            "last": [last[k] for k in regs]})
        return IngestResult(received=len(readings), written=len(batch), replaced=replaced)

    def _refresh_resets(
        self, cur: psycopg.Cursor, entity_id: uuid.UUID, registers: list[int], batch: Sequence[Reading], lo: int,
        hi: int, before: dict[int, float | None], after: dict[int, Sample | None], only_batch_in_span: bool,
    ) -> None:
        """Recompute each register's resets from the reading before the batch to the one after it (as SQLite)."""
        if not registers:  # an entity with instantaneous metrics only has no counters to keep continuous
            return
        span_end = {k: (after[k][0] if after[k] else hi) for k in registers}  # type: ignore[index]
        series: dict[int, list[Sample]] = {}
        if only_batch_in_span:  # the span holds exactly the batch (the append case): no need to read it back
            for k in registers:
                samples: list[Sample] = [(r.ts, r.registers[k]) for r in batch if r.registers[k] is not None]  # type: ignore[misc]
                tail = after[k]
                if tail is not None:
                    samples.append(tail)
                series[k] = samples
        else:
            cols = ", ".join(REGISTER_COLUMNS[k] for k in registers)
            rows = cur.execute(
                f"SELECT ts, {cols} FROM readings WHERE entity_id = %s AND ts BETWEEN %s AND %s ORDER BY ts",
                (entity_id, lo, max(span_end.values())),
            ).fetchall()
            for i, k in enumerate(registers, start=1):
                end = span_end[k]
                series[k] = [(row[0], row[i]) for row in rows if row[i] is not None and row[0] <= end]
        ends: list[int | None] = [None] * REGISTER_COUNT
        regs: list[int] = []
        stamps: list[int] = []
        offsets: list[float] = []
        for k in registers:
            ends[k] = span_end[k]
            for ts, offset in reset_deltas(series[k], before[k]):
                regs.append(k)
                stamps.append(ts)
                offsets.append(float(offset))
        cur.execute(_DELETE_RESETS, {"e": entity_id, "lo": lo, "hi": max(span_end.values()), "ends": ends})
        if regs:
            cur.execute(_INSERT_RESETS, {"e": entity_id, "regs": regs, "ts": stamps, "offsets": offsets})

    # -- reads --------------------------------------------------------------------------------------
    def entity_exists(self, entity_id: uuid.UUID) -> bool:
        return self.entity_version(entity_id) is not None

    def entity_version(self, entity_id: uuid.UUID) -> int | None:
        with self._reader() as cur:
            row = cur.execute("SELECT version FROM entities WHERE entity_id = %s", (entity_id,)).fetchone()
            return None if row is None else int(row[0])

    def readings(self, entity_id: uuid.UUID, start: int, end: int, limit: int) -> list[StoredReading]:
        with self._reader() as cur:
            rows = cur.execute(
                f"SELECT {_ROW}, extra::text FROM readings WHERE entity_id = %s AND ts >= %s AND ts < %s "
                "ORDER BY ts LIMIT %s",
                (entity_id, start, end, limit),
            ).fetchall()
        return [_stored(row) for row in rows]

    def last_reading(self, entity_id: uuid.UUID) -> StoredReading | None:
        with self._reader() as cur:
            row = cur.execute(
                f"SELECT {_ROW}, extra::text FROM readings WHERE entity_id = %s ORDER BY ts DESC LIMIT 1",
                (entity_id,),
            ).fetchone()
        return _stored(row) if row else None

    def register_brackets(self, entity_id: uuid.UUID, instants: Sequence[int]) -> list[list[Bracket]]:
        count = len(instants)
        with self._reader() as cur:
            rows = cur.execute(BRACKETS_SQL, {"e": entity_id, "t": list(instants)}).fetchall()
        samples: list[list[list[Sample | None]]] = [[[None, None] for _ in range(count)] for _ in range(REGISTER_COUNT)]
        fallbacks: list[tuple[Any, ...]] = []
        resets: list[tuple[int, int, float]] = []
        for kind, n, k, b_ts, b_v, a_ts, a_v, b_r, a_r in rows:
            if kind == 0:
                i = n - 1
                for reg in range(REGISTER_COUNT):
                    pair = samples[reg][i]
                    if b_r is not None and b_r[reg] is not None:
                        pair[0] = (b_ts, b_r[reg])
                    if a_r is not None and a_r[reg] is not None:
                        pair[1] = (a_ts, a_r[reg])
            elif kind == 1:
                fallbacks.append((n - 1, k, b_ts, b_v, a_ts, a_v))
            else:
                resets.append((n, b_ts, b_v))
        for i, k, b_ts, b_v, a_ts, a_v in fallbacks:
            if b_ts is not None:
                samples[k][i][0] = (b_ts, b_v)
            if a_ts is not None:
                samples[k][i][1] = (a_ts, a_v)
        stamps = [s[0] for per_register in samples for pair in per_register for s in pair if s is not None]
        offsets: dict[int, ResetOffsets] = {}
        if stamps:  # offsets relative to the earliest sample, exactly as the embedded backend
            lo, hi = min(stamps), max(stamps)
            for reg, ts, offset in sorted(resets):
                if lo < ts <= hi:
                    offsets.setdefault(reg, ResetOffsets()).add(ts, offset)
        result: list[list[Bracket]] = []
        for k in range(REGISTER_COUNT):
            adjust = offsets.get(k)
            result.append([(with_offsets(b, adjust), with_offsets(a, adjust)) for b, a in samples[k]])
        return result


def migrate_database(url: str, connect_timeout_s: int = CONNECT_TIMEOUT_S) -> int:
    """Apply pending migrations, then distribute/partition when Citus/TimescaleDB are available.

    Returns the schema version. One transaction under an advisory lock: many processes starting at once
    migrate one after the other, and a failed migration leaves nothing half-applied.
    """
    with psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout_s) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            version = int(row[0]) if row else 0
            for number, text in migrations("postgres"):
                if number > version:
                    conn.execute(text)
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
                    version = number
            scale_out(conn)
    return version


# -- Citus / TimescaleDB ---------------------------------------------------------------------------------
def detect_extensions(conn: psycopg.Connection) -> Extensions:
    """An extension counts when it is installed, or available and preloaded (both need shared_preload_libraries)."""
    rows = conn.execute(
        "SELECT name, installed_version IS NOT NULL FROM pg_available_extensions WHERE name IN ('citus', 'timescaledb')"
    ).fetchall()
    preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    libraries = {part.strip() for part in (preload[0] if preload else "").split(",")}
    usable = {name for name, installed in rows if installed or name in libraries}
    return Extensions(citus="citus" in usable, timescaledb="timescaledb" in usable)


def scale_out(conn: Any, extensions: Extensions | None = None) -> list[str]:
    """Distribute (Citus) or partition (TimescaleDB) the readings tables when possible; idempotent.

    Citus wins when both are present (TimescaleDB hypertables cannot be distributed by Citus). Returns the
    statements it ran, so the branch is testable without the extensions.
    """
    ext = extensions if extensions is not None else detect_extensions(conn)
    ran: list[str] = []

    def run(statement: str) -> None:
        conn.execute(statement)
        ran.append(statement)

    if ext.citus:
        run("CREATE EXTENSION IF NOT EXISTS citus")
        done = {row[0] for row in conn.execute(
            "SELECT logicalrelid::regclass::text FROM pg_dist_partition"
            " WHERE logicalrelid IN ('meta'::regclass, 'entities'::regclass, 'readings'::regclass, 'resets'::regclass,"
            " 'series'::regclass)"
        ).fetchall()}
        if "meta" not in done:
            run("SELECT create_reference_table('meta')")
        if "entities" not in done:
            run("SELECT create_distributed_table('entities', 'entity_id')")
        for table in ("readings", "resets", "series"):
            if table not in done:
                run(f"SELECT create_distributed_table('{table}', 'entity_id', colocate_with => 'entities')")
    elif ext.timescaledb:
        run("CREATE EXTENSION IF NOT EXISTS timescaledb")
        hyper = conn.execute(
            "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'readings'"
        ).fetchone()
        if hyper is None:
            run(f"SELECT create_hypertable('readings', 'ts', chunk_time_interval => {HYPERTABLE_CHUNK_US}::bigint, "
                "migrate_data => true)")
    return ran


# -- helpers (the same rules as the SQLite backend) ------------------------------------------------
def _extra(reading: Reading) -> str | None:
    rest = stored_data(reading.data)
    return orjson.dumps(rest).decode() if rest else None


def _stored(row: Sequence[Any]) -> StoredReading:
    extra = row[-1]
    return StoredReading(ts=row[0], data=data_from_storage(row[1:-1], orjson.loads(extra) if extra else None))


def _bits(mask: int) -> Iterable[int]:
    return (k for k in range(REGISTER_COUNT) if mask >> k & 1)
