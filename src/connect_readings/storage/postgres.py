"""Scale-out backend: PostgreSQL (optionally Citus or TimescaleDB), answering exactly as SQLiteStore does.

Same schema as SQLite, column for column, with every key leading with entity_id, so every statement here is a
single-entity index seek or short range scan (and on Citus routes to exactly one shard). Timestamps are
bigint microseconds UTC rather than timestamptz: it is the representation of the domain and of SQLite, so
nothing is converted on the hot paths, comparisons are exact integer ones that no session TimeZone can
affect, and timestamptz would store the same 8 bytes at the same µs resolution anyway.

- ingest: one transaction per batch; the entity row is upserted first, which locks it, so batches of one
  entity serialise exactly like SQLite's single writer while different entities proceed in parallel. Appending
  (nothing stored at or after the batch's first reading, the usual case), three round trips: the lock and one
  read of all the planner needs (pipelined), the rows COPYed (binary, one buffer built column-wise) straight
  into `readings`, and the other writes with the COMMIT (pipelined). Late data: the readings it replaces are
  deleted, then the rows COPYed the same way. What to write (rows, resets, series bounds) is decided by the
  planner, `domain/ingest.py`; this module only reads what it asks for and executes its plan. On Citus every
  one of these statements routes to the entity's shard, and the transaction runs on a connection to the worker
  holding it (`_WorkerRoutes`): executed there locally, committed in one phase.
- register_brackets: ONE statement for all instants of a page (so one round trip and one snapshot): two
  LATERAL `ORDER BY ts DESC/ASC LIMIT 1` index seeks per instant, a gated fallback seek per register only
  when the neighbouring reading lacks that register, and the resets of the span, via UNION ALL.
- Connections come from a psycopg_pool.ConnectionPool; a call's deadline becomes its transaction's
  statement_timeout. Driver errors become StoreBusy / StoreTimeout here (`_mapped`).
"""

from __future__ import annotations

import functools
import logging
import struct
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from ..domain.entities import EntityRecord, check_parent
from ..domain.gauges import GaugeSummary, block_of
from ..domain.gauges import TIERS
from ..domain.ingest import Batch, IngestPlan, Summaries, Values, plan
from ..domain.edges import DAY_US, ROW_US, values_at as edge_values
from ..domain.prices import PriceColumns, PriceInterval, PriceSeries
from ..domain.readings import GAUGE_COUNT, REGISTER_COUNT
from ..domain.registers import Bracket, Sample, with_offsets
from .base import GAUGE_COLUMNS, GAUGE_INDEX, REGISTER_COLUMNS, REGISTER_INDEX, PlannedIngest, SchemaState, StoreBusy
from .base import StoredReading, StoreTimeout, extra_json, latest_migration, stored_row
from .base import pack_summaries, unpack_summaries
from .base import COLUMN_METRICS, QualityMark, quality_mark
from .base import ENTITY_COLUMNS, ENTITY_TABLES, MAX_CHILDREN_LISTED, EntityDeletion, entity_record, parent_gone
from .base import edge_row_keys_of, edges_or_readings, new_revision
from .base import PRICE_SERIES_GROUP, PRICE_SERIES_SQL, PriceSeriesInfo, overlapping_span, price_intervals_query
from .base import columns_made_continuous, continuous_brackets, continuous_samples, price_rewrite, price_series_info
from .base import read_surroundings, readings_in_windows, reset_offsets, samples_span
from .migrate import apply_pending

_ROW = "ts, " + ", ".join(REGISTER_COLUMNS)
_STORED = f"{_ROW}, {', '.join(GAUGE_COLUMNS)}"  # a reading's columns but extra
_GAUGE_ROW = "ts, " + ", ".join(GAUGE_COLUMNS)
_NAMES = "ARRAY[" + ", ".join(f"'{c}'" for c in REGISTER_COLUMNS) + "]::text[]"
CONNECT_TIMEOUT_S = 10
MIGRATION_LOCK = 0x636F6E6E656374  # pg_advisory_xact_lock key: concurrent starters migrate one at a time
HYPERTABLE_CHUNK_US = 7 * 86_400_000_000  # TimescaleDB chunk: one week of bigint µs
NOW_FUNC = "connect_readings_now_us"  # the hypertable's integer "now" (µs since the epoch), which its policies age by
T = TypeVar("T")
log = logging.getLogger("connect_readings.storage")

_COPY_READINGS = f"COPY readings (entity_id, {_STORED}, extra) FROM STDIN (FORMAT BINARY)"
_DELETE_EDGES = (
    "DELETE FROM register_edge_blocks g USING unnest(%(r)s::text[], %(d)s::int8[]) AS d(register, block) "
    "WHERE g.entity_id = %(e)s AND g.register = d.register AND g.block = d.block"
)
_DELETE_BLOCKS = (
    "DELETE FROM gauge_blocks g USING unnest(%(w)s::int8[], %(b)s::int8[]) AS d(width, block) "
    "WHERE g.entity_id = %(e)s AND g.width = d.width AND g.block = d.block"
)
# Locks the entity row until commit: batches of one entity serialise, other entities proceed in parallel.
# Registers the entity on its first ingest (created: now); last_seen never moves back (GREATEST skips NULL).
_LOCK_ENTITY = (
    "INSERT INTO entities (entity_id, created, last_seen) VALUES (%s, %s, %s) ON CONFLICT (entity_id) "
    "DO UPDATE SET version = entities.version + 1, last_seen = GREATEST(entities.last_seen, excluded.last_seen)"
)
# pg_advisory_xact_lock key: the PUTs that set a parent take it, one at a time, before their cycle check, so the
# check sees every such PUT committed before it and none can commit between it and the write (READ COMMITTED:
# each statement after the lock reads what was committed before it was granted).
PARENT_LOCK = 0x636F6E6E656370
_DELETE_RESETS = (
    "DELETE FROM resets r USING unnest(%(regs)s::text[], %(lo)s::bigint[], %(hi)s::bigint[]) AS s(register, lo, hi) "
    "WHERE r.entity_id = %(e)s AND r.register = s.register AND r.ts BETWEEN s.lo AND s.hi"
)
# register_edges, one round trip: the entity's registers (kind 0), their stored edge rows in blocks [lo, hi]
# (kind 1: block, edges) and their resets in (first, last] (kind 2: ts, offset).
_SERIES_EDGES_RESETS = (
    "SELECT 0 AS kind, register, NULL::bigint AS at, NULL::bytea AS edges, NULL::float8 AS o FROM series "
    "WHERE entity_id = %(e)s "
    "UNION ALL SELECT 1, register, block, edges, NULL FROM register_edge_blocks WHERE entity_id = %(e)s "
    "AND block BETWEEN %(lo)s AND %(hi)s "
    'UNION ALL SELECT 2, register, ts, NULL, "offset" FROM resets WHERE entity_id = %(e)s '
    "AND ts > %(first)s AND ts <= %(last)s"
)


# -- ingest: the one read of an appending batch, and the COPY buffer -----------------------------------------
@functools.lru_cache(maxsize=1024)
def _append_read_sql(registers: tuple[int, ...], gauges: bool) -> str:
    """Everything `plan` needs when a batch appends, in one statement (one snapshot, one round trip, one shard):

      kind 0  the entity's series bounds (name, a = first_ts, b = last_ts);
      kind 1  its latest reading (a = ts; NULL: none): the batch appends when it is before the batch's first;
      kind 2  per register of the batch having series bounds: the nearest reading before the batch that has it
              (a = register index, b = ts, v = value; `probe_sql`'s seek, inside the register's bounds);
      kind 3  the stored edge rows (name, a = block, blob) over the blocks of `edge_row_keys`: from the earliest of the
              batch's first reading and those readings to the batch's last;
      kind 4  with gauges: per tier, the stored summaries of the block holding the batch's first reading
              (a = width, blob).
    Read after the entity lock (a statement of its own, before this one). When the batch turns out not to append,
    kinds 2-4 are ignored and `_Reads` reads what that case needs.
    """
    parts = [("SELECT 0 AS kind, register AS name, first_ts AS a, last_ts AS b, NULL::float8 AS v, NULL::bytea AS blob "
              "FROM s"),
             "SELECT 1, NULL, (SELECT max(ts) FROM readings WHERE entity_id = %(e)s), NULL, NULL, NULL"]
    head = "WITH s AS MATERIALIZED (SELECT register, first_ts, last_ts FROM series WHERE entity_id = %(e)s)"
    if registers:
        probes = " UNION ALL ".join(
            f"SELECT {k} AS k, b.ts, b.v FROM s CROSS JOIN LATERAL (SELECT ts, {c} AS v FROM readings "
            f"WHERE entity_id = %(e)s AND ts BETWEEN s.first_ts AND least(%(lo)s::int8 - 1, s.last_ts) "
            f"AND {c} IS NOT NULL ORDER BY ts DESC LIMIT 1) b WHERE s.register = '{c}'"
            for k, c in ((k, REGISTER_COLUMNS[k]) for k in registers))
        head += f", p AS MATERIALIZED ({probes})"
        parts.append("SELECT 2, NULL, k, ts, v, NULL FROM p")
        first_block = (f"(SELECT (x - mod(mod(x, {ROW_US}) + {ROW_US}, {ROW_US})) / {ROW_US} "  # floor, as Python's //
                       "FROM (SELECT least(%(lo)s::int8, (SELECT min(ts) FROM p)) AS x) m)")
        parts.append(f"SELECT 3, register, block, NULL, NULL, edges FROM register_edge_blocks WHERE entity_id = %(e)s "
                     f"AND block BETWEEN {first_block} AND %(hi_block)s::int8")
    if gauges:
        parts.append("SELECT 4, NULL, width, NULL, NULL, summaries FROM gauge_blocks WHERE entity_id = %(e)s "
                     "AND (width, block) IN (SELECT * FROM unnest(%(w)s::int8[], %(b)s::int8[]))")
    return head + "\n" + "\nUNION ALL ".join(parts)


