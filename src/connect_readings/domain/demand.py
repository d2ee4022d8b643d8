"""Energy registers → peak demand per bucket and the Flemish capacity tariff (docs/semantics.md §10).

Peak demand is the largest average power over a demand window: the register delta E of a window of width
w, times 1 h / w. Demand windows are the buckets of the grid of width w in the query's time zone
(`demand_grid`; on a clock change too, every one of them w long where w divides the shift), so each
window's E is exactly `/aggregations`' value for that bucket, and the peak is the largest `/aggregations`
value at resolution w × 1 h / w. Only windows entirely inside the register's coverage count: a partly
covered one would understate the peak.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

from .errors import DomainError
from .grid import Grid, month_label
from .interval import Interval, parse_resolution
from .registers import rounded_delta

US_PER_MINUTE = 60_000_000
US_PER_HOUR = 60 * US_PER_MINUTE
DEMAND_WINDOW_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
"""Whole minutes dividing an hour: every local hour holds whole windows, so 1 h / w is a whole number."""
MINIMUM_BILLED_KW = 2.5
"""The capacity tariff bills at least 2.5 kW a month."""



@dataclass(frozen=True, slots=True)
class Peak:
    """The demand window with the largest consumption: [start, end) in µs."""

    value: float
    """Average power over the window, kW (E × 1 h / w)."""
    energy: float
    """E, the register delta over the window, kWh."""
    start: int
    end: int


def valid_demand_window(window: Interval | str) -> int:
    """The demand-window width in µs: whole minutes dividing an hour, else `InvalidDemandWindow`.

    Takes the parsed interval or the parameter's text (any spelling of the resolution grammar).

    >>> valid_demand_window("PT15M"), valid_demand_window("1 hour") // US_PER_MINUTE
    (900000000, 60)
    >>> valid_demand_window("7 minutes")
    Traceback (most recent call last):
    ...
    connect_readings.domain.errors.DomainError: demandWindow '7 minutes' must be a whole number of minutes that \
divides an hour: 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60 minutes (e.g. '15 minutes' or 'PT15M')
    """
    interval: Interval | None = None
    if isinstance(window, Interval):
        interval = window
    else:
        try:
            interval = parse_resolution(window)
        except DomainError:
            pass  # unparsable is just another invalid window here
    if interval is not None and interval.months == 0 and interval.days == 0:
        minutes, rest = divmod(interval.micros, US_PER_MINUTE)
        if rest == 0 and minutes in DEMAND_WINDOW_MINUTES:
            return interval.micros
    if isinstance(window, str):
        shown = repr(window if len(window) <= 60 else window[:57] + "...")  # a huge input can't bloat the error
    else:
        shown = window.canonical()
    raise DomainError(
        "InvalidDemandWindow",
        f"demandWindow {shown} must be a whole number of minutes that divides an hour: "
        f"{', '.join(map(str, DEMAND_WINDOW_MINUTES[:-1]))} or 60 minutes (e.g. '15 minutes' or 'PT15M')",
    )


def demand_grid(window_us: int, tz: ZoneInfo | None = None) -> Grid:
    """The demand windows of width w in `tz`: the grid of `/aggregations` at resolution w. A window is a pair of
    consecutive edges exactly w apart, so a bucket that a clock change makes shorter (only where w does not
    divide the shift) is no window.

    >>> demand_grid(15 * US_PER_MINUTE).edges(5 * US_PER_MINUTE, 50 * US_PER_MINUTE) == [
    ...     m * US_PER_MINUTE for m in (15, 30, 45)]
    True
    """
    return Grid(Interval(0, 0, window_us), tz)


def largest_window(instants: Sequence[int], values: Sequence[float], window_us: int) -> Peak | None:
    """The demand window with the largest energy among consecutive `instants` exactly w apart, the earliest on
    ties; None when there is none. The one peak rule: `/statistics` and the capacity tariff call it.

    `values` are the register (continuous across resets) at each instant, every instant inside the register's
    coverage, so every window is fully covered. A window's energy E is `registers.delta` of its two values,
    exactly `/aggregations`' value for that bucket; ties are judged on that rounded energy. `value` is
    E × 1 h / w from the unrounded E; each is rounded once.

    >>> largest_window([0, 15 * US_PER_MINUTE, 30 * US_PER_MINUTE], [10.0, 10.75, 11.5], 15 * US_PER_MINUTE)
    Peak(value=3.0, energy=0.75, start=0, end=900000000)
    """
    if window_us <= 0:
        raise ValueError(f"largest_window: window {window_us} µs")
    deltas = list(map(operator.sub, values[1:], values[:-1]))  # (in C: a year of quarter-hours is 35k windows)
    if any(b - a != window_us for a, b in zip(instants, instants[1:])):
        deltas = [d if b - a == window_us else _NO_WINDOW for d, a, b in zip(deltas, instants, instants[1:])]
    if not deltas:
        return None
    top = max(deltas)
    if top == _NO_WINDOW:
        return None
    energy = rounded_delta(top)
    for k, d in enumerate(deltas):  # the earliest window whose rounded energy is the largest
        if d >= top - 1e-6 * max(1.0, abs(top)) and rounded_delta(d) == energy:
            break
    exact = deltas[k]
    value = round(exact * (US_PER_HOUR / window_us), 9) if exact > 0.0 else 0.0
    return Peak(value, rounded_delta(exact), instants[k], instants[k + 1])


_NO_WINDOW = -math.inf
"""Marks a pair of edges that is no window (not w apart); below every energy (an energy is never negative)."""


class MonthPeak(NamedTuple):
    """A calendar month's input to the capacity tariff."""

    month: int
    """The local month, `grid.month_index` (year × 12 + month − 1)."""
    peak: Peak | None
    """Its largest quarter-hour (w = 15 minutes), or None when no quarter-hour is fully covered."""
    covered: bool
    """Whether the register has coverage in the month (inside a gap of the data counts)."""


