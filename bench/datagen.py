"""Synthetic meter data for the benchmarks, and a bulk writer that produces exactly what `SQLiteStore.ingest`
would have written.

The household model is the demo's earlier one (two tariffs: t1 07:00–23:00 UTC, t2 at night, flat solar
injection), kept so that benchmark figures stay comparable across versions; vectorised with numpy so 31.5M
readings take seconds rather than hours. Registers are integer Wh on the wire, as a real meter sends them; the store keeps kWh (`Wh * 0.001`, the same float
multiply `parse_reading` does).

Bulk path (`BulkWriter`): plain INSERTs into the store's own schema (created by `SQLiteStore` migrations),
rows in arrival order, resets and series bounds decided by the store's own ingest planner
(`domain/ingest.py`), fed with what the writer remembers instead of what a store would read back. It skips
only the per-batch reads of `ingest` (the writer knows the data is appended), never the layout:
for a fleet the rows go in time-major order, so the clustered b-tree grows as it would under real traffic.
`verify_bulk_path` writes a sample through both paths and compares every row of every table.
"""

from __future__ import annotations

import math
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np

from connect_readings.domain.ingest import Batch, IngestPlan, Surroundings, plan
from connect_readings.domain.readings import REGISTER_COUNT, parse_reading
from connect_readings.storage.base import REGISTER_COLUMNS
from connect_readings.storage.sqlite import SQLiteStore

SECOND = 1_000_000
MINUTE = 60 * SECOND
DAY = 86_400 * SECOND
NAMESPACE = uuid.UUID("0b3c1a52-7d41-4e0f-9a6b-5c2d8e9f1a70")

# The household's register columns in REGISTER_SERIES order: positiveActiveEnergy t1, t2, total;
# negativeActiveEnergy t1, total.
POS_T1, POS_T2, POS_TOTAL, NEG_T1, NEG_TOTAL = 0, 1, 4, 5, 9
HOUSEHOLD_REGISTERS = (POS_T1, POS_T2, POS_TOTAL, NEG_T1, NEG_TOTAL)


def entity_uuid(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts))


@dataclass
class Series:
    """A block of readings: timestamps (µs) and the household registers in integer Wh."""

    ts: np.ndarray  # int64
    wh: dict[int, np.ndarray]  # register index -> int64 Wh

    def __len__(self) -> int:
        return len(self.ts)

    def kwh(self) -> dict[int, np.ndarray]:
        """Register values as the store keeps them (float Wh * 0.001, as `parse_reading` normalises)."""
        return {k: v.astype(np.float64) * 0.001 for k, v in self.wh.items()}


