"""Realistic synthetic fleet for `connect-readings demo`: deterministic, so the printed curl always works.

- a household meter with two tariffs (day t1 07:00–23:00, night t2) and solar injection, every 10 s;
- a gas meter, hourly, heating-driven;
- an EV charger with instantaneous power per phase and its energy register, every minute.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator

from .domain.readings import Reading, parse_reading
from .domain.timefmt import format_datetime, from_micros
from .storage.base import Store

HOUSEHOLD = uuid.UUID("8667fb97-68f2-485a-87c7-f3bdfa9482e1")
GAS_METER = uuid.UUID("3b1f0c5e-6d2a-4f8b-9c7e-1a2b3c4d5e6f")
EV_CHARGER = uuid.UUID("c0ffee00-1234-4abc-8def-0123456789ab")
DEMO_ENTITIES = {HOUSEHOLD: "household meter (10 s)", GAS_METER: "gas meter (1 h)", EV_CHARGER: "EV charger (1 min)"}

SECOND = 1_000_000
DAY = 86_400 * SECOND


def household(start: int, end: int, step: int = 10 * SECOND) -> Iterator[dict]:
    rng = random.Random(1)
    t1 = 12_345.0
    t2 = 8_765.0
    inj = 1_234.0
    for ts in range(start, end, step):
        hour = from_micros(ts).hour + from_micros(ts).minute / 60
        load_kw = 0.25 + 0.15 * rng.random() + (1.8 if 18 <= hour < 21 else 0.0) * rng.random()
        solar_kw = max(0.0, 4.0 * math.sin(math.pi * (hour - 6) / 14)) if 6 <= hour <= 20 else 0.0
        net = load_kw - solar_kw * (0.7 + 0.3 * rng.random())
        kwh = net * step / SECOND / 3600
        if kwh >= 0:
            if 7 <= hour < 23:
                t1 += kwh
            else:
                t2 += kwh
        else:
            inj -= kwh
        yield {
            "timestamp": format_datetime(ts),
            "data": {
                "positiveActiveEnergy": {"t1": round(t1 * 1000), "t2": round(t2 * 1000),
                                         "total": round((t1 + t2) * 1000), "unit": "Wh"},
                "negativeActiveEnergy": {"t1": round(inj * 1000), "total": round(inj * 1000), "unit": "Wh"},
            },
        }


def gas(start: int, end: int) -> Iterator[dict]:
    rng = random.Random(2)
    volume = 4_321.0
    for ts in range(start, end, 3600 * SECOND):
        hour = from_micros(ts).hour
        volume += (0.15 if 6 <= hour < 22 else 0.05) + 0.1 * rng.random()
        yield {"timestamp": format_datetime(ts), "data": {"positiveGasVolume": {"value": round(volume, 3), "unit": "m3"}}}


def ev_charger(start: int, end: int) -> Iterator[dict]:
    rng = random.Random(3)
    energy = 2_500.0
    for ts in range(start, end, 60 * SECOND):
        hour = from_micros(ts).hour
        charging = 19 <= hour < 23 and from_micros(ts).day % 2 == 0
        phase_kw = 3.6 + 0.1 * rng.random() if charging else 0.0
        energy += 3 * phase_kw / 60
        yield {
            "timestamp": format_datetime(ts),
            "data": {
                "positiveActiveInstantaneousPower": {"l1": round(phase_kw, 3), "l2": round(phase_kw, 3),
                                                     "l3": round(phase_kw, 3), "total": round(3 * phase_kw, 3),
                                                     "unit": "kW"},
                "positiveActiveEnergy": {"total": round(energy, 3), "unit": "kWh"},
            },
        }


def load_demo(store: Store, now: int, days: int = 30, progress: Callable[[int], None] = lambda _: None) -> int:
    """Write `days` of data ending at `now`; returns the number of readings written."""
    end = now - now % (10 * SECOND)
    start = end - days * DAY
    written = 0
    for entity_id, items in (
        (HOUSEHOLD, household(start, end)), (GAS_METER, gas(start, end)), (EV_CHARGER, ev_charger(start, end)),
    ):
        batch: list[Reading] = []
        for item in items:
            batch.append(parse_reading(item))
            if len(batch) == 5_000:
                written += store.ingest(entity_id, batch).written
                progress(len(batch))
                batch = []
        if batch:
            written += store.ingest(entity_id, batch).written
            progress(len(batch))
    return written