@dataclass(frozen=True, slots=True)
class MonthTariff:
    """One month of the capacity tariff; the wire names are billedPeak, rollingMean, monthsInMean."""

    month: int
    """As `MonthPeak.month`; `grid.month_label` writes it 'YYYY-MM'."""
    peak: Peak | None
    billed_peak: float
    """max(peak.value, 2.5) kW; 2.5 when there is no peak."""
    rolling_mean: float
    """Mean billed peak over this month and the covered ones of the 11 calendar months before it."""
    months_in_mean: int


def capacity_months(months: Sequence[MonthPeak], since: int | None = None) -> list[MonthTariff]:
    """The tariff of every covered month (from `since` on, when given), oldest first.

    `months`: calendar months in increasing order; months without coverage may be left out or given with
    `covered=False` (they count in neither the list nor a mean). A rolling mean looks back 11 calendar
    months, so the caller passes that much history before `since`.

    >>> q, jan = Peak(4.0, 1.0, 0, 900_000_000), 2024 * 12
    >>> [(month_label(t.month), t.billed_peak, t.rolling_mean, t.months_in_mean) for t in capacity_months(
    ...     [MonthPeak(jan, q, True), MonthPeak(jan + 1, None, False), MonthPeak(jan + 2, None, True)])]
    [('2024-01', 4.0, 4.0, 1), ('2024-03', 2.5, 3.25, 2)]
    """
    billed: list[tuple[int, float]] = []  # (month index, billed peak) of the covered months so far
    tariffs: list[MonthTariff] = []
    previous: int | None = None
    for index, peak, covered in months:
        if previous is not None and index <= previous:
            raise ValueError(f"capacity_months: {month_label(index)} does not follow the month before it")
        previous = index
        if not covered:
            if peak is not None:
                raise ValueError(f"capacity_months: {month_label(index)} has a peak but no coverage")
            continue
        billed_peak = MINIMUM_BILLED_KW if peak is None else max(peak.value, MINIMUM_BILLED_KW)
        billed.append((index, billed_peak))
        if since is not None and index < since:
            continue
        window = [b for m, b in billed[-12:] if m > index - 12]
        mean = round(math.fsum(window) / len(window), 9)
        tariffs.append(MonthTariff(index, peak, billed_peak, mean, len(window)))
    return tariffs