def _append_read_params(entity_id: uuid.UUID, batch: Batch) -> dict[str, Any]:
    params: dict[str, Any] = {"e": entity_id, "lo": batch.lo, "hi_block": batch.hi // ROW_US}
    if batch.gauges_present:
        params["w"] = list(TIERS)
        params["b"] = [block_of(batch.lo, width) for width in TIERS]
    return params


_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = b"\xff\xff"
_NULL_FIELD = struct.pack(">i", -1)
_F8_FIELD = struct.Struct(">id")
_I8_FIELD = struct.Struct(">iq")
_FIELD_8 = struct.pack(">i", 8)
_SWAP = sys.byteorder == "little"


def _column_bytes(code: str, values: Sequence[Any]) -> bytes:
    """A column's values as big-endian 8-byte words (int8 'q' or float8 'd'), converted in C."""
    column = array(code, values)
    if _SWAP:
        column.byteswap()
    return column.tobytes()


def _copy_payload(batch: Batch, todo: IngestPlan, entity: bytes) -> bytes:
    """The plan's rows as one binary COPY stream for `_COPY_READINGS` (`entity`: the uuid's 16 bytes): byte for
    byte what `copy.write_row` writes with the COPY's column types (uuid, int8, float8s, extra as text), built a column at a time rather than a
    value at a time (write_row dumps each value in Python: ~3 µs a reading, most of the ingest's own CPU).

    Rows sharing which columns are NULL have one fixed layout: a template row (field count, lengths, NULLs, the
    entity) repeated, then each non-NULL column's big-endian bytes laid into it with strided slice assignments.
    A batch's readings usually all have the same registers and gauges: one layout. A reading with metrics kept in
    `extra` (JSON text) is encoded on its own.
    """
    rows = todo.rows
    n = len(rows)
    if rows is batch.readings:
        stamps: Sequence[int] = batch.stamps
        columns: list[Sequence[Any]] = [*batch.columns, *batch.gauge_columns]
    else:
        stamps = [r.ts for r in rows]
        columns = [*zip(*[r.registers for r in rows]), *zip(*[r.gauges for r in rows])] if rows else []
    prefix = struct.pack(">hi", 3 + REGISTER_COUNT + GAUGE_COUNT, 16) + entity  # entity, ts, …, extra
    out = bytearray(_COPY_SIGNATURE)
    if COLUMN_METRICS.issuperset(chain.from_iterable([r.data for r in rows])):  # the usual batch, checked in C
        with_extra: list[int] = []
    else:
        with_extra = [i for i, r in enumerate(rows) if not r.data.keys() <= COLUMN_METRICS]
    plain = list(range(n)) if not with_extra else sorted(set(range(n)) - set(with_extra))
    if rows is batch.readings:  # the batch knows which registers and gauges it has at all
        present = {*batch.present, *(REGISTER_COUNT + k for k in batch.gauges_present)}
    else:
        present = set(range(len(columns)))
    full, empty, mixed = [], [], []
    for c, column in enumerate(columns):
        nulls = column.count(None) if c in present else n
        (full if nulls == 0 else empty if nulls == n else mixed).append(c)
    groups: dict[tuple[bool, ...], list[int]] = {}
    if mixed:
        keys = list(zip(*[[v is None for v in columns[c]] for c in mixed]))
        for i in plain:
            groups.setdefault(keys[i], []).append(i)
    elif plain:
        groups[()] = plain
    pieces: list[bytes] = [b""] * n  # (several layouts, or a reading with extra: rows put back in their order)
    for key, index in groups.items():
        m = len(index)
        nulls = set(empty) | {c for c, null in zip(mixed, key) if null}
        template = bytearray(prefix) + _FIELD_8
        offsets = [(len(template), "q", stamps)]
        template += bytes(8)
        for c, column in enumerate(columns):
            if c in nulls:
                template += _NULL_FIELD
            else:
                template += _FIELD_8
                offsets.append((len(template), "d", column))
                template += bytes(8)
        template += _NULL_FIELD  # extra
        width = len(template)
        block = bytearray(bytes(template) * m)
        pick = None if m == n else itemgetter(*index) if m > 1 else (lambda seq, i=index[0]: (seq[i],))
        for offset, code, values in offsets:
            data = _column_bytes(code, values if pick is None else pick(values))
            for j in range(8):
                block[offset + j::width] = data[j::8]
        if m == n:
            out += block
        else:
            view = bytes(block)
            for k, i in enumerate(index):
                pieces[i] = view[k * width:(k + 1) * width]
    for i in with_extra:
        r = rows[i]
        row = bytearray(prefix)
        row += _I8_FIELD.pack(8, r.ts)
        for v in (*r.registers, *r.gauges):
            row += _NULL_FIELD if v is None else _F8_FIELD.pack(8, v)
        extra = extra_json(r)
        row += _NULL_FIELD if extra is None else struct.pack(">i", len(extra)) + extra
        pieces[i] = bytes(row)
    if len(groups) != 1 or with_extra:
        out += b"".join(pieces)
    out += _COPY_TRAILER
    return bytes(out)


# Ingest's small writes as multi-row VALUES with the entity a parameter of every row: on Citus a multi-row INSERT
# routes to the entity's shard (an INSERT … SELECT FROM unnest(…) is evaluated on the coordinator and its rows
# pulled there, then pushed to the shard as an intermediate result), and it plans under generic plans too.
_INSERT_SERIES = ("INSERT INTO series (entity_id, register, first_ts, last_ts)", "(%s, %s, %s::int8, %s::int8)",
                  (" ON CONFLICT (entity_id, register) DO UPDATE SET first_ts = least(series.first_ts, excluded.first_ts), "
                   "last_ts = greatest(series.last_ts, excluded.last_ts)"))
_INSERT_RESETS = ('INSERT INTO resets (entity_id, register, ts, "offset")', "(%s, %s, %s::int8, %s::float8)", "")
_INSERT_EDGES = ("INSERT INTO register_edge_blocks (entity_id, register, block, edges)", "(%s, %s, %s::int8, %s::bytea)",
                 " ON CONFLICT (entity_id, register, block) DO UPDATE SET edges = excluded.edges")
_INSERT_BLOCKS = ("INSERT INTO gauge_blocks (entity_id, width, block, summaries)", "(%s, %s::int8, %s::int8, %s::bytea)",
                  " ON CONFLICT (entity_id, width, block) DO UPDATE SET summaries = excluded.summaries")
# On Citus, the session's planner settings (`_configure`) for the shards' statements too: SET LOCAL, propagated.
_WORKER_SETTINGS = ("SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_seqscan = off", "SET LOCAL jit = off")
_VALUES_ROWS = 4_000  # rows per statement: 4 parameters a row stay under the protocol's 65,535
# A batch that does not append: the stored readings it replaces are deleted, then its rows COPYed in (what the
# upsert of a whole reading comes to; a COPY routes to the shard on Citus, an INSERT … SELECT would not).
_DELETE_READINGS = "DELETE FROM readings WHERE entity_id = %s AND ts BETWEEN %s AND %s AND ts = ANY(%s::int8[])"


@functools.lru_cache(maxsize=256)
def _values_sql(head: str, row: str, tail: str, count: int) -> str:
    return f"{head} VALUES {', '.join([row] * count)}{tail}"


def _insert_values(cur: psycopg.Cursor, statement: tuple[str, str, str], entity_id: uuid.UUID,
                   rows: Sequence[tuple[Any, ...]]) -> None:
    for start in range(0, len(rows), _VALUES_ROWS):
        chunk = rows[start:start + _VALUES_ROWS]
        cur.execute(_values_sql(*statement, len(chunk)), [v for row in chunk for v in (entity_id, *row)])


def _brackets_sql() -> str:
    """For every instant and register: the nearest reading at-or-before / at-or-after that has the register.

    Rows of the answer, by `kind`:
      0  per instant n: the neighbouring readings (two index seeks), b_ts/b_r and a_ts/a_r (register arrays);
      1  per (instant n, register k) whose neighbour lacks a register the entity has (a `series` row): the
         nearest reading that has it, one more seek per side, run only when needed (its WHERE is a one-time
         filter on outer values, so the planner gates the index scan behind it), and only inside the
         register's series bounds [first_ts, last_ts]: a register present in one reading among many is one
         seek, not a scan of the entity's history;
      2  the resets (register index in n) of the whole span the samples can cover: a superset, trimmed in Python.
    """
    pick = "CASE need.k " + " ".join(f"WHEN {k} THEN {c}" for k, c in enumerate(REGISTER_COLUMNS)) + " END"

    def array(alias: str) -> str:
        return "ARRAY[" + ", ".join(f"{alias}.{c}" for c in REGISTER_COLUMNS) + "]"

    return f"""
WITH nb AS MATERIALIZED (
    SELECT i.n, i.t, b.ts AS b_ts, {array('b')} AS b_r,
           a.ts AS a_ts, {array('a')} AS a_r
    FROM unnest(%(t)s::bigint[]) WITH ORDINALITY AS i(t, n)
    LEFT JOIN LATERAL (SELECT {_ROW} FROM readings WHERE entity_id = %(e)s AND ts <= i.t
                       ORDER BY ts DESC LIMIT 1) b ON true
    LEFT JOIN LATERAL (SELECT {_ROW} FROM readings WHERE entity_id = %(e)s AND ts >= i.t
                       ORDER BY ts ASC LIMIT 1) a ON true
),
reg AS (
    SELECT array_position({_NAMES}, register) - 1 AS k, first_ts, last_ts FROM series
    WHERE entity_id = %(e)s AND register = ANY({_NAMES})
),
need AS (
    SELECT nb.n, reg.k, reg.first_ts AS b_lo, least(nb.t, reg.last_ts) AS b_hi,
           greatest(nb.t, reg.first_ts) AS a_lo, reg.last_ts AS a_hi,
           nb.b_ts IS NOT NULL AND nb.b_r[reg.k + 1] IS NULL AND nb.t >= reg.first_ts AS need_b,
           nb.a_ts IS NOT NULL AND nb.a_r[reg.k + 1] IS NULL AND nb.t <= reg.last_ts AS need_a
    FROM nb CROSS JOIN reg
    WHERE (nb.b_ts IS NOT NULL AND nb.b_r[reg.k + 1] IS NULL) OR (nb.a_ts IS NOT NULL AND nb.a_r[reg.k + 1] IS NULL)
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
SELECT 2, array_position({_NAMES}, r.register) - 1, NULL, r.ts, r."offset", NULL, NULL, NULL, NULL
FROM span JOIN resets r ON r.entity_id = %(e)s AND r.ts > span.lo AND r.ts <= span.hi
"""


BRACKETS_SQL = _brackets_sql()


def probe_sql(registers: Sequence[int], appending: bool) -> str:
    """Before a batch is written: per register, the value before the span and (unless appending) the first
    reading after it (index seeks inside the register's series bounds, bound as %(lo_k)s/%(hi_k)s: a rare
    register costs one seek, not a scan of the entity's history); one round trip."""
    columns = []
    for k in registers:
        c = REGISTER_COLUMNS[k]
        columns.append(
            f"(SELECT ARRAY[ts::float8, {c}] FROM readings WHERE entity_id = %(e)s "
            f"AND ts BETWEEN %(first_{k})s AND %(before_{k})s AND {c} IS NOT NULL ORDER BY ts DESC LIMIT 1)"
        )
        if not appending:
            columns.append(
                f"(SELECT ARRAY[ts::float8, {c}] FROM readings WHERE entity_id = %(e)s "
                f"AND ts BETWEEN %(after_{k})s AND %(last_{k})s AND {c} IS NOT NULL ORDER BY ts ASC LIMIT 1)"
            )
    return "SELECT " + (", ".join(columns) or "1")


@dataclass(frozen=True, slots=True)
class Extensions:
    """Which scale-out extensions this server can use (available and loadable, or already installed)."""

    citus: bool
    timescaledb: bool


def _mapped(method: Callable[..., T]) -> Callable[..., T]:
    """Driver errors of a store call → StoreBusy / StoreTimeout (anything else is a bug and stays as is)."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> T:
        with _mapped_block():
            return method(*args, **kwargs)

    return call


class PostgresStore(PlannedIngest):
    _citus = False  # the server has Citus (set by `_configure`)
    readings_span: int | None = None  # `readings` is a hypertable: its chunk interval (`readings_in_windows`;
    # set by `migrate`, on its own connection: taking one of the pool's at start would grow the pool to two)

    def __init__(
        self, url: str, *, busy_timeout_s: float = 30.0, min_size: int = 1, max_size: int = 16,
        connect_timeout_s: int = CONNECT_TIMEOUT_S, compress_after_days: int | None = None,
        route_to_workers: bool = True,
    ) -> None:
        """`route_to_workers`: on Citus, run each ingest transaction on a connection to the worker holding the
        entity's shards (`_WorkerRoutes`); False: every statement through the coordinator (the URL's server)."""
        self.url = url
        self.busy_timeout_s = busy_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.compress_after_days = compress_after_days  # TimescaleDB's compression policy (`compression`); None: kept
        self.migrate()  # on a direct connection: a bad URL fails here, at once, with the server's own message
        self._pinned: ContextVar[psycopg.Connection | None] = ContextVar(f"connect_readings_pg_{id(self)}", default=None)
        self._pool = self.new_pool(url, min_size, max_size, "connect-readings")
        self._routes = _WorkerRoutes(self) if route_to_workers else None

    def new_pool(self, conninfo: str, min_size: int, max_size: int, name: str) -> ConnectionPool:
        """A pool of the store's sessions (autocommit, its timeouts, `_configure`d) on the server `conninfo` names:
        the coordinator's (or the only server's), or a Citus worker's (`_WorkerRoutes`)."""
        return ConnectionPool(
            conninfo, min_size=min_size, max_size=max_size, open=True, name=name,
            timeout=max(self.busy_timeout_s, 0.1),
            kwargs={"autocommit": True, "connect_timeout": self.connect_timeout_s,
                    "application_name": "connect-readings"},
            configure=self._configure,
        )

    # -- connections and schema -------------------------------------------------------------------
    def _configure(self, conn: psycopg.Connection) -> None:
        timeout_ms = max(0, int(self.busy_timeout_s * 1000))
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
        row = conn.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')").fetchone()
        citus = bool(row and row[0])
        if citus:
            # Citus plans a statement whose distribution key is a parameter only knowing its value (a custom plan),
            # but for its fast path (one table; no join, CTE, UNION, INSERT … SELECT): it gives the generic plans of
            # the others a prohibitive cost so that `auto` never keeps them, and under force_generic_plan (set for the
            # server, database or role) they fail: "could not create distributed plan … parameters in SQL functions".
            settings["plan_cache_mode"] = "auto"
            # The settings above stay on the coordinator (Citus sends no SET to its workers, where the shards'
            # statements are planned); with this, the SET LOCALs of a transaction reach every worker it uses
            # (`_WORKER_SETTINGS`, sent by the ingest's transactions).
            settings["citus.propagate_set_commands"] = "local"
        self._citus = citus
        conn.execute(
            "SELECT " + ", ".join("set_config(%s, %s, false)" for _ in settings),
            [item for pair in settings.items() for item in pair],
        )

    def connection(self) -> AbstractContextManager[psycopg.Connection]:
        """A pooled connection with this store's session settings (maintenance, EXPLAIN, tests)."""
        return self._pool.connection()

    def _pool_wait(self, deadline: float | None) -> float:
        """How long a call may wait for a pooled connection: the busy timeout, or less to meet its deadline."""
        wait = self.busy_timeout_s if deadline is None else min(self.busy_timeout_s, deadline - time.monotonic())
        return max(wait, 0.001)

    @contextmanager
    def _transaction(self, deadline: float | None, begin: str) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction whose statements stop at `deadline` (QueryCanceled)."""
        with self._pool.connection(timeout=self._pool_wait(deadline)) as conn:
            conn.execute(begin)
            try:
                _stop_at(conn, deadline)
                yield conn
            except BaseException:
                _roll_back(conn)
                raise
            conn.execute("COMMIT")

    @contextmanager
    def snapshot(self, deadline: float | None = None) -> Iterator[None]:
        """Reads inside the block (on this thread or task) all see one snapshot: REPEATABLE READ, READ ONLY."""
        if self._pinned.get() is not None:
            yield
            return
        with _mapped_block(), self._transaction(deadline, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY") as conn:
            token = self._pinned.set(conn)
            try:
                yield
            finally:
                self._pinned.reset(token)

    @contextmanager
    def _reader(self) -> Iterator[psycopg.Cursor]:
        pinned = self._pinned.get()
        if pinned is not None:
            with pinned.cursor(binary=True) as cur:
                yield cur
            return
        with self._pool.connection() as conn, conn.cursor(binary=True) as cur:
            yield cur

    @_mapped
    def migrate(self) -> int:
        version, self.readings_span = _migrate_database(self.url, self.connect_timeout_s, self.compress_after_days)
        return version

    @_mapped
    def schema_state(self, deadline: float | None = None) -> SchemaState:
        """A pooled connection (waiting at most until `deadline`) and one indexed max()."""
        with self._transaction(deadline, "BEGIN READ ONLY") as conn:
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        return SchemaState(int(row[0]) if row else 0, latest_migration("postgres"))

    def close(self) -> None:
        if self._routes is not None:
            self._routes.close()
        self._pool.close()

    @_mapped
    def meta_value(self, key: str, default: str) -> str:
        with self._pool.connection() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (key, default))
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        assert row is not None
        return row[0]

    @_mapped
    def meta_get(self, key: str) -> str | None:
        with self._reader() as cur:
            row = cur.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return None if row is None else row[0]

    # -- ingest -------------------------------------------------------------------------------------
    # Round trips per batch, appending (the usual case): 1. one pipeline: BEGIN, the deadline, the entity lock and
    # ONE read of everything the planner needs (`_append_read_sql`); 2. the rows COPYed in one binary buffer built
    # column-wise (`_copy_payload`); 3. one pipeline: every other write and COMMIT. A batch that does not append
    # reads the rest in `_Reads` (stored readings in its span, neighbours after it), deletes the readings
    # it replaces and COPYs its rows the same way.
    @_mapped
    def _ingest_batch(self, entity_id: uuid.UUID, batch: Batch, deadline: float | None) -> IngestPlan:
        with self._ingest_connection(entity_id, deadline) as conn:
            try:
                with conn.pipeline(), conn.cursor() as cur, conn.cursor() as read:
                    cur.execute("BEGIN")
                    if self._citus:
                        for statement in _WORKER_SETTINGS:
                            cur.execute(statement)
                    _stop_at(cur, deadline)
                    cur.execute(_LOCK_ENTITY, (entity_id, time.time_ns() // 1000, batch.hi))
                    read.execute(_append_read_sql(tuple(batch.present), bool(batch.gauges_present)),
                                 _append_read_params(entity_id, batch))
                    found = read.fetchall()
                with conn.cursor() as cur:
                    around, appending = read_surroundings(batch, _Reads(cur, entity_id, found))
                    todo = plan(batch, around)
                    self._execute(cur, entity_id, batch, todo, appending)
            except BaseException:
                _roll_back(conn)
                raise
        return todo

    @contextmanager
    def _ingest_connection(self, entity_id: uuid.UUID, deadline: float | None) -> Iterator[psycopg.Connection]:
        """The connection an ingest transaction runs on: on Citus (unless routing is off), one to the worker
        holding the entity's shards (`_WorkerRoutes`); else, or when that worker cannot be reached, the store's
        pool (the coordinator)."""
        if self._citus and self._routes is not None:
            node, worker = self._routes.pool_for(entity_id)
            if worker is not None:
                lost = True  # unless a connection was had and is still sound when an error comes
                try:
                    with worker.connection(timeout=self._pool_wait(deadline)) as conn:
                        try:
                            yield conn
                        except psycopg.OperationalError:
                            lost = conn.broken  # a cancelled statement or a lock wait is the call's, not the worker's
                            raise
                except (PoolTimeout, psycopg.OperationalError):
                    if lost:
                        self._routes.failed(node)  # the worker gone: this call fails, the next ones go elsewhere
                    raise
                return
        with self._pool.connection(timeout=self._pool_wait(deadline)) as conn:
            yield conn

    @staticmethod
    def _execute(cur: psycopg.Cursor, entity_id: uuid.UUID, batch: Batch, todo: IngestPlan, appending: bool) -> None:
        if not appending and todo.rows:
            # The stored readings at the batch's timestamps go, then the batch's rows are COPYed in: each replaces
            # the whole stored reading with its timestamp, as an upsert of every column would.
            cur.execute(_DELETE_READINGS, (entity_id, batch.lo, batch.hi, [r.ts for r in todo.rows]))
        # Appending, nothing is stored at or after the batch, and the entity lock keeps it so: no conflict.
        with cur.copy(_COPY_READINGS) as copy:
            copy.write(_copy_payload(batch, todo, entity_id.bytes))
        with cur.connection.pipeline():  # every other write and the COMMIT: one round trip
            if todo.reset_spans:
                regs, los, his = zip(*todo.reset_spans)
                cur.execute(_DELETE_RESETS, {"e": entity_id, "regs": [REGISTER_COLUMNS[k] for k in regs],
                                             "lo": list(los), "hi": list(his)})
            if todo.resets:
                _insert_values(cur, _INSERT_RESETS, entity_id,
                               [(REGISTER_COLUMNS[k], ts, float(offset)) for k, ts, offset in todo.resets])
            widen = [(REGISTER_COLUMNS[k], first, last) for k, first, last in todo.widen]
            widen += [(GAUGE_COLUMNS[k], first, last) for k, first, last in todo.gauge_widen]
            if widen:
                _insert_values(cur, _INSERT_SERIES, entity_id, widen)
            if todo.gauge_deletes:
                cur.execute(_DELETE_BLOCKS, {"e": entity_id, "w": [w for w, _ in todo.gauge_deletes],
                                             "b": [b for _, b in todo.gauge_deletes]})
            upserts = [(REGISTER_COLUMNS[k], block, row) for k, block, row in todo.edge_rows if row is not None]
            if upserts:
                _insert_values(cur, _INSERT_EDGES, entity_id, upserts)
            deletes = [(REGISTER_COLUMNS[k], block) for k, block, row in todo.edge_rows if row is None]
            if deletes:
                cur.execute(_DELETE_EDGES, {"e": entity_id, "r": [r for r, _ in deletes], "d": [d for _, d in deletes]})
            if todo.gauge_blocks:
                _insert_values(cur, _INSERT_BLOCKS, entity_id, [(w, b, pack_summaries(summaries))
                                                                for w, b, summaries in todo.gauge_blocks])
            cur.execute("COMMIT")

    # -- reads --------------------------------------------------------------------------------------
    @_mapped
    def entity_version(self, entity_id: uuid.UUID) -> int | None:
        with self._reader() as cur:
            row = cur.execute("SELECT version FROM entities WHERE entity_id = %s", (entity_id,)).fetchone()
            return None if row is None else int(row[0])

    @_mapped
    def entity_head(self, entity_id: uuid.UUID) -> tuple[int, str | None, int] | None:
        with self._reader() as cur:
            row = cur.execute("SELECT version, time_zone, created FROM entities WHERE entity_id = %s",
                              (entity_id,)).fetchone()
            return None if row is None else (int(row[0]), row[1], int(row[2]))

    @_mapped
    def entity(self, entity_id: uuid.UUID) -> EntityRecord | None:
        with self._reader() as cur:
            row = cur.execute(f"SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_id = %s", (entity_id,)).fetchone()
        return None if row is None else entity_record(row, _same_uuid)

    @_mapped
    def entities(self, after: uuid.UUID | None, limit: int, visible: Collection[uuid.UUID] | None = None
                 ) -> list[EntityRecord]:
        low = after if after is not None else uuid.UUID(int=0)
        with self._reader() as cur:
            if visible is None:
                rows = cur.execute(
                    f"SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_id > %s OR (%s AND entity_id = %s) "
                    "ORDER BY entity_id LIMIT %s", (low, after is None, low, limit)).fetchall()
            else:
                rows = cur.execute(
                    f"SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_id = ANY(%s) AND (entity_id > %s OR %s) "
                    "ORDER BY entity_id LIMIT %s", (list(visible), low, after is None, limit)).fetchall()
        return [entity_record(row, _same_uuid) for row in rows]

    @_mapped
    def put_entity(self, record: EntityRecord) -> tuple[EntityRecord, bool]:
        properties = None if record.properties is None else orjson.dumps(record.properties).decode()
        with self._transaction(None, "BEGIN") as conn, conn.cursor() as cur:
            if record.parent_id is not None:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (PARENT_LOCK,))
                if cur.execute("SELECT 1 FROM entities WHERE entity_id = %s", (record.parent_id,)).fetchone() is None:
                    raise parent_gone()  # (deleted since the request checked it: DELETE takes the same lock)
                check_parent(record.entity_id, record.parent_id, functools.partial(_parent_of, cur))
            row = cur.execute(
                "INSERT INTO entities (entity_id, type, name, brand, identifier, parent_id, properties, time_zone, "
                "created) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (entity_id) DO UPDATE SET "
                "type = excluded.type, name = excluded.name, brand = excluded.brand, "
                "identifier = excluded.identifier, parent_id = excluded.parent_id, "
                "properties = excluded.properties, time_zone = excluded.time_zone "
                f"RETURNING {ENTITY_COLUMNS}, xmax = 0",
                (record.entity_id, record.type, record.name, record.brand, record.identifier, record.parent_id,
                 properties, record.time_zone, record.created)).fetchone()
        assert row is not None
        return entity_record(row, _same_uuid), bool(row[-1])

    # -- costs: price series and tariffs (docs/semantics.md §15) -----------------------------------------
    @_mapped
    def put_prices(self, series: PriceSeries, intervals: Sequence[PriceInterval], now: int) -> tuple[int, bool]:
        pid = series.price_id
        with self._transaction(None, "BEGIN") as conn, conn.cursor() as cur:
            # The upsert locks the series' row: writes of one series run one after the other.
            row = cur.execute(
                "INSERT INTO price_series (price_id, name, unit, currency, updated, revision) "
                "VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (price_id) DO UPDATE SET name = coalesce(excluded.name, price_series.name), "
                "unit = excluded.unit, currency = excluded.currency, updated = excluded.updated, "
                "revision = excluded.revision RETURNING xmax = 0",
                (pid, series.name, series.unit, series.currency, now, new_revision())).fetchone()
            created = bool(row[0]) if row else False
            if intervals:
                lo, hi = overlapping_span(intervals)
                stored = [PriceInterval(int(r[0]), int(r[1]), float(r[2])) for r in cur.execute(
                    *price_intervals_query("%s", pid, lo, hi, None, None)).fetchall()]
                deleted, rows = price_rewrite(stored, intervals)
                if deleted is not None:
                    cur.execute("DELETE FROM price_intervals WHERE price_id = %s AND start_ts >= %s AND start_ts <= %s",
                                (pid, *deleted))
                with cur.copy("COPY price_intervals (price_id, start_ts, end_ts, price) FROM STDIN") as copy:
                    for i in rows:
                        copy.write_row((pid, i.start, i.end, i.price))
            counted = cur.execute("SELECT count(*) FROM price_intervals WHERE price_id = %s", (pid,)).fetchone()
        return int(counted[0]) if counted else 0, created

    @_mapped
    def price_series(self, price_id: str | None = None) -> list[PriceSeriesInfo]:
        where, args = (" WHERE s.price_id = %s", (price_id,)) if price_id is not None else ("", ())
        with self._reader() as cur:
            rows = cur.execute(PRICE_SERIES_SQL + where + PRICE_SERIES_GROUP, args).fetchall()
        return [price_series_info(row) for row in rows]

    @_mapped
    def price_intervals(self, price_id: str, lo: int, hi: int, after: int | None = None,
                        limit: int | None = None) -> list[PriceInterval]:
        with self._reader() as cur:
            rows = cur.execute(*price_intervals_query("%s", price_id, lo, hi, after, limit)).fetchall()
        return [PriceInterval(int(r[0]), int(r[1]), float(r[2])) for r in rows]

    @_mapped
    def price_revision(self, price_id: str) -> int | None:
        with self._reader() as cur:
            row = cur.execute("SELECT revision FROM price_series WHERE price_id = %s", (price_id,)).fetchone()
        return None if row is None else int(row[0])

    @_mapped
    def price_columns(self, price_id: str, lo: int, hi: int) -> PriceColumns:
        with self._reader() as cur:
            return PriceColumns.of_rows(cur.execute(*price_intervals_query("%s", price_id, lo, hi, None, None)).fetchall())

    @_mapped
    def put_tariff(self, entity_id: uuid.UUID, document: str, now: int) -> bool | None:
        with self._transaction(None, "BEGIN") as conn, conn.cursor() as cur:
            # The entity's row, as DELETE takes it: a tariff is never written for an entity being deleted.
            if cur.execute("SELECT 1 FROM entities WHERE entity_id = %s FOR UPDATE", (entity_id,)).fetchone() is None:
                return None
            row = cur.execute(
                "INSERT INTO tariffs (entity_id, document, updated) VALUES (%s, %s, %s) ON CONFLICT (entity_id) "
                "DO UPDATE SET document = excluded.document, updated = excluded.updated RETURNING xmax = 0",
                (entity_id, document, now)).fetchone()
        return bool(row[0]) if row else False

    @_mapped
    def tariff(self, entity_id: uuid.UUID) -> str | None:
        with self._reader() as cur:
            row = cur.execute("SELECT document FROM tariffs WHERE entity_id = %s", (entity_id,)).fetchone()
        return None if row is None else row[0]

    @_mapped
    def delete_entity(self, entity_id: uuid.UUID, deadline: float | None = None) -> EntityDeletion | None:
        with self._transaction(deadline, "BEGIN") as conn, conn.cursor() as cur:
            # The parent lock first (as every PUT that sets a parent: none can name this entity until commit),
            # then the entity row (as ingest: a batch in progress commits first, a later one waits for us).
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (PARENT_LOCK,))
            if cur.execute("SELECT 1 FROM entities WHERE entity_id = %s FOR UPDATE", (entity_id,)).fetchone() is None:
                return None
            row = cur.execute("SELECT count(*) FROM entities WHERE parent_id = %s", (entity_id,)).fetchone()
            children = int(row[0]) if row else 0
            if children:
                some = cur.execute("SELECT entity_id FROM entities WHERE parent_id = %s ORDER BY entity_id LIMIT %s",
                                   (entity_id, MAX_CHILDREN_LISTED)).fetchall()
                return EntityDeletion(False, children=children, some_children=tuple(r[0] for r in some))
            counts = {}
            for table in ENTITY_TABLES:
                cur.execute(f"DELETE FROM {table} WHERE entity_id = %s", (entity_id,))
                counts[table] = cur.rowcount
        return EntityDeletion(True, readings=counts["readings"])

    @_mapped
    def entity_ids(self) -> list[uuid.UUID]:
        with self._reader() as cur:
            return [row[0] for row in cur.execute("SELECT entity_id FROM entities ORDER BY entity_id").fetchall()]

    @_mapped
    def reading_count(self) -> int:
        with self._reader() as cur:
            row = cur.execute("SELECT count(*) FROM readings").fetchone()
        return int(row[0]) if row else 0

    @_mapped
    def readings(self, entity_id: uuid.UUID, start: int, end: int, limit: int) -> list[StoredReading]:
        with self._reader() as cur:
            def read(lo: int, hi: int, window: tuple[int, int] | None, n: int) -> list[StoredReading]:
                # The window's bounds as constants: TimescaleDB then plans its one chunk (generic plans included).
                within = "" if window is None else f"AND ts >= {int(window[0])} AND ts < {int(window[1])} "
                rows = cur.execute(f"SELECT {_STORED}, extra::text FROM readings WHERE entity_id = %s AND ts >= %s "
                                   f"AND ts < %s {within}ORDER BY ts LIMIT %s", (entity_id, lo, hi, n)).fetchall()
                return list(map(stored_row, rows))
            return readings_in_windows(read, start, end, limit, self.readings_span)

    @_mapped
    def count_readings(self, entity_id: uuid.UUID, start: int, end: int, cap: int) -> int:
        with self._reader() as cur:
            row = cur.execute(
                "SELECT count(*) FROM (SELECT 1 FROM readings WHERE entity_id = %s AND ts >= %s AND ts < %s "
                "LIMIT %s) AS window_rows",
                (entity_id, start, end, cap + 1),
            ).fetchone()
        return int(row[0]) if row else 0

    @_mapped
    def last_reading(self, entity_id: uuid.UUID) -> StoredReading | None:
        with self._reader() as cur:
            row = cur.execute(
                f"SELECT {_STORED}, extra::text FROM readings WHERE entity_id = %s ORDER BY ts DESC LIMIT 1",
                (entity_id,),
            ).fetchone()
        return stored_row(row) if row else None

    # -- gauges (statistics) ---------------------------------------------------------------------------
    @_mapped
    def gauges_present(self, entity_id: uuid.UUID) -> list[int]:
        with self._reader() as cur:
            rows = cur.execute("SELECT register FROM series WHERE entity_id = %s", (entity_id,)).fetchall()
        return sorted(GAUGE_INDEX[name] for (name,) in rows if name in GAUGE_INDEX)

    @_mapped
    def gauge_blocks(self, entity_id: uuid.UUID, width: int, lo: int, hi: int
                     ) -> list[tuple[int, dict[int, GaugeSummary]]]:
        with self._reader() as cur:
            rows = cur.execute("SELECT block, summaries FROM gauge_blocks WHERE entity_id = %s AND width = %s "
                               "AND block >= %s AND block < %s ORDER BY block", (entity_id, width, lo, hi)).fetchall()
        return [(block, unpack_summaries(value)) for block, value in rows]

    @_mapped
    def gauge_samples(self, entity_id: uuid.UUID, gauges: Sequence[int], lo: int, hi: int
                      ) -> list[tuple[int, tuple[float | None, ...]]]:
        columns = [GAUGE_COLUMNS[k] for k in gauges]
        with self._reader() as cur:
            rows = cur.execute(
                f"SELECT ts, {', '.join(columns)} FROM readings WHERE entity_id = %s AND ts >= %s AND ts < %s "
                f"AND ({' OR '.join(c + ' IS NOT NULL' for c in columns)}) ORDER BY ts", (entity_id, lo, hi)).fetchall()
        return [(row[0], tuple(row[1:])) for row in rows]

    @_mapped
    def gauge_neighbours(self, entity_id: uuid.UUID, gauges: Sequence[int], before: int, after: int
                         ) -> tuple[dict[int, tuple[int, float]], dict[int, tuple[int, float]]]:
        # Index seeks for the nearest reading having the gauge, inside the gauge's series bounds (as registers').
        parts = []
        for k in gauges:
            c = GAUGE_COLUMNS[k]
            parts.append(
                f"(SELECT {k}, 0, (SELECT ARRAY[r.ts::float8, r.{c}] FROM readings r WHERE r.entity_id = %(e)s "
                f"AND r.ts BETWEEN s.first_ts AND least(%(b)s - 1, s.last_ts) AND r.{c} IS NOT NULL "
                f"ORDER BY r.ts DESC LIMIT 1) FROM series s WHERE s.entity_id = %(e)s AND s.register = '{c}') "
                f"UNION ALL (SELECT {k}, 1, (SELECT ARRAY[r.ts::float8, r.{c}] FROM readings r WHERE r.entity_id = %(e)s "
                f"AND r.ts BETWEEN greatest(%(a)s, s.first_ts) AND s.last_ts AND r.{c} IS NOT NULL "
                f"ORDER BY r.ts LIMIT 1) FROM series s WHERE s.entity_id = %(e)s AND s.register = '{c}')")
        found: tuple[dict[int, tuple[int, float]], dict[int, tuple[int, float]]] = ({}, {})
        if not parts:
            return found
        with self._reader() as cur:
            rows = cur.execute(" UNION ALL ".join(parts), {"e": entity_id, "b": before, "a": after}).fetchall()
        for k, side, pair in rows:
            if pair is not None:
                found[side][k] = (int(pair[0]), pair[1])
        return found

    @_mapped
    def quality_marks(self, entity_id: uuid.UUID, metric: str, lo: int, hi: int, limit: int) -> list[QualityMark]:
        with self._reader() as cur:
            rows = cur.execute(QUALITY_MARKS_SQL, (entity_id, lo, hi, f'"{metric}"', limit)).fetchall()
        return [quality_mark(ts, extra, metric) for ts, extra in rows]

    @_mapped
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
        # offsets relative to the earliest sample, exactly as the embedded backend
        offsets = reset_offsets(resets, min(stamps), max(stamps)) if stamps else {}
        result: list[list[Bracket]] = []
        for k in range(REGISTER_COUNT):
            adjust = offsets.get(k)
            result.append([(with_offsets(b, adjust), with_offsets(a, adjust)) for b, a in samples[k]])
        return result

    # -- peak demand: one register's samples or brackets (statistics §4, §6) ----------------------------------
    @_mapped
    def register_coverage(self, entity_id: uuid.UUID, register: int) -> tuple[int, int] | None:
        with self._reader() as cur:
            row = cur.execute(_COVERAGE_SQL[register], {"e": entity_id, "r": REGISTER_COLUMNS[register]}).fetchone()
        if row is None or row[0] is None or row[1] is None:
            return None
        return int(row[0]), int(row[1])

    @_mapped
    def register_samples(
        self, entity_id: uuid.UUID, register: int, lo: int, hi: int, limit: int
    ) -> list[Sample] | None:
        params = {"e": entity_id, "r": REGISTER_COLUMNS[register], "lo": lo, "hi": hi, "limit": max(0, limit)}
        with self.snapshot(), self._reader() as cur:
            row = cur.execute(_SAMPLE_SPAN_SQL[register], params).fetchone()
            if row is None:
                return []  # the entity has no such register
            dense, before, after, first, last = row
            if dense:
                return None
            span = samples_span(lo, hi, (first, last), before, after)
            if span is None:
                return []
            found = cur.execute(_SAMPLES_SQL[register], {"e": entity_id, "r": params["r"], "lo": span[0],
                                                         "hi": span[1]})
            rows: list[Sample] = []
            resets: list[tuple[int, float]] = []
            for kind, ts, value in found.fetchall():
                (rows if kind == 0 else resets).append((ts, value))
        return continuous_samples(rows, lambda lo, hi: resets)

    @_mapped
    def register_series_brackets(self, entity_id: uuid.UUID, register: int, instants: Sequence[int]) -> list[Bracket]:
        if not instants:
            return []
        with self._reader() as cur:
            found = cur.execute(_SERIES_BRACKETS_SQL[register], {
                "e": entity_id, "r": REGISTER_COLUMNS[register], "t": list(instants)}).fetchall()
        pairs: list[tuple[Any, ...]] = [(None, None, None, None)] * len(instants)
        resets: list[tuple[int, float]] = []
        for kind, n, b_ts, b_v, a_ts, a_v in found:
            if kind == 0:
                pairs[n - 1] = (b_ts, b_v, a_ts, a_v)
            else:
                resets.append((b_ts, b_v))
        return continuous_brackets(pairs, lambda lo, hi: resets)

    @_mapped
    def register_edges(self, entity_id: uuid.UUID, instants: Sequence[int]) -> tuple[list[int], list[list[float | None]]]:
        keys = edge_row_keys_of(instants) or (0, -1)  # (0, -1): no row
        first, last = (instants[0], instants[-1]) if instants else (0, -1)
        with self._reader() as cur:
            found = cur.execute(_SERIES_EDGES_RESETS, {"e": entity_id, "lo": keys[0], "hi": keys[1], "first": first,
                                                       "last": last}).fetchall()
        rows: dict[int, list[tuple[int, bytes]]] = {}
        resets: list[tuple[int, int, float]] = []
        for kind, name, at, edges, offset in found:
            k = REGISTER_INDEX.get(name)
            if k is None:
                continue  # a gauge's series
            if kind == 0:
                rows.setdefault(k, [])
            elif kind == 1:
                rows.setdefault(k, []).append((int(at), bytes(edges)))
            else:
                resets.append((k, int(at), offset))
        registers = sorted(rows)
        columns = edge_values([rows[k] for k in registers], instants)
        return registers, columns_made_continuous(instants, registers, columns, reset_offsets(resets, first, last))

    @_mapped
    def register_values_at(self, entity_id: uuid.UUID, registers: Sequence[int], instants: Sequence[int]
                           ) -> tuple[list[int], list[list[float | None]]]:
        if not registers or not instants:
            return [], [[] for _ in registers]
        names = [REGISTER_COLUMNS[k] for k in registers]
        arrays = ", ".join(f"array_agg({c} ORDER BY ts)" for c in ["ts", *names])  # one row: no tuple per reading
        with self.snapshot(), self._reader() as cur:
            rows: dict[str, list[tuple[int, bytes]]] = {name: [] for name in names}
            keys = edge_row_keys_of(instants)
            if keys is not None:
                for name, block, row in cur.execute(
                        "SELECT register, block, edges FROM register_edge_blocks WHERE entity_id = %s "
                        "AND block BETWEEN %s AND %s AND register = ANY(%s)", (entity_id, *keys, names)).fetchall():
                    rows[name].append((int(block), bytes(row)))

            def exact(wanted: list[int]) -> tuple[list[int], list[list[float | None]]]:
                row = cur.execute(f"SELECT {arrays} FROM readings WHERE entity_id = %(e)s AND ts = ANY(%(t)s::bigint[])",
                                  {"e": entity_id, "t": wanted}).fetchone()
                if row is None or row[0] is None:
                    return [], [[] for _ in names]
                return row[0], list(row[1:])

            stamps, values = edges_or_readings(instants, edge_values([rows[name] for name in names], instants), exact)
            if not stamps:
                return [], [[] for _ in registers]
            resets = cur.execute(
                'SELECT register, ts, "offset" FROM resets WHERE entity_id = %(e)s AND register = ANY(%(r)s) '
                "AND ts > %(lo)s AND ts <= %(hi)s ORDER BY register, ts",
                {"e": entity_id, "r": names, "lo": stamps[0], "hi": stamps[-1]}).fetchall()
        return stamps, columns_made_continuous(stamps, names, values, reset_offsets(resets, stamps[0], stamps[-1]))


# The partial index readings_quality (migration 0008): its predicate repeated word for word, then narrowed to the
# one metric. extra::text: the stored text, parsed in Python (json operators fail on a \u0000 escape).
QUALITY_MARKS_SQL = (
    "SELECT ts, extra::text FROM readings WHERE entity_id = %s AND ts > %s AND ts <= %s "
    "AND extra IS NOT NULL AND (strpos(extra::text, '\"quality\"') > 0 OR strpos(extra::text, '\"gasQuality\"') > 0) "
    "AND strpos(extra::text, %s) > 0 ORDER BY ts LIMIT %s"
)


def _roll_back(conn: psycopg.Connection) -> None:
    """ROLLBACK after a failure, unless the connection is gone (the pool discards a broken one)."""
    if not conn.closed:
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            pass


def _stop_at(target: psycopg.Connection | psycopg.Cursor, deadline: float | None) -> None:
    """The transaction's statements stop at `deadline` (a `time.monotonic()` instant; None: the session's timeout)."""
    if deadline is not None:
        remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
        target.execute("SELECT set_config('statement_timeout', %s, true)", (f"{remaining_ms}ms",))


@contextmanager
def _mapped_block() -> Iterator[None]:
    """Driver errors inside the block → StoreBusy / StoreTimeout (store calls, and a snapshot's own statements)."""
    try:
        yield
    except psycopg.errors.QueryCanceled as exc:  # statement_timeout: the call's deadline
        raise StoreTimeout("the statement was cancelled at its deadline") from exc
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise StoreBusy("the database is unavailable or every connection is in use") from exc


def _same_uuid(value: uuid.UUID) -> uuid.UUID:
    return value  # psycopg reads uuid columns as UUIDs


def _parent_of(cur: psycopg.Cursor, entity_id: uuid.UUID) -> uuid.UUID | None:
    """The registered entity's parent (None: none, or not registered), read in the cursor's transaction."""
    row = cur.execute("SELECT parent_id FROM entities WHERE entity_id = %s", (entity_id,)).fetchone()
    return None if row is None else row[0]


def migrate_database(url: str, connect_timeout_s: int = CONNECT_TIMEOUT_S, compress_after_days: int | None = None
                     ) -> int:
    """Apply pending migrations, then distribute/partition when Citus/TimescaleDB are available (and on
    TimescaleDB set the compression policy `compress_after_days` asks for: `compression`).

    Returns the schema version. One transaction under an advisory lock: many processes starting at once
    migrate one after the other, and a failed migration leaves nothing half-applied.
    """
    return _migrate_database(url, connect_timeout_s, compress_after_days)[0]


def _migrate_database(url: str, connect_timeout_s: int, compress_after_days: int | None) -> tuple[int, int | None]:
    """`migrate_database`, and then, on its connection, `readings`' chunk interval (`chunk_interval`)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout_s) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            version = apply_pending("postgres", int(row[0]) if row else 0, _Sql(conn), conn.execute,
                                    lambda number: conn.execute("INSERT INTO schema_version (version) VALUES (%s)",
                                                                (number,)))
            scale_out(conn, compress_after_days=compress_after_days)
        return version, chunk_interval(conn)


_ROUTE_TTL_S = 60.0  # how long a shard's worker is trusted before its placement is read again (shards can move)
_ROUTE_RETRY_S = 30.0  # how long a worker that could not be reached is left alone (its entities: the coordinator)
_ROUTE_ENTITIES = 100_000  # entities whose shard id is remembered (then forgotten all at once and read again)
_SHARD_OF = "SELECT get_shard_id_for_distribution_column('readings', %s)"
# The primary holding a shard; groupid 0 is the coordinator itself (a cluster whose coordinator holds shards).
_PLACEMENT_OF = (
    "SELECT n.nodename, n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid "
    "WHERE p.shardid = %s AND n.noderole = 'primary' AND n.isactive AND p.groupid <> 0 ORDER BY n.nodeid LIMIT 1"
)
Node = tuple[str, int]


class _WorkerRoutes:
    """On Citus, where an entity's ingest runs: a pooled connection to the worker holding its shards.

    Citus (11+) keeps its metadata on every worker, so a worker runs statements on the distributed tables as
    the coordinator does; for the shards it holds itself it executes them locally, and a transaction that only
    touched local shards commits in one phase, where the coordinator's COPY into a distributed table always
    prepares and commits in two (`multi_copy.c`: "all modifications use 2PC") and relays every row. The entity's
    transaction is unchanged (same statements, same session settings: `_configure` runs on these connections
    too); only the server it is sent to differs. Correct wherever it lands: a worker that no longer holds the
    shard (moved since its placement was read, at most `_ROUTE_TTL_S` ago) forwards the statements like the
    coordinator would.

    Mapping: entity → shard id (`get_shard_id_for_distribution_column`, remembered per entity; every table is
    co-located with `readings`, so one shard index for all), shard id → worker (`pg_dist_placement` ⋈
    `pg_dist_node`, remembered `_ROUTE_TTL_S`), worker → pool (the store's URL with host and port replaced,
    same size as the store's). A worker that cannot be reached (at its pool's first connection, or a failure of a
    call on it) is left alone for `_ROUTE_RETRY_S`: its entities' ingests go through the coordinator.
    """

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._shards: dict[uuid.UUID, int] = {}
        self._placements: dict[int, tuple[Node | None, float]] = {}  # shard id → (worker or None, read until)
        self._pools: dict[Node, ConnectionPool] = {}
        self._down: dict[Node, float] = {}  # worker → monotonic instant until which it is not tried
        self._lock = threading.Lock()  # creating and closing pools

    def pool_for(self, entity_id: uuid.UUID) -> tuple[Node | None, ConnectionPool | None]:
        """The worker holding the entity's shards and its pool; (…, None): use the coordinator."""
        node = self.node_of(entity_id)
        if node is None or self._down.get(node, 0.0) > time.monotonic():
            return node, None
        return node, self._pools.get(node) or self._open(node)

    def node_of(self, entity_id: uuid.UUID) -> Node | None:
        """The (host, port) of the primary worker holding the entity's shards, None if the coordinator holds them."""
        shard = self._shards.get(entity_id)
        if shard is None:
            shard = self._lookup(_SHARD_OF, entity_id)
            if len(self._shards) >= _ROUTE_ENTITIES:
                self._shards.clear()
            self._shards[entity_id] = shard = int(shard[0])
        placed = self._placements.get(shard)
        if placed is None or placed[1] < time.monotonic():
            row = self._lookup(_PLACEMENT_OF, shard, required=False)
            placed = ((str(row[0]), int(row[1])) if row else None, time.monotonic() + _ROUTE_TTL_S)
            self._placements[shard] = placed
        return placed[0]

    def _lookup(self, statement: str, key: Any, required: bool = True) -> Any:
        with self._store.connection() as conn:
            row = conn.execute(statement, (key,)).fetchone()
        if required and row is None:
            raise psycopg.OperationalError(f"Citus has no answer to {statement!r}")
        return row

    def conninfo(self, node: Node) -> str:
        """The store's connection string with the worker's host and port."""
        return make_conninfo(self._store.url, host=node[0], port=str(node[1]))

    def _open(self, node: Node) -> ConnectionPool | None:
        """The worker's pool, opened after one connection succeeded; None (and the worker left alone) if not."""
        with self._lock:
            if node in self._pools:
                return self._pools[node]
            conninfo = self.conninfo(node)
            try:
                psycopg.connect(conninfo, connect_timeout=self._store.connect_timeout_s).close()
            except psycopg.Error as exc:
                self._mark_down(node, exc)
                return None
            pool = self._store.new_pool(conninfo, 1, self._store._pool.max_size,
                                        f"connect-readings-{node[0]}:{node[1]}")
            self._pools[node] = pool
            return pool

    def failed(self, node: Node | None) -> None:
        """A call on the worker failed on its connection: close its pool, leave it alone, read placements again."""
        if node is None:
            return
        with self._lock:
            pool = self._pools.pop(node, None)
            self._mark_down(node, None)
        self._placements.clear()
        if pool is not None:
            pool.close(timeout=0)

    def _mark_down(self, node: Node, exc: BaseException | None) -> None:
        self._down[node] = time.monotonic() + _ROUTE_RETRY_S
        log.warning("Citus worker %s:%s unreachable (%s): its entities' ingests go through the coordinator for %.0f s",
                    node[0], node[1], str(exc).strip() if exc else "a call on it failed", _ROUTE_RETRY_S)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


class _Reads:
    """base.read_surroundings' reads: appending, answered from the rows of `_append_read_sql` (read in the first
    round trip, as if the batch appends); otherwise a round trip each."""

    def __init__(self, cur: psycopg.Cursor, entity_id: uuid.UUID, found: list[tuple[Any, ...]]) -> None:
        self.cur = cur
        self.entity_id = entity_id
        self.bounds: dict[int, tuple[int, int]] = {}
        self.latest: int | None = None
        self.before: dict[int, Sample] = {}
        self.edges: dict[int, dict[int, bytes]] = {}
        self.tail: dict[int, Summaries] = {}
        for kind, name, a, b, v, blob in found:
            if kind == 0:
                if name in REGISTER_INDEX:
                    self.bounds[REGISTER_INDEX[name]] = (a, b)
            elif kind == 1:
                self.latest = a
            elif kind == 2:
                self.before[a] = (b, v)
            elif kind == 3:
                self.edges.setdefault(REGISTER_INDEX[name], {})[a] = bytes(blob)
            else:
                self.tail[a] = unpack_summaries(blob)

    def latest_and_bounds(self) -> tuple[int | None, dict[int, tuple[int, int]]]:
        return self.latest, self.bounds

    def gauge_tail(self, blocks: list[tuple[int, int]]) -> dict[int, Summaries]:
        return self.tail  # (the same blocks: `_append_read_params`)

    def existing(self, lo: int, hi: int) -> list[tuple[int, Values]]:
        return [(row[0], tuple(row[1:])) for row in self.cur.execute(
            f"SELECT {_ROW} FROM readings WHERE entity_id = %s AND ts BETWEEN %s AND %s ORDER BY ts",
            (self.entity_id, lo, hi)).fetchall()]

    def has_gauge_blocks(self) -> bool:
        return self.cur.execute("SELECT 1 FROM gauge_blocks WHERE entity_id = %s LIMIT 1",
                                (self.entity_id,)).fetchone() is not None

    def gauge_rows(self, spans: list[tuple[int, int]]) -> list[tuple[int, Values]]:
        return [(row[0], tuple(row[1:])) for lo, hi in spans for row in self.cur.execute(
            f"SELECT {_GAUGE_ROW} FROM readings WHERE entity_id = %s AND ts >= %s AND ts < %s ORDER BY ts",
            (self.entity_id, lo, hi)).fetchall()]

    def gauge_children(self, spans: list[tuple[int, int]]) -> dict[int, dict[int, Summaries]]:
        children: dict[int, dict[int, Summaries]] = {}
        for width, block, value in self.cur.execute(
                "SELECT g.width, g.block, g.summaries FROM gauge_blocks g, unnest(%s::int8[], %s::int8[]) AS s(lo, hi) "
                "WHERE g.entity_id = %s AND g.width < %s AND g.block >= s.lo AND g.block < s.hi",
                ([lo for lo, _ in spans], [hi for _, hi in spans], self.entity_id, TIERS[-1])).fetchall():
            children.setdefault(width, {})[block] = unpack_summaries(value)
        return children

    def neighbours(self, registers: list[int], bounds: dict[int, tuple[int, int]], lo: int, hi: int,
                   appending: bool) -> tuple[dict[int, Sample], dict[int, Sample]]:
        if appending:
            return self.before, {}
        probed = [k for k in registers if k in bounds]
        if not probed:
            return {}, {}
        params: dict[str, Any] = {"e": self.entity_id}
        for k in probed:
            first_ts, last_ts = bounds[k]
            params.update({f"first_{k}": first_ts, f"before_{k}": min(lo - 1, last_ts),
                           f"after_{k}": max(hi + 1, first_ts), f"last_{k}": last_ts})
        row = self.cur.execute(probe_sql(probed, appending=False), params).fetchone()
        assert row is not None
        values = iter(row)
        before: dict[int, Sample] = {}
        after: dict[int, Sample] = {}
        for k in probed:
            if (found := next(values)) is not None:
                before[k] = (int(found[0]), found[1])
            if (found := next(values)) is not None:
                after[k] = (int(found[0]), found[1])
        return before, after

    def edge_rows(self, keys: tuple[int, int], appending: bool) -> dict[int, dict[int, bytes]]:
        if appending:
            return self.edges
        rows: dict[int, dict[int, bytes]] = {}
        for register, block, row in self.cur.execute(
                "SELECT register, block, edges FROM register_edge_blocks WHERE entity_id = %s "
                "AND block BETWEEN %s AND %s", (self.entity_id, *keys)).fetchall():
            rows.setdefault(REGISTER_INDEX[register], {})[int(block)] = bytes(row)
        return rows


class _Sql:
    """storage.migrate's view of the connection: its `?` placeholders as psycopg's."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def rows(self, statement: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return self.conn.execute(statement.replace("?", "%s"), args).fetchall()

    def run_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.cursor().executemany(statement.replace("?", "%s"), rows)

    def run(self, statement: str) -> None:
        self.conn.execute(statement)

    def json(self, text: str) -> str:
        return text  # (psycopg sends a str untyped: the column's json type takes it)


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


def chunk_interval(conn: psycopg.Connection) -> int | None:
    """The chunk interval (µs) of `readings` when it is a TimescaleDB hypertable, else None."""
    row = conn.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb')").fetchone()
    if not (row and row[0]):
        return None
    row = conn.execute("SELECT integer_interval FROM timescaledb_information.dimensions "
                       "WHERE hypertable_name = 'readings' AND column_name = 'ts'").fetchone()
    return int(row[0]) if row and row[0] else None


def scale_out(conn: Any, extensions: Extensions | None = None, compress_after_days: int | None = None) -> list[str]:
    """Distribute (Citus) or partition (TimescaleDB) the readings tables when possible; idempotent. On TimescaleDB,
    `compress_after_days` (not None) is the compression policy to have (`compression`).

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
            " 'series'::regclass, 'gauge_blocks'::regclass, 'price_series'::regclass, 'price_intervals'::regclass,"
            " 'tariffs'::regclass, 'register_edge_blocks'::regclass)"
        ).fetchall()}
        for table in ("meta", "price_series", "price_intervals"):  # small, read by every entity's costs
            if table not in done:
                run(f"SELECT create_reference_table('{table}')")
        if "entities" not in done:
            run("SELECT create_distributed_table('entities', 'entity_id')")
        for table in ("readings", "resets", "series", "gauge_blocks", "tariffs", "register_edge_blocks"):
            if table not in done:
                run(f"SELECT create_distributed_table('{table}', 'entity_id', colocate_with => 'entities')")
    elif ext.timescaledb:
        run("CREATE EXTENSION IF NOT EXISTS timescaledb")
        hyper = conn.execute(
            "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'readings'"
        ).fetchone()
        if hyper is None:
            run(f"SELECT create_hypertable('readings', 'ts', chunk_time_interval => {HYPERTABLE_CHUNK_US}::bigint, "
                "migrate_data => true, create_default_indexes => false)")  # every query leads with entity_id
        if conn.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'readings_ts_idx'").fetchone() is not None:
            # A hypertable made before: its default (ts DESC) index let the planner read every entity's rows.
            run("DROP INDEX readings_ts_idx")
        if compress_after_days is not None:
            compression(conn, run, compress_after_days)
    if compress_after_days and not (ext.timescaledb and not ext.citus):
        log.warning("compression of old readings (timescaledb_compress_after_days=%s) needs TimescaleDB%s: ignored",
                    compress_after_days, " without Citus" if ext.citus else "")
    return ran


