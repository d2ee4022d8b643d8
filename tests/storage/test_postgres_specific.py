"""What only the PostgreSQL backend has: migrations, the Citus/TimescaleDB branches, query plans, session
settings, concurrent writers of one entity, and the copy from an embedded database.

The shared API, ingest and property tests run on PostgreSQL too, through the `store` fixture; these need a
server as well and skip (or, with CI set, fail) the same way when there is none.
"""

from __future__ import annotations

import random
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from connect_readings.cli import main
from connect_readings.ingest.copy import copy_store
from connect_readings.domain.readings import Reading, parse_reading
from connect_readings.domain.timefmt import format_datetime
from connect_readings.usecases.aggregations import aggregation_total
from connect_readings.storage.postgres import (
    BRACKETS_SQL, Extensions, PostgresStore, probe_sql, detect_extensions, migrate_database, scale_out,
)
from connect_readings.storage.base import migrations
from connect_readings.storage.sqlite import SQLiteStore

from ..pg import make_postgres_store, server_url, session_database_url, with_database

T0 = 1_716_768_000_000_000  # 2024-05-27T00:00Z
MINUTE = 60_000_000


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Iterator[PostgresStore]:
    store = make_postgres_store(request)
    yield store
    store.close()


@pytest.fixture
def empty_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A brand-new database of its own (not migrated), dropped afterwards."""
    session_database_url(request.config)  # skips or fails first when the server is unusable
    name = f"connect_readings_test_{secrets.token_hex(6)}"
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield with_database(server_url(), name)
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def energy(ts: int, total: float, **more: Any) -> Reading:
    data: dict[str, Any] = {"positiveActiveEnergy": {"total": total, "unit": "kWh"}, **more}
    return parse_reading({"timestamp": format_datetime(ts), "data": data})


def gas(ts: int, value: float) -> Reading:
    return parse_reading({"timestamp": format_datetime(ts), "data": {"positiveGasVolume": {"value": value, "unit": "m3"}}})


def resets(store: PostgresStore, entity: uuid.UUID) -> list[tuple[int, int, float]]:
    with store.connection() as conn:
        rows = conn.execute('SELECT register, ts, "offset" FROM resets WHERE entity_id = %s ORDER BY register, ts',
                            (entity,))
        return [tuple(row) for row in rows.fetchall()]  # type: ignore[misc]


# -- migrations ---------------------------------------------------------------------------------------
def test_migrations_apply_once_and_are_idempotent(empty_database: str) -> None:
    latest = migrations("postgres")[-1][0]
    assert migrate_database(empty_database) == latest
    assert migrate_database(empty_database) == latest
    store = PostgresStore(empty_database)
    assert store.migrate() == latest
    store.close()
    with psycopg.connect(empty_database) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        tables = {row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert versions == [number for number, _ in migrations("postgres")]
    assert {"meta", "entities", "readings", "resets", "schema_version"} <= tables


def test_concurrent_starters_migrate_one_at_a_time(empty_database: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            PostgresStore(empty_database, min_size=1, max_size=1).close()
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (len(migrations("postgres")),)


def test_every_key_and_index_leads_with_entity_id(pg: PostgresStore) -> None:
    with pg.connection() as conn:
        rows = conn.execute("""
            SELECT t.relname, i.relname, a.attname
            FROM pg_index x
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
            WHERE t.relname IN ('entities', 'readings', 'resets')
        """).fetchall()
    assert {table for table, _, _ in rows} == {"entities", "readings", "resets"}
    assert all(column == "entity_id" for _, _, column in rows), rows


def test_timestamps_are_microsecond_bigints_and_entity_ids_uuids(pg: PostgresStore) -> None:
    with pg.connection() as conn:
        types = dict(conn.execute("""
            SELECT table_name || '.' || column_name, data_type FROM information_schema.columns
            WHERE table_name IN ('readings', 'resets', 'entities') AND column_name IN ('ts', 'entity_id')
        """).fetchall())
    assert types == {"readings.ts": "bigint", "resets.ts": "bigint", "readings.entity_id": "uuid",
                     "resets.entity_id": "uuid", "entities.entity_id": "uuid"}


# -- Citus / TimescaleDB ----------------------------------------------------------------------------------
# What scale_out does on the real engines (distribution, co-location, reference tables, routing, hypertable) is
# checked there: tests/storage/test_scaleout_engines.py, run on a Citus cluster and a TimescaleDB server by
# scripts/scaleout.sh.
class CatalogueAnswers:
    """Answers the two catalogue questions of `detect_extensions` as a server with these settings would."""

    def __init__(self, available: dict[str, bool], preload: str) -> None:
        self.available = available
        self.preload = preload
        self.rows: list[tuple[Any, ...]] = []

    def execute(self, statement: str, params: Any = None) -> CatalogueAnswers:
        if "pg_available_extensions" in statement:
            self.rows = list(self.available.items())
        elif "shared_preload_libraries" in statement:
            self.rows = [(self.preload,)]
        else:
            raise AssertionError(f"detect_extensions asked something else: {statement}")
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


def test_this_server_has_neither_extension_preloaded_so_tables_stay_plain(pg: PostgresStore) -> None:
    """Citus' and TimescaleDB's files may be installed (scripts/scaleout.sh builds them into this PostgreSQL),
    but a server that does not preload them must not use them."""
    with pg.connection() as conn:
        preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()[0]  # type: ignore[index]
        if "citus" in preload or "timescaledb" in preload:
            pytest.skip(f"this server preloads {preload!r}; tests/storage/test_scaleout_engines.py covers it")
        assert detect_extensions(conn) == Extensions(citus=False, timescaledb=False)
        with conn.transaction():
            assert scale_out(conn) == []  # nothing to do, nothing run
        installed = conn.execute(
            "SELECT extname FROM pg_extension WHERE extname IN ('citus', 'timescaledb')").fetchall()
    assert installed == []


@pytest.mark.parametrize(("available", "preload", "expected"), [
    ({}, "", Extensions(False, False)),
    ({"citus": False}, "", Extensions(False, False)),  # shipped but not preloaded: CREATE EXTENSION would fail
    ({"citus": False}, "pg_stat_statements, citus", Extensions(True, False)),
    ({"timescaledb": False}, "timescaledb", Extensions(False, True)),
    ({"timescaledb": True}, "", Extensions(False, True)),  # already installed
    ({"citus": True, "timescaledb": True}, "citus,timescaledb", Extensions(True, True)),
])
def test_detect_extensions(available: dict[str, bool], preload: str, expected: Extensions) -> None:
    assert detect_extensions(CatalogueAnswers(available, preload)) == expected  # type: ignore[arg-type]


# -- query plans --------------------------------------------------------------------------------------
@pytest.fixture
def many_readings(pg: PostgresStore) -> list[uuid.UUID]:
    """30 entities × 4,000 readings (one a minute; every 50th also has gas), then ANALYZE."""
    entities = [uuid.UUID(int=random.Random(n).getrandbits(128)) for n in range(30)]
    for entity in entities:
        batch = [energy(T0 + i * MINUTE, i * 0.01) for i in range(4_000)]
        batch += [gas(T0 + i * MINUTE + 30_000_000, i * 0.001) for i in range(0, 4_000, 50)]
        pg.ingest(entity, batch)
    with pg.connection() as conn:
        conn.execute("ANALYZE")
    return entities


def plan(store: PostgresStore, statement: str, params: dict[str, Any]) -> str:
    """The plan, with Citus' shard names (readings_102008, readings_pkey_102008) and TimescaleDB's chunk names
    (_hyper_1_2_chunk, "1_2_readings_pkey") spelled as their table's and index's own."""
    with store.connection() as conn:  # the store's own session settings
        rows = conn.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + statement, params)
        text = "\n".join(row[0] for row in rows.fetchall())
    text = re.sub(r'"\d+_\d+_(\w+)"', r"\1", text)
    text = re.sub(r"_hyper_\d+_\d+_chunk", "readings", text)
    return re.sub(r"\b(readings|resets|series)(_pkey)?_\d{6,}\b", r"\1\2", text)


def no_scans(text: str) -> None:
    """Only index seeks into readings; on Citus, whose shards of series and resets hold an entity or two each,
    their shards may be read whole (as a plain server reads a small table), and the query is one task."""
    if "Citus Adaptive" in text:
        assert "Task Count: 1" in text, text
        assert not re.search(r"(Seq Scan|Bitmap Heap Scan) on readings\b", text), text
    else:
        assert "Seq Scan" not in text and "Bitmap" not in text, text
    assert "Sort" not in text, text


def test_boundary_query_is_index_seeks_only(pg: PostgresStore, many_readings: list[uuid.UUID]) -> None:
    edges = [T0 + 5 * MINUTE + i * 15 * MINUTE for i in range(26)]
    text = plan(pg, BRACKETS_SQL, {"e": many_readings[7], "t": edges})
    assert "Index Scan Backward using readings_pkey on readings" in text
    assert "Index Scan using readings_pkey on readings" in text
    if "Citus Adaptive" not in text:
        assert "Index Scan using resets_pkey on resets" in text
    no_scans(text)
    # the two neighbour seeks per edge run once per edge, never more
    assert text.count("(actual rows=1 loops=26)") >= 2, text


def test_fallback_for_a_sparse_register_is_a_seek_not_a_scan(pg: PostgresStore, many_readings: list[uuid.UUID]) -> None:
    """Gas is on every 50th reading only: the neighbour lacks it, the nearest reading with gas is sought."""
    edges = [T0 + 7 * MINUTE + i * 60 * MINUTE for i in range(26)]
    text = plan(pg, BRACKETS_SQL, {"e": many_readings[3], "t": edges})
    no_scans(text)
    assert "One-Time Filter" in text  # the fallback seeks are gated on "the neighbour lacks it"


def test_ingest_and_read_queries_are_index_scans(pg: PostgresStore, many_readings: list[uuid.UUID]) -> None:
    entity = many_readings[11]
    lo, hi, first, last = T0 + 100 * MINUTE, T0 + 200 * MINUTE, T0, T0 + 4_000 * MINUTE
    bounds = {f"{name}_{k}": value for k in (4, 10)
              for name, value in (("first", first), ("before", lo - 1), ("after", hi + 1), ("last", last))}
    probe = plan(pg, probe_sql([4, 10], appending=False), {"e": entity, **bounds})
    page = plan(pg, "SELECT * FROM readings WHERE entity_id = %(e)s AND ts >= %(lo)s AND ts < %(hi)s ORDER BY ts "
                    "LIMIT 1000", {"e": entity, "lo": T0, "hi": T0 + 10_000 * MINUTE})
    for text in (probe, page):
        assert "Seq Scan" not in text and "Bitmap" not in text and "Sort" not in text, text
        assert "readings_pkey" in text


def test_session_settings(request: pytest.FixtureRequest) -> None:
    store = PostgresStore(session_database_url(request.config), busy_timeout_s=0.2)
    try:
        with store.connection() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("200ms",)
            assert conn.execute("SHOW jit").fetchone() == ("off",)
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute("SELECT pg_sleep(2)")
    finally:
        store.close()


# -- semantics that lean on PostgreSQL specifics ------------------------------------------------------------
def test_reset_between_a_sparse_neighbour_and_the_next_reading_is_counted(pg: PostgresStore) -> None:
    """00:00 10 kWh; 00:20 gas only; 00:30 2 kWh (a reset). R(00:15) interpolates 10 → 12 (continuous)."""
    entity = uuid.uuid4()
    pg.ingest(entity, [energy(T0, 10), gas(T0 + 20 * MINUTE, 1), energy(T0 + 30 * MINUTE, 2)])
    total = aggregation_total(pg, entity, T0, T0 + 15 * MINUTE)
    assert total["positiveActiveEnergy"]["total"] == 1.0


def test_extra_metrics_come_back_verbatim(pg: PostgresStore) -> None:
    """json (not jsonb): metric order, field order and number spelling of instantaneous metrics survive the round
    trip (fields in the parser's order: phases, total, value, unit)."""
    entity = uuid.uuid4()
    power = {"total": 1.5e-7, "l3": 0.1, "l1": 2.0, "unit": "kW"}  # (an exponent: spelled as orjson spells it)
    reading = parse_reading({"timestamp": format_datetime(T0), "data": {
        "zeta": {"value": 3.0}, "positiveActivePower": power}})
    pg.ingest(entity, [reading])  # append path (COPY straight into readings)
    pg.ingest(entity, [reading, energy(T0 + MINUTE, 1)])  # upsert path (staging table)
    [stored, _] = pg.readings(entity, T0, T0 + 2 * MINUTE, 10)
    assert list(stored.data) == ["zeta", "positiveActivePower"]
    assert list(stored.data["positiveActivePower"]) == ["l1", "l3", "total", "unit"]
    assert stored.data["positiveActivePower"]["total"] == 1.5e-7 and isinstance(stored.data["positiveActivePower"]["total"], float)


def test_concurrent_batches_of_one_entity_serialise(pg: PostgresStore) -> None:
    """Overlapping batches from many threads: the resets side table ends as if the final data came in one go."""
    entity, reference = uuid.uuid4(), uuid.uuid4()
    rng = random.Random(5)
    stamps = [T0 + m * MINUTE for m in range(200)]
    batches = [[energy(ts, rng.choice([rng.uniform(0, 100), rng.uniform(0, 2)])) for ts in rng.sample(stamps, 40)]
               for _ in range(24)]
    errors: list[BaseException] = []

    def write(chunk: list[list[Reading]]) -> None:
        try:
            for batch in chunk:
                pg.ingest(entity, batch)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(batches[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    final = pg.readings(entity, T0, T0 + 300 * MINUTE, 1_000)
    pg.ingest(reference, [energy(r.ts, r.data["positiveActiveEnergy"]["total"]) for r in final])
    assert resets(pg, entity) == resets(pg, reference)


def test_snapshot_pins_one_read_transaction(pg: PostgresStore) -> None:
    entity = uuid.uuid4()
    pg.ingest(entity, [energy(T0, 1), energy(T0 + MINUTE, 2)])
    with pg.snapshot():
        before = pg.readings(entity, T0, T0 + 10 * MINUTE, 10)
        writer = threading.Thread(target=pg.ingest, args=(entity, [energy(T0 + 2 * MINUTE, 3)]))
        writer.start()
        writer.join()
        assert pg.readings(entity, T0, T0 + 10 * MINUTE, 10) == before  # the concurrent batch is not seen
        assert pg.last_reading(entity).ts == T0 + MINUTE  # type: ignore[union-attr]
    assert pg.last_reading(entity).ts == T0 + 2 * MINUTE  # type: ignore[union-attr]


# -- copy from an embedded database ---------------------------------------------------------------------------
def embedded(path: Path) -> tuple[SQLiteStore, list[uuid.UUID]]:
    store = SQLiteStore(str(path))
    entities = [uuid.UUID(int=n + 1) for n in range(3)]
    rng = random.Random(3)
    for n, entity in enumerate(entities):
        value, batch = 0.0, []
        for i in range(1_234 * (n + 1)):
            value = rng.uniform(0, 1) if rng.random() < 0.01 else value + rng.uniform(0, 1)  # with resets
            more = {"instantaneousVoltage": {"l1": 230.5, "unit": "V"}} if i % 7 == 0 else {}
            batch.append(energy(T0 + i * MINUTE, value, **more))
            if i % 13 == 0:
                batch.append(gas(T0 + i * MINUTE + 1, i / 100))
        store.ingest(entity, batch)
    store.meta_value("jwt_secret", "embedded-secret")
    store.meta_value("paging_key", "embedded-paging-key")
    return store, entities


def same_contents(a: Any, b: Any, entities: list[uuid.UUID]) -> None:
    edges = [T0 + i * 97 * MINUTE for i in range(60)]
    for entity in entities:
        assert a.readings(entity, -(2**63), 2**63 - 1, 100_000) == b.readings(entity, -(2**63), 2**63 - 1, 100_000)
        assert a.register_brackets(entity, edges) == b.register_brackets(entity, edges)


def test_copy_is_complete_and_idempotent(pg: PostgresStore, tmp_path: Path) -> None:
    source, entities = embedded(tmp_path / "embedded.db")
    seen: list[int] = []
    first = copy_store(source, pg, batch=500, progress=seen.append)
    assert (first.entities, first.readings, first.replaced) == (3, sum(seen), 0)
    assert first.meta_copied == ["jwt_secret", "paging_key"] and first.meta_conflicts == []
    same_contents(source, pg, entities)
    with pg.connection() as conn:
        resets_before = conn.execute('SELECT * FROM resets ORDER BY entity_id, ts, register').fetchall()
    again = copy_store(source, pg, batch=700)
    assert again.readings == again.replaced == first.readings
    same_contents(source, pg, entities)
    with pg.connection() as conn:
        assert conn.execute('SELECT * FROM resets ORDER BY entity_id, ts, register').fetchall() == resets_before
    assert pg.meta_value("jwt_secret", "x") == "embedded-secret"
    source.close()


def test_copy_keeps_a_different_signing_key_of_the_target(pg: PostgresStore, tmp_path: Path) -> None:
    source, _ = embedded(tmp_path / "embedded.db")
    pg.meta_value("jwt_secret", "the-target-had-its-own")
    report = copy_store(source, pg)
    assert report.meta_conflicts == ["jwt_secret"] and report.meta_copied == ["paging_key"]
    assert pg.meta_value("jwt_secret", "x") == "the-target-had-its-own"
    source.close()


def test_cli_migrate_and_copy(empty_database: str, tmp_path: Path) -> None:
    source, entities = embedded(tmp_path / "embedded.db")
    source.close()
    runner = CliRunner()
    result = runner.invoke(main, ["migrate", "--database", empty_database])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"schema version {migrations('postgres')[-1][0]}"
    for _ in range(2):
        result = runner.invoke(main, ["copy", "--from", str(tmp_path / "embedded.db"), "--to", empty_database])
        assert result.exit_code == 0, result.output
        assert "of 3 entities" in result.output
    target = PostgresStore(empty_database)
    source = SQLiteStore(str(tmp_path / "embedded.db"))
    try:
        same_contents(source, target, entities)
    finally:
        target.close()
        source.close()
    refused = runner.invoke(main, ["copy", "--from", str(tmp_path / "embedded.db"), "--to", str(tmp_path / "x.db")])
    assert refused.exit_code != 0 and "postgresql://" in refused.output


def test_entity_without_registers_upserts(pg: PostgresStore) -> None:
    entity = uuid.uuid4()
    voltage = [parse_reading({"timestamp": format_datetime(T0 + i * MINUTE), "data": {
        "instantaneousVoltage": {"l1": 230.0 + i, "unit": "V"}}}) for i in range(5)]
    assert pg.ingest(entity, voltage).written == 5
    result = pg.ingest(entity, voltage[1:3])  # overlapping: the upsert path
    assert (result.written, result.replaced) == (2, 2)
    assert len(pg.readings(entity, T0, T0 + 10 * MINUTE, 10)) == 5
    assert resets(pg, entity) == []
