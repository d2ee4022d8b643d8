"""TimescaleDB's native compression of old readings (CONNECT_READINGS_TIMESCALEDB_COMPRESS_AFTER_DAYS;
docs/postgresql.md, "Compression"), on the real engine.

1. The setting: `migrate` turns on the columnstore (segmented by entity_id, ordered by ts), gives the hypertable an
   integer "now" and adds a compression policy; idempotent; another age replaces the policy, 0 removes it, unset
   leaves it as it is; the policy's job, run now, compresses the chunks older than the age and no other.
2. Late data on compressed chunks: the same operations (readings of two entities over five weekly chunks, the
   chunks compressed with compress_chunk, then late readings into a compressed chunk, replaced readings there, a
   batch across two chunks, a meter reset written late, recompression, an entity deleted) on a compressed
   database and on witnesses that never compress (SQLite, and the test server's session database: on
   scripts/scaleout.sh's TimescaleDB an uncompressed hypertable), after each step the same requests answered
   through the API on each: readings pages, 15-minute and daily aggregations, statistics (gauges, peak demand,
   quality marks), the last reading, totals. Every answer must be equal, byte for byte of its JSON.

They run on a TimescaleDB test server (scripts/scaleout.sh; CONNECT_READINGS_TEST_POSTGRES_URL) in a database of
their own, and skip elsewhere, saying why; on a server without TimescaleDB the setting is checked to change
nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.domain.readings import Reading, parse_reading
from connect_readings.domain.timefmt import format_datetime
from connect_readings.storage.base import Store
from connect_readings.storage.postgres import DAY_US, NOW_FUNC, PostgresStore, scale_out
from connect_readings.storage.sqlite import SQLiteStore

from ..conftest import SECRET, ApiClient
from ..pg import TABLES, make_postgres_store, new_database, server_url

MINUTE = 60_000_000
DAY = 1_440 * MINUTE
WEEK = 7 * DAY
T0 = 1_716_422_400_000_000  # 2024-05-23T00:00Z, a Thursday: a chunk's start (chunks: weeks from the epoch, a Thursday)
A = uuid.UUID("0b7f5f0e-3a55-4f43-9f0e-6f6f1d6c2a01")
B = uuid.UUID("0b7f5f0e-3a55-4f43-9f0e-6f6f1d6c2a02")
HOW = "run scripts/scaleout.sh, or point CONNECT_READINGS_TEST_POSTGRES_URL at a server with it"


def has_timescaledb(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb') "
                            "AND NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')").fetchone()[0]  # type: ignore[index]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A database of this module's own, migrated with the setting on (30 days): the session database's other
    tests must keep seeing a hypertable without compression."""
    with new_database("connect_readings_compress") as url:
        PostgresStore(url, max_size=1, compress_after_days=30).close()
        if not has_timescaledb(url):
            pytest.skip(f"the test server ({server_url()}) has no TimescaleDB; {HOW}")
        yield url


@pytest.fixture
def compressed(database: str) -> Iterator[PostgresStore]:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(TABLES))
    store = PostgresStore(database, min_size=1, max_size=4)  # the setting unset: the policy is left as it is
    yield store
    store.close()


