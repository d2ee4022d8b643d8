"""Realistic synthetic fleet for `connect-readings demo`: deterministic, so the printed curl always works.

- a household meter with two tariffs (day t1 07:00–23:00, night t2) and solar injection, every 10 s, with its
  instantaneous power per phase (import or export, as the registers) and voltage per phase (~230 V);
- a gas meter, hourly, heating-driven;
- an EV charger with instantaneous power per phase and its energy register, every minute, and while a car is
  plugged in (every other evening) its state of charge (rising while charging) and range.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator

from .domain.entities import EntityRecord
from .domain.readings import Reading, parse_reading
from .domain.timefmt import format_datetime, from_micros
from .storage.base import Store

HOUSEHOLD = uuid.UUID("8667fb97-68f2-485a-87c7-f3bdfa9482e1")
GAS_METER = uuid.UUID("3b1f0c5e-6d2a-4f8b-9c7e-1a2b3c4d5e6f")
EV_CHARGER = uuid.UUID("c0ffee00-1234-4abc-8def-0123456789ab")
DEMO_ENTITIES = {HOUSEHOLD: "household meter (10 s)", GAS_METER: "gas meter (1 h)", EV_CHARGER: "EV charger (1 min)"}
DEMO_REGISTRY = {HOUSEHOLD: ("Meter", "Household meter"), GAS_METER: ("Meter", "Gas meter"),
                 EV_CHARGER: ("ChargePoint", "EV charger")}
"""How the demo registers its entities (type, name), all in DEMO_TIME_ZONE."""
DEMO_TIME_ZONE = "Europe/Brussels"

SECOND = 1_000_000
MINUTE = 60 * SECOND
DAY = 86_400 * SECOND


_CLOCK: list[str] = []


def _stamped(start: int, end: int, step: int) -> Iterator[tuple[int, str]]:
    """Each instant of range(start, end, step) with its RFC 3339 text (as format_datetime's), built from a
    per-day prefix and a table of the 86 400 times of day: a third of the demo's time went into formatting."""
    if not _CLOCK:
        _CLOCK.extend(f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60))
    day = None
    prefix = ""
    for ts in range(start, end, step):
        if ts % SECOND:
            yield ts, format_datetime(ts)
            continue
        if ts // DAY != day:
            day = ts // DAY
            prefix = format_datetime(day * DAY)[:11]  # "YYYY-MM-DDT"
        yield ts, prefix + _CLOCK[ts // SECOND % 86_400]


def household(start: int, end: int, step: int = 10 * SECOND) -> Iterator[dict]:
    """Two-tariff offtake and solar injection (energy registers), with the matching instantaneous power per
    phase (import as positiveActiveInstantaneousPower, export as negativeActiveInstantaneousPower, the other
    direction 0) and the voltage per phase (~230 V, a little higher while injecting)."""
    rng = random.Random(1)
    noise = random.Random(11)  # (its own stream: the energy registers stay what they were)
    t1 = 12_345.0
    t2 = 8_765.0
    inj = 1_234.0
    for ts, stamp in _stamped(start, end, step):
        hour = ts // MINUTE % 1440 / 60  # (UTC hour and minute, as from_micros(ts).hour + .minute / 60)
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
        w = abs(net) * 1000  # the net power in W, split over the phases (the same direction on each)
        l1 = round(w * 0.45, 1)
        l2 = round(w * 0.33, 1)
        phases = {"l1": l1, "l2": l2, "l3": max(0.0, round(w - l1 - l2, 1)), "total": round(w, 1), "unit": "W"}
        rise = 2.0 * solar_kw if net < 0 else 0.0
        r = noise.random()
        yield {
            "timestamp": stamp,
            "data": {
                "positiveActiveEnergy": {"t1": round(t1 * 1000), "t2": round(t2 * 1000),  # total = t1 + t2 to the Wh
                                         "total": round(t1 * 1000) + round(t2 * 1000), "unit": "Wh"},
                "negativeActiveEnergy": {"t1": round(inj * 1000), "total": round(inj * 1000), "unit": "Wh"},
                "positiveActiveInstantaneousPower": phases if net >= 0 else _NO_POWER,
                "negativeActiveInstantaneousPower": _NO_POWER if net >= 0 else phases,
                "instantaneousVoltage": {"l1": round(229.0 + rise + 3.0 * r, 1),
                                         "l2": round(230.5 + rise - 2.0 * r + noise.random(), 1),
                                         "l3": round(228.5 + rise + 2.0 * noise.random(), 1), "unit": "V"},
            },
        }


_NO_POWER = {"l1": 0.0, "l2": 0.0, "l3": 0.0, "total": 0.0, "unit": "W"}


def gas(start: int, end: int) -> Iterator[dict]:
    rng = random.Random(2)
    volume = 4_321.0
    for ts in range(start, end, 3600 * SECOND):
        hour = from_micros(ts).hour
        volume += (0.15 if 6 <= hour < 22 else 0.05) + 0.1 * rng.random()
        yield {"timestamp": format_datetime(ts), "data": {"positiveGasVolume": {"value": round(volume, 3), "unit": "m3"}}}


BATTERY_KWH = 60.0  # the car's usable battery
CHARGE_EFFICIENCY = 0.92  # of the energy metered, what reaches the battery
KM_PER_KWH = 1 / 0.17


PLUG_IN = 18 * 60  # minute of the (UTC) day a car arrives, on days of even ordinal
UNPLUG = 7 * 60  # minute of the next day it leaves


def ev_session(before: int) -> tuple[int, int]:
    """The last plug-in session of `ev_charger` that began at least two hours before `before`: (start, end)."""
    day = (before - 2 * 3600 * SECOND - PLUG_IN * MINUTE) // DAY
    day -= day % 2
    start = day * DAY + PLUG_IN * MINUTE
    return start, start + DAY - (PLUG_IN - UNPLUG) * MINUTE


def ev_charger(start: int, end: int) -> Iterator[dict]:
    """A car plugged in every other evening (UTC days of even ordinal, 18:00 to 07:00 the next morning) with
    20–60 % state of charge; it charges from 19:00 at ~11 kW (three phases), tapering above 80 %, until full.
    Every minute: the power per phase and the energy register; while plugged in, the state of charge and the
    range in km."""
    rng = random.Random(3)
    energy = 2_500.0
    soc = 0.0
    session = None
    for ts, stamp in _stamped(start, end, MINUTE):
        day, minute = divmod(ts // MINUTE, 1440)
        if day % 2 == 0 and minute >= PLUG_IN:
            plugged = day
        elif day % 2 == 1 and minute < UNPLUG:
            plugged = day - 1
        else:
            plugged = None
        if plugged is not None and plugged != session:
            soc = 20 + 40 * rng.random()  # a new session: the car arrives partly discharged
        session = plugged
        phase_kw = 0.0
        if plugged is not None and (minute >= 19 * 60 or minute < 7 * 60) and soc < 100:
            phase_kw = 3.6 + 0.1 * rng.random()
            if soc > 80:
                phase_kw *= max(0.15, (100 - soc) / 20)
            soc = min(100.0, soc + 3 * phase_kw / 60 * CHARGE_EFFICIENCY / BATTERY_KWH * 100)
        energy += 3 * phase_kw / 60
        data: dict = {
            "positiveActiveInstantaneousPower": {"l1": round(phase_kw, 3), "l2": round(phase_kw, 3),
                                                 "l3": round(phase_kw, 3), "total": round(3 * phase_kw, 3),
                                                 "unit": "kW"},
            "positiveActiveEnergy": {"total": round(energy, 3), "unit": "kWh"},
        }
        if plugged is not None:
            data["stateOfCharge"] = {"value": round(soc, 1), "unit": "%"}
            data["range"] = {"value": round(soc / 100 * BATTERY_KWH * KM_PER_KWH, 1), "unit": "km"}
        yield {"timestamp": stamp, "data": data}


def load_demo(store: Store, now: int, days: int = 30, progress: Callable[[int], None] = lambda _: None) -> int:
    """Write `days` of data ending at `now`; returns the number of readings written."""
    end = now - now % (10 * SECOND)
    start = end - days * DAY
    for entity_id, (kind, name) in DEMO_REGISTRY.items():
        store.put_entity(EntityRecord(entity_id, kind, name, time_zone=DEMO_TIME_ZONE, created=now))
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