def compression(conn: Any, run: Callable[[str], None], after_days: int) -> None:
    """TimescaleDB's native compression of old readings (docs/postgresql.md, "Compression"); idempotent: each
    statement runs only when what it sets differs.

    after_days > 0: the hypertable's columnstore is turned on, segmented by entity_id and ordered by ts (each
    compressed batch: up to 1,000 consecutive readings of one entity, its ts bounds kept beside it, which is what
    an entity's range read or seek looks up), unless compression is on already (then its settings are kept); the
    hypertable gets an integer "now" (`NOW_FUNC`: µs since the epoch, policies on an integer time column need one);
    and its compression policy compresses the chunks whose every reading is older than `after_days` days (a
    different age replaces the policy). after_days == 0: the policy is removed; chunks compressed stay compressed,
    and late data goes on being written into them.
    """
    policy = conn.execute(
        "SELECT job_id, (config->>'compress_after')::bigint FROM timescaledb_information.jobs "
        "WHERE proc_name = 'policy_compression' AND hypertable_name = 'readings'").fetchone()
    if after_days == 0:
        if policy is not None:
            run("SELECT remove_compression_policy('readings', if_exists => true)")
        return
    enabled = conn.execute("SELECT compression_enabled FROM timescaledb_information.hypertables "
                           "WHERE hypertable_name = 'readings'").fetchone()
    if not (enabled and enabled[0]):
        run("ALTER TABLE readings SET (timescaledb.enable_columnstore = true, "
            "timescaledb.segmentby = 'entity_id', timescaledb.orderby = 'ts')")
    now = conn.execute("SELECT integer_now_func::text FROM timescaledb_information.dimensions "
                       "WHERE hypertable_name = 'readings' AND column_name = 'ts'").fetchone()
    if now is None or now[0] != NOW_FUNC:
        run(f"CREATE OR REPLACE FUNCTION {NOW_FUNC}() RETURNS bigint LANGUAGE sql STABLE "
            "AS $$ SELECT (extract(epoch FROM now()) * 1000000)::bigint $$")
        run(f"SELECT set_integer_now_func('readings', '{NOW_FUNC}', replace_if_exists => true)")
    after = after_days * DAY_US
    if policy is None or policy[1] != after:
        if policy is not None:
            run("SELECT remove_compression_policy('readings', if_exists => true)")
        run(f"SELECT add_compression_policy('readings', compress_after => {after}::bigint)")


