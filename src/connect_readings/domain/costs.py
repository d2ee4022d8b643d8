"""What a bucket of energy costs (docs/semantics.md §15, Costs): pure, given the register values at the cuts.

A bucket is cut at every tariff change and, where a period prices energy dynamically, at every edge of its price
series. Each piece's energy is the same clamped, interpolated register delta as `/aggregations` (registers.py),
so the pieces of a bucket add up to its `/aggregations` value; a piece costs its energy times the one unit
price in force over it. Capacity and fixed amounts are pro rata of time per local calendar month:
`monthly amount × |bucket ∩ month ∩ period| / |month|`, so a month's buckets add up to the month's amount.

Two sets of cuts, so a year of hourly prices does not read every register at 8,760 instants: the coarse cuts
(`coarse_cuts`: bucket edges and tariff changes) carry every register (each bucket's energy, tier and fixed
prices, gas: constant over a coarse piece); the fine cuts (`cut_instants`: also every price edge inside a
dynamic period) carry only the registers a price series prices (`dynamic_registers`: import and export `total`),
as one delta per fine piece (`FinePieces`).

Amounts are floats summed piece by piece and rounded once, to 1e-9, when served.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import mul
from typing import Any

from .prices import PriceColumns, PriceInterval
from .readings import REGISTER_SERIES
from .registers import Bracket, ClampedValue, aggregate, clamped
from .tariffs import GasPricing, Period, Pricing, Tariff

_COLUMN = {key: k for k, key in enumerate(REGISTER_SERIES)}
_TIERS = ("t1", "t2", "t3", "t4")
NO_PRICES = PriceColumns([], [], [])


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
    prices: Mapping[str, PriceColumns]
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
    >>> cut_instants([0, 100], CostInputs(t, {"p": PriceColumns.of([PriceInterval(40, 70, 0.1)])}, []))
    [0, 50, 70, 100]
    """
    lo, hi = edges[0], edges[-1]
    cuts = set(edges)
    price_edges: dict[str, list[int]] = {}
    for period, until in period_ends(inputs.tariff):
        a, b = max(lo, period.start), hi if until is None else min(hi, until)
        if a >= b:
            continue
        cuts.add(a)
        for series in {pricing.prices for pricing in (period.import_, period.export)
                       if pricing is not None and pricing.prices is not None}:
            found = price_edges.get(series)
            if found is None:
                columns = inputs.prices.get(series, NO_PRICES)
                starts, ends = columns.starts, columns.ends
                found = price_edges[series] = (starts + ends[-1:] if starts[1:] == ends[:-1]  # contiguous
                                               else sorted(set(starts).union(ends)))
            cuts.update(found[bisect.bisect_right(found, a):bisect.bisect_left(found, b)])
    return sorted(cuts)  # all inside [lo, hi]: edges, period starts a < b <= hi, price edges inside (a, b)


DYNAMIC_REGISTERS = {"import_": _COLUMN[("positiveActiveEnergy", "total")],
                     "export": _COLUMN[("negativeActiveEnergy", "total")]}
"""The register series a dynamic price applies to: import and export energy, their `total`."""


def coarse_cuts(edges: Sequence[int], tariff: Tariff) -> list[int]:
    """The bucket edges and every tariff change inside them: where all registers are read (tiers, fixed prices,
    gas and every bucket's energy change only there).

    >>> from .tariffs import Tariff, Period, Pricing
    >>> coarse_cuts([0, 100], Tariff("EUR", (Period(0, Pricing(total=0.3), None, None, None, None, 0.0),
    ...                                      Period(50, Pricing(prices="p"), None, None, None, None, 0.0))))
    [0, 50, 100]
    """
    lo, hi = edges[0], edges[-1]
    return sorted(set(edges).union(p.start for p in tariff.periods if lo < p.start < hi))


def dynamic_registers(tariff: Tariff) -> list[int]:
    """The register series (REGISTER_SERIES indexes) some period prices by a price series."""
    return [column for name, column in DYNAMIC_REGISTERS.items()
            if any((pricing := getattr(p, name)) is not None and pricing.prices is not None for p in tariff.periods)]


@dataclass(frozen=True, slots=True)
class FinePieces:
    """The registers priced dynamically, cut finer: at `cuts` (from `cut_instants`: the coarse cuts and every
    price edge inside a dynamic period), each register's delta over each piece between consecutive cuts."""

    cuts: Sequence[int]
    deltas: Mapping[int, Sequence[float]]
    """Per register series in `dynamic_registers`: len(cuts) - 1 deltas, clamped as `piece_deltas`."""


