"""The PostgreSQL backend on the scale-out engines, checked on the real ones: Citus distributes every per-entity
table by entity_id, co-located, makes the shared tables reference tables, and routes a single-entity read to
one shard; TimescaleDB makes `readings` a hypertable in weekly chunks.

They run on the test server (CONNECT_READINGS_TEST_POSTGRES_URL, see tests/pg.py) and skip, saying why, unless
it has the engine: `scripts/scaleout.sh` starts a Citus cluster and a TimescaleDB server and runs the storage
and API suites, these included, on each. On a plain server only the detection test runs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from connect_readings.domain.gauges import TIERS
from connect_readings.domain.ingest import prepare
from connect_readings.domain.readings import REGISTER_COUNT, Reading, parse_reading
from connect_readings.domain.timefmt import format_datetime
from connect_readings.storage import postgres
from connect_readings.storage.base import ENTITY_TABLES
from connect_readings.storage.postgres import (
    HYPERTABLE_CHUNK_US,
    Extensions,
    PostgresStore,
    detect_extensions,
    scale_out,
)

from ..pg import make_postgres_store, server_url

REFERENCE_TABLES = ("meta", "price_series", "price_intervals")
T0 = 1_716_768_000_000_000  # 2024-05-27T00:00Z, a Monday
MINUTE = 60_000_000
DAY = 1_440 * MINUTE
HOW = "run scripts/scaleout.sh, or point CONNECT_READINGS_TEST_POSTGRES_URL at a server with it"


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Iterator[PostgresStore]:
    store = make_postgres_store(request)
    yield store
    store.close()


def installed(store: PostgresStore) -> set[str]:
    with store.connection() as conn:
        return {row[0] for row in conn.execute(
            "SELECT extname FROM pg_extension WHERE extname IN ('citus', 'timescaledb')").fetchall()}


@pytest.fixture
def citus(pg: PostgresStore) -> PostgresStore:
    if "citus" not in installed(pg):
        pytest.skip(f"the test server ({server_url()}) has no Citus (not preloaded, so not installed by the "
                    f"migration); {HOW}")
    return pg


@pytest.fixture
def timescaledb(pg: PostgresStore) -> PostgresStore:
    found = installed(pg)
    if "timescaledb" not in found:
        pytest.skip(f"the test server ({server_url()}) has no TimescaleDB (not preloaded, so not installed by the "
                    f"migration); {HOW}")
    if "citus" in found:
        pytest.skip("the test server has Citus too, which wins: readings is distributed, not a hypertable")
    return pg


def energy(ts: int, total: float) -> Reading:
    return parse_reading({"timestamp": format_datetime(ts),
                          "data": {"positiveActiveEnergy": {"total": total, "unit": "kWh"}}})


def explain(store: PostgresStore, statement: str, params: Any = None) -> str:
    with store.connection() as conn:
        rows = conn.execute("EXPLAIN (COSTS OFF) " + statement, params).fetchall()
    return "\n".join(row[0] for row in rows)


# -- what the migration found -------------------------------------------------------------------------------
def test_migration_installs_exactly_the_extension_the_server_preloads(pg: PostgresStore) -> None:
    """Citus when preloaded (it wins over TimescaleDB), else TimescaleDB when preloaded, else none: an extension
    that is only shipped (its files installed, as after scripts/scaleout.sh's builds) is not used."""
    with pg.connection() as conn:
        preload = {part.strip() for part in conn.execute(
            "SELECT current_setting('shared_preload_libraries')").fetchone()[0].split(",")}  # type: ignore[index]
        ext = detect_extensions(conn)
    assert ext.citus == ("citus" in preload)
    assert ext.timescaledb == ("timescaledb" in preload or "timescaledb" in installed(pg))
    expected = {"citus"} if ext.citus else {"timescaledb"} if ext.timescaledb else set()
    assert installed(pg) == expected


# -- Citus -----------------------------------------------------------------------------------------------------
def test_citus_distributes_per_entity_tables_by_entity_id_co_located(citus: PostgresStore) -> None:
    with citus.connection() as conn:
        tables = {row[0]: row[1:] for row in conn.execute(
            "SELECT table_name::text, citus_table_type, distribution_column, colocation_id FROM citus_tables"
        ).fetchall()}
        partition = {row[0]: row[1:] for row in conn.execute(
            "SELECT logicalrelid::regclass::text, partmethod, column_to_column_name(logicalrelid, partkey), "
            "colocationid FROM pg_dist_partition").fetchall()}
    for table in ENTITY_TABLES:
        assert tables.get(table, (None,))[:2] == ("distributed", "entity_id"), (table, tables.get(table))
        assert partition[table][:2] == ("h", "entity_id"), (table, partition[table])  # hash-distributed
    assert len({tables[table][2] for table in ENTITY_TABLES}) == 1, tables  # one colocation group
    assert len({partition[table][2] for table in ENTITY_TABLES}) == 1, partition
    for table in REFERENCE_TABLES:
        assert tables.get(table, (None,))[0] == "reference", (table, tables.get(table))
        assert partition[table][0] == "n", (table, partition[table])
    assert set(tables) == set(ENTITY_TABLES) | set(REFERENCE_TABLES)  # nothing else (schema_version stays local)


def test_citus_shards_live_on_the_workers(citus: PostgresStore) -> None:
    with citus.connection() as conn:
        workers = conn.execute("SELECT count(*) FROM citus_get_active_worker_nodes()").fetchone()[0]  # type: ignore[index]
        nodes = {row[0]: row[1] for row in conn.execute(
            "SELECT table_name::text, count(DISTINCT (nodename, nodeport)) FROM citus_shards GROUP BY 1").fetchall()}
    if workers < 2:
        pytest.skip(f"the Citus server has {workers} worker node(s); shard placement needs a cluster")
    for table in ENTITY_TABLES:
        assert nodes[table] >= 2, (table, nodes)  # spread over the workers, not all on one node


def test_citus_single_entity_read_routes_to_one_shard(citus: PostgresStore) -> None:
    entity, other = uuid.uuid4(), uuid.uuid4()
    citus.ingest(entity, [energy(T0 + i * MINUTE, i) for i in range(100)])
    citus.ingest(other, [energy(T0 + i * MINUTE, i) for i in range(100)])
    for statement in (
        "SELECT * FROM readings WHERE entity_id = %(e)s AND ts >= %(lo)s AND ts < %(hi)s ORDER BY ts LIMIT 10",
        "SELECT * FROM readings WHERE entity_id = %(e)s ORDER BY ts DESC LIMIT 1",
        ("SELECT r.ts, s.first_ts FROM readings r JOIN series s ON s.entity_id = r.entity_id "
         "WHERE r.entity_id = %(e)s AND s.register = 'positiveActiveEnergy' ORDER BY r.ts LIMIT 5"),
    ):
        text = explain(citus, statement, {"e": entity, "lo": T0, "hi": T0 + 50 * MINUTE})
        assert "Custom Scan (Citus Adaptive)" in text, text
        assert "Task Count: 1" in text, text  # the router planner: one shard, one node
    everything = explain(citus, "SELECT count(*) FROM readings")
    assert "Task Count: 1\n" not in everything + "\n", everything  # …while a scan of all entities fans out
    assert citus.readings(entity, T0, T0 + 10 * MINUTE, 100) == citus.readings(entity, T0, T0 + 10 * MINUTE, 100)
    assert len(citus.readings(entity, T0, T0 + 200 * MINUTE, 1_000)) == 100


def test_citus_scale_out_is_idempotent(citus: PostgresStore) -> None:
    with citus.connection() as conn:
        assert scale_out(conn) == ["CREATE EXTENSION IF NOT EXISTS citus"]
        assert detect_extensions(conn).citus


def mixed(ts: int, n: int) -> Reading:
    """A reading with two tiers, gas every 4th, gauges every 3rd: every kind of ingest write."""
    data: dict[str, Any] = {"positiveActiveEnergy": {"t1": 100.0 + n, "t2": 50.0 + n / 2, "total": 150.0 + 1.5 * n,
                                                    "unit": "kWh"}}
    if n % 4 == 0:
        data["positiveGasVolume"] = {"value": 10.0 + n / 10, "unit": "m3"}
    if n % 3 == 0:
        data["instantaneousVoltage"] = {"l1": 230.0 + n % 7, "unit": "V"}
    return parse_reading({"timestamp": format_datetime(ts), "data": data})


def test_citus_ingest_writes_route_to_the_entitys_shard(citus: PostgresStore) -> None:
    """Every statement of an ingest runs on the entity's shard alone (router plans, one task): no INSERT … SELECT
    whose rows are pulled to the coordinator; the rows themselves are COPYed, which Citus routes by entity_id."""
    entity = uuid.uuid4()
    citus.ingest(entity, [mixed(T0 + i * MINUTE, i) for i in range(100)])
    batch = prepare([mixed(T0 + (100 + i) * MINUTE, i) for i in range(50)], REGISTER_COUNT)
    assert batch is not None

    def values(statement: tuple[str, str, str], row: tuple[Any, ...]) -> tuple[str, list[Any]]:
        return postgres._values_sql(*statement, 2), [entity, *row, entity, *row]

    statements = [
        (postgres._LOCK_ENTITY, (entity, 1, batch.hi)),
        (postgres._append_read_sql(tuple(batch.present), True), {**postgres._append_read_params(entity, batch)}),
        (postgres._DELETE_READINGS, (entity, batch.lo, batch.hi, batch.stamps)),
        (postgres._DELETE_RESETS, {"e": entity, "regs": ["positive_t1"], "lo": [1], "hi": [2]}),
        values(postgres._INSERT_RESETS, ("positive_t1", 1, 2.0)),
        values(postgres._INSERT_SERIES, ("positive_t1", 1, 2)),
        values(postgres._INSERT_EDGES, ("positive_t1", 1, b"x")),
        (postgres._DELETE_EDGES, {"e": entity, "r": ["positive_t1"], "d": [1]}),
        values(postgres._INSERT_BLOCKS, (900_000_000, 0, b"x")),
        (postgres._DELETE_BLOCKS, {"e": entity, "w": [1], "b": [1]}),
    ]
    for statement, params in statements:
        text = explain(citus, statement, params)
        assert "Custom Scan (Citus Adaptive)" in text and "Task Count: 1" in text, (statement, text)
        assert "pull to coordinator" not in text and "INSERT ... SELECT" not in text, (statement, text)


def test_citus_ingest_and_reads_under_generic_plans(citus: PostgresStore) -> None:
    """With plan_cache_mode = force_generic_plan set for the server, database or role, Citus cannot plan a
    statement whose entity is a parameter unless it is a single-table one ("could not create distributed plan");
    the store's sessions plan as `auto` (where Citus keeps custom plans): ingest and reads answer as usual."""
    url = citus.url
    with psycopg.connect(url, autocommit=True, options="-c plan_cache_mode=force_generic_plan") as conn:
        conn.execute("BEGIN")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="could not create distributed plan"):
            conn.execute(postgres.BRACKETS_SQL, {"e": uuid.uuid4(), "t": [T0]}, prepare=True)
        conn.execute("ROLLBACK")
    generic = PostgresStore(url + "?options=-c%20plan_cache_mode%3Dforce_generic_plan", min_size=1, max_size=2)
    try:
        with generic.connection() as conn:
            assert conn.execute("SELECT reset_val, setting FROM pg_settings WHERE name = 'plan_cache_mode'"
                                ).fetchone() == ("force_generic_plan", "auto")
        entity, twin = uuid.uuid4(), uuid.uuid4()
        batches = [[mixed(T0 + (b * 60 + i) * MINUTE, b * 60 + i) for i in range(60)] for b in range(3)]
        late = [mixed(T0 + (30 + 2 * i) * MINUTE, 1_000 + i) for i in range(40)]  # replaces and inserts
        for _ in range(6):  # past psycopg's prepare threshold: named statements, planned once each
            for store, who in ((generic, entity), (citus, twin)):
                for batch in (*batches, late):
                    store.ingest(who, batch)
        instants = [T0 + k * 17 * MINUTE for k in range(12)]
        for _ in range(6):
            assert generic.register_brackets(entity, instants) == citus.register_brackets(twin, instants)
            assert generic.readings(entity, T0, T0 + DAY, 1_000) == citus.readings(twin, T0, T0 + DAY, 1_000)
            for width in TIERS:
                assert generic.gauge_blocks(entity, width, T0, T0 + DAY) == citus.gauge_blocks(twin, width, T0, T0 + DAY)
    finally:
        generic.close()


