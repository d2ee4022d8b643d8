"""The cost of buckets (domain/costs.py, docs/semantics.md §15, Costs).

1. A table of hand-computed rows (inputs and expected outputs written out, one edge case a row).
2. A property test against an independent exact reference (fractions.Fraction): the register as an exact
   piecewise-linear function through the readings, clamped outside coverage, cut at every tariff and price
   edge, capacity and fixed pro rata of exact local months.

Brackets come from a brute-force helper: for each instant and register series, the nearest reading at or
before it and at or after it that has the series.
"""

from __future__ import annotations

import bisect
import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connect_readings.domain.costs import (
    CostInputs,
    FinePieces,
    Month,
    bucket_costs,
    coarse_cuts,
    cut_instants,
    dynamic_registers,
    piece_deltas,
)
from connect_readings.domain.grid import Grid, month_index, month_start
from connect_readings.domain.interval import Interval
from connect_readings.domain.prices import PriceColumns, PriceInterval
from connect_readings.domain.readings import REGISTER_SERIES
from connect_readings.domain.tariffs import GasPricing, Period, Pricing, Tariff

S = 1_000_000
MIN = 60 * S
H = 3600 * S
DAY = 24 * H
BRUSSELS = ZoneInfo("Europe/Brussels")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
QUARTER = Interval(0, 0, 15 * MIN)
HOUR = Interval(0, 0, H)
ONE_DAY = Interval(0, 1, 0)
ONE_MONTH = Interval(1, 0, 0)

COL = {key: k for k, key in enumerate(REGISTER_SERIES)}
assert len(REGISTER_SERIES) == 12


def T(text: str) -> int:
    """An RFC 3339 instant → µs UTC."""
    dt = datetime.fromisoformat(text)
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def reading(ts: int, imp: tuple[float, float] | None = None, exp: tuple[float, float] | None = None,
            gas: float | None = None) -> tuple[int, tuple[float | None, ...]]:
    """A reading: import and export as (t1, t2) with total = t1 + t2 (t3, t4 absent), gas volume."""
    values: list[float | None] = [None] * 12
    for metric, pair in (("positiveActiveEnergy", imp), ("negativeActiveEnergy", exp)):
        if pair is not None:
            values[COL[(metric, "t1")]] = float(pair[0])
            values[COL[(metric, "t2")]] = float(pair[1])
            values[COL[(metric, "total")]] = float(pair[0]) + float(pair[1])
    if gas is not None:
        values[COL[("positiveGasVolume", None)]] = float(gas)
    return ts, tuple(values)


def brackets_of(readings: list[tuple[int, tuple[float | None, ...]]], instants: list[int]) -> list[list[Any]]:
    """Brute force: per register series, per instant, (nearest reading at-or-before, at-or-after)."""
    out = []
    for col in range(len(REGISTER_SERIES)):
        points = sorted((ts, float(v[col])) for ts, v in readings if v[col] is not None)
        column = []
        for t in instants:
            before = [p for p in points if p[0] <= t]
            after = [p for p in points if p[0] >= t]
            column.append((before[-1] if before else None, after[0] if after else None))
        out.append(column)
    return out


def costs(readings, tariff: Tariff, edges: list[int], prices=None, months=(), split: bool = True
          ) -> list[dict[str, Any] | None]:
    """`bucket_costs` as the use case calls it (`split`: every register at the coarse cuts, the dynamically
    priced ones at every price edge too), or with every register at every cut (the same pieces)."""
    inputs = CostInputs(tariff, {sid: PriceColumns.of(ivs) for sid, ivs in (prices or {}).items()}, list(months))
    if not split:
        cuts = cut_instants(edges, inputs)
        return bucket_costs(edges, cuts, brackets_of(readings, cuts), inputs)
    cuts = coarse_cuts(edges, tariff)
    fine_cuts = cut_instants(edges, inputs)
    at_fine = brackets_of(readings, fine_cuts)
    fine = FinePieces(fine_cuts, {k: piece_deltas(fine_cuts, at_fine[k]) for k in dynamic_registers(tariff)})
    return bucket_costs(edges, cuts, brackets_of(readings, cuts), inputs, fine)


def grid_edges(width: Interval, tz: ZoneInfo | None, start: int, end: int) -> list[int]:
    return Grid(width, tz).edges(start, end)


def local_month(tz: ZoneInfo | None, year: int, month: int, rolling_mean: float | None) -> Month:
    """The local calendar month, from zoneinfo directly (checked against the grid's month_start)."""
    zone = tz or UTC
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    a, b = (start - epoch) // timedelta(microseconds=1), (end - epoch) // timedelta(microseconds=1)
    assert a == month_start(year * 12 + month - 1, tz) and b == month_start(year * 12 + month, tz)
    return Month(a, b, rolling_mean)


def hourly(start: int, prices: list[float | None]) -> list[PriceInterval]:
    """Consecutive hourly intervals from `start` (None: no interval that hour)."""
    return [PriceInterval(start + k * H, start + (k + 1) * H, p) for k, p in enumerate(prices) if p is not None]


# ---------------------------------------------------------------------------------------------------------
# 1. Hand-computed rows
# ---------------------------------------------------------------------------------------------------------


def case(**inputs: Any) -> dict[str, Any]:
    """The inputs of a row: readings, tariff, edges, and prices and months where it has them."""
    return inputs


J0 = T("2025-01-01T00:00:00+00:00")
FOUR_KWH = [reading(J0, imp=(0, 0)), reading(J0 + H, imp=(1, 3))]  # t1 +1, t2 +3, total +4 over one hour