def piece_deltas(cuts: Sequence[int], brackets: Sequence[Bracket]) -> list[float]:
    """A register's delta over each piece between consecutive cuts, from its brackets at the cuts: the
    difference of the clamped values (0 where the piece has no coverage)."""
    values = [clamped(t, b) for t, b in zip(cuts, brackets)]
    return [0.0 if left is None or right is None or right[0] <= left[0] else right[1] - left[1]
            for left, right in zip(values, values[1:])]


class _Pieces:
    """The clamped register values at every (coarse) cut, column by column as asked, and the energy of each piece
    between consecutive cuts."""

    def __init__(self, cuts: Sequence[int], brackets: Sequence[Sequence[Bracket]]) -> None:
        self.cuts, self.brackets = cuts, brackets
        self.values: dict[int, list[ClampedValue]] = {}

    def delta(self, column: int, i: int) -> float:
        """The register's delta over piece i (between cuts i and i+1); 0 where the piece has no coverage."""
        values = self.values.get(column)
        if values is None:
            values = self.values[column] = [clamped(t, b) for t, b in zip(self.cuts, self.brackets[column])]
        left, right = values[i], values[i + 1]
        if left is None or right is None or right[0] <= left[0]:
            return 0.0
        return right[1] - left[1]


class _Dynamic:
    """The fine pieces of the dynamically priced registers: which fine pieces each coarse piece holds, and each
    price series' price over every fine piece (looked up by start, searched only where no interval starts)."""

    def __init__(self, cuts: Sequence[int], fine: FinePieces, prices: Mapping[str, PriceColumns]) -> None:
        self.fine, self.prices = fine, prices
        self.at: list[int] = []  # position of each coarse cut among the fine cuts (a superset)
        k, fine_cuts = 0, fine.cuts
        for t in cuts:
            k = bisect.bisect_left(fine_cuts, t, k)
            self.at.append(k)
        self.units: dict[str, list[float | None]] = {}
        self.priced: dict[tuple[int, str, float, float], tuple[list[float], list[float]]] = {}

    def series(self, price_id: str) -> list[float | None]:
        units = self.units.get(price_id)
        if units is None:
            columns = self.prices.get(price_id, NO_PRICES)
            starts, prices = columns.starts, columns.prices
            pieces = self.fine.cuts[:-1]
            # A piece starting at an interval's start (the usual case: price edges are cuts) is priced by it...
            units = self.units[price_id] = (list(prices) if pieces == starts  # (every piece is an interval)
                                            else list(map(dict(zip(starts, prices)).get, pieces)))
            if None in units:  # ...others inside an interval (a bucket edge, a tariff change) or in a gap: search
                ends = columns.ends
                for f in [f for f, unit in enumerate(units) if unit is None]:
                    t = pieces[f]
                    k = bisect.bisect_right(starts, t) - 1
                    if k >= 0 and t < ends[k]:
                        units[f] = prices[k]
        return units

    def piece(self, column: int, pricing: Pricing, i: int) -> tuple[float, float]:
        """(cost, unpriced energy) of coarse piece i of the register: Σ over its fine pieces of the energy times
        the unit price there (factor × price + adder); a fine piece without a price is unpriced."""
        key = (column, pricing.prices or "", pricing.factor, pricing.adder)
        found = self.priced.get(key)
        if found is None:
            deltas = self.fine.deltas[column]
            units = self.series(key[1])
            factor, adder = pricing.factor, pricing.adder
            if None in units:
                costs = [0.0 if u is None else d * (factor * u + adder) for d, u in zip(deltas, units)]
                unpriced = [d if u is None else 0.0 for d, u in zip(deltas, units)]
            else:  # every fine piece priced (in C but the unit prices)
                costs, unpriced = list(map(mul, deltas, [factor * u + adder for u in units])), []
            found = self.priced[key] = (costs, unpriced)
        f0, f1 = self.at[i], self.at[i + 1]
        costs, unpriced = found
        return sum(costs[f0:f1]), (sum(unpriced[f0:f1]) if unpriced else 0.0)


class _Sum:
    __slots__ = ("cost", "unpriced")

    def __init__(self) -> None:
        self.cost = self.unpriced = 0.0