def test_citus_session_settings_reach_the_workers(citus: PostgresStore) -> None:
    """The store's planner settings are set on the coordinator, where Citus keeps them; an ingest's transaction
    sends them as SET LOCAL, which Citus propagates to the workers that plan the shards' statements."""
    entity = uuid.uuid4()
    citus.ingest(entity, [energy(T0, 1.0)])
    on_worker = ("SELECT current_setting('enable_seqscan'), current_setting('enable_bitmapscan'), "
                 "current_setting('jit') FROM series WHERE entity_id = %s LIMIT 1")
    with citus.connection() as conn:
        assert conn.execute("SELECT current_setting('enable_seqscan'), current_setting('citus.propagate_set_commands')"
                            ).fetchone() == ("off", "local")
        conn.execute("BEGIN")
        for statement in postgres._WORKER_SETTINGS:
            conn.execute(statement)
        assert conn.execute(on_worker, (entity,)).fetchone() == ("off", "off", "off")
        conn.execute("ROLLBACK")


# -- TimescaleDB -----------------------------------------------------------------------------------------------
def test_timescaledb_readings_is_a_hypertable_in_weekly_chunks(timescaledb: PostgresStore) -> None:
    with timescaledb.connection() as conn:
        hypertables = [row[0] for row in conn.execute(
            "SELECT hypertable_name::text FROM timescaledb_information.hypertables").fetchall()]
        dimension = conn.execute(
            "SELECT column_name::text, integer_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = 'readings'").fetchall()
    assert hypertables == ["readings"]
    assert dimension == [("ts", HYPERTABLE_CHUNK_US)]


