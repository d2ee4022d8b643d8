"""Realistic synthetic fleet for `connect-readings demo`: a Belgian household, deterministic (seeded), so the
printed curl always works and the same window always gives the same readings.

- a household meter every 10 s: offtake on the Belgian two tariffs (day t1 07:00–22:00 local time on weekdays,
  night t2 22:00–07:00 and all weekend), solar injection, the instantaneous power per phase (import or export,
  as the registers) and the voltage per phase (~230 V). Its load is a standby base, the household's routine
  (mornings, cooking, kettle, dishwasher, weekend laundry) and the EV charger behind it; its solar is a 4.5 kWp
  south-facing roof at 50.8° N (a clear-sky curve from the sun's elevation by day of year and solar time) under
  a seeded daily cloudiness that changes smoothly within the day;
- a gas meter, hourly: heating by degree days (16.5 °C minus a seeded daily mean temperature, ≈3 °C in
  January, ≈18 °C in July) plus hot water, more in the morning and evening than at night;
- an EV charger every minute, behind the household meter (its power is in the household's import at the same
  instants): a car plugged in most evenings (every other local day and some more) at 35–75 %, charging from
  22:00 local (the night tariff) on one phase at 16 A (3.7 kW), or on three phases at 6–8 A (4.1–5.5 kW) when it
  arrives below 40 %, tapering from 75 % up to its 80 % limit or until unplugged the next morning; while plugged
  in, its state of charge and range. So the household's monthly quarter-hour peaks (the capacity tariff) land
  between about 4 and 7 kW.

Prices and contracts (issue 21): a synthetic Belgian day-ahead price series `be-dayahead` over the demo's days
and tomorrow (hourly before 2025-10-01, quarter-hours from then on; a seasonal base, morning and evening peaks,
a midday dip that deepens with the roof's solar, negative on sunny spring and summer weekends), the household
on a dynamic contract on it, the gas meter on a fixed price, and the EV charger reimbursed per kWh
(`demo_tariffs`).

Everything that the household and the charger share (the charger's power, the local clock, the weather) is a
function of time alone, cached per day: the household generator runs at 10-s steps over up to a year.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from .domain.entities import EntityRecord
from .domain.prices import PriceInterval, PriceSeries, per_kwh
from .domain.readings import Reading, parse_reading
from .domain.tariffs import GasPricing, Period, Pricing, Tariff, tariff_document
from .domain.timefmt import format_datetime
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
HOUR = 3600 * SECOND
DAY = 86_400 * SECOND

_ZONE = ZoneInfo(DEMO_TIME_ZONE)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_WALL_EPOCH = datetime(1970, 1, 1)

# The household: where it is, its roof, its tariffs.
LATITUDE = 50.8  # ° N (Brussels)
LONGITUDE = 4.35  # ° E
PANEL_KWP = 4.5  # south-facing, tilted PANEL_TILT°
PANEL_TILT = 35.0
PERFORMANCE_RATIO = 0.8  # of the plane-of-array irradiance × kWp, what the inverter delivers
DAY_TARIFF = (7 * 60, 22 * 60)  # the local minutes of t1 on weekdays; t2 the rest of the week
HEATING_BASE = 16.5  # °C: the Belgian degree-day base
GAS_PER_DEGREE_DAY = 0.55  # m3
HOT_WATER = 0.35  # m3 a day, whatever the weather


# -- the local clock (Europe/Brussels), cached per UTC hour: no zoneinfo call per reading ---------------------

@lru_cache(maxsize=1 << 16)
def _offset(hour: int) -> int:
    """Europe/Brussels' offset from UTC, in minutes, during UTC hour `hour` (hours since 1970; its clock
    changes at 01:00 UTC, on the hour)."""
    offset = datetime.fromtimestamp(hour * 3600, _ZONE).utcoffset()
    assert offset is not None
    return int(offset.total_seconds()) // 60


def _local(minute: int) -> tuple[int, int]:
    """(local day, local minute of that day) of the UTC minute `minute` (days and minutes since 1970-01-01)."""
    return divmod(minute + _offset(minute // 60), 1440)


def _utc_minute(local_day: int, minute: int) -> int:
    """The UTC minute of `minute` past local midnight of `local_day` (a wall time that exists once)."""
    wall = (_WALL_EPOCH + timedelta(days=local_day, minutes=minute)).replace(tzinfo=_ZONE)
    return int(wall.timestamp()) // 60


def _weekday(local_day: int) -> int:
    return (local_day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0


def _day_of_year(day: int) -> int:
    return date.fromordinal(day + _EPOCH_ORDINAL).timetuple().tm_yday


def is_day_tariff(local_day: int, minute: int) -> bool:
    """Whether local `minute` of `local_day` is on the day tariff t1 (weekdays 07:00–22:00)."""
    return _weekday(local_day) < 5 and DAY_TARIFF[0] <= minute < DAY_TARIFF[1]


# -- the weather: a seeded value per day, the same whatever window is generated --------------------------------

@lru_cache(maxsize=4096)
def _white(day: int, salt: int) -> float:
    return random.Random(day * 1_000_003 + salt).gauss(0.0, 1.0)


@lru_cache(maxsize=4096)
def temperature(local_day: int) -> float:
    """The daily mean temperature (°C) of `local_day`: a seasonal curve (≈3 °C mid-January, ≈18 °C mid-July)
    plus seeded noise correlated over three days (σ ≈ 2.5 °C)."""
    seasonal = 10.8 - 7.6 * math.cos(2 * math.pi * (_day_of_year(local_day) - 20) / 365.25)
    noise = 0.6 * _white(local_day, 5) + 0.5 * _white(local_day - 1, 5) + 0.35 * _white(local_day - 2, 5)
    return seasonal + 2.5 / 0.856 * noise


class _Sky(NamedTuple):
    clear: float  # the day's mean clearness, 0 (overcast) … 1 (clear)
    swing: float  # how much it varies within the day
    period: float  # minutes
    phase: float


@lru_cache(maxsize=64)
def _sky(day: int) -> _Sky:
    """The cloudiness of UTC day `day`: clearer in summer (mean 0.64) than in winter (mean 0.24)."""
    r = random.Random(day * 1_000_003 + 7)
    mean = 0.44 + 0.2 * math.cos(2 * math.pi * (_day_of_year(day) - 180) / 365.25)
    clear = r.betavariate(2.5 * mean, 2.5 * (1 - mean))
    return _Sky(clear, 1.4 * clear * (1 - clear), 90 + 210 * r.random(), 2 * math.pi * r.random())


def _solar_day(day: int) -> list[float]:
    """The solar production (W) over each minute (M - 1, M] of UTC day `day`, M = day × 1440 + k, k = 0…1440:
    the clear-sky irradiance on the tilted panel (sun elevation from the declination and the hour angle, air
    mass, Meinel's beam model and a diffuse part) times the day's smooth cloud transmittance."""
    n = _day_of_year(day)
    declination = math.radians(-23.44) * math.cos(2 * math.pi * (n + 10) / 365)
    b = 2 * math.pi * (n - 81) / 364
    equation_of_time = 9.87 * math.sin(2 * b) - 7.53 * math.cos(b) - 1.5 * math.sin(b)  # minutes
    phi = math.radians(LATITUDE)
    tilt = math.radians(PANEL_TILT)
    a0 = math.sin(phi) * math.sin(declination)
    a1 = math.cos(phi) * math.cos(declination)
    c0 = math.sin(declination) * math.sin(phi - tilt)  # the incidence on a south-facing tilted plane
    c1 = math.cos(declination) * math.cos(phi - tilt)
    sky_view = (1 + math.cos(tilt)) / 2
    sky = _sky(day)
    scale = PANEL_KWP * PERFORMANCE_RATIO  # W per W/m2
    out = [0.0] * 1441
    shift = 4 * LONGITUDE + equation_of_time - 0.5  # UTC minute → minutes of local solar time (mid-interval)
    for k in range(1441):
        hour_angle = math.radians((k + shift) / 4 - 180)
        cos_h = math.cos(hour_angle)
        elevation = a0 + a1 * cos_h  # sin of the sun's elevation
        if elevation <= 0.02:
            continue
        beam = 1353 * 0.7 ** ((1 / elevation) ** 0.678)
        plane = beam * max(0.0, c0 + c1 * cos_h) + 0.12 * beam * sky_view
        k_sky = sky.clear + sky.swing * math.sin(2 * math.pi * k / sky.period + sky.phase)
        transmittance = 0.18 + 0.82 * min(1.0, max(0.0, k_sky))
        out[k] = scale * plane * transmittance
    return out


# -- the EV charger: one session per plugged-in evening, a function of its local date ---------------------------

BATTERY_KWH = 60.0  # the car's usable battery
CHARGE_EFFICIENCY = 0.92  # of the energy metered, what reaches the battery
KM_PER_KWH = 1 / 0.17
CHARGE_LIMIT = 80.0  # % : the car's daily charge limit
CHARGE_FROM = 22 * 60  # local minute the charger's timer starts charging (the night tariff)


class _Session(NamedTuple):
    plug: int  # UTC minute the car arrives: the first reading with its state of charge
    unplug: int  # UTC minute it leaves: the first reading without
    charge: int  # UTC minute charging begins; power[i] is drawn over minute (charge + i, charge + i + 1]
    phases: int
    arrival: float  # state of charge (%) on arrival
    power: tuple[float, ...]  # kW
    soc: tuple[float, ...]  # state of charge at the end of each of those minutes


@lru_cache(maxsize=64)
def _session(local_day: int) -> _Session | None:
    """The car's session that begins on the evening of `local_day`: every other day (even ordinals) and three
    in ten of the others. It arrives between 17:00 and 20:00 at 35–75 % and leaves the next morning (07:00–08:00
    on a weekday, 08:30–11:00 on a weekend); charging starts at 22:00 local, on one phase at 16 A (3.7 kW) or,
    below 40 %, on three phases at 6–8 A (4.1–5.5 kW), tapering from 75 % to the 80 % limit, until unplugged."""
    r = random.Random(local_day * 1_000_003 + 3)
    if local_day % 2 and r.random() >= 0.3:
        return None
    plug = _utc_minute(local_day, 17 * 60 + r.randrange(180))
    leave = 7 * 60 + r.randrange(60) if _weekday(local_day + 1) < 5 else 8 * 60 + 30 + r.randrange(150)
    unplug = _utc_minute(local_day + 1, leave)
    charge = _utc_minute(local_day, CHARGE_FROM)
    arrival = 35 + 40 * r.random()
    phases, amps = (3, 6 + r.randrange(3)) if arrival < 40 else (1, 16)
    kw = phases * amps * 0.23
    power: list[float] = []
    socs: list[float] = []
    soc = arrival
    for _ in range(charge + 1, unplug):
        if soc >= CHARGE_LIMIT - 0.05:
            break
        p = kw * (0.985 + 0.03 * r.random())
        if soc > CHARGE_LIMIT - 5:
            p *= max(0.3, (CHARGE_LIMIT - soc) / 5)
        soc = min(CHARGE_LIMIT, soc + p / 60 * CHARGE_EFFICIENCY / BATTERY_KWH * 100)
        power.append(p)
        socs.append(soc)
    return _Session(plug, unplug, charge, phases, arrival, tuple(power), tuple(socs))


@lru_cache(maxsize=4)
def _charger_day(day: int) -> tuple[list[float], list[int], list[float | None]]:
    """For each minute M = day × 1440 + k (k = 0…1440): the charger's power (kW) over (M - 1, M], its phases,
    and the car's state of charge at M (None when no car is plugged in). The charger and the household read it."""
    first = day * 1440
    kw = [0.0] * 1441
    phases = [0] * 1441
    soc: list[float | None] = [None] * 1441
    for local_day in range(day - 2, day + 2):
        s = _session(local_day)
        if s is None:
            continue
        for m in range(max(s.plug, first), min(s.unplug, first + 1441)):
            k = m - first
            i = m - s.charge - 1
            if i < 0:
                soc[k] = s.arrival
            elif i < len(s.power):
                kw[k] = s.power[i]
                phases[k] = s.phases
                soc[k] = s.soc[i]
            else:
                soc[k] = s.soc[-1] if s.soc else s.arrival
    return kw, phases, soc


def ev_session(before: int) -> tuple[int, int]:
    """The last plug-in session of `ev_charger` that had been charging for an hour by `before`: (plug-in,
    unplug) in µs. Within two days before `before` there always is one (a session every other evening)."""
    m = before // MINUTE
    local_day, _ = _local(m)
    for d in range(local_day, local_day - 400, -1):
        s = _session(d)
        if s is not None and (s.charge + 60) * MINUTE <= before:
            return s.plug * MINUTE, s.unplug * MINUTE
    raise ValueError("no EV session")  # (not reached: every other day has one)


# -- the household --------------------------------------------------------------------------------------------

@lru_cache(maxsize=16)
def _routine(local_day: int) -> list[float]:
    """The household's own load (W) over each local minute of `local_day`, without the charger: standby and a
    fridge cycling, devices and lights (when the sun is down) while people are up, a kettle and a toaster in
    the morning, dinner on the hob (17:30–19:00, sometimes the oven too), a kettle after it, a dishwasher (at
    22:05 on the night tariff, or after dinner when the car charges that night), and on weekends lunch and the
    laundry (a tumble dryer from October to March)."""
    r = random.Random(local_day * 1_000_003 + 11)
    weekend = _weekday(local_day) >= 5
    n = _day_of_year(local_day)
    winter = n <= 90 or n >= 274
    fridge = r.randrange(45)
    load = [110.0 + (90.0 if (i + fridge) % 45 < 16 else 0.0) for i in range(1440)]

    def add(start: int, minutes: int, watts: float) -> None:
        for i in range(max(0, start), min(1440, start + minutes)):
            load[i] += watts

    # sunrise and sunset in local minutes, for the lights
    declination = math.radians(-23.44) * math.cos(2 * math.pi * (n + 10) / 365)
    half = math.degrees(math.acos(-math.tan(math.radians(LATITUDE)) * math.tan(declination))) * 4
    noon = 720 - 4 * LONGITUDE + _offset((local_day * 1440 + 720) // 60)
    dawn, dusk = noon - half + 20, noon + half - 20
    if weekend:
        awake = [(8 * 60 + r.randrange(60), 23 * 60 + r.randrange(45))]
    else:
        wake = 6 * 60 + 15 + r.randrange(30)
        bed = 22 * 60 + 45 + r.randrange(45)
        if r.random() < 0.25:  # working from home
            awake = [(wake, bed)]
        else:
            awake = [(wake, 8 * 60 + r.randrange(30)), (17 * 60 + r.randrange(60), bed)]
    for a, b in awake:
        add(a, b - a, 220.0)
        for i in range(a, b):
            if i < dawn or i > dusk:
                load[i] += 150.0
    morning = awake[0][0]
    add(morning + 5 + r.randrange(15), 3, 2000.0)  # kettle
    add(morning + 10 + r.randrange(20), 2, 1100.0)  # toaster
    dinner = 17 * 60 + 30 + r.randrange(90)
    add(dinner, 20 + r.randrange(25), 1500.0 + r.randrange(700))  # hob
    if r.random() < (0.45 if winter else 0.25):
        add(dinner - 40 + r.randrange(15), 35 + r.randrange(25), 2000.0)  # oven
    add(dinner + 45 + r.randrange(60), 3, 2000.0)  # kettle
    if weekend:
        add(12 * 60 + r.randrange(60), 20, 1500.0)  # lunch
        add(15 * 60 + r.randrange(120), 3, 2000.0)
        if r.random() < 0.8:
            wash = 9 * 60 + r.randrange(240)
            add(wash, 15, 2000.0)
            add(wash + 15, 75, 250.0)
            if winter:
                add(wash + 95, 70, 2300.0)  # tumble dryer
    if r.random() < 0.65:
        start = 19 * 60 + 45 + r.randrange(45) if _session(local_day) is not None else 22 * 60 + 5
        add(start, 15, 2000.0)
        add(start + 15, 60, 120.0)
        add(start + 75, 10, 1800.0)
    return load


@lru_cache(maxsize=4)
def _household_day(day: int) -> tuple[list[float], list[float], list[bool], list[float], list[int]]:
    """For each minute M = day × 1440 + k (k = 0…1440), over (M - 1, M]: the household's own load (W), the solar
    production (W), whether it is on t1, and the charger's power (kW) and phases."""
    first = day * 1440
    load = []
    t1 = []
    for k in range(1441):
        local_day, minute = _local(first + k - 1)
        load.append(_routine(local_day)[minute])
        t1.append(is_day_tariff(local_day, minute))
    ev_kw, ev_phases, _ = _charger_day(day)
    return load, _solar_day(day), t1, ev_kw, ev_phases


_CLOCK: list[str] = []


def _clock() -> list[str]:
    if not _CLOCK:
        _CLOCK.extend(f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60))
    return _CLOCK


def _stamped(start: int, end: int, step: int) -> Iterator[tuple[int, str]]:
    """Each instant of range(start, end, step) with its RFC 3339 text (as format_datetime's), built from a
    per-day prefix and a table of the 86 400 times of day: a third of the demo's time went into formatting."""
    clock = _clock()
    day = None
    prefix = ""
    for ts in range(start, end, step):
        if ts % SECOND:
            yield ts, format_datetime(ts)
            continue
        if ts // DAY != day:
            day = ts // DAY
            prefix = format_datetime(day * DAY)[:11]  # "YYYY-MM-DDT"
        yield ts, prefix + clock[ts // SECOND % 86_400]


def household(start: int, end: int, step: int = 10 * SECOND) -> Iterator[dict]:
    """Two-tariff offtake and solar injection (energy registers, Wh), with the matching instantaneous power per
    phase (import as positiveActiveInstantaneousPower, export as negativeActiveInstantaneousPower, the other
    direction 0) and the voltage per phase (~230 V, a little higher while injecting, lower under load).

    A reading at ts adds the net power at ts over (ts - step, ts]: the household's own load (with a little
    seeded noise), plus the EV charger's power of that minute, minus the solar production; on t1 when that
    interval is on the day tariff in local time, else t2."""
    rng = random.Random(1)
    noise = random.Random(11)
    t1 = 12_345_000.0
    t2 = 8_765_000.0
    inj = 1_234_000.0
    hours = step / HOUR
    clock = _clock()
    day = None
    base = 0
    prefix = ""
    load: list[float] = []
    solar: list[float] = []
    tier1: list[bool] = []
    ev_kw: list[float] = []
    ev_phases: list[int] = []
    for ts in range(start, end, step):
        if ts // DAY != day:
            day = ts // DAY
            base = day * DAY
            prefix = format_datetime(base)[:11]  # "YYYY-MM-DDT"
            load, solar, tier1, ev_kw, ev_phases = _household_day(day)
        k = -((base - ts) // MINUTE)  # the minute (M - 1, M] that holds ts
        own = load[k] * (0.94 + 0.12 * rng.random())
        ev = 1000.0 * ev_kw[k]
        net = own + ev - solar[k]
        wh = net * hours
        if wh >= 0:
            if tier1[k]:
                t1 += wh
            else:
                t2 += wh
        else:
            inj -= wh
        if net >= 0:
            other = net - ev
            if ev and other >= 0:  # the charger on l1 (one phase) or on all three, the rest as the house's
                share = ev if ev_phases[k] == 1 else ev / 3
                l1 = round(0.45 * other + share, 1)
                l2 = round(0.33 * other + (0.0 if ev_phases[k] == 1 else share), 1)
            else:
                l1 = round(0.45 * net, 1)
                l2 = round(0.33 * net, 1)
            phases = {"l1": l1, "l2": l2, "l3": max(0.0, round(net - l1 - l2, 1)), "total": round(net, 1),
                      "unit": "W"}
            shift = -min(2.5, net / 2500)  # a little sag under load
        else:
            third = round(-net / 3, 1)  # a three-phase inverter
            phases = {"l1": third, "l2": third, "l3": max(0.0, round(-net - 2 * third, 1)), "total": round(-net, 1),
                      "unit": "W"}
            shift = min(7.0, -net / 500)  # the voltage rises while injecting
        r = noise.random()
        stamp = prefix + clock[ts // SECOND % 86_400] if ts % SECOND == 0 else format_datetime(ts)
        yield {
            "timestamp": stamp,
            "data": {
                "positiveActiveEnergy": {"t1": round(t1), "t2": round(t2),  # total = t1 + t2 to the Wh
                                         "total": round(t1) + round(t2), "unit": "Wh"},
                "negativeActiveEnergy": {"t1": round(inj), "total": round(inj), "unit": "Wh"},
                "positiveActiveInstantaneousPower": phases if net >= 0 else _NO_POWER,
                "negativeActiveInstantaneousPower": _NO_POWER if net >= 0 else phases,
                "instantaneousVoltage": {"l1": round(229.0 + shift + 3.0 * r, 1),
                                         "l2": round(230.5 + shift - 2.0 * r + noise.random(), 1),
                                         "l3": round(228.5 + shift + 2.0 * noise.random(), 1), "unit": "V"},
            },
        }


_NO_POWER = {"l1": 0.0, "l2": 0.0, "l3": 0.0, "total": 0.0, "unit": "W"}


# -- the gas meter ----------------------------------------------------------------------------------------------

# The share of a day's heating and of its hot water in each local hour (each sums to 1): the thermostat's
# night setback, the morning and evening peaks; showers in the morning, dishes and baths in the evening.
_HEATING = [0.45, 0.4, 0.4, 0.4, 0.45, 0.8, 1.9, 1.9, 1.5, 1.0, 0.9, 0.85,
            0.85, 0.85, 0.85, 0.9, 1.1, 1.5, 1.6, 1.6, 1.5, 1.3, 0.9, 0.6]
_HEATING = [w / sum(_HEATING) for w in _HEATING]
_HOT = [0.1, 0.05, 0.05, 0.05, 0.05, 0.3, 2.2, 2.6, 1.6, 0.7, 0.5, 0.5,
        0.7, 0.5, 0.4, 0.4, 0.5, 0.9, 1.5, 1.5, 1.6, 1.2, 0.6, 0.3]
_HOT = [w / sum(_HOT) for w in _HOT]


def gas(start: int, end: int) -> Iterator[dict]:
    """The gas meter's volume register (m3) every hour: over the hour that ends at a reading, the day's heating
    (GAS_PER_DEGREE_DAY × max(0, 16.5 °C − the day's mean temperature)) and hot water (HOT_WATER) in that local
    hour's shares, with a little seeded noise."""
    rng = random.Random(2)
    volume = 4_321.0
    for ts in range(start, end, HOUR):
        local_day, minute = _local((ts - HOUR // 2) // MINUTE)  # the middle of the hour ending at ts
        hour = minute // 60
        heating = GAS_PER_DEGREE_DAY * max(0.0, HEATING_BASE - temperature(local_day))
        volume += (heating * _HEATING[hour] + HOT_WATER * _HOT[hour]) * (0.85 + 0.3 * rng.random())
        yield {"timestamp": format_datetime(ts), "data": {"positiveGasVolume": {"value": round(volume, 3), "unit": "m3"}}}


def ev_charger(start: int, end: int) -> Iterator[dict]:
    """The charger every minute: the power per phase (kW) drawn over the minute before the reading and the
    energy register (kWh); while a car is plugged in, its state of charge (%) and range (km). The household
    meter's import holds the same power at the same instants."""
    energy = 2_500.0
    day = None
    kw: list[float] = []
    phases: list[int] = []
    socs: list[float | None] = []
    first = 0
    for ts, stamp in _stamped(start, end, MINUTE):
        m = -(-ts // MINUTE)  # the minute (m - 1, m] that holds ts
        if m // 1440 != day:
            day = m // 1440
            first = day * 1440
            kw, phases, socs = _charger_day(day)
        k = m - first
        power = kw[k]
        energy += power / 60
        if phases[k] == 1:
            lines = {"l1": round(power, 3), "l2": 0.0, "l3": 0.0}
        else:
            each = round(power / 3, 3)
            lines = {"l1": each, "l2": each, "l3": each}
        data: dict = {
            "positiveActiveInstantaneousPower": {**lines, "total": round(power, 3), "unit": "kW"},
            "positiveActiveEnergy": {"total": round(energy, 3), "unit": "kWh"},
        }
        soc = socs[k]
        if soc is not None:
            data["stateOfCharge"] = {"value": round(soc, 1), "unit": "%"}
            data["range"] = {"value": round(soc / 100 * BATTERY_KWH * KM_PER_KWH, 1), "unit": "km"}
        yield {"timestamp": stamp, "data": data}


# -- day-ahead prices and the three tariffs (issue 21) -----------------------------------------------------------

DEMO_PRICES = "be-dayahead"
DEMO_PRICES_NAME = "Belgian day-ahead (synthetic)"
DEMO_PRICES_UNIT = "EUR/MWh"
QUARTER_HOURS_FROM = date(2025, 10, 1).toordinal() - _EPOCH_ORDINAL
"""The first local day of quarter-hour prices: the EU day-ahead market moved from hourly to 15-minute products
for delivery on 2025-10-01."""
_SOLAR_PEAK = PANEL_KWP * 1000 * 0.81  # W: about the roof's best minute on a clear June day (≈ 3.64 kW)


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


def _rise(hour: float, at: float, width: float) -> float:
    return 1 / (1 + math.exp(-(hour - at) / width))


def _price_level(local_day: int) -> float:
    """The day's base price (EUR/MWh): the season (≈108 mid-January, ≈82 in April and October, ≈56 in July),
    higher on colder days than the season's, and a seeded noise correlated over a few days (σ ≈ 8)."""
    n = _day_of_year(local_day)
    season = 82 + 26 * math.cos(2 * math.pi * (n - 15) / 365.25)
    normal = 10.8 - 7.6 * math.cos(2 * math.pi * (n - 20) / 365.25)  # temperature()'s seasonal part
    noise = 0.6 * _white(local_day, 13) + 0.5 * _white(local_day - 1, 13) + 0.35 * _white(local_day - 2, 13)
    return season - 1.5 * (temperature(local_day) - normal) + 8 / 0.856 * noise


def _price_shape(hour: float, weekend: bool) -> float:
    """The day's profile, times the base price, at local `hour` (0…24): a night plateau (×0.8), the day (×1.0),
    a morning peak at 08:00 (later and weaker on weekends), a stronger evening peak at 19:30, easing off after
    22:30."""
    day = 0.8 + 0.22 * _rise(hour, 6.2, 0.5) - 0.12 * _rise(hour, 22.6, 0.5)
    morning = 0.12 * _bump(hour, 9.5, 1.3) if weekend else 0.28 * _bump(hour, 8.0, 1.0)
    return day + morning + 0.5 * _bump(hour, 19.5, 1.4)


def day_ahead(start: int, end: int) -> list[PriceInterval]:
    """The demo's day-ahead prices (EUR/kWh, sorted, contiguous) over every local (Brussels) day that meets
    [start, end) µs: from the local midnight at or before `start` to the one at or after `end`. Hourly
    intervals before 2025-10-01, quarter-hours from then on; deterministic (seeded per day).

    A price (EUR/MWh, to the cent) is the day's base (`_price_level`) × its profile (`_price_shape`; × 0.88 on
    weekends), minus a midday dip that deepens with the solar production (the demo's own roof, its clear-sky
    curve under the day's cloudiness, as a fraction f of its clear June peak): 55 × f^1.5 on weekdays, 85 ×
    f^1.5 on weekends. So a sunny spring or summer weekend goes negative for a few midday hours (down to −20…−60),
    a sunny summer weekday about touches zero, and winter middays stay well above it (no negative price from
    October to March); the evening peak is the day's highest price."""
    first, _ = _local(start // MINUTE)
    last, _ = _local((end - 1) // MINUTE)
    solar: dict[int, list[float]] = {}
    out: list[PriceInterval] = []
    for local_day in range(first, last + 1):
        a, b = _utc_minute(local_day, 0), _utc_minute(local_day + 1, 0)
        step = 15 if local_day >= QUARTER_HOURS_FROM else 60
        weekend = _weekday(local_day) >= 5
        level = _price_level(local_day) * (0.88 if weekend else 1.0)
        dip = 85.0 if weekend else 55.0
        rng = random.Random(local_day * 1_000_003 + 17)
        for t in range(a, b, step):
            _, wall = _local(t)  # (a clock change's repeated hour is priced twice as that hour)
            mid = (wall + step / 2) / 60
            day, k = divmod(t, 1440)
            if day not in solar:
                solar[day] = _solar_day(day)
            minutes = solar[day][k + 1:k + 1 + step]
            if len(minutes) < step:  # the interval runs into the next UTC day
                if day + 1 not in solar:
                    solar[day + 1] = _solar_day(day + 1)
                minutes = minutes + solar[day + 1][1:1 + step - len(minutes)]
            f = min(1.0, sum(minutes) / step / _SOLAR_PEAK)
            price = level * _price_shape(mid, weekend) - dip * f ** 1.5 + rng.gauss(0.0, 2.5)
            per_mwh = Decimal(f"{price:.2f}")  # to the cent, as a market publishes it
            out.append(PriceInterval(t * MINUTE, (t + step) * MINUTE, per_kwh(per_mwh, DEMO_PRICES_UNIT)))
    return out


def demo_tariffs(since: int) -> dict[uuid.UUID, Tariff]:
    """The demo's contracts, each one period from `since` (µs), in EUR (amounts excluding VAT):

    - the household: a dynamic contract on `be-dayahead`: import at the day-ahead price + 0.13 EUR/kWh (the
      network costs, levies and supplier's margin of a Flemish household, roughly), export at 0.9 × the price −
      0.015; the Flemish capacity tariff (53 EUR per kW of the monthly peak, per year), 100 EUR a year fixed,
      6 % VAT (Belgium's rate on household electricity);
    - the gas meter: a fixed price of 0.065 EUR/kWh all in (energy, network, levies) at 10.5 kWh per m³ (about
      the calorific value of the H-gas Belgium now burns; the grid operator's monthly factor is 10.3–11.5),
      60 EUR a year fixed, 6 % VAT (as electricity);
    - the EV charger: a company car charged at home, which the employer reimburses per kWh at a fixed rate
      (0.2738 EUR/kWh, a CREG quarterly reimbursement rate). A reimbursement is not a supply, so there is no
      VAT on it; its `import` cost is what the employer pays back for the charger's energy, which the household
      meter's import (and its cost) holds too."""
    return {
        HOUSEHOLD: Tariff("EUR", (Period(
            since,
            import_=Pricing(prices=DEMO_PRICES, factor=1.0, adder=0.13),
            export=Pricing(prices=DEMO_PRICES, factor=0.9, adder=-0.015),
            capacity_per_kw_year=53.0,
            fixed_per_year=100.0,
            vat=0.06,
        ),)),
        GAS_METER: Tariff("EUR", (Period(
            since, gas=GasPricing(per_kwh=0.065, kwh_per_m3=10.5), fixed_per_year=60.0, vat=0.06),)),
        EV_CHARGER: Tariff("EUR", (Period(since, import_=Pricing(total=0.2738), vat=0.0),)),
    }


def load_demo(store: Store, now: int, days: int = 30, progress: Callable[[int], None] = lambda _: None) -> int:
    """Write `days` of data ending at `now`, then (when the store has them: put_prices, put_tariff) the
    `be-dayahead` prices over those days and tomorrow and the three entities' tariffs (`demo_tariffs`); returns
    the number of readings written."""
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
    if hasattr(store, "put_prices") and hasattr(store, "put_tariff"):
        # the day-ahead prices of the demo's days and of tomorrow (published the day before: they end at the
        # next local midnight after now + 1 day), then the contracts, from the first of those local midnights
        prices = day_ahead(start, now + DAY + 1)
        store.put_prices(PriceSeries(DEMO_PRICES, DEMO_PRICES_NAME, DEMO_PRICES_UNIT), prices, now)
        for entity_id, tariff in demo_tariffs(prices[0].start).items():
            store.put_tariff(entity_id, json.dumps(tariff_document(tariff, None)), now)
    return written
