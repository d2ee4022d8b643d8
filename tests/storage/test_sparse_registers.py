"""Rare registers (semantics.md §5): "the nearest reading that has register k" stays a seek.

Each entity keeps per-register series bounds (`series`: first_ts/last_ts, maintained at ingest, never
shrinking); every fallback seek runs inside them. These tests check that the answers are exactly those of an
oracle and of an entity without the rare readings (bounds are an optimisation, never a change of meaning), that
the bounds survive replaced readings and late out-of-order data, that migration 0002 backfills them, and that a
page over a long history with one rare reading costs a bounded amount of work (counted, not timed).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from connect_readings.domain.readings import REGISTER_COUNT, Reading, parse_reading
from connect_readings.domain.registers import Bracket
from connect_readings.domain.timefmt import format_datetime
from connect_readings.storage.base import REGISTER_INDEX, Store, migrations
from connect_readings.storage.sqlite import SQLiteStore, _statements

from ..conftest import ApiClient

T0 = 1_717_200_000_000_000  # 2024-06-01T00:00:00Z, µs
MINUTE = 60_000_000
A = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
B = uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")

TOTAL, T1, T2 = 4, 0, 1  # positiveActiveEnergy total / t1 / t2 columns
GAS = 10  # positiveGasVolume


def reading(ts: int, total: float | None = None, t1: float | None = None, t2: float | None = None,
            gas: float | None = None) -> Reading:
    data: dict[str, Any] = {}
    if total is not None or t1 is not None or t2 is not None:
        register: dict[str, Any] = {"unit": "kWh"}
        for name, value in (("total", total), ("t1", t1), ("t2", t2)):
            if value is not None:
                register[name] = value
        data["positiveActiveEnergy"] = register
    if gas is not None:
        data["positiveGasVolume"] = {"value": gas, "unit": "m3"}
    return parse_reading({"timestamp": format_datetime(ts), "data": data})


def meter(n: int, step: int = 15 * MINUTE, start: int = T0) -> list[Reading]:
    """An energy meter (total and t1 on every reading), increasing: no resets."""
    return [reading(start + i * step, total=i * 0.25, t1=i * 0.1) for i in range(n)]


def oracle(readings: Sequence[Reading], instants: Sequence[int]) -> list[list[Bracket]]:
    """Last-wins per timestamp; per register the nearest reading at/before and at/after having it (raw values,
    the data here have no resets)."""
    final = sorted({r.ts: r for r in readings}.values(), key=lambda r: r.ts)
    result: list[list[Bracket]] = []
    for k in range(REGISTER_COUNT):
        having = [(r.ts, r.registers[k]) for r in final if r.registers[k] is not None]
        brackets: list[Bracket] = []
        for t in instants:
            before = [s for s in having if s[0] <= t]
            after = [s for s in having if s[0] >= t]
            brackets.append((before[-1] if before else None, after[0] if after else None))  # type: ignore[arg-type]
        result.append(brackets)
    return result


def instants_around(readings: Sequence[Reading], extra: Sequence[int] = ()) -> list[int]:
    stamps = sorted({r.ts for r in readings})
    points = {stamps[0] - MINUTE, stamps[-1] + MINUTE, *extra}
    for ts in stamps:
        points.update((ts - 1, ts, ts + 1))
    return sorted(points)


def series_bounds(store: Store, entity: uuid.UUID) -> dict[int, tuple[int, int]]:
    if isinstance(store, SQLiteStore):
        rows = store.db.execute("SELECT register, first_ts, last_ts FROM series WHERE entity_id = ?", (entity.bytes,))
        return {REGISTER_INDEX[name]: (first, last) for name, first, last in rows}
    with store.connection() as conn:  # type: ignore[attr-defined]
        rows = conn.execute("SELECT register, first_ts, last_ts FROM series WHERE entity_id = %s", (entity,))
        return {REGISTER_INDEX[name]: (first, last) for name, first, last in rows.fetchall()}


def registers_having(readings: Sequence[Reading]) -> dict[int, tuple[int, int]]:
    final = {r.ts: r for r in readings}.values()
    bounds: dict[int, tuple[int, int]] = {}
    for r in final:
        for k, value in enumerate(r.registers):
            if value is not None:
                first, last = bounds.get(k, (r.ts, r.ts))
                bounds[k] = (min(first, r.ts), max(last, r.ts))
    return bounds


# -- correctness ---------------------------------------------------------------------------------------------
def test_rare_registers_match_the_oracle_and_leave_other_registers_unchanged(store: Store) -> None:
    energy = meter(400)
    rare = [
        reading(T0 + 3 * MINUTE, gas=5.0),  # a gas-only reading between two energy readings
        reading(T0 + 300 * 15 * MINUTE + 7 * MINUTE, gas=6.5),
        reading(T0 + 10 * 15 * MINUTE, total=2.5, t1=1.0, t2=0.5),  # a tier sent once by mistake
        reading(T0 + 399 * 15 * MINUTE, total=399 * 0.25, t1=399 * 0.1, t2=0.75),  # …and once more
    ]
    store.ingest(A, energy + rare)
    store.ingest(B, energy)
    instants = instants_around(energy + rare, extra=[T0 + i * 37 * MINUTE for i in range(170)])
    got = store.register_brackets(A, instants)
    assert got == oracle(energy + rare, instants)
    plain = store.register_brackets(B, instants)
    for k in (TOTAL, T1):  # the rare readings change nothing for the registers they lack or repeat
        assert got[k] == plain[k]
    assert series_bounds(store, A) == registers_having(energy + rare)


def test_single_rare_reading_far_from_the_page(store: Store) -> None:
    """One gas reading at the start of a long history: edges after it find it; edges before it find nothing."""
    history = meter(2_000, step=MINUTE)
    gas = reading(T0 + 30 * MINUTE + 1, gas=1.0)
    store.ingest(A, [gas])
    for i in range(0, len(history), 500):
        store.ingest(A, history[i:i + 500])
    instants = [T0 - MINUTE, T0, T0 + 30 * MINUTE, T0 + 30 * MINUTE + 1, T0 + 31 * MINUTE,
                *(T0 + i * 13 * MINUTE + 7 for i in range(150))]
    assert store.register_brackets(A, instants) == oracle(history + [gas], instants)


def test_aggregations_with_rare_registers_match_an_entity_without_them(client: ApiClient) -> None:
    def post(entity: uuid.UUID, items: list[dict[str, Any]]) -> None:
        assert client.ingest(entity, items).status_code == 200

    def energy(minute: int, total: float, **more: Any) -> dict[str, Any]:
        return {"timestamp": format_datetime(T0 + minute * MINUTE),
                "data": {"positiveActiveEnergy": {"total": total, "t1": total / 2, "unit": "kWh", **more}}}

    base = [energy(15 * i, i * 0.25) for i in range(200)]
    post(B, base)
    post(A, base)
    def gas_only(minute: int, value: float) -> dict[str, Any]:
        return {"timestamp": format_datetime(T0 + minute * MINUTE),
                "data": {"positiveGasVolume": {"value": value, "unit": "m3"}}}

    post(A, [gas_only(20, 3.0), gas_only(2000, 9.0)])
    params = {"start": format_datetime(T0), "end": format_datetime(T0 + 3000 * MINUTE), "resolution": "1 hour",
              "pageSize": "200"}
    a = client.get(f"/v1/entities/{A}/aggregations", params=params).json()["data"]
    b = client.get(f"/v1/entities/{B}/aggregations", params=params).json()["data"]
    assert [x["timeframe"] for x in a] == [x["timeframe"] for x in b]
    for x, y in zip(a, b):
        assert x["data"]["positiveActiveEnergy"] == y["data"]["positiveActiveEnergy"]
    gas = {x["timeframe"]["start"]: x["data"]["positiveGasVolume"]["value"]
           for x in a if "positiveGasVolume" in x["data"]}
    # 6 m3 spread evenly over 1980 minutes: 60/1980 of it per full hour, the clipped first and last hours less
    assert len(gas) == 34
    assert sum(gas.values()) == pytest.approx(6.0)
    assert gas[format_datetime(T0 + 60 * MINUTE)] == pytest.approx(6.0 * 60 / 1980)
    assert gas[format_datetime(T0)] == pytest.approx(6.0 * 40 / 1980)
    total = client.get(f"/v1/entities/{A}/aggregations/total", params={"start": params["start"], "end": params["end"]})
    assert total.json()["data"]["positiveGasVolume"]["value"] == pytest.approx(6.0)


def test_replaced_readings_dropping_a_register(store: Store) -> None:
    """Bounds never shrink: after the rare readings are replaced without the register, they are stale but
    conservative, and the answers are those of an entity that only ever had the final readings."""
    energy = meter(300)
    with_gas = [reading(r.ts, total=r.registers[TOTAL], t1=r.registers[T1], gas=float(i))
                for i, r in enumerate(energy) if i in (5, 150, 290)]
    store.ingest(A, energy)
    store.ingest(A, with_gas)
    assert series_bounds(store, A)[GAS] == (with_gas[0].ts, with_gas[-1].ts)
    store.ingest(A, [energy[5], energy[290]])  # replaced: the first and last gas readings lose gas
    final = energy[:150] + [with_gas[1]] + energy[151:]
    store.ingest(B, final)
    instants = instants_around(final, extra=[T0 + i * 29 * MINUTE for i in range(160)])
    got = store.register_brackets(A, instants)
    assert got == oracle(final, instants) == store.register_brackets(B, instants)
    assert series_bounds(store, A)[GAS] == (with_gas[0].ts, with_gas[-1].ts)  # conservative, wider than B's
    assert series_bounds(store, B)[GAS] == (with_gas[1].ts, with_gas[1].ts)
    store.ingest(A, [energy[150]])  # now no reading has gas at all: every fallback finds nothing
    assert all(pair == (None, None) for pair in store.register_brackets(A, instants)[GAS])


def test_replaced_readings_keep_resets_of_a_sparse_register(store: Store) -> None:
    """A decrease of the sparse register across replaced readings is a reset, exactly as without bounds."""
    energy = meter(200)
    gas = [reading(T0 + (i * 40 + 7) * MINUTE, gas=v) for i, v in enumerate([10.0, 12.0, 3.0, 5.0])]
    store.ingest(A, energy + gas)
    store.ingest(A, [reading(gas[1].ts, gas=1.0)])  # now 10 -> 1 is a reset, 1 -> 3 is not
    store.ingest(A, [energy[40], energy[41]])  # replaced energy-only readings in the middle
    final = energy + [gas[0], reading(gas[1].ts, gas=1.0), gas[2], gas[3]]
    store.ingest(B, sorted(final, key=lambda r: r.ts))
    instants = instants_around(final, extra=[T0 + i * 11 * MINUTE for i in range(300)])
    assert store.register_brackets(A, instants) == store.register_brackets(B, instants)


def test_late_out_of_order_rare_readings(store: Store) -> None:
    energy = meter(500)
    store.ingest(A, energy)
    assert GAS not in series_bounds(store, A)
    everything = list(energy)
    for ts, value in ((T0 + 250 * 15 * MINUTE + 1, 4.0),  # first gas ever, in the middle of the history
                      (T0 + 400 * 15 * MINUTE, 6.0),      # on an existing energy reading: replaces it
                      (T0 + 10 * 15 * MINUTE - 1, 1.0),   # before the bounds
                      (T0 + 600 * 15 * MINUTE, 9.0),      # after everything (appending)
                      (T0 + 300 * 15 * MINUTE + 5, 5.0)):  # inside the bounds
        late = reading(ts, gas=value)
        store.ingest(A, [late])
        everything = [r for r in everything if r.ts != ts] + [late]
        instants = instants_around(everything, extra=[T0 + i * 23 * MINUTE for i in range(420)])
        assert store.register_brackets(A, instants) == oracle(everything, instants)
        assert series_bounds(store, A) == registers_having(everything)


# -- migration -----------------------------------------------------------------------------------------------
ROWS = [  # (entity, ts, {column: value})
    (A, T0, {TOTAL: 1.0, T1: 0.5}), (A, T0 + MINUTE, {TOTAL: 2.0}), (A, T0 + 2 * MINUTE, {GAS: 7.0}),
    (A, T0 + 3 * MINUTE, {TOTAL: 3.0, GAS: 8.0}), (A, T0 + 9 * MINUTE, {TOTAL: 4.0}),
    (B, T0 + 5 * MINUTE, {T2: 1.0}),
]
MASKS = {entity: sum({1 << k for e, _, values in ROWS if e == entity for k in values}) for entity in (A, B)}
EXPECTED = {A: {TOTAL: (T0, T0 + 9 * MINUTE), T1: (T0, T0), GAS: (T0 + 2 * MINUTE, T0 + 3 * MINUTE)},
            B: {T2: (T0 + 5 * MINUTE, T0 + 5 * MINUTE)}}


def _row(entity: uuid.UUID, ts: int, values: dict[int, float], eid: Any) -> tuple[Any, ...]:
    return (eid, ts, *(values.get(k) for k in range(REGISTER_COUNT)))


@pytest.fixture
def version_1_database(store: Store, tmp_path: Any) -> Iterator[tuple[str, str]]:
    """(backend, location) of a database at schema version 1 (only 0001 applied) holding ROWS."""
    cols = ", ".join(f"r{k}" for k in range(REGISTER_COUNT))
    if isinstance(store, SQLiteStore):
        path = str(tmp_path / "v1.db")
        conn = sqlite3.connect(path, isolation_level=None)
        for statement in _statements(migrations("sqlite")[0][1]):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        marks = ", ".join("?" * (REGISTER_COUNT + 2))
        conn.executemany(f"INSERT INTO readings (entity_id, ts, {cols}) VALUES ({marks})",
                         [_row(e, ts, v, e.bytes) for e, ts, v in ROWS])
        conn.executemany("INSERT INTO entities (entity_id, register_mask) VALUES (?, ?)",
                         [(e.bytes, mask) for e, mask in MASKS.items()])
        conn.close()
        yield "sqlite", path
        return
    import psycopg
    from psycopg import sql

    from ..pg import server_url, with_database

    name = f"connect_readings_v1_{secrets.token_hex(4)}"
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server_url(), name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(migrations("postgres")[0][1])
            conn.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, "
                         "applied_at timestamptz NOT NULL DEFAULT now())")
            conn.execute("INSERT INTO schema_version (version) VALUES (1)")
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO readings (entity_id, ts, {cols}) VALUES "
                                f"({', '.join(['%s'] * (REGISTER_COUNT + 2))})",
                                [_row(e, ts, v, e) for e, ts, v in ROWS])
                cur.executemany("INSERT INTO entities (entity_id, register_mask) VALUES (%s, %s)", list(MASKS.items()))
        yield "postgres", url
    finally:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_migration_backfills_series_bounds(version_1_database: tuple[str, str]) -> None:
    backend, location = version_1_database
    latest = migrations(backend)[-1][0]
    assert latest >= 2
    if backend == "sqlite":
        migrated: Any = SQLiteStore(location)
        assert migrated.migrate() == latest
    else:
        from connect_readings.storage.postgres import PostgresStore

        migrated = PostgresStore(location, max_size=1)
    try:
        assert {e: series_bounds(migrated, e) for e in (A, B)} == EXPECTED
        rows = [reading(ts, total=v.get(TOTAL), t1=v.get(T1), t2=v.get(T2), gas=v.get(GAS))
                for e, ts, v in ROWS if e == A]
        # The backfilled bounds serve the seeks exactly as maintained ones (the entity rows of 0001 data are not
        # needed by ingest of a new batch: it upserts them).
        migrated.ingest(A, [reading(T0 + 10 * MINUTE, total=5.0)])
        rows.append(reading(T0 + 10 * MINUTE, total=5.0))
        instants = instants_around(rows)
        got = migrated.register_brackets(A, instants)
        expected = oracle(rows, instants)
        for k in (TOTAL, GAS):
            assert got[k] == expected[k]
        assert series_bounds(migrated, A)[TOTAL] == (T0, T0 + 10 * MINUTE)
    finally:
        migrated.close()


# -- cost guards (work counted, not timed) ---------------------------------------------------------------------
HISTORY = 100_000


@pytest.fixture
def long_history(store: Store) -> Store:
    """A: HISTORY energy readings a minute apart, and ONE gas reading before them all."""
    store.ingest(A, [reading(T0 - MINUTE, gas=1.0)])
    for i in range(0, HISTORY, 10_000):
        store.ingest(A, [reading(T0 + j * MINUTE, total=j * 0.01) for j in range(i, i + 10_000)])
    if not isinstance(store, SQLiteStore):
        with store.connection() as conn:  # type: ignore[attr-defined]
            conn.execute("ANALYZE")
    return store


def page_edges(count: int) -> list[int]:
    return [T0 + 50_000 * MINUTE + i * 15 * MINUTE + 7 for i in range(count)]


def sqlite_steps(store: SQLiteStore, action: Any) -> int:
    """VM steps SQLite runs for `action` (counted by the progress handler, one call per 10 steps)."""
    from functools import partial

    from connect_readings.storage.sqlite import _interrupt_if_late

    calls = 0

    def count() -> int:
        nonlocal calls
        calls += 1
        return 0

    store.db.set_progress_handler(count, 10)
    try:
        action()
    finally:
        store.db.set_progress_handler(partial(_interrupt_if_late, store._local), 1000)
    return calls * 10


def pg_plan(store: Any, statement: str, params: dict[str, Any]) -> dict[str, Any]:
    with store.connection() as conn:
        row = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params).fetchone()
    return row[0][0]["Plan"]


def pg_rows_visited(plan: dict[str, Any]) -> int:
    """Rows every scan node returned or filtered out, over all its loops."""
    visited = 0
    if "Relation Name" in plan:
        loops = plan.get("Actual Loops", 0)
        visited += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
                    + plan.get("Rows Removed by Index Recheck", 0)) * loops
    for child in plan.get("Plans", []):
        visited += pg_rows_visited(child)
    return visited


def test_page_over_a_long_history_with_one_rare_reading_is_bounded(long_history: Store) -> None:
    store = long_history
    edges = page_edges(200)
    if isinstance(store, SQLiteStore):
        result: list[Any] = []
        steps = sqlite_steps(store, lambda: result.append(store.register_brackets(A, edges)))
        assert steps < HISTORY, steps  # a scan of the history would be ~HISTORY steps per edge
    else:
        from connect_readings.storage.postgres import BRACKETS_SQL

        plan = pg_plan(store, BRACKETS_SQL, {"e": A, "t": edges})
        assert pg_rows_visited(plan) < 10 * len(edges), json.dumps(plan)
        result = [store.register_brackets(A, edges)]
    gas = result[0][GAS]
    assert all(pair == ((T0 - MINUTE, 1.0), None) for pair in gas)


def test_ingest_into_a_long_history_with_one_rare_reading_is_bounded(long_history: Store) -> None:
    """Replacing readings in the middle recomputes resets around them: the gas seeks stay inside the bounds."""
    store = long_history
    batch = [reading(T0 + j * MINUTE, total=j * 0.01) for j in range(60_000, 60_010)]
    if isinstance(store, SQLiteStore):
        steps = sqlite_steps(store, lambda: store.ingest(A, batch))
        assert steps < HISTORY // 4, steps
    else:
        from connect_readings.storage.postgres import probe_sql

        lo, hi, params = batch[0].ts, batch[-1].ts, {"e": A}
        for k, (first, last) in series_bounds(store, A).items():
            params.update({f"first_{k}": first, f"before_{k}": min(lo - 1, last),
                           f"after_{k}": max(hi + 1, first), f"last_{k}": last})
        plan = pg_plan(store, probe_sql([TOTAL, GAS], appending=False), params)
        assert pg_rows_visited(plan) < 1_000, json.dumps(plan)
        store.ingest(A, batch)
    assert store.register_brackets(A, [batch[5].ts])[GAS] == [((T0 - MINUTE, 1.0), None)]