def test_timescaledb_chunks_and_pruning(timescaledb: PostgresStore) -> None:
    entity = uuid.uuid4()
    timescaledb.ingest(entity, [energy(T0 + i * 6 * 60 * MINUTE, i) for i in range(4 * 21)])  # 3 weeks, every 6 h
    with timescaledb.connection() as conn:
        chunks = conn.execute("SELECT count(*) FROM show_chunks('readings')").fetchone()[0]  # type: ignore[index]
    assert chunks >= 3
    text = explain(timescaledb, f"SELECT * FROM readings WHERE entity_id = '{entity}' "
                                f"AND ts >= {T0 + DAY} AND ts < {T0 + 2 * DAY} ORDER BY ts")
    assert len(set(re.findall(r"_hyper_\d+_\d+_chunk\b", text))) == 1, text  # one day: one chunk, others excluded
    assert len(timescaledb.readings(entity, T0, T0 + 21 * DAY, 1_000)) == 4 * 21


def test_timescaledb_scale_out_is_idempotent(timescaledb: PostgresStore) -> None:
    with timescaledb.connection() as conn:
        assert scale_out(conn) == ["CREATE EXTENSION IF NOT EXISTS timescaledb"]
        assert detect_extensions(conn) == Extensions(citus=False, timescaledb=True)


