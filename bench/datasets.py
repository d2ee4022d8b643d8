"""The data sets of the figures, generated once and cached under bench/data/ (git-ignored).

A data set is reused only when its marker file (`<db>.json`) says it was completed with the same
parameters; otherwise it is deleted and rebuilt.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .common import DATA, log, remove_db
from .datagen import (
    DAY, MINUTE, SECOND, Household, entity_uuid, fleet_blocks, fleet_meters, write_fleet, write_single,
)

DATASET_VERSION = 3
YEAR_START = 1_672_531_200 * SECOND  # 2023-01-01T00:00:00Z
FLEET_START = 1_716_163_200 * SECOND  # 2024-05-20T00:00:00Z
FLEET_STEP = 10 * SECOND
FLEET_PER_ENTITY = 100_000  # 11.6 days of 10-second data per meter
SERIES_BLOCK = 500_000  # generation block: the SQLite and PostgreSQL copies must use the same one

# The seed's default request (figure 1 and 5).
HOT_START = "2024-05-27 13:00:00Z"
HOT_END = "2024-05-28 13:00:00Z"
HOT_QUERY = "start=2024-05-27%2013:00:00Z&resolution=15%20minutes&end=2024-05-28%2013:00:00Z"

STEPS = {"1s": SECOND, "10s": 10 * SECOND, "1min": MINUTE, "5min": 5 * MINUTE, "15min": 15 * MINUTE}


@dataclass(frozen=True)
class SeriesSpec:
    """One household meter at a fixed step over `days` from 2023-01-01, with a meter reset halfway."""

    label: str
    days: int

    @property
    def step(self) -> int:
        return STEPS[self.label]

    @property
    def count(self) -> int:
        return self.days * DAY // self.step

    @property
    def per_bucket(self) -> int:
        """Readings per 1-day bucket."""
        return DAY // self.step

    @property
    def entity(self) -> uuid.UUID:
        return entity_uuid("series", self.label, self.days)

    @property
    def start(self) -> int:
        return YEAR_START

    @property
    def end(self) -> int:
        return YEAR_START + self.days * DAY

    def meter(self) -> Household:
        return Household(YEAR_START, self.step, seed=sum(self.label.encode()) + self.days, reset_at=self.count // 2 + 7)

    def blocks(self):
        return self.meter().blocks(self.count, SERIES_BLOCK)

    def page_path(self) -> str:
        """The 'days × 1 day' page of this meter, all of it on one page."""
        return (f"/v1/entities/{self.entity}/aggregations?start=2023-01-01T00:00:00Z&resolution=1%20day"
                f"&end={_iso(self.end)}&pageSize={self.days}")


def _iso(us: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // SECOND))


def series_specs(quick: bool) -> list[SeriesSpec]:
    if quick:
        return [SeriesSpec("1s", 30), SeriesSpec("15min", 30), SeriesSpec("1min", 365), SeriesSpec("5min", 365),
                SeriesSpec("15min", 365)]
    return [SeriesSpec(label, 365) for label in ("1s", "10s", "1min", "5min", "15min")]


# -- cache ----------------------------------------------------------------------------------------------
def _marker(db: Path) -> Path:
    return db.with_suffix(db.suffix + ".json")


def _cached(db: Path, params: dict[str, Any]) -> bool:
    marker = _marker(db)
    if db.exists() and marker.exists():
        try:
            return json.loads(marker.read_text()).get("params") == params
        except ValueError:
            return False
    return False


def _done(db: Path, params: dict[str, Any], seconds: float, readings: int) -> None:
    _marker(db).write_text(json.dumps({"params": params, "seconds": round(seconds, 1), "readings": readings}))


def _fresh(db: Path) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    _marker(db).unlink(missing_ok=True)
    remove_db(db)


def build_info(db: Path) -> dict[str, Any]:
    marker = _marker(db)
    return json.loads(marker.read_text()) if marker.exists() else {}


# -- figure 1: the seed's demo data through the real ingest path ----------------------------------------
def household_db() -> Path:
    """The seed's demo (`connect_readings.demo.load_demo`: household 10 s with two tiers, gas, EV charger),
    14 days ending 2024-06-03, written by `SQLiteStore.ingest` in batches of 5,000."""
    from connect_readings.demo import load_demo
    from connect_readings.storage.sqlite import SQLiteStore

    db = DATA / "demo-household-10s.db"
    params = {"v": DATASET_VERSION, "kind": "demo", "days": 14, "now": "2024-06-03T00:00:00Z"}
    if _cached(db, params):
        return db
    _fresh(db)
    log(f"building {db.name} (demo data via SQLiteStore.ingest) …")
    began = time.perf_counter()
    store = SQLiteStore(str(db))
    written = load_demo(store, 1_717_372_800 * SECOND, 14)
    store.close()
    _done(db, params, time.perf_counter() - began, written)
    log(f"  {written:,} readings in {time.perf_counter() - began:.1f} s")
    return db


# -- figures 2, 3 and the chart: one meter per density in one database ----------------------------------
def series_db(quick: bool) -> tuple[Path, list[SeriesSpec]]:
    specs = series_specs(quick)
    db = DATA / f"series-{'quick' if quick else 'full'}.db"
    params = {"v": DATASET_VERSION, "kind": "series", "specs": [asdict(s) for s in specs], "block": SERIES_BLOCK}
    if _cached(db, params):
        return db, specs
    _fresh(db)
    began = time.perf_counter()
    total = 0
    for spec in specs:
        log(f"building {db.name}: {spec.label} × {spec.days} days = {spec.count:,} readings (bulk path) …")
        t0 = time.perf_counter()
        last = [t0]

        def progress(done: int, spec: SeriesSpec = spec, t0: float = t0, last: list[float] = last) -> None:
            now = time.perf_counter()
            if now - last[0] > 15:
                last[0] = now
                rate = done / (now - t0)
                log(f"  {done:,}/{spec.count:,} ({rate:,.0f} readings/s, ETA {(spec.count - done) / rate:.0f} s)")

        write_single(db, spec.entity, spec.meter(), spec.count, progress)
        total += spec.count
        log(f"  done in {time.perf_counter() - t0:.1f} s")
    _done(db, params, time.perf_counter() - began, total)
    return db, specs


# -- figure 5: a fleet, time-major ----------------------------------------------------------------------
def fleet_entities(readings: int) -> list[uuid.UUID]:
    count = max(1, round(readings / FLEET_PER_ENTITY))
    return [entity_uuid("fleet", i) for i in range(count)]


def fleet_db(readings: int) -> tuple[Path, list[uuid.UUID]]:
    entities = fleet_entities(readings)
    total = len(entities) * FLEET_PER_ENTITY
    db = DATA / f"fleet-{total}.db"
    params = {"v": DATASET_VERSION, "kind": "fleet", "entities": len(entities), "per_entity": FLEET_PER_ENTITY,
              "step": FLEET_STEP, "start": FLEET_START}
    if _cached(db, params):
        return db, entities
    _fresh(db)
    log(f"building {db.name}: {len(entities):,} meters × {FLEET_PER_ENTITY:,} readings, time-major (bulk path) …")
    progress_file = db.with_suffix(".progress")
    began = time.perf_counter()
    last = [began]

    def progress(done: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 30 or done == total:
            last[0] = now
            rate = done / (now - began)
            line = (f"{time.strftime('%H:%M:%S')} {done:,}/{total:,} readings ({100 * done / total:.1f} %), "
                    f"{rate:,.0f} readings/s, ETA {(total - done) / rate / 60:.1f} min, "
                    f"file {db.stat().st_size / 2**30:.2f} GiB")
            log("  " + line)
            with progress_file.open("a") as fh:
                fh.write(line + "\n")

    block_steps = max(1, min(2_000, 2_000_000 // len(entities)))
    write_fleet(db, entities, fleet_blocks(fleet_meters(len(entities), FLEET_START, FLEET_STEP), FLEET_PER_ENTITY,
                                           block_steps), progress)
    seconds = time.perf_counter() - began
    _done(db, params, seconds, total)
    log(f"  {total:,} readings in {seconds:.0f} s ({total / seconds:,.0f} readings/s), "
        f"{db.stat().st_size / 2**30:.2f} GiB")
    return db, entities


# -- figure 4: a JSONL file for `connect-readings import` -----------------------------------------------
def import_jsonl(n: int) -> Path:
    import orjson

    from .datagen import wire_readings

    jsonl = DATA / f"import-{n}.jsonl"
    if jsonl.exists():
        return jsonl
    DATA.mkdir(parents=True, exist_ok=True)
    log(f"writing {jsonl.name} …")
    meter = Household(1_704_067_200 * SECOND, 10 * SECOND, seed=4242)
    tmp = jsonl.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        for block in meter.blocks(n, 100_000):
            fh.write(b"".join(orjson.dumps(item) + b"\n" for item in wire_readings(block)))
    tmp.rename(jsonl)
    return jsonl
