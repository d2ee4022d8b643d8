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

import pytest

from connect_readings.domain.readings import Reading, parse_reading
from connect_readings.domain.timefmt import format_datetime
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