# Brussels, 2025-01-15 (a 24-hour day, +01:00): one reading each local hour, hour h consumes e_h = h % 5 + 1
# kWh (t1), 70 kWh in the day; hourly prices p_h = (h - 8) / 100 (negative before 08:00, 0 at 08:00).
D15 = T("2025-01-15T00:00:00+01:00")
E = [h % 5 + 1 for h in range(24)]
DAY_READINGS = [reading(D15 + h * H, imp=(sum(E[:h]), 0)) for h in range(25)]
DAY_PRICES = {"be": hourly(D15, [(h - 8) / 100 for h in range(24)])}
DAY_PRICES_NO_05 = {"be": hourly(D15, [None if h == 5 else (h - 8) / 100 for h in range(24)])}
DYNAMIC = Tariff("EUR", (Period(0, import_=Pricing(prices="be")),))

# Brussels, March 2025: 743 hours (spring forward on the 30th), 1 kWh an hour.
MAR = T("2025-03-01T00:00:00+01:00")
APR = T("2025-04-01T00:00:00+02:00")
MAR16 = T("2025-03-16T00:00:00+01:00")
MARCH_READINGS = [reading(MAR, imp=(0, 0)), reading(APR, imp=(743, 0))]

# Brussels, 2025-10-26: 25 hours; 4 kWh an hour (1 a quarter-hour); the k-th UTC hour of the day costs k / 100.
O26 = T("2025-10-26T00:00:00+02:00")
O27 = T("2025-10-27T00:00:00+01:00")
AUTUMN_READINGS = [reading(O26, imp=(0, 0)), reading(O27, imp=(100, 0))]
AUTUMN_PRICES = {"be": hourly(O26, [k / 100 for k in range(25)])}

# Lord Howe, 2025-04-06: clocks go back half an hour at 02:00 (+11:00 → +10:30): 24.5 hours, 2 kWh an hour.
# Local hours after the change start at UTC :30, so each straddles two UTC price hours (k-th: (10 + k) / 100).
LH0 = T("2025-04-06T00:00:00+11:00")
LH1 = T("2025-04-07T00:00:00+10:30")
LH_READINGS = [reading(LH0, imp=(0, 0)), reading(LH1, imp=(49, 0))]
LH_PRICES = {"lh": hourly(LH0, [(10 + k) / 100 for k in range(25)])}
LH_DYNAMIC = Tariff("EUR", (Period(0, import_=Pricing(prices="lh")),))