class Household:
    """A stream of household readings at a fixed step, generated block by block (deterministic per seed).

    `reset_at`: reading index at which the meter is replaced (every register restarts near zero), so the
    resets side table is exercised too.
    """

    def __init__(self, start: int, step: int, seed: int, reset_at: int | None = None, scale: float = 1.0) -> None:
        self.next_ts = start
        self.step = step
        self.rng = np.random.default_rng(seed)
        self.reset_at = reset_at
        self.scale = scale
        self.index = 0
        self.kwh = np.array([12_345.0, 8_765.0, 1_234.0]) + seed % 997  # t1, t2, injection (kWh)
        self.base_wh: dict[int, int] | None = None

    def block(self, n: int) -> Series:
        ts = self.next_ts + self.step * np.arange(n, dtype=np.int64)
        self.next_ts += self.step * n
        sec_of_day = (ts // SECOND) % 86_400
        hour = sec_of_day / 3600.0
        u = self.rng.random((3, n))
        load_kw = (0.25 + 0.15 * u[0] + np.where((hour >= 18) & (hour < 21), 1.8, 0.0) * u[1]) * self.scale
        solar_kw = np.where((hour >= 6) & (hour <= 20), np.maximum(0.0, 4.0 * np.sin(math.pi * (hour - 6) / 14)), 0.0)
        net_kwh = (load_kw - solar_kw * (0.7 + 0.3 * u[2])) * (self.step / SECOND / 3600)
        day = (hour >= 7) & (hour < 23)
        t1 = self.kwh[0] + np.cumsum(np.where((net_kwh >= 0) & day, net_kwh, 0.0))
        t2 = self.kwh[1] + np.cumsum(np.where((net_kwh >= 0) & ~day, net_kwh, 0.0))
        inj = self.kwh[2] + np.cumsum(np.where(net_kwh < 0, -net_kwh, 0.0))
        self.kwh = np.array([t1[-1], t2[-1], inj[-1]])
        t1_wh = np.rint(t1 * 1000).astype(np.int64)
        t2_wh = np.rint(t2 * 1000).astype(np.int64)
        inj_wh = np.rint(inj * 1000).astype(np.int64)
        wh = {POS_T1: t1_wh, POS_T2: t2_wh, POS_TOTAL: t1_wh + t2_wh, NEG_T1: inj_wh, NEG_TOTAL: inj_wh.copy()}
        if self.reset_at is not None:
            lo, hi = self.index, self.index + n
            if self.base_wh is None and lo <= self.reset_at < hi:
                cut = self.reset_at - lo
                self.base_wh = {k: int(v[cut - 1]) if cut else 0 for k, v in wh.items()}
                for k, v in wh.items():
                    v[cut:] -= self.base_wh[k]
            elif self.base_wh is not None:
                for k, v in wh.items():
                    v -= self.base_wh[k]
        self.index += n
        return Series(ts, wh)

    def blocks(self, total: int, size: int = 1_000_000) -> Iterator[Series]:
        done = 0
        while done < total:
            n = min(size, total - done)
            yield self.block(n)
            done += n


# -- wire format ----------------------------------------------------------------------------------------
def iso_timestamps(ts: np.ndarray) -> list[str]:
    """RFC 3339 'YYYY-MM-DDTHH:MM:SSZ' (whole seconds; the generators use whole-second steps)."""
    return [s + "Z" for s in np.datetime_as_string(ts.astype("datetime64[us]"), unit="s").tolist()]


def wire_readings(series: Series) -> list[dict]:
    """The API's JSON readings for a block, registers in Wh as a meter would send them."""
    stamps = iso_timestamps(series.ts)
    t1, t2, tot, n1, ntot = (series.wh[k].tolist() for k in HOUSEHOLD_REGISTERS)
    return [
        {
            "timestamp": stamps[i],
            "data": {
                "positiveActiveEnergy": {"t1": t1[i], "t2": t2[i], "total": tot[i], "unit": "Wh"},
                "negativeActiveEnergy": {"t1": n1[i], "total": ntot[i], "unit": "Wh"},
            },
        }
        for i in range(len(stamps))
    ]


# -- bulk writer ----------------------------------------------------------------------------------------
class BulkWriter:
    """Rows straight into the store's schema, in the order given, with the resets and bounds the planner decides.

    Use for data sets the bench generates from scratch (fresh entities); each call appends readings that
    are newer than everything already written for those entities, as a live meter does.
    """

    def __init__(self, path: str | Path) -> None:
        SQLiteStore(str(path)).close()  # the real schema, via the real migrations
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=OFF")  # bulk load: no rollback journal; WAL is restored on close
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA cache_size=-1048576")  # 1 GiB: keeps every entity's right edge resident
        self.db.execute("PRAGMA temp_store=MEMORY")
        self.previous: dict[bytes, dict[int, float]] = {}  # entity -> register -> its last value written

    def write(self, entity_ids: Sequence[bytes], series: Series) -> None:
        """One block of rows in row order: row r belongs to entity_ids[r % len(entity_ids)] (time-major)."""
        values = series.kwh()
        n = len(series)
        e_count = len(entity_ids)
        present = sorted(values)
        # Only the registers present are named: binding NULLs costs 3x the insert, and an omitted column is
        # stored exactly as a bound NULL (the verification compares every column of every row).
        sql = (f"INSERT INTO readings(entity_id, ts, {', '.join(REGISTER_COLUMNS[k] for k in present)}) "
               f"VALUES ({', '.join('?' * (len(present) + 2))})")
        eids = (entity_ids * (n // e_count)) if e_count > 1 else repeat(entity_ids[0], n)
        rows = zip(eids, series.ts.tolist(), *(values[k].tolist() for k in present))
        plans = self._plans(entity_ids, series.ts, values)
        self.db.execute("BEGIN")
        self.db.executemany(sql, rows)
        self.db.executemany(
            "INSERT INTO series(entity_id, register, first_ts, last_ts) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(entity_id, register) "
            "DO UPDATE SET first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)",
            [(eid, REGISTER_COLUMNS[k], first, last) for eid, todo in plans for k, first, last in todo.widen],
        )
        self.db.executemany(
            'INSERT INTO resets(entity_id, register, ts, "offset") VALUES (?, ?, ?, ?)',
            [(eid, REGISTER_COLUMNS[k], ts, offset) for eid, todo in plans for k, ts, offset in todo.resets],
        )
        self.db.executemany("INSERT INTO entities(entity_id) VALUES (?) ON CONFLICT(entity_id) DO NOTHING",
                            [(eid,) for eid in entity_ids])
        self.db.execute("COMMIT")

    def _plans(self, entity_ids: Sequence[bytes], ts: np.ndarray,
               values: dict[int, np.ndarray]) -> list[tuple[bytes, IngestPlan]]:
        """The planner's plan for each entity's share of the block: appended after what it wrote before."""
        e_count = len(entity_ids)
        ts2 = ts.reshape(-1, e_count)
        v2 = {k: v.reshape(-1, e_count) for k, v in values.items()}
        plans = []
        for e, eid in enumerate(entity_ids):
            batch = Batch.from_columns(ts2[:, e].tolist(), {k: v[:, e].tolist() for k, v in v2.items()},
                                       REGISTER_COUNT)
            previous = self.previous.setdefault(eid, {})
            plans.append((eid, plan(batch, Surroundings(registers=batch.present, before=dict(previous)))))
            previous.update({k: v[-1, e].item() for k, v in v2.items()})
        return plans

    def close(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")  # as the store leaves its file
        self.db.close()


def fleet_meters(count: int, start: int, step: int, seed0: int = 100) -> list[Household]:
    return [Household(start, step, seed=seed0 + i, scale=0.6 + 0.8 * ((i * 7919) % 100) / 100) for i in range(count)]


def fleet_blocks(meters: Sequence[Household], per_entity: int, block_steps: int) -> Iterator[list[Series]]:
    done = 0
    while done < per_entity:
        n = min(block_steps, per_entity - done)
        yield [m.block(n) for m in meters]
        done += n


def write_fleet(path: str | Path, entities: Sequence[uuid.UUID], blocks: Iterator[list[Series]],
                progress=lambda done: None) -> None:
    """A fleet in arrival order: every entity's reading for t, then for t+step, … (time-major)."""
    writer = BulkWriter(path)
    ids = [e.bytes for e in entities]
    done = 0
    for per_meter in blocks:
        # (n, E) arrays flattened in C order: row r = t * E + e, i.e. time-major.
        ts = np.stack([b.ts for b in per_meter], axis=1).reshape(-1)
        wh = {k: np.stack([b.wh[k] for b in per_meter], axis=1).reshape(-1) for k in HOUSEHOLD_REGISTERS}
        writer.write(ids, Series(ts, wh))
        done += len(ts)
        progress(done)
    writer.close()


def write_single(path: str | Path, entity: uuid.UUID, meter: Household, total: int, progress=lambda done: None) -> None:
    writer = BulkWriter(path)
    done = 0
    for block in meter.blocks(total, 500_000):
        writer.write([entity.bytes], block)
        done += len(block)
        progress(done)
    writer.close()


# -- verification ---------------------------------------------------------------------------------------
def ingest_via_store(path: str | Path, entity: uuid.UUID, series_blocks: Sequence[Series], batch: int = 5_000) -> None:
    """The reference path: wire JSON → parse_reading → SQLiteStore.ingest in batches of 5,000."""
    store = SQLiteStore(str(path))
    try:
        for block in series_blocks:
            items = [parse_reading(item) for item in wire_readings(block)]
            for i in range(0, len(items), batch):
                store.ingest(entity, items[i:i + batch])
    finally:
        store.close()


def dump_tables(path: str | Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(str(path))
    try:
        return {
            # the version counts ingest calls, which differ between the two paths by design
            "entities": db.execute("SELECT entity_id FROM entities ORDER BY entity_id").fetchall(),
            "series": db.execute("SELECT * FROM series ORDER BY entity_id, register").fetchall(),
            "readings": db.execute("SELECT * FROM readings ORDER BY entity_id, ts").fetchall(),
            "resets": db.execute("SELECT * FROM resets ORDER BY entity_id, register, ts").fetchall(),
        }
    finally:
        db.close()


def verify_bulk_path(workdir: Path) -> tuple[bool, str]:
    """Same readings through the bulk path and through `SQLiteStore.ingest`: every table must be identical."""
    workdir.mkdir(parents=True, exist_ok=True)
    bulk, ref = workdir / "verify-bulk.db", workdir / "verify-ingest.db"
    for p in (bulk, ref):
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)
    start = 1_704_067_200 * SECOND  # 2024-01-01
    # (1) one meter, 1-second data, a meter replacement (reset) in the middle, across batch edges.
    single = entity_uuid("verify", "single")
    n = 17_000
    write_single(bulk, single, Household(start, SECOND, seed=7, reset_at=9_999), n)
    ingest_via_store(ref, single, [Household(start, SECOND, seed=7, reset_at=9_999).block(n)])
    # (2) a small fleet written time-major by the bulk path; the reference ingests each meter's own series.
    fleet = [entity_uuid("verify", "fleet", i) for i in range(3)]
    meters = fleet_meters(3, start, 10 * SECOND, seed0=500)
    meters[1].reset_at = 2_500  # mid-block: the vectorised per-entity reset detection is checked too
    blocks = list(fleet_blocks(meters, 6_000, 1_500))
    write_fleet(bulk, fleet, iter(blocks))
    for i, entity in enumerate(fleet):
        ingest_via_store(ref, entity, [per_meter[i] for per_meter in blocks])
    a, b = dump_tables(bulk), dump_tables(ref)
    problems = [name for name in a if a[name] != b[name]]
    counts = ", ".join(f"{name} {len(rows)}" for name, rows in a.items())
    if problems:
        return False, f"tables differ: {problems} (bulk: {counts}; ingest: " + \
            ", ".join(f"{name} {len(rows)}" for name, rows in b.items()) + ")"
    if not a["resets"]:
        return False, "the sample has no resets; the check would not cover them"
    return True, f"identical ({counts})"