def sql(store: PostgresStore, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    with store.connection() as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def policy(store: PostgresStore) -> list[tuple[Any, ...]]:
    return sql(store, "SELECT (config->>'compress_after')::bigint FROM timescaledb_information.jobs "
                      "WHERE proc_name = 'policy_compression' AND hypertable_name = 'readings'")


def chunks(store: PostgresStore) -> dict[int, str]:
    """Chunk start (µs) → 'plain', 'compressed' or 'partial' (compressed, with rows written since)."""
    rows = sql(store, "SELECT d.range_start, c.status FROM _timescaledb_catalog.chunk c "
                      "JOIN _timescaledb_catalog.chunk_constraint cc ON cc.chunk_id = c.id "
                      "JOIN _timescaledb_catalog.dimension_slice d ON d.id = cc.dimension_slice_id "
                      "JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id "
                      "WHERE h.table_name = 'readings' AND NOT c.dropped")
    return {start: "partial" if status & 8 else "compressed" if status & 1 else "plain" for start, status in rows}


def compress_all(store: PostgresStore) -> None:
    """compress_chunk on every chunk: a plain one is compressed, a partial one has its new rows recompressed in."""
    sql(store, "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('readings') c")


# -- 1. the setting ----------------------------------------------------------------------------------------------
def test_the_setting_turns_compression_and_its_policy_on_idempotently(compressed: PostgresStore, database: str) -> None:
    assert sql(compressed, "SELECT segmentby, orderby FROM timescaledb_information.hypertable_columnstore_settings "
                           "WHERE hypertable::text = 'readings'") == [("entity_id", "ts")]
    assert sql(compressed, "SELECT integer_now_func::text FROM timescaledb_information.dimensions "
                           "WHERE hypertable_name = 'readings'") == [(NOW_FUNC,)]
    assert policy(compressed) == [(30 * DAY_US,)]
    with psycopg.connect(database, autocommit=True) as conn:
        assert scale_out(conn, compress_after_days=30) == ["CREATE EXTENSION IF NOT EXISTS timescaledb"]
        assert scale_out(conn) == ["CREATE EXTENSION IF NOT EXISTS timescaledb"]  # unset: left as it is
        assert scale_out(conn, compress_after_days=45)[1:] == [
            "SELECT remove_compression_policy('readings', if_exists => true)",
            f"SELECT add_compression_policy('readings', compress_after => {45 * DAY_US}::bigint)"]
        assert policy(compressed) == [(45 * DAY_US,)]
        assert scale_out(conn, compress_after_days=0)[1:] == [
            "SELECT remove_compression_policy('readings', if_exists => true)"]
        assert policy(compressed) == []
        assert scale_out(conn, compress_after_days=0) == ["CREATE EXTENSION IF NOT EXISTS timescaledb"]
        assert sql(compressed, "SELECT compression_enabled FROM timescaledb_information.hypertables "
                               "WHERE hypertable_name = 'readings'") == [(True,)]  # off: compressed chunks stay
        assert scale_out(conn, compress_after_days=30)[1:] == [
            f"SELECT add_compression_policy('readings', compress_after => {30 * DAY_US}::bigint)"]
    assert policy(compressed) == [(30 * DAY_US,)]


def test_the_policy_compresses_the_chunks_older_than_its_age(compressed: PostgresStore) -> None:
    """The policy's job, run now rather than waited for: the weeks of 2024 are compressed, this week's chunk not
    (the hypertable's integer now is the wall clock in µs)."""
    now = int(sql(compressed, f"SELECT {NOW_FUNC}()")[0][0])
    compressed.ingest(A, [energy(T0 + i * 60 * MINUTE, i) for i in range(24 * 14)])  # two weeks of 2024
    compressed.ingest(A, [energy(now - 60 * MINUTE, 10_000.0)])  # and a reading of now
    assert set(chunks(compressed).values()) == {"plain"}
    job = sql(compressed, "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression' "
                          "AND hypertable_name = 'readings'")[0][0]
    sql(compressed, f"CALL run_job({job})")
    states = chunks(compressed)
    recent = max(states)
    assert states.pop(recent) == "plain" and recent <= now < recent + WEEK
    assert set(states.values()) == {"compressed"} and len(states) >= 2
    assert len(compressed.readings(A, T0, now, 10_000)) == 24 * 14 + 1


def test_the_setting_is_read_and_checked() -> None:
    name = "CONNECT_READINGS_TIMESCALEDB_COMPRESS_AFTER_DAYS"
    assert Settings.from_env({}).timescaledb_compress_after_days is None
    assert Settings.from_env({name: "30"}).timescaledb_compress_after_days == 30
    assert Settings.from_env({name: "30"}, timescaledb_compress_after_days=0).timescaledb_compress_after_days == 0
    with pytest.raises(ValueError, match="must be 0"):
        Settings.from_env({name: "-1"})
    with pytest.raises(ValueError, match="not a valid int"):
        Settings.from_env({name: "a month"})


def test_without_timescaledb_the_setting_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with new_database("connect_readings_nocompress") as url:
        with caplog.at_level(logging.WARNING, "connect_readings.storage"):
            PostgresStore(url, max_size=1, compress_after_days=30).close()
        if has_timescaledb(url):
            pytest.skip("the test server has TimescaleDB: covered by the tests above")
        assert "needs TimescaleDB" in caplog.text
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM pg_proc WHERE proname = %s", (NOW_FUNC,)).fetchone() == (0,)


# -- 2. late data on compressed chunks, against witnesses that never compress --------------------------------------
def energy(ts: int, total: float) -> Reading:
    return parse_reading({"timestamp": format_datetime(ts),
                          "data": {"positiveActiveEnergy": {"total": total, "unit": "kWh"}}})


def reading(ts: int, n: float, *, gas: bool = True, scale: float = 1.0) -> Reading:
    """Two tariffs and their total, gas every 4th, voltage every 3rd, a quality mark every 50th (kept in `extra`)."""
    k = round(n)
    data: dict[str, Any] = {"positiveActiveEnergy": {"t1": scale * (100.0 + n), "t2": scale * (50.0 + n / 2),
                                                    "total": scale * (150.0 + 1.5 * n), "unit": "kWh"}}
    if gas and k % 4 == 0:
        data["positiveGasVolume"] = {"value": 10.0 + n / 10, "unit": "m3"}
    if k % 3 == 0:
        data["instantaneousVoltage"] = {"l1": 230.0 + k % 7, "unit": "V"}
    if k % 50 == 0:
        data["quality"] = {"value": 1, "unit": "Geschat"}
    return parse_reading({"timestamp": format_datetime(ts), "data": data})


STEP = 5 * MINUTE
WEEKS = 5


def history() -> dict[uuid.UUID, list[Reading]]:
    """Five weeks every 5 minutes (2,016 readings a chunk and entity: three compressed batches of ≤ 1,000)."""
    n = WEEKS * WEEK // STEP
    return {A: [reading(T0 + i * STEP, i / 10) for i in range(n)],
            B: [reading(T0 + i * STEP + 2 * MINUTE, i / 20) for i in range(n)]}


def operations() -> list[tuple[str, list[tuple[uuid.UUID, list[Reading]]]]]:
    """The late batches, step by step (week k is T0 + k × WEEK, a chunk of its own)."""
    week1, week2, week3 = T0 + WEEK, T0 + 2 * WEEK, T0 + 3 * WEEK
    return [
        ("late readings between stored ones, week 1",
         [(A, [reading(week1 + i * STEP + 150_000_000, 201.6 + i / 10 + 0.05) for i in range(300)])]),
        ("readings replaced, week 2 (a third of them without gas: that register is gone there)",
         [(A, [reading(week2 + i * STEP, 403.2 + i / 10, gas=i % 3 != 0) for i in range(0, 600, 2)]),
          (B, [reading(week2 + i * STEP + 2 * MINUTE, 201.6 + i / 20 + 0.01) for i in range(100)])]),
        ("one batch across weeks 2 and 3, replacing and adding",
         [(A, [reading(week3 - 100 * STEP + i * 150_000_000, 604.8 - 10 + i / 20) for i in range(400)])]),
        ("a meter reset written late, week 1: every later value drops",
         [(A, [reading(week1 + 1000 * STEP + i * STEP, 0.5 + i / 10, scale=0.01) for i in range(40)])]),
    ]


QUERIES: list[tuple[str, dict[str, str]]] = [
    ("readings", {"start": "2024-06-12T20:00:00Z", "end": "2024-06-13T04:00:00Z", "pageSize": "1000"}),
    ("readings", {"start": "2024-06-03T00:00:00Z", "end": "2024-06-05T00:00:00Z", "pageSize": "200"}),
    ("readings/last", {}),
    ("aggregations", {"start": "2024-05-30T00:00:00Z", "end": "2024-06-14T00:00:00Z", "resolution": "15 minutes",
                      "pageSize": "1440", "timeZone": "UTC"}),
    ("aggregations", {"start": "2024-05-23", "end": "2024-06-27", "resolution": "1 day", "pageSize": "100",
                      "timeZone": "Europe/Brussels"}),
    ("aggregations/total", {"start": "2024-05-23T00:00:00Z", "end": "2024-06-27T00:00:00Z"}),
    ("statistics", {"start": "2024-05-23", "end": "2024-06-27", "resolution": "1 day", "timeZone": "Europe/Brussels",
                    "pageSize": "100",
                    "metrics": "positiveActiveEnergy,instantaneousVoltage,quality"}),
    ("statistics", {"start": "2024-06-03T00:00:00Z", "end": "2024-06-05T00:00:00Z", "resolution": "1 hour",
                    "pageSize": "100", "metrics": "positiveActiveEnergy,instantaneousVoltage,quality"}),
]


def answers(client: ApiClient, entities: tuple[uuid.UUID, ...]) -> dict[str, Any]:
    """Per request: its status and the data of every page (links.next followed; the continuation tokens
    themselves differ, signed with each database's own key)."""
    found: dict[str, Any] = {}
    for entity in entities:
        for path, params in QUERIES:
            response = client.get(f"/v1/entities/{entity}/{path}", params=params)
            body = response.json()
            pages = [body.get("data", body)]
            while response.status_code == 200 and (body.get("links") or {}).get("next"):
                response = client.get(body["links"]["next"])
                body = response.json()
                pages.append(body["data"])
            found[f"{entity} {path} {params}"] = (response.status_code, orjson.dumps(pages))
    return found


def same_answers(clients: dict[str, ApiClient], entities: tuple[uuid.UUID, ...], step: str) -> None:
    """Every stored reading alike (read from the stores), then the API's answers."""
    for entity in entities:
        stored = {name: client.app.state.api.store.readings(entity, T0, T0 + WEEKS * WEEK, 100_000)
                  for name, client in clients.items()}
        expected_readings = stored.pop("compressed")
        for name, other in stored.items():
            assert other == expected_readings, f"{step}: the stored readings of {entity}: compressed ≠ {name}"
    got = {name: answers(client, entities) for name, client in clients.items()}
    expected = got.pop("compressed")
    failed = {key: body[:300] for key, (status, body) in expected.items() if status != 200}
    assert not failed, (step, failed)
    for name, other in got.items():
        for key, value in expected.items():
            if other[key] != value:
                at = next((i for i, (x, y) in enumerate(zip(other[key][1], value[1])) if x != y), 0)
                raise AssertionError(f"{step}: {key}: compressed ≠ {name} at byte {at}: "
                                     f"{value[1][max(0, at - 200):at + 100]!r} ≠ "
                                     f"{other[key][1][max(0, at - 200):at + 100]!r}")


@pytest.fixture
def witnesses(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Store]]:
    stores: dict[str, Store] = {}
    try:
        stores["uncompressed"] = make_postgres_store(request)  # the session database: never compressed
        stores["sqlite"] = SQLiteStore(str(tmp_path / "witness.db"))
        yield stores
    finally:
        for store in stores.values():
            store.close()