ROWS: list[tuple[str, dict[str, Any], dict[Any, Any]]] = [
    # name, inputs, expectations: bucket index → (partial) item, "n" → bucket count, ("sum", path) → sum
    ("tier prices: each tier's energy × its price",
     case(readings=FOUR_KWH, tariff=Tariff("EUR", (Period(0, import_=Pricing(tiers={"t1": 0.30, "t2": 0.20})),)),
          edges=[J0, J0 + H]),
     {0: {"import": {"energy": 4.0, "cost": 0.9, "unpricedEnergy": 0.0}, "vat": 0.0, "total": 0.9}}),
    ("a tier without a price is unpriced (total − priced tiers)",
     case(readings=FOUR_KWH, tariff=Tariff("EUR", (Period(0, import_=Pricing(tiers={"t1": 0.30})),)),
          edges=[J0, J0 + H]),
     {0: {"import": {"energy": 4.0, "cost": 0.3, "unpricedEnergy": 3.0}, "total": 0.3}}),
    ("a priced tier without energy (t3 absent) costs nothing, t2 is unpriced",
     case(readings=FOUR_KWH, tariff=Tariff("EUR", (Period(0, import_=Pricing(tiers={"t1": 0.30, "t3": 9.0})),)),
          edges=[J0, J0 + H]),
     {0: {"import": {"energy": 4.0, "cost": 0.3, "unpricedEnergy": 3.0}}}),
    ("total price over two half-hour buckets",
     case(readings=FOUR_KWH, tariff=Tariff("EUR", (Period(0, import_=Pricing(total=0.25)),)),
          edges=[J0, J0 + H // 2, J0 + H]),
     {"n": 2, 0: {"import": {"energy": 2.0, "cost": 0.5, "unpricedEnergy": 0.0}, "total": 0.5},
      1: {"import": {"energy": 2.0, "cost": 0.5}}}),
    ("VAT on import and fixed; only the tariff's components appear",
     case(readings=FOUR_KWH, tariff=Tariff("EUR", (Period(0, import_=Pricing(total=0.25), vat=0.06),)),
          edges=[J0, J0 + H]),
     {0: {"import": {"energy": 4.0, "cost": 1.0, "unpricedEnergy": 0.0}, "vat": 0.06, "total": 1.06},
      "keys": {"import", "vat", "total"}}),
    ("negative total price, negative VAT",
     case(readings=FOUR_KWH, tariff=Tariff("EUR", (Period(0, import_=Pricing(total=-0.05), vat=0.21),)),
          edges=[J0, J0 + H]),
     {0: {"import": {"energy": 4.0, "cost": -0.2}, "vat": -0.042, "total": -0.242}}),
    ("dynamic price: factor × price + adder",
     case(readings=FOUR_KWH, tariff=Tariff("EUR", (Period(0, import_=Pricing(prices="x", factor=1.1, adder=0.01)),)),
          prices={"x": [PriceInterval(J0, J0 + H, 0.1)]}, edges=[J0, J0 + H]),
     {0: {"import": {"energy": 4.0, "cost": 0.48, "unpricedEnergy": 0.0}}}),
    ("before the first period nothing is priced",
     case(readings=FOUR_KWH, tariff=Tariff("EUR", (Period(J0 + H // 2, import_=Pricing(total=0.1)),)),
          edges=[J0, J0 + H]),
     {0: {"import": {"energy": 4.0, "cost": 0.2, "unpricedEnergy": 2.0}, "total": 0.2}}),
    ("no tariff periods → {} where covered, None elsewhere",
     case(readings=FOUR_KWH, tariff=Tariff("EUR", ()), edges=[J0 - H, J0, J0 + H, J0 + 2 * H]),
     {"all": [None, {}, None]}),
    ("hourly prices, 15-minute buckets, Brussels",
     case(readings=DAY_READINGS, tariff=DYNAMIC, prices=DAY_PRICES, edges=grid_edges(QUARTER, BRUSSELS, D15, D15 + DAY)),
     {"n": 96, 0: {"import": {"energy": 0.25, "cost": -0.02}},           # h 0: e 1, p -0.08
      13: {"import": {"energy": 1.0, "cost": -0.05}},                     # h 3: e 4, p -0.05
      32: {"import": {"energy": 1.0, "cost": 0.0}},                       # h 8: e 4, p 0
      95: {"import": {"energy": 1.0, "cost": 0.15, "unpricedEnergy": 0.0}},  # h 23: e 4, p 0.15
      ("sum", "import", "cost"): 2.7, ("sum", "import", "energy"): 70.0}),
    ("hourly prices, 1-hour buckets, Brussels",
     case(readings=DAY_READINGS, tariff=DYNAMIC, prices=DAY_PRICES, edges=grid_edges(HOUR, BRUSSELS, D15, D15 + DAY)),
     {"n": 24, 3: {"import": {"energy": 4.0, "cost": -0.2}}, 12: {"import": {"energy": 3.0, "cost": 0.12}},
      ("sum", "import", "cost"): 2.7}),
    ("hourly prices, a 1-day bucket = Σ of its hours' energy × price",
     case(readings=DAY_READINGS, tariff=DYNAMIC, prices=DAY_PRICES, edges=grid_edges(ONE_DAY, BRUSSELS, D15, D15 + DAY)),
     {"n": 1, 0: {"import": {"energy": 70.0, "cost": 2.7, "unpricedEnergy": 0.0}, "total": 2.7}}),
    ("a missing price hour: its energy is unpriced",
     case(readings=DAY_READINGS, tariff=DYNAMIC, prices=DAY_PRICES_NO_05, edges=[D15, D15 + DAY]),
     {0: {"import": {"energy": 70.0, "cost": 2.73, "unpricedEnergy": 1.0}}}),
    ("a missing price hour, hourly buckets",
     case(readings=DAY_READINGS, tariff=DYNAMIC, prices=DAY_PRICES_NO_05, edges=grid_edges(HOUR, BRUSSELS, D15, D15 + DAY)),
     {5: {"import": {"energy": 1.0, "cost": 0.0, "unpricedEnergy": 1.0}},
      6: {"import": {"energy": 2.0, "cost": -0.04, "unpricedEnergy": 0.0}}}),
    ("tariff change at local midnight inside a 1-month bucket (and VAT per period)",
     case(readings=MARCH_READINGS,
          tariff=Tariff("EUR", (Period(0, import_=Pricing(total=0.2), vat=0.06),
                                Period(MAR16, import_=Pricing(total=0.3), vat=0.21))),
          edges=grid_edges(ONE_MONTH, BRUSSELS, MAR, APR)),
     # 360 h at 0.2 = 72 (VAT 4.32), 383 h at 0.3 = 114.9 (VAT 24.129)
     {"n": 1, 0: {"import": {"energy": 743.0, "cost": 186.9, "unpricedEnergy": 0.0}, "vat": 28.449,
                  "total": 215.349}}),
    ("capacity and fixed pro rata: a month's 2972 quarter-hours add up to its amounts",
     case(readings=MARCH_READINGS,
          tariff=Tariff("EUR", (Period(0, capacity_per_kw_year=40.0, fixed_per_year=120.0, vat=0.06),)),
          edges=grid_edges(QUARTER, BRUSSELS, MAR, APR), months=[local_month(BRUSSELS, 2025, 3, 3.0)]),
     # capacity 3 kW × 40 / 12 = 10, fixed 120 / 12 = 10; a quarter-hour is 1/2972 of the month
     {"n": 2972, 0: {"capacity": {"cost": 10 / 2972}, "fixed": {"cost": 10 / 2972}, "vat": 1.2 / 2972},
      "keys": {"capacity", "fixed", "vat", "total"},
      ("sum", "capacity", "cost"): 10.0, ("sum", "fixed", "cost"): 10.0, ("sum", "vat"): 1.2, ("sum", "total"): 21.2}),
    ("fixed changes at local midnight mid-month; a month without rolling mean has no capacity cost",
     case(readings=MARCH_READINGS,
          tariff=Tariff("EUR", (Period(0, capacity_per_kw_year=40.0, fixed_per_year=120.0),
                                Period(MAR16, capacity_per_kw_year=40.0, fixed_per_year=240.0))),
          edges=grid_edges(ONE_DAY, BRUSSELS, MAR, APR), months=[local_month(BRUSSELS, 2025, 3, None)]),
     {"n": 31, 0: {"capacity": {"cost": 0.0}, "fixed": {"cost": 10 * 24 / 743}},
      29: {"fixed": {"cost": 20 * 23 / 743}},  # 30 March: 23 hours
      ("sum", "fixed", "cost"): 10 * 360 / 743 + 20 * 383 / 743, ("sum", "capacity", "cost"): 0.0}),
    ("autumn day in Brussels: 100 quarter-hours, hourly prices",
     case(readings=AUTUMN_READINGS, tariff=DYNAMIC, prices=AUTUMN_PRICES, edges=grid_edges(QUARTER, BRUSSELS, O26, O27)),
     {"n": 100, 0: {"import": {"energy": 1.0, "cost": 0.0}}, 8: {"import": {"energy": 1.0, "cost": 0.02}},
      12: {"import": {"energy": 1.0, "cost": 0.03}}, 99: {"import": {"energy": 1.0, "cost": 0.24}},
      ("sum", "import", "cost"): 12.0, ("sum", "import", "energy"): 100.0}),
    ("autumn day in Brussels: 25 hours and one day",
     case(readings=AUTUMN_READINGS, tariff=DYNAMIC, prices=AUTUMN_PRICES, edges=grid_edges(HOUR, BRUSSELS, O26, O27)),
     {"n": 25, 2: {"import": {"energy": 4.0, "cost": 0.08}}, 3: {"import": {"energy": 4.0, "cost": 0.12}},
      ("sum", "import", "cost"): 12.0}),
    ("autumn day in Brussels: one 1-day bucket",
     case(readings=AUTUMN_READINGS, tariff=DYNAMIC, prices=AUTUMN_PRICES, edges=grid_edges(ONE_DAY, BRUSSELS, O26, O27)),
     {"n": 1, 0: {"import": {"energy": 100.0, "cost": 12.0, "unpricedEnergy": 0.0}}}),
    ("Lord Howe clock change: a 90-minute hour, then hours straddling two UTC price hours",
     case(readings=LH_READINGS, tariff=LH_DYNAMIC, prices=LH_PRICES, edges=grid_edges(HOUR, LORD_HOWE, LH0, LH1)),
     {"n": 24, 0: {"import": {"energy": 2.0, "cost": 0.2}}, 1: {"import": {"energy": 3.0, "cost": 0.34}},
      2: {"import": {"energy": 2.0, "cost": 0.25}}, 23: {"import": {"energy": 2.0, "cost": 0.67}},
      ("sum", "import", "cost"): 10.66, ("sum", "import", "energy"): 49.0}),
    ("Lord Howe clock change: one 24.5-hour day",
     case(readings=LH_READINGS, tariff=LH_DYNAMIC, prices=LH_PRICES, edges=grid_edges(ONE_DAY, LORD_HOWE, LH0, LH1)),
     {"n": 1, 0: {"import": {"energy": 49.0, "cost": 10.66}}}),
    ("export: cost is minus the revenue, no VAT on it",
     case(readings=[reading(J0, imp=(0, 0), exp=(0, 0)), reading(J0 + H, imp=(0, 0), exp=(2, 3))],
          tariff=Tariff("EUR", (Period(0, export=Pricing(total=0.04), vat=0.21),)), edges=[J0, J0 + H]),
     {0: {"export": {"energy": 5.0, "cost": -0.2, "unpricedEnergy": 0.0}, "vat": 0.0, "total": -0.2},
      "keys": {"export", "vat", "total"}}),
    ("export at a negative dynamic price costs money",
     case(readings=[reading(J0, exp=(0, 0)), reading(J0 + H, exp=(2, 3))],
          tariff=Tariff("EUR", (Period(0, export=Pricing(prices="x")),)),
          prices={"x": [PriceInterval(J0, J0 + H, -0.1)]}, edges=[J0, J0 + H]),
     {0: {"export": {"energy": 5.0, "cost": 0.5}, "total": 0.5}}),
    ("export tiers: t2 unpriced",
     case(readings=[reading(J0, exp=(0, 0)), reading(J0 + H, exp=(2, 3))],
          tariff=Tariff("EUR", (Period(0, export=Pricing(tiers={"t1": 0.05})),)), edges=[J0, J0 + H]),
     {0: {"export": {"energy": 5.0, "cost": -0.1, "unpricedEnergy": 3.0}}}),
    ("gas per m³ with VAT",
     case(readings=[reading(J0, gas=10.0), reading(J0 + H, gas=12.5)],
          tariff=Tariff("EUR", (Period(0, gas=GasPricing(per_m3=1.1), vat=0.06),)), edges=[J0, J0 + H]),
     {0: {"gas": {"volume": 2.5, "cost": 2.75, "unpricedVolume": 0.0}, "vat": 0.165, "total": 2.915},
      "keys": {"gas", "vat", "total"}}),
    ("gas per kWh × kWh per m³",
     case(readings=[reading(J0, gas=10.0), reading(J0 + H, gas=12.5)],
          tariff=Tariff("EUR", (Period(0, gas=GasPricing(per_kwh=0.07, kwh_per_m3=10.35)),)), edges=[J0, J0 + H]),
     {0: {"gas": {"volume": 2.5, "cost": 1.81125}}}),
    ("gas before its first period is unpriced",
     case(readings=[reading(J0, gas=10.0), reading(J0 + H, gas=12.5)],
          tariff=Tariff("EUR", (Period(J0 + 36 * MIN, gas=GasPricing(per_m3=1.0)),)), edges=[J0, J0 + H]),
     {0: {"gas": {"volume": 2.5, "cost": 1.0, "unpricedVolume": 1.5}}}),  # priced from 00:36: 40 %
    ("readings start inside a bucket: clamped, never extrapolated",
     case(readings=[reading(J0 + 30 * MIN, imp=(0, 0)), reading(J0 + 90 * MIN, imp=(2, 0))],
          tariff=Tariff("EUR", (Period(0, import_=Pricing(total=0.1)), Period(J0 + 15 * MIN, import_=Pricing(total=0.2)))),
          edges=[J0 - H, J0, J0 + H, J0 + 2 * H, J0 + 3 * H]),
     {"all": [None, {"import": {"energy": 1.0, "cost": 0.2, "unpricedEnergy": 0.0}, "vat": 0.0, "total": 0.2},
              {"import": {"energy": 1.0, "cost": 0.2, "unpricedEnergy": 0.0}, "vat": 0.0, "total": 0.2}, None]}),
    ("a tariff change inside coverage that starts mid-bucket",
     case(readings=[reading(J0 + 30 * MIN, imp=(0, 0)), reading(J0 + 90 * MIN, imp=(2, 0))],
          tariff=Tariff("EUR", (Period(0, import_=Pricing(total=0.1)), Period(J0 + 45 * MIN, import_=Pricing(total=0.2)))),
          edges=[J0, J0 + H]),
     {0: {"import": {"energy": 1.0, "cost": 0.05 + 0.1}}}),  # 0.5 kWh at 0.1, 0.5 kWh at 0.2
]


def _get(item: Any, path: tuple[str, ...]) -> float:
    for key in path:
        item = item[key]
    return item


def _match(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}: no {key!r} in {actual}"
            _match(actual[key], value, f"{where}.{key}")
    elif expected is None:
        assert actual is None, where
    else:
        assert actual == pytest.approx(expected, abs=1e-9), f"{where}: {actual} != {expected}"


@pytest.mark.parametrize("split", [True, False], ids=["coarse+fine", "all cuts"])
@pytest.mark.parametrize(("name", "inputs", "expect"), ROWS, ids=[row[0] for row in ROWS])
def test_cost_rows(name: str, inputs: dict[str, Any], expect: dict[Any, Any], split: bool) -> None:
    result = costs(**inputs, split=split)
    if "all" in expect:
        assert len(result) == len(expect["all"])
        for k, (actual, expected) in enumerate(zip(result, expect["all"])):
            if expected is None or expected == {}:
                assert actual == expected, k
            else:
                assert set(actual) == set(expected), k
                _match(actual, expected, f"[{k}]")
    if "n" in expect:
        assert len(result) == expect["n"]
    for key, expected in expect.items():
        if isinstance(key, int):
            _match(result[key], expected, f"[{key}]")
        elif isinstance(key, tuple):
            # A bucket's capacity and fixed amounts are differences of the month's accrued amount, each rounded
            # to 1e-9, so a month's buckets add up to it exactly but for float noise (rounding each bucket's
            # share would drift by up to n × 0.5e-9: 1.5e-6 over 2972 quarter-hours).
            total = sum(_get(item, key[1:]) for item in result if item)
            assert total == pytest.approx(expected, abs=1e-9), key
        elif key == "keys":
            assert all(set(item) == expected for item in result if item is not None)


def test_cut_instants_of_a_dynamic_period_only() -> None:
    tariff = Tariff("EUR", (Period(0, import_=Pricing(total=0.1)), Period(2 * H, import_=Pricing(prices="x"))))
    prices = {"x": [PriceInterval(k * H, (k + 1) * H, 0.1) for k in range(5)]}
    assert cut_instants([0, 4 * H + H // 2], CostInputs(tariff, {"x": PriceColumns.of(prices["x"])}, [])
                        ) == [0, 2 * H, 3 * H, 4 * H, 4 * H + H // 2]
    assert coarse_cuts([0, 4 * H + H // 2], tariff) == [0, 2 * H, 4 * H + H // 2]
    assert dynamic_registers(tariff) == [COL[("positiveActiveEnergy", "total")]]
    gappy = {"x": [PriceInterval(0, H, 0.1), PriceInterval(2 * H, 3 * H, 0.2), PriceInterval(3 * H, 5 * H, 0.3)]}
    assert cut_instants([0, 4 * H], CostInputs(Tariff("EUR", (Period(0, export=Pricing(prices="x")),)),
                                               {"x": PriceColumns.of(gappy["x"])}, [])
                        ) == [0, H, 2 * H, 3 * H, 4 * H]


def test_register_deltas_on_a_store(store: Any) -> None:
    """The use case's reads of the dynamically priced registers at the price edges (`register_deltas`: the
    readings exactly there, the chunked statistics reads where none is) give the clamped deltas `piece_deltas`
    gives from brute-force brackets: instants before, across and after the coverage, a reset, a reading without
    the register, edges between readings."""
    import uuid

    from connect_readings.domain.readings import parse_reading
    from connect_readings.usecases.statistics import register_deltas

    entity = uuid.UUID("0c05b1a2-7d1e-4f7a-9a51-3f5e2c1d0b21")
    imp = [10.0, 12.0, 15.0, 1.0, 4.0, None, 9.0, 9.5]  # a reset (15 → 1) and a reading without import
    exp = [0.0, 0.5, None, 1.0, 1.5, 2.0, 3.0, 3.25]
    stamps = [J0 + k * 15 * MIN for k in range(len(imp))]
    wire = []
    for ts, i, e in zip(stamps, imp, exp):
        data = {}
        if i is not None:
            data["positiveActiveEnergy"] = {"total": i, "unit": "kWh"}
        if e is not None:
            data["negativeActiveEnergy"] = {"total": e, "unit": "kWh"}
        wire.append({"timestamp": datetime.fromtimestamp(ts / S, UTC).isoformat(), "data": data})
    store.ingest(entity, [parse_reading(item) for item in wire])
    continuous = []  # the store's rule: a decrease is a reset to zero, the counter goes on from before it
    offset, previous = 0.0, None
    for ts, i, e in zip(stamps, imp, exp):
        if i is not None:
            if previous is not None and i < previous:
                offset += previous
            previous = i
        continuous.append(reading(ts, imp=None if i is None else (i + offset, 0), exp=None if e is None else (e, 0)))
    registers = [POS_TOTAL, NEG_TOTAL]
    for instants in ([J0 - H, J0 - 30 * MIN, J0 + 15 * MIN, J0 + 30 * MIN, J0 + 45 * MIN, J0 + 60 * MIN,
                      J0 + 75 * MIN, J0 + 90 * MIN, J0 + 105 * MIN, J0 + 3 * H],  # on readings, outside at both ends
                     [J0 - 7 * MIN, J0 + 7 * MIN, J0 + 22 * MIN, J0 + 40 * MIN, J0 + 50 * MIN, J0 + 100 * MIN,
                      J0 + 110 * MIN],  # between readings, straddling the first one
                     [J0 + 30 * MIN + k * 5 * MIN for k in range(10)],  # some on readings, some between
                     [J0 + 2 * H, J0 + 3 * H], [J0 - 2 * H, J0 - H], [J0 + 105 * MIN]):
        with store.snapshot():
            got = register_deltas(store, entity, registers, instants)
        brackets = brackets_of(continuous, instants)
        for k in registers:
            want = piece_deltas(instants, brackets[k])
            assert got[k] == pytest.approx(want, abs=1e-9), (k, instants, got[k], want)


# ---------------------------------------------------------------------------------------------------------
# 2. Property: costs.py against an exact reference
# ---------------------------------------------------------------------------------------------------------

POS_TOTAL, NEG_TOTAL = COL[("positiveActiveEnergy", "total")], COL[("negativeActiveEnergy", "total")]
GAS, NEG_GAS = COL[("positiveGasVolume", None)], COL[("negativeGasVolume", None)]


class Register:
    """A register series as an exact piecewise-linear function of time through its readings, clamped."""

    def __init__(self, readings, col: int) -> None:
        self.points = [(ts, Fraction(v[col])) for ts, v in readings if v[col] is not None]
        self.stamps = [ts for ts, _ in self.points]

    def at(self, t: int) -> Fraction:
        p = self.points
        if not p:
            return Fraction(0)
        if t <= p[0][0]:
            return p[0][1]
        if t >= p[-1][0]:
            return p[-1][1]
        i = bisect.bisect_right(self.stamps, t) - 1
        (t0, v0), (t1, v1) = p[i], p[i + 1]
        return v0 + (v1 - v0) * Fraction(t - t0, t1 - t0)

    def delta(self, a: int, b: int) -> Fraction:
        return self.at(b) - self.at(a)

    def covers(self, a: int, b: int) -> bool:
        return bool(self.points) and max(a, self.points[0][0]) < min(b, self.points[-1][0])


def _price_at(intervals: list[PriceInterval], t: int) -> Fraction | None:
    for iv in intervals:
        if iv.start <= t < iv.end:
            return Fraction(iv.price)
    return None


def _energy_ref(regs: dict[Any, Register], metric: str, pricing: Pricing | None, prices, a: int, b: int
                ) -> tuple[Fraction, Fraction]:
    """(cost before sign, unpriced) of the piece [a, b)."""
    total = regs[(metric, "total")].delta(a, b)
    if pricing is None:
        return Fraction(0), total
    if pricing.tiers is not None:
        cost = priced = Fraction(0)
        for tier, price in pricing.tiers.items():
            d = regs[(metric, tier)].delta(a, b)
            cost += d * Fraction(price)
            priced += d
        return cost, total - priced
    if pricing.total is not None:
        return total * Fraction(pricing.total), Fraction(0)
    unit = _price_at(prices.get(pricing.prices, []), a)
    if unit is None:
        return Fraction(0), total
    return total * (Fraction(pricing.factor) * unit + Fraction(pricing.adder)), Fraction(0)


def reference(readings, tariff: Tariff, prices, months: list[Month], edges: list[int]) -> list[dict | None]:
    regs = {key: Register(readings, k) for k, key in enumerate(REGISTER_SERIES)}
    periods = list(tariff.periods)
    bounds = [(p, periods[i + 1].start if i + 1 < len(periods) else None) for i, p in enumerate(periods)]
    every_edge = {p.start for p in periods} | {t for ivs in prices.values() for iv in ivs for t in (iv.start, iv.end)}
    has = {name: any(getattr(p, name) is not None for p in periods)
           for name in ("import_", "export", "gas", "capacity_per_kw_year", "fixed_per_year")}
    out: list[dict | None] = []
    for b0, b1 in pairwise(edges):
        if not any(regs[REGISTER_SERIES[c]].covers(b0, b1) for c in (POS_TOTAL, NEG_TOTAL, GAS, NEG_GAS)):
            out.append(None)
            continue
        if not periods:
            out.append({})
            continue
        cuts = sorted({b0, b1} | {t for t in every_edge if b0 < t < b1})
        imp = [Fraction(0), Fraction(0)]
        exp = [Fraction(0), Fraction(0)]
        gas = [Fraction(0), Fraction(0)]
        vat = Fraction(0)
        for a, b in pairwise(cuts):
            period = tariff.period_at(a)
            c_imp, u_imp = _energy_ref(regs, "positiveActiveEnergy", period and period.import_, prices, a, b)
            c_exp, u_exp = _energy_ref(regs, "negativeActiveEnergy", period and period.export, prices, a, b)
            volume = regs[("positiveGasVolume", None)].delta(a, b)
            gp = period and period.gas
            if gp is None:
                c_gas, u_gas = Fraction(0), volume
            elif gp.per_m3 is not None:
                c_gas, u_gas = volume * Fraction(gp.per_m3), Fraction(0)
            else:
                c_gas = volume * Fraction(str(gp.per_kwh)) * Fraction(str(gp.kwh_per_m3))
                u_gas = Fraction(0)
            imp[0] += c_imp
            imp[1] += u_imp
            exp[0] -= c_exp
            exp[1] += u_exp
            gas[0] += c_gas
            gas[1] += u_gas
            if period is not None:
                vat += Fraction(period.vat) * (c_imp + c_gas)
        capacity = fixed = Fraction(0)
        for month in months:
            length = month.end - month.start
            for period, until in bounds:
                lo = max(b0, month.start, period.start)
                hi = min(b1, month.end, until if until is not None else b1)
                if lo >= hi:
                    continue
                share = Fraction(hi - lo, length)
                part = Fraction(0)
                if period.capacity_per_kw_year is not None and month.rolling_mean is not None:
                    part += Fraction(month.rolling_mean) * Fraction(period.capacity_per_kw_year) / 12 * share
                    capacity += Fraction(month.rolling_mean) * Fraction(period.capacity_per_kw_year) / 12 * share
                if period.fixed_per_year is not None:
                    part += Fraction(period.fixed_per_year) / 12 * share
                    fixed += Fraction(period.fixed_per_year) / 12 * share
                vat += Fraction(period.vat) * part
        item: dict[str, Any] = {}
        total = vat
        if has["import_"] and regs[("positiveActiveEnergy", "total")].covers(b0, b1):
            item["import"] = {"energy": regs[("positiveActiveEnergy", "total")].delta(b0, b1), "cost": imp[0],
                              "unpricedEnergy": imp[1]}
            total += imp[0]
        if has["export"] and regs[("negativeActiveEnergy", "total")].covers(b0, b1):
            item["export"] = {"energy": regs[("negativeActiveEnergy", "total")].delta(b0, b1), "cost": exp[0],
                              "unpricedEnergy": exp[1]}
            total += exp[0]
        if has["gas"] and regs[("positiveGasVolume", None)].covers(b0, b1):
            item["gas"] = {"volume": regs[("positiveGasVolume", None)].delta(b0, b1), "cost": gas[0],
                           "unpricedVolume": gas[1]}
            total += gas[0]
        if has["capacity_per_kw_year"]:
            item["capacity"] = {"cost": capacity}
            total += capacity
        if has["fixed_per_year"]:
            item["fixed"] = {"cost": fixed}
            total += fixed
        item["vat"] = vat
        item["total"] = total
        out.append(item)
    return out


def _close(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), f"{where}: {actual} vs {expected}"
        for key in expected:
            _close(actual[key], expected[key], f"{where}.{key}")
    elif expected is None:
        assert actual is None, f"{where}: {actual} vs None"
    else:
        assert actual == pytest.approx(float(expected), rel=1e-6, abs=1e-6), f"{where}: {actual} vs {float(expected)}"


def _amounts(item: Any) -> list[float]:
    if isinstance(item, dict):
        return [v for value in item.values() for v in _amounts(value)]
    return [] if item is None else [item]


ZONES = [None, BRUSSELS, LORD_HOWE]
RESOLUTIONS = {"15 min": (QUARTER, 36 * H), "1 h": (HOUR, 5 * DAY), "1 day": (ONE_DAY, 25 * DAY),
               "1 month": (ONE_MONTH, 80 * DAY)}
ANCHORS = [T(t) for t in ("2025-03-30T00:00:00Z", "2025-10-26T00:00:00Z", "2025-04-05T15:00:00Z",
                          "2025-10-04T15:30:00Z", "2025-02-28T23:00:00Z", "2024-12-31T23:30:00Z")]

prices_st = st.one_of(st.integers(-300, 600).map(lambda k: k / 1000), st.floats(-1, 1, allow_nan=False))
money_st = st.floats(0, 500, allow_nan=False)


def pricing_st(series: str) -> st.SearchStrategy[Pricing | None]:
    tiers = st.dictionaries(st.sampled_from(["t1", "t2", "t3", "t4"]), prices_st, min_size=1, max_size=4)
    return st.one_of(
        st.none(),
        tiers.map(lambda d: Pricing(tiers=d)),
        prices_st.map(lambda p: Pricing(total=p)),
        *[st.builds(lambda f, a: Pricing(prices=series, factor=f, adder=a),
                    st.sampled_from([1.0, 1.1, 0.9, -1.0]), st.sampled_from([0.0, 0.01, -0.02]))] * 3,
    )


gas_st = st.one_of(st.none(), prices_st.map(lambda p: GasPricing(per_m3=p)),
                   st.builds(lambda p, k: GasPricing(per_kwh=p, kwh_per_m3=k), prices_st,
                             st.sampled_from([10.35, 9.77, 11.0])))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple:
    tz = draw(st.sampled_from(ZONES))
    width, span = RESOLUTIONS[draw(st.sampled_from(sorted(RESOLUTIONS)))]
    start = draw(st.sampled_from(ANCHORS)) + draw(st.integers(-span // 2, span // 2)) // MIN * MIN
    end = start + max(MIN, draw(st.integers(0, 100)) * span // 100 // MIN * MIN + draw(st.integers(-59, 59)) * MIN)
    grid = Grid(width, tz)
    edges = [start] + [e for e in grid.edges(start, end) if start < e < end] + [end]

    # readings: random instants around the window, counters rising, groups (import, export, gas) optional
    lo, hi = start - (end - start) // 8, end + (end - start) // 8
    count = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 8, 12, 12, 16, 16]))
    stamps = sorted(set(draw(st.lists(st.integers(lo // S, hi // S), min_size=count, max_size=count))))
    counters = [draw(st.integers(0, 10_000)) / 100 for _ in range(5)]  # imp t1, t2, exp t1, t2, gas
    readings = []
    for ts in stamps:
        counters = [c + draw(st.integers(0, 4_000)) / 1000 for c in counters]
        groups = draw(st.sampled_from(["ieg", "ieg", "ie", "i", "e", "g", "ig"]))
        readings.append(reading(ts * S, imp=(counters[0], counters[1]) if "i" in groups else None,
                                exp=(counters[2], counters[3]) if "e" in groups else None,
                                gas=counters[4] if "g" in groups else None))

    # prices: intervals of random lengths with gaps, negative prices
    prices: dict[str, list[PriceInterval]] = {}
    for series in ("p", "q"):
        cursor = lo + draw(st.integers(0, (hi - lo) // 2)) // MIN * MIN
        if draw(st.booleans()):
            cursor -= cursor % (15 * MIN)  # aligned as market prices are (UTC quarter-hours)
        intervals = []
        while cursor < hi and len(intervals) < 60:
            length = draw(st.sampled_from([15 * MIN, H, H, H, 6 * H, DAY, 7 * DAY]))
            if draw(st.integers(0, 5)) == 0:
                cursor += length  # a gap
            else:
                intervals.append(PriceInterval(cursor, cursor + length, draw(prices_st)))
                cursor += length
        prices[series] = intervals

    # tariff periods
    starts = sorted(set(draw(st.lists(st.integers(lo // MIN, end // MIN), min_size=draw(st.sampled_from([0, 1, 1, 1, 1, 1, 1, 1])), max_size=3))))
    periods = tuple(
        Period(s * MIN, import_=draw(pricing_st("p")), export=draw(pricing_st("q")), gas=draw(gas_st),
               capacity_per_kw_year=draw(st.one_of(st.none(), money_st)),
               fixed_per_year=draw(st.one_of(st.none(), money_st)),
               vat=draw(st.sampled_from([0.0, 0.06, 0.21, 1.0])))
        for s in starts)
    tariff = Tariff("EUR", periods)

    # local months the window meets, with random rolling means: in the entity's zone, mostly the grid's
    # (a query may ask for buckets in another zone than the entity's, whose months capacity follows)
    month_tz = tz if draw(st.integers(0, 3)) else draw(st.sampled_from(ZONES))
    first, last = month_index(start, month_tz), month_index(end - 1, month_tz)
    months = [local_month(month_tz, m // 12, m % 12 + 1, draw(st.one_of(st.none(), st.floats(0, 20))))
              for m in range(first, last + 1)]
    return readings, tariff, prices, months, edges


STATS = dict.fromkeys(["examples", "buckets", "priced", "none", "import", "export", "gas", "capacity", "fixed",
                       "unpriced", "dynamic", "several periods"], 0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_costs_match_exact_reference(scenario: tuple) -> None:
    readings, tariff, prices, months, edges = scenario
    actual = costs(readings, tariff, edges, prices, months)
    every_cut = costs(readings, tariff, edges, prices, months, split=False)
    expected = reference(readings, tariff, prices, months, edges)
    assert len(actual) == len(expected)
    STATS["examples"] += 1
    STATS["buckets"] += len(actual)
    STATS["none"] += sum(item is None for item in actual)
    STATS["priced"] += sum(bool(item) for item in actual)
    for item in expected:
        for part in ("import", "export", "gas", "capacity", "fixed"):
            if item and part in item and item[part]["cost"]:
                STATS[part] += 1
        if item and any(item.get(part, {}).get(key) for part in ("import", "export", "gas")
                        for key in ("unpricedEnergy", "unpricedVolume")):
            STATS["unpriced"] += 1
    STATS["dynamic"] += any(p.import_ is not None and p.import_.dynamic for p in tariff.periods)
    STATS["several periods"] += len(tariff.periods) > 1
    for k, (a, e) in enumerate(zip(actual, expected)):
        _close(a, e, f"bucket {k} [{edges[k]}, {edges[k + 1]})")
        _close(every_cut[k], e, f"bucket {k} [{edges[k]}, {edges[k + 1]}), every register at every cut")
        for amount in _amounts(a):  # served rounded to 1e-9, never -0.0
            assert round(amount, 9) == amount and math.copysign(1.0, amount) == 1.0 or amount < 0, (k, amount)


def teardown_module() -> None:
    if STATS["examples"]:
        print(f"\ncosts property: {STATS}")