# -- peak demand: one register's samples or brackets -----------------------------------------------------------
# Every seek for "the nearest reading having the register" runs inside the register's series bounds.
_COVERAGE_SQL = tuple(
    f"""SELECT (SELECT ts FROM readings WHERE entity_id = %(e)s AND ts BETWEEN s.first_ts AND s.last_ts
              AND {c} IS NOT NULL ORDER BY ts ASC LIMIT 1),
       (SELECT ts FROM readings WHERE entity_id = %(e)s AND ts BETWEEN s.first_ts AND s.last_ts
              AND {c} IS NOT NULL ORDER BY ts DESC LIMIT 1)
FROM series s WHERE s.entity_id = %(e)s AND s.register = %(r)s"""
    for c in REGISTER_COLUMNS
)
# Whether [lo, hi] holds more than `limit` readings (a bounded count: at most `limit` index steps), and the
# readings having the register just outside it.
_SAMPLE_SPAN_SQL = tuple(
    f"""SELECT EXISTS (SELECT 1 FROM readings WHERE entity_id = %(e)s AND ts BETWEEN %(lo)s AND %(hi)s
                   ORDER BY ts LIMIT 1 OFFSET %(limit)s),
       (SELECT ts FROM readings WHERE entity_id = %(e)s AND ts BETWEEN s.first_ts AND least(%(lo)s, s.last_ts)
               AND {c} IS NOT NULL ORDER BY ts DESC LIMIT 1),
       (SELECT ts FROM readings WHERE entity_id = %(e)s AND ts BETWEEN greatest(%(hi)s, s.first_ts) AND s.last_ts
               AND {c} IS NOT NULL ORDER BY ts ASC LIMIT 1),
       s.first_ts, s.last_ts
FROM series s WHERE s.entity_id = %(e)s AND s.register = %(r)s"""
    for c in REGISTER_COLUMNS
)
# kind 0: the samples in [lo, hi]; kind 1: the register's resets in (lo, hi].
_SAMPLES_SQL = tuple(
    f"""SELECT 0 AS kind, ts, {c} AS v FROM readings
WHERE entity_id = %(e)s AND ts BETWEEN %(lo)s AND %(hi)s AND {c} IS NOT NULL
UNION ALL
SELECT 1, ts, "offset" FROM resets WHERE entity_id = %(e)s AND register = %(r)s AND ts > %(lo)s AND ts <= %(hi)s
ORDER BY kind, ts"""
    for c in REGISTER_COLUMNS
)
# kind 0, per instant n: the nearest reading having the register at or before / at or after it (one index seek
# each); kind 1: the register's resets over the span of those readings.
_SERIES_BRACKETS_SQL = tuple(
    f"""WITH reg AS (SELECT first_ts, last_ts FROM series WHERE entity_id = %(e)s AND register = %(r)s),
nb AS MATERIALIZED (
    SELECT i.n, b.ts AS b_ts, b.v AS b_v, a.ts AS a_ts, a.v AS a_v
    FROM unnest(%(t)s::bigint[]) WITH ORDINALITY AS i(t, n) CROSS JOIN reg
    LEFT JOIN LATERAL (SELECT ts, {c} AS v FROM readings
                       WHERE entity_id = %(e)s AND ts BETWEEN reg.first_ts AND least(i.t, reg.last_ts)
                         AND {c} IS NOT NULL ORDER BY ts DESC LIMIT 1) b ON true
    LEFT JOIN LATERAL (SELECT ts, {c} AS v FROM readings
                       WHERE entity_id = %(e)s AND ts BETWEEN greatest(i.t, reg.first_ts) AND reg.last_ts
                         AND {c} IS NOT NULL ORDER BY ts ASC LIMIT 1) a ON true
),
span AS (SELECT min(least(b_ts, a_ts)) AS lo, max(greatest(b_ts, a_ts)) AS hi FROM nb)
SELECT 0 AS kind, n, b_ts, b_v, a_ts, a_v FROM nb
UNION ALL
SELECT 1, NULL, r.ts, r."offset", NULL, NULL
FROM span JOIN resets r ON r.entity_id = %(e)s AND r.register = %(r)s AND r.ts > span.lo AND r.ts <= span.hi"""
    for c in REGISTER_COLUMNS
)