def test_timescaledb_pages_are_read_in_chunk_windows(timescaledb: PostgresStore) -> None:
    """The store reads a page's first chunk on its own (`readings_in_windows`, the span its chunk interval), then
    the rest only when that chunk had too few: the same pages as one read, across a chunk boundary (T0 + 3 days: the
    chunks start on Thursdays), pages ending at a chunk's last reading, and a gap of weeks (empty chunks)."""
    assert timescaledb.readings_span == HYPERTABLE_CHUNK_US
    entity = uuid.uuid4()
    stamps = [T0 + i * 6 * 60 * MINUTE for i in range(4 * 21)] + [T0 + 40 * DAY, T0 + 70 * DAY - 1]
    timescaledb.ingest(entity, [energy(ts, i) for i, ts in enumerate(stamps)])
    boundary = T0 + 3 * DAY  # the first 12 readings are before it
    cases = [(T0, 12), (T0, 13), (T0, 1_000), (boundary - 1, 1), (boundary - 1, 2), (boundary, 28), (boundary, 29),
             (T0 + 20 * DAY, 5), (T0 + 21 * DAY, 1), (T0 + 21 * DAY, 2), (T0 + 41 * DAY, 3)]
    for start, limit in cases:
        end = T0 + 70 * DAY
        expected = [ts for ts in stamps if start <= ts < end][:limit]
        windowed = timescaledb.readings(entity, start, end, limit)
        timescaledb.readings_span = None
        try:
            assert windowed == timescaledb.readings(entity, start, end, limit), (start, limit)
        finally:
            timescaledb.readings_span = HYPERTABLE_CHUNK_US
        assert [r.ts for r in windowed] == expected, (start, limit)