def test_late_and_replaced_readings_on_compressed_chunks_answer_as_without_compression(
        compressed: PostgresStore, witnesses: dict[str, Store]) -> None:
    stores: dict[str, Store] = {"compressed": compressed, **witnesses}
    settings = Settings(database="unused", jwt_secret=SECRET, page_cache_mib=0)
    with ExitStack() as stack:
        clients = {name: stack.enter_context(ApiClient(create_app(settings, store))) for name, store in stores.items()}
        late_data_on_compressed_chunks(compressed, stores, clients)


def late_data_on_compressed_chunks(compressed: PostgresStore, stores: dict[str, Store],
                                   clients: dict[str, ApiClient]) -> None:

    def ingest(batches: list[tuple[uuid.UUID, list[Reading]]]) -> None:
        for entity, readings in batches:
            results = {name: store.ingest(entity, readings) for name, store in stores.items()}
            assert len(set(results.values())) == 1, results  # written / replaced counted alike

    for entity, readings in history().items():
        for i in range(0, len(readings), 5_000):
            ingest([(entity, readings[i:i + 5_000])])
    compress_all(compressed)
    states = chunks(compressed)
    assert len(states) == WEEKS and set(states.values()) == {"compressed"}, states
    same_answers(clients, (A, B), "compressed")

    for step, batches in operations():
        ingest(batches)
        same_answers(clients, (A, B), step)
    states = chunks(compressed)
    assert [states[T0 + k * WEEK] for k in range(WEEKS)] == ["compressed", "partial", "partial", "partial",
                                                            "compressed"], states  # written into, not decompressed

    compress_all(compressed)  # the new rows recompressed in
    assert set(chunks(compressed).values()) == {"compressed"}
    same_answers(clients, (A, B), "recompressed")

    ingest([(A, [reading(T0 + 2 * WEEK + i * STEP, 403.2 + i / 10 + 0.02) for i in range(1_000, 1_010)])])
    same_answers(clients, (A, B), "replaced again after recompression")
    for name, store in stores.items():
        assert store.delete_entity(B) is not None, name  # its rows in compressed chunks too
    assert clients["compressed"].get(f"/v1/entities/{B}/readings/last").status_code == 404
    assert sql(compressed, "SELECT count(*) FROM readings WHERE entity_id = %s", (B,)) == [(0,)]
    same_answers(clients, (A,), "an entity deleted")
    counts = {name: store.reading_count() for name, store in stores.items()}
    assert len(set(counts.values())) == 1, counts