def bucket_costs(edges: Sequence[int], cuts: Sequence[int], brackets: Sequence[Sequence[Bracket]],
                 inputs: CostInputs, fine: FinePieces | None = None) -> list[dict[str, Any] | None]:
    """CostData for each bucket between consecutive `edges`; None for a bucket without coverage (which
    `/aggregations` leaves out), `{}` for one without a tariff. `brackets`: per register series
    (REGISTER_SERIES order), the readings around each of `cuts`.

    Either `cuts` are the coarse cuts (`coarse_cuts`) and `fine` the dynamically priced registers at the
    price edges too (`cut_instants`), or `cuts` are already every cut (`cut_instants`) and `fine` is None: the
    pieces are the same, only the reads differ."""
    tariff = inputs.tariff
    at_edges = [bisect.bisect_left(cuts, e) for e in edges]
    energy = aggregate(edges, [[column[i] for i in at_edges] for column in brackets])  # as /aggregations
    if not tariff.periods:
        return [{} if covered else None for covered in energy]
    if fine is None:
        fine = FinePieces(cuts, {column: piece_deltas(cuts, brackets[column])
                                 for column in dynamic_registers(tariff)})
    pieces = _Pieces(cuts, brackets)
    dynamic = _Dynamic(cuts, fine, inputs.prices)
    starts = [p.start for p in tariff.periods]
    ends = period_ends(tariff)
    accrued: dict[tuple[int, int], tuple[float, float, float]] = {}  # a bucket's end is the next one's start
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
            vat_base = 0.0
            if has["import_"]:
                vat_base = _energy_piece(sums["import"], pieces, dynamic, i, "positiveActiveEnergy",
                                         period and period.import_)
            if has["export"]:
                _energy_piece(sums["export"], pieces, dynamic, i, "negativeActiveEnergy",
                              period and period.export, sign=-1.0)
            if has["gas"]:
                vat_base += _gas_piece(sums["gas"], pieces, i, period and period.gas)
            if period is not None:
                vat += period.vat * vat_base
        capacity, fixed, vat_pro_rata = _pro_rata(b0, b1, inputs, ends, accrued)
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


def _energy_piece(s: _Sum, pieces: _Pieces, dynamic: _Dynamic, i: int, metric: str, pricing: Pricing | None,
                  sign: float = 1.0) -> float:
    """Adds coarse piece i of `metric` to `s`; returns its cost (the VAT base of an import piece)."""
    cost = 0.0
    if pricing is None:
        s.unpriced += pieces.delta(_COLUMN[(metric, "total")], i)
    elif pricing.tiers is not None:
        priced = 0.0
        for tier, price in pricing.tiers.items():
            d = pieces.delta(_COLUMN[(metric, tier)], i)
            priced += d
            cost += d * price
        s.unpriced += pieces.delta(_COLUMN[(metric, "total")], i) - priced
    elif pricing.total is not None:
        cost = pieces.delta(_COLUMN[(metric, "total")], i) * pricing.total
    else:
        cost, unpriced = dynamic.piece(_COLUMN[(metric, "total")], pricing, i)
        s.unpriced += unpriced
    s.cost += sign * cost
    return sign * cost


def _gas_piece(s: _Sum, pieces: _Pieces, i: int, pricing: GasPricing | None) -> float:
    volume = pieces.delta(_COLUMN[("positiveGasVolume", None)], i)
    per_volume = None if pricing is None else pricing.per_volume
    if per_volume is None:
        s.unpriced += volume
        return 0.0
    s.cost += volume * per_volume
    return volume * per_volume


def _pro_rata(b0: int, b1: int, inputs: CostInputs, ends: list[tuple[Period, int | None]] | None = None,
              memo: dict[tuple[int, int], tuple[float, float, float]] | None = None) -> tuple[float, float, float]:
    """(capacity, fixed, their VAT) of bucket [b0, b1): for each month and period it meets, the monthly amount
    times the share of the month's time they have in common (`ends`: `period_ends` of the tariff, if known;
    `memo`: the accrued amounts at the previous buckets' ends, by (month start, instant)).

    Each is the difference of the month's amount accrued by b1 and by b0, each accrued amount rounded as served:
    the buckets of a month then add up to the month's rounded amount exactly (rounding each bucket's share
    instead would drift by up to half a nano-unit per bucket: 1.5e-6 over a month of quarter-hours).
    """
    capacity = fixed = vat = 0.0
    if ends is None:
        ends = period_ends(inputs.tariff)
    for month in inputs.months:
        if month.end <= b0:
            continue
        if month.start >= b1:
            break
        a, b = max(b0, month.start), min(b1, month.end)
        if memo is None:
            at_a, at_b = _accrued(month, a, ends), _accrued(month, b, ends)
        else:
            at_a = memo.get((month.start, a)) or _accrued(month, a, ends)
            at_b = memo[(month.start, b)] = _accrued(month, b, ends)
        capacity += at_b[0] - at_a[0]
        fixed += at_b[1] - at_a[1]
        vat += at_b[2] - at_a[2]
    return capacity, fixed, vat


def _accrued(month: Month, t: int, ends: list[tuple[Period, int | None]]) -> tuple[float, float, float]:
    """(capacity, fixed, their VAT) of `month` accrued over [month.start, t), each rounded as served."""
    capacity = fixed = vat = 0.0
    if t <= month.start:
        return 0.0, 0.0, 0.0
    length = month.end - month.start
    for period, until in ends:
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
