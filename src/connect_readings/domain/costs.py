"""What a bucket of energy costs (docs/semantics.md §15, Costs): pure, given the register brackets at every cut.

A bucket is cut at every tariff change and, where a period prices energy dynamically, at every edge of its price
series. Each piece's energy is the same clamped, interpolated register delta as `/aggregations` (registers.py),
so the pieces of a bucket add up to its `/aggregations` value; a piece costs its energy times the one unit
price in force over it. Capacity and fixed amounts are pro rata of time per local calendar month:
`monthly amount × |bucket ∩ month ∩ period| / |month|`, so a month's buckets add up to the month's amount.

Amounts are floats summed piece by piece and rounded once, to 1e-9, when served.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .prices import PriceInterval
from .readings import REGISTER_SERIES
from .registers import Bracket, ClampedValue, aggregate, clamped
from .tariffs import GasPricing, Period, Pricing, Tariff

_COLUMN = {key: k for k, key in enumerate(REGISTER_SERIES)}
_TIERS = ("t1", "t2", "t3", "t4")


@dataclass(frozen=True, slots=True)
class Month:
    """A local calendar month [start, end) in µs and the capacity tariff's rolling mean there (kW; None: the
    month has no coverage, so no capacity cost)."""

    start: int
    end: int
    rolling_mean: float | None


@dataclass(frozen=True, slots=True)
class CostInputs:
    tariff: Tariff
    prices: Mapping[str, Sequence[PriceInterval]]
    """Each price series the tariff names: its intervals over the window, sorted, non-overlapping."""
    months: Sequence[Month]
    """The local calendar months the window meets, in order (capacity and fixed are pro rata of them)."""


def period_ends(tariff: Tariff) -> list[tuple[Period, int | None]]:
    """Each period with the instant it ends (the next one's start; None: open)."""
    periods = tariff.periods
    return [(p, periods[i + 1].start if i + 1 < len(periods) else None) for i, p in enumerate(periods)]


def cut_instants(edges: Sequence[int], inputs: CostInputs) -> list[int]:
    """The bucket edges, every tariff change inside them, and every price edge inside a dynamic period.

    >>> from .tariffs import Tariff, Period, Pricing
    >>> t = Tariff("EUR", (Period(0, Pricing(total=0.3), None, None, None, None, 0.0),
    ...                    Period(50, Pricing(prices="p"), None, None, None, None, 0.0)))
    >>> cut_instants([0, 100], CostInputs(t, {"p": [PriceInterval(40, 70, 0.1)]}, []))
    [0, 50, 70, 100]
    """
    lo, hi = edges[0], edges[-1]
    cuts = set(edges)
    for period, until in period_ends(inputs.tariff):
        a, b = max(lo, period.start), hi if until is None else min(hi, until)
        if a >= b:
            continue
        cuts.add(a)
        for pricing in (period.import_, period.export):
            if pricing is not None and pricing.prices is not None:
                for interval in inputs.prices.get(pricing.prices, ()):
                    cuts.update(t for t in (interval.start, interval.end) if a < t < b)
    return sorted(t for t in cuts if lo <= t <= hi)


class _Pieces:
    """The clamped register values at every cut, and the energy of each piece between consecutive cuts."""

    def __init__(self, cuts: Sequence[int], brackets: Sequence[Sequence[Bracket]]) -> None:
        self.values: list[list[ClampedValue]] = [[clamped(t, b) for t, b in zip(cuts, column)] for column in brackets]

    def delta(self, column: int, i: int) -> float:
        """The register's delta over piece i (between cuts i and i+1); 0 where the piece has no coverage."""
        left, right = self.values[column][i], self.values[column][i + 1]
        if left is None or right is None or right[0] <= left[0]:
            return 0.0
        return right[1] - left[1]


class _Sum:
    __slots__ = ("energy", "cost", "unpriced")

    def __init__(self) -> None:
        self.energy = self.cost = self.unpriced = 0.0


def bucket_costs(edges: Sequence[int], cuts: Sequence[int], brackets: Sequence[Sequence[Bracket]],
                 inputs: CostInputs) -> list[dict[str, Any] | None]:
    """CostData for each bucket between consecutive `edges`; None for a bucket without coverage (which
    `/aggregations` leaves out), `{}` for one without a tariff. `brackets`: per register series
    (REGISTER_SERIES order), the readings around each of `cuts` (from `cut_instants`)."""
    tariff = inputs.tariff
    at_edges = [bisect.bisect_left(cuts, e) for e in edges]
    energy = aggregate(edges, [[column[i] for i in at_edges] for column in brackets])  # as /aggregations
    if not tariff.periods:
        return [{} if covered else None for covered in energy]
    pieces = _Pieces(cuts, brackets)
    prices = _PriceIndex(inputs.prices)
    starts = [p.start for p in tariff.periods]
    has = {name: any(getattr(p, name) is not None for p in tariff.periods)
           for name in ("import_", "export", "gas", "capacity_per_kw_year", "fixed_per_year")}
    out: list[dict[str, Any] | None] = []
    for j, (b0, b1) in enumerate(zip(edges, edges[1:])):
        if not energy[j]:
            out.append(None)
            continue
        sums = {"import": _Sum(), "export": _Sum(), "gas": _Sum()}
        vat = 0.0
        for i in range(at_edges[j], at_edges[j + 1]):
            k = bisect.bisect_right(starts, cuts[i]) - 1
            period = tariff.periods[k] if k >= 0 else None
            vat_base = _energy_piece(sums["import"], pieces, i, "positiveActiveEnergy",
                                     period and period.import_, cuts[i], prices)
            _energy_piece(sums["export"], pieces, i, "negativeActiveEnergy",
                          period and period.export, cuts[i], prices, sign=-1.0)
            vat_base += _gas_piece(sums["gas"], pieces, i, period and period.gas)
            if period is not None:
                vat += period.vat * vat_base
        capacity, fixed, vat_pro_rata = _pro_rata(b0, b1, inputs)
        vat += vat_pro_rata
        data: dict[str, Any] = {}
        for name, key, metric in (("import", "import_", "positiveActiveEnergy"),
                                  ("export", "export", "negativeActiveEnergy")):
            if has[key] and metric in energy[j]:
                s = sums[name]
                data[name] = {"energy": energy[j][metric]["total"], "cost": money(s.cost),
                              "unpricedEnergy": round(max(0.0, s.unpriced), 9)}
        if has["gas"] and "positiveGasVolume" in energy[j]:
            s = sums["gas"]
            data["gas"] = {"volume": energy[j]["positiveGasVolume"]["value"], "cost": money(s.cost),
                           "unpricedVolume": round(max(0.0, s.unpriced), 9)}
        if has["capacity_per_kw_year"]:
            data["capacity"] = {"cost": money(capacity)}
        if has["fixed_per_year"]:
            data["fixed"] = {"cost": money(fixed)}
        data["vat"] = money(vat)
        data["total"] = money(sum(part["cost"] for part in data.values() if isinstance(part, dict)) + data["vat"])
        out.append(data)
    return out


def money(amount: float) -> float:
    """An amount as served: float noise rounded off (1e-9), never -0.0."""
    return round(amount, 9) + 0.0


def _energy_piece(s: _Sum, pieces: _Pieces, i: int, metric: str, pricing: Pricing | None, t: int,
                  prices: _PriceIndex, sign: float = 1.0) -> float:
    """Adds piece i of `metric` to `s`; returns its cost (the VAT base of an import piece)."""
    total = pieces.delta(_COLUMN[(metric, "total")], i)
    s.energy += total
    cost = 0.0
    if pricing is None:
        s.unpriced += total
    elif pricing.tiers is not None:
        priced = 0.0
        for tier, price in pricing.tiers.items():
            d = pieces.delta(_COLUMN[(metric, tier)], i)
            priced += d
            cost += d * price
        s.unpriced += total - priced
    elif pricing.total is not None:
        cost = total * pricing.total
    else:
        unit = prices.at(pricing.prices or "", t)
        if unit is None:
            s.unpriced += total
        else:
            cost = total * (pricing.factor * unit + pricing.adder)
    s.cost += sign * cost
    return sign * cost


def _gas_piece(s: _Sum, pieces: _Pieces, i: int, pricing: GasPricing | None) -> float:
    volume = pieces.delta(_COLUMN[("positiveGasVolume", None)], i)
    s.energy += volume
    per_volume = None if pricing is None else pricing.per_volume
    if per_volume is None:
        s.unpriced += volume
        return 0.0
    s.cost += volume * per_volume
    return volume * per_volume


class _PriceIndex:
    """Each series' interval starts, for a binary search per piece."""

    def __init__(self, prices: Mapping[str, Sequence[PriceInterval]]) -> None:
        self.series = {sid: ([iv.start for iv in intervals], intervals) for sid, intervals in prices.items()}

    def at(self, series: str, t: int) -> float | None:
        """The price of the series' interval holding t, if any."""
        starts, intervals = self.series.get(series, ((), ()))
        k = bisect.bisect_right(starts, t) - 1
        return intervals[k].price if k >= 0 and t < intervals[k].end else None


def _pro_rata(b0: int, b1: int, inputs: CostInputs) -> tuple[float, float, float]:
    """(capacity, fixed, their VAT) of bucket [b0, b1): for each month and period it meets, the monthly amount
    times the share of the month's time they have in common.

    Each is the difference of the month's amount accrued by b1 and by b0, each accrued amount rounded as served:
    the buckets of a month then add up to the month's rounded amount exactly (rounding each bucket's share
    instead would drift by up to half a nano-unit per bucket: 1.5e-6 over a month of quarter-hours).
    """
    capacity = fixed = vat = 0.0
    for month in inputs.months:
        a, b = max(b0, month.start), min(b1, month.end)
        if a < b:
            at_a, at_b = _accrued(month, a, inputs.tariff), _accrued(month, b, inputs.tariff)
            capacity += at_b[0] - at_a[0]
            fixed += at_b[1] - at_a[1]
            vat += at_b[2] - at_a[2]
    return capacity, fixed, vat


def _accrued(month: Month, t: int, tariff: Tariff) -> tuple[float, float, float]:
    """(capacity, fixed, their VAT) of `month` accrued over [month.start, t), each rounded as served."""
    capacity = fixed = vat = 0.0
    length = month.end - month.start
    for period, until in period_ends(tariff):
        lo, hi = max(month.start, period.start), t if until is None else min(t, until)
        if lo >= hi:
            continue
        share = (hi - lo) / length
        part = 0.0
        if period.capacity_per_kw_year is not None and month.rolling_mean is not None:
            c = month.rolling_mean * period.capacity_per_kw_year / 12 * share
            capacity += c
            part += c
        if period.fixed_per_year is not None:
            f = period.fixed_per_year / 12 * share
            fixed += f
            part += f
        vat += period.vat * part
    return money(capacity), money(fixed), money(vat)
