"""The PostgreSQL ingest's COPY buffer (`_copy_payload`, built a column at a time) is byte for byte what psycopg's
own binary `copy.write_row` writes for the same rows, with the types the COPY statement declares: for batches of
one layout (the usual case), of several (registers present in some readings only), with gauges, with metrics kept
in `extra` (JSON text, non-ASCII too), of one reading, and for a plan whose rows are not the batch's own."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from psycopg._copy_base import BinaryFormatter
from psycopg.adapt import Transformer
from psycopg.postgres import types
from psycopg.pq import Format

from connect_readings.domain.ingest import IngestPlan, prepare
from connect_readings.domain.readings import GAUGE_COUNT, REGISTER_COUNT, Reading, parse_reading
from connect_readings.domain.timefmt import format_datetime
from connect_readings.storage.base import extra_json
from connect_readings.storage.postgres import _copy_payload

T0 = 1_716_768_000_000_000
ENTITY = uuid.UUID("6f1c3a52-7d41-4e0f-9a6b-5c2d8e9f1a70")


# The columns of the store's COPY into `readings`: entity, ts, the registers and gauges, and extra as JSON text.
COLUMN_TYPES = ["uuid", "int8"] + ["float8"] * (REGISTER_COUNT + GAUGE_COUNT) + ["text"]


def reference(rows: list[Reading], entity: uuid.UUID) -> bytes:
    """psycopg's own binary COPY row writer, a value at a time."""
    transformer = Transformer()
    formatter = BinaryFormatter(transformer)
    transformer.set_dumper_types([types.get(name).oid for name in COLUMN_TYPES], Format.BINARY)
    out = bytearray()
    for r in rows:
        extra = extra_json(r)
        out += formatter.write_row((entity, r.ts, *r.registers, *r.gauges, None if extra is None else extra.decode()))
    out += formatter.end()
    return bytes(out)


def reading(ts: int, rng: random.Random, kind: str) -> Reading:
    data: dict[str, Any] = {"positiveActiveEnergy": {"t1": rng.uniform(0, 1e6), "total": rng.uniform(0, 1e6),
                                                     "unit": "kWh"}}
    if kind in ("mixed", "all") and rng.random() < 0.3:
        data["positiveGasVolume"] = {"value": rng.uniform(0, 1e4), "unit": "m3"}
    if kind in ("mixed", "all") and rng.random() < 0.5:
        data["negativeActiveEnergy"] = {"total": -0.0 if rng.random() < 0.1 else rng.uniform(0, 10), "unit": "kWh"}
    if kind in ("gauges", "all"):
        data["instantaneousVoltage"] = {"l1": 230.0 + rng.random(), "unit": "V"}
        if rng.random() < 0.5:
            data["stateOfCharge"] = {"value": rng.uniform(0, 100), "unit": "%"}
    if kind in ("extra", "all") and rng.random() < 0.2:
        data["odometer"] = {"value": rng.uniform(0, 1e5), "unit": "km"}
        data["zeta"] = {"value": -3.0, "unit": "é ✓"}
    return parse_reading({"timestamp": format_datetime(ts), "data": data})


def plan_of(rows: list[Reading]) -> IngestPlan:
    return IngestPlan(rows, 0, [], [], [], [], [], [], [])


@pytest.mark.parametrize("kind", ["plain", "mixed", "gauges", "extra", "all"])
@pytest.mark.parametrize("count", [1, 2, 7, 1000])
def test_copy_payload_is_what_write_row_writes(kind: str, count: int) -> None:
    rng = random.Random(f"{kind}{count}")
    batch = prepare([reading(T0 + n * 10_000_000, rng, kind) for n in range(count)], REGISTER_COUNT)
    assert batch is not None
    todo = plan_of(batch.readings)
    assert _copy_payload(batch, todo, ENTITY.bytes) == reference(batch.readings, ENTITY)
    # rows that are not the batch's own (read from the readings, not the batch's columns)
    subset = batch.readings[::2]
    assert _copy_payload(batch, plan_of(subset), ENTITY.bytes) == reference(subset, ENTITY)