def test_timescaledb_window_statement_plans_one_chunk_even_generic(timescaledb: PostgresStore) -> None:
    """Why the window's bounds are constants: the statement's generic plan (what a prepared statement reuses) holds
    the one chunk they cover; with the bounds as parameters only, it holds every chunk of the hypertable and
    excludes all but one each time it starts."""
    entity = uuid.uuid4()
    timescaledb.ingest(entity, [energy(T0 + i * 6 * 60 * MINUTE, i) for i in range(4 * 21)])  # 4 chunks
    lo, hi = T0 + 3 * DAY, T0 + 10 * DAY
    planned = {}
    with timescaledb.connection() as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        try:
            for name, within in (("windowed", f"AND ts >= {lo} AND ts < {hi} "), ("whole", "")):
                conn.execute(f"PREPARE {name}(uuid, int8, int8, int8) AS SELECT ts FROM readings WHERE entity_id = $1 "
                             f"AND ts >= $2 AND ts < $3 {within}ORDER BY ts LIMIT $4")
                text = "\n".join(row[0] for row in conn.execute(
                    f"EXPLAIN (COSTS OFF) EXECUTE {name}('{entity}', {lo}, {hi}, 10)").fetchall())
                excluded = re.search(r"Chunks excluded during startup: (\d+)", text)
                planned[name] = len(set(re.findall(r"_hyper_\d+_\d+_chunk\b", text))) + (
                    int(excluded.group(1)) if excluded else 0)
        finally:
            conn.execute("DEALLOCATE ALL")
            conn.execute("RESET plan_cache_mode")
    assert planned == {"windowed": 1, "whole": 4}


def test_timescaledb_cached_window_plan_sees_a_chunk_made_after_it(timescaledb: PostgresStore) -> None:
    """A window's statement prepared (and its generic plan kept) while the window had no chunk reads the chunk a
    later ingest makes there: the plan is invalidated, not reused with the chunk missing."""
    entity = uuid.uuid4()
    timescaledb.ingest(entity, [energy(T0, 1)])
    store = PostgresStore(timescaledb.url, max_size=1)  # one connection: the one whose plans are kept
    try:
        with store.connection() as conn:
            conn.execute("SET plan_cache_mode = force_generic_plan")
        later = T0 + 10 * 7 * DAY
        for _ in range(8):  # prepared by the driver after 5, planned once generic, reused
            assert store.readings(entity, later, later + DAY, 10) == []
        with store.connection() as conn:
            kept = conn.execute("SELECT max(generic_plans) FROM pg_prepared_statements WHERE statement LIKE %s",
                                (f"%AND ts >= {later - later % HYPERTABLE_CHUNK_US} %",)).fetchone()
        assert kept is not None and kept[0] >= 2, kept
        timescaledb.ingest(entity, [energy(later + i * MINUTE, 2 + i) for i in range(3)])  # a new chunk
        assert [r.ts for r in store.readings(entity, later, later + DAY, 10)] == [later + i * MINUTE for i in range(3)]
    finally:
        store.close()
