"""The bucket grid: one resolution in one time zone (docs/semantics.md §4), on integer microseconds.

All instants are integer microseconds since the Unix epoch (UTC). Pure (stdlib ``datetime``/``zoneinfo``
only). `Grid` is the one place that knows where buckets start and end: aggregations, statistics, demand
windows, the capacity tariff's months, CSV and paging all ask it, so they agree on every day, clock changes
included.

Model
-----
A grid is a set of *edges* that tiles the time line; a bucket is ``[edge, next edge)``.

* Fixed widths: the local grid times ``O + k*w`` with ``O`` = 2000-01-03 00:00 (a Monday, so weeks
  start on Monday). Month widths: the 1st of every ``months``-th month counted from 2000-01, 00:00.
* In UTC (or without a zone) an edge is a grid time read as UTC: plain arithmetic.
* **Under one day** (fixed ``w`` < 24 h) in a zone: every instant at which the local clock *shows* a grid
  time is an edge; a wall time shown twice (autumn) is an edge both times, and one never shown (spring)
  is the instant it names with the pre-transition offset (Python's ``fold=0``). Between two transitions
  the edges are the UTC grid shifted by the offset, so they come per stretch of constant offset, by
  arithmetic. A Brussels day has 92, 96 or 100 quarter-hours, each 15 minutes long; a width that does not
  divide the shift gives a shorter bucket there (``90 min`` in London on 2024-10-27: 90, 60, 90 minutes).
* **A day or more** in a zone: each grid time ``x`` maps to one instant ``M(x)``, the later of its two
  readings when ambiguous and the pre-transition offset when skipped. ``M`` can map backwards inside a gap,
  so the edges are its running maximum; a bucket that would be empty vanishes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from datetime import timezone, tzinfo
from functools import lru_cache
from itertools import islice

from connect_readings.domain.interval import Interval
from connect_readings.domain.timefmt import UTC_NAMES
from connect_readings.domain.zones import offset_at, transitions

__all__ = ["Grid", "month_index", "month_key", "month_label", "month_start"]

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3_600 * US_PER_SECOND
US_PER_DAY = 86_400_000_000


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant), integer only."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _month_index_of_days(days: int) -> int:
    """``year*12 + month-1`` of the day ``days`` since 1970-01-01 (H. Hinnant), integer only."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month0 = mp + 2 if mp < 10 else mp - 10  # 0-based calendar month
    year = yoe + era * 400 + (month0 <= 1)
    return year * 12 + month0


def _month_start_us(month_index: int) -> int:
    """Midnight of the 1st of ``month_index`` (``year*12 + month-1``) as epoch µs."""
    year, month0 = divmod(month_index, 12)
    return _days_from_civil(year, month0 + 1, 1) * US_PER_DAY


GRID_VERSION = "grid-2"
"""Changes whenever an edge moves (2: the clock-change rule under one day). Continuation tokens of bucket
queries are bound to it, so a token of an answer on another grid is refused (400), never resumed mid-bucket."""

#: Origin of fixed-width buckets: 2000-01-03 00:00 (a Monday), as epoch µs / local wall µs.
ORIGIN_US = _days_from_civil(2000, 1, 3) * US_PER_DAY
#: Origin of month buckets: 2000-01, as ``year*12 + month-1``.
ORIGIN_MONTH = 2000 * 12


def _is_utc(tz: tzinfo | None) -> bool:
    """UTC zones take the integer fast path; anything else goes through the zone model."""
    return tz is None or tz is timezone.utc or getattr(tz, "key", None) in UTC_NAMES


def _spec(width: Interval) -> tuple[int, int]:
    """``(months, fixed_us)`` of a width; exactly one is non-zero.  Rejects nonsense early."""
    months, days, micros = width.months, width.days, width.micros
    if months > 0:
        if days or micros:
            raise ValueError(f"bucket width mixes months with days/micros: {width!r}")
        return months, 0
    if months < 0:
        raise ValueError(f"bucket width must be positive: {width!r}")
    fixed = days * US_PER_DAY + micros
    if fixed <= 0:
        raise ValueError(f"bucket width must be positive: {width!r}")
    return 0, fixed


# --------------------------------------------------------------------------------------
# Zone model: UTC offset transitions per block of time, from `zones` (the zone's TZif data
# and its footer rule; probed hour by hour only for a tzinfo without a TZif file).
# Blocks sit on a global grid so that every call sees the same transitions, whatever
# window it asks for: the model is self-consistent by design.
# --------------------------------------------------------------------------------------

#: Python guarantees |utcoffset| < 24 h; all window sizes below are derived from it.
_OFF_MAX = 24 * US_PER_HOUR
#: Grid points further apart than this (local time) always map to ordered UTC instants.
_DOMINANCE = 2 * _OFF_MAX
_BLOCK = 32 * US_PER_DAY
_PROBE_STEP = US_PER_HOUR
_offset_at = offset_at


# Remembered: a zone's transitions are looked up once per block, not per bucket (`python -m bench --only density`).
@lru_cache(maxsize=16384)
def _block(tz: tzinfo, k: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    """Offset at ``k*_BLOCK`` and the transitions ``(T, offset from T on)`` in ``(k*_BLOCK, (k+1)*_BLOCK]``."""
    start = k * _BLOCK
    source = transitions(tz)
    if source is not None:
        return _offset_at(tz, start), tuple(source.between(start, start + _BLOCK))
    return _probed_block(tz, start)


def _probed_block(tz: tzinfo, start: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    """`_block` for a tzinfo without a TZif file: hourly probes plus bisection (an excursion shorter than an
    hour that returns to the same offset is missed, consistently, so the buckets still tile)."""
    first = prev = _offset_at(tz, start)
    found: list[tuple[int, int]] = []
    for s in range(start, start + _BLOCK, _PROBE_STEP):
        e = s + _PROBE_STEP
        end_off = _offset_at(tz, e)
        low, cur = s, prev
        while cur != end_off:  # invariant: offset(low) == cur, offset(e) != cur
            lo, hi = low, e
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_at(tz, mid) == cur:
                    lo = mid
                else:
                    hi = mid
            cur = _offset_at(tz, hi)
            found.append((hi, cur))
            low = hi
        prev = end_off
    return first, tuple(found)


class _Zone:
    """Offsets of one zone around a window of UTC time.

    ``switches[i] = T_i + offset_i`` is the local time from which transition ``i`` rules
    local->UTC conversion (gap: pre-transition offset until the gap ends, i.e. fold=0;
    overlap: post-transition offset from the overlap's start, i.e. fold=1)."""

    __slots__ = ("first", "starts", "offsets", "switches")

    def __init__(self, first: int, transitions: tuple[tuple[int, int], ...]) -> None:
        self.first = first
        self.starts = tuple(t for t, _ in transitions)
        self.offsets = tuple(o for _, o in transitions)
        self.switches = tuple(t + o for t, o in transitions)

    def utc_offset(self, utc_us: int) -> int:
        """Offset at a UTC instant (only used to guess a starting grid index)."""
        offset = self.first
        for start, off in zip(self.starts, self.offsets):
            if start > utc_us:
                break
            offset = off
        return offset

    def local_offset(self, local_us: int) -> int:
        """Offset used to turn local wall time into UTC: that of the last transition (in
        UTC order) whose switch point is at or before ``local_us``."""
        offset = self.first
        for switch, off in zip(self.switches, self.offsets):
            if switch <= local_us:
                offset = off
        return offset

    def runs(self, lo: int, hi: int) -> Iterator[tuple[int, int, int]]:
        """Split local ``[lo, hi)`` into ``(start, end, offset)`` runs of constant offset."""
        cuts = sorted({s for s in self.switches if lo < s < hi})
        start = lo
        for cut in cuts:
            yield start, cut, self.local_offset(start)
            start = cut
        yield start, hi, self.local_offset(start)


# Remembered with `_block`, for the same reason (`python -m bench --only density`).
@lru_cache(maxsize=4096)
def _zone_blocks(tz: tzinfo, k_lo: int, k_hi: int) -> _Zone:
    first = _block(tz, k_lo)[0]
    transitions: tuple[tuple[int, int], ...] = ()
    for k in range(k_lo, k_hi + 1):
        transitions += _block(tz, k)[1]
    return _Zone(first, transitions)


def _zone(tz: tzinfo, lo: int, hi: int) -> _Zone:
    """Zone model valid (at least) for UTC instants in ``[lo, hi]``."""
    return _zone_blocks(tz, lo // _BLOCK, hi // _BLOCK)


def _to_utc(local_us: int, tz: tzinfo) -> int:
    """``M(x)``: local wall time -> UTC with the gap/overlap rules of the module doc."""
    zone = _zone(tz, local_us - _DOMINANCE, local_us + _DOMINANCE)
    return local_us - zone.local_offset(local_us)


def _to_local(utc_us: int, tz: tzinfo) -> int:
    """Wall-clock µs of a UTC instant (only a starting guess for grid searches)."""
    return utc_us + _zone(tz, utc_us, utc_us).utc_offset(utc_us)


# --------------------------------------------------------------------------------------
# Time-zone paths
# --------------------------------------------------------------------------------------

#: Window around t (UTC) that covers every transition the fixed-width search looks at.
_FIXED_WINDOW_BEFORE = 7 * US_PER_DAY
_FIXED_WINDOW_AFTER = 5 * US_PER_DAY


def _fixed_first_above(t: int, w: int, zone: _Zone) -> int:
    """``min{j : M(O + j*w) > t}`` for ``w < _DOMINANCE``.

    Points below ``t - _OFF_MAX`` map below ``t``; the first point at or above
    ``t + _OFF_MAX`` maps above it, so only runs in between need looking at.  Inside a
    run ``M`` increases, so its first point above ``t`` is found arithmetically."""
    lo = t - _OFF_MAX
    hi = t + _OFF_MAX + w + 1
    for start, end, offset in zone.runs(lo, hi):
        # smallest j with x_j >= max(start, t + offset + 1)
        j = -((ORIGIN_US - max(start, t + offset + 1)) // w)
        if ORIGIN_US + j * w < end:
            return j
    raise AssertionError("unreachable: the last run always holds a point above t")


def _fixed_prefix_max(j: int, w: int, zone: _Zone) -> int:
    """``max(M(x_i) for i <= j)`` for ``w < _DOMINANCE``.

    Points more than ``_DOMINANCE`` before ``x_j`` map below ``M(x_j)``; inside a run the
    last point is the largest, so one candidate per run suffices."""
    top = ORIGIN_US + j * w
    best = top - zone.local_offset(top)
    for start, end, offset in zone.runs(top - _DOMINANCE + 1, top):
        x = ORIGIN_US + ((end - 1 - ORIGIN_US) // w) * w
        if x >= start:
            best = max(best, x - offset)
    return best


def _tz_fixed_floor(t: int, w: int, tz: tzinfo) -> int:
    zone = _zone(tz, t - _FIXED_WINDOW_BEFORE, t + _FIXED_WINDOW_AFTER)
    return _fixed_prefix_max(_fixed_first_above(t, w, zone) - 1, w, zone)


def _tz_fixed_next(b: int, w: int, tz: tzinfo) -> int:
    zone = _zone(tz, b - _FIXED_WINDOW_BEFORE, b + _FIXED_WINDOW_AFTER)
    x = ORIGIN_US + _fixed_first_above(b, w, zone) * w
    return x - zone.local_offset(x)


def _monotone_index(t: int, grid: Callable[[int], int], guess: int, tz: tzinfo) -> int:
    """``max{k : M(grid(k)) <= t}`` for grids whose points are >= ``_DOMINANCE`` apart,
    where ``M`` is strictly increasing; ``guess`` (from t's wall clock) is off by <= 1."""
    k = guess
    while _to_utc(grid(k), tz) > t:
        k -= 1
    while _to_utc(grid(k + 1), tz) <= t:
        k += 1
    return k


def _coarse_grid(months: int, fixed: int) -> tuple[Callable[[int], int], Callable[[int], int]]:
    """``(grid(k) -> local µs, local µs -> k)`` for month widths and fixed widths that are
    at least ``_DOMINANCE`` long."""
    if months:
        return (
            lambda k: _month_start_us(ORIGIN_MONTH + k * months),
            lambda x: (_month_index_of_days(x // US_PER_DAY) - ORIGIN_MONTH) // months,
        )
    return (lambda k: ORIGIN_US + k * fixed, lambda x: (x - ORIGIN_US) // fixed)


def _tz_coarse_floor(t: int, months: int, fixed: int, tz: tzinfo) -> int:
    grid, index_of = _coarse_grid(months, fixed)
    k = _monotone_index(t, grid, index_of(_to_local(t, tz)), tz)
    return _to_utc(grid(k), tz)


def _tz_coarse_next(b: int, months: int, fixed: int, tz: tzinfo) -> int:
    grid, index_of = _coarse_grid(months, fixed)
    k = _monotone_index(b, grid, index_of(_to_local(b, tz)), tz)
    return _to_utc(grid(k + 1), tz)




# --------------------------------------------------------------------------------------
# Widths under one day in a zone: the instants at which the clock shows a grid time
# --------------------------------------------------------------------------------------


def _subday_edges(lo: int, hi: int, w: int, tz: tzinfo) -> list[int]:
    """Every edge in ``[lo, hi)``, ascending: per stretch of constant offset the grid times the clock shows
    there (arithmetic), then the skipped grid times of each spring-forward, read with the offset before it."""
    zone = _zone(tz, lo - _OFF_MAX, hi)
    starts, offsets = zone.starts, (zone.first, *zone.offsets)
    edges: list[int] = []
    for i, offset in enumerate(offsets):
        a = lo if i == 0 else max(lo, starts[i - 1])
        b = hi if i == len(starts) else min(hi, starts[i])
        if a < b:
            edges.extend(range(a + (ORIGIN_US - offset - a) % w, b, w))
    for i, at in enumerate(starts):
        before, after = offsets[i], offsets[i + 1]
        if after <= before or at + after - before <= lo or at >= hi:
            continue  # no wall time skipped, or none in [lo, hi)
        for u in range(at + (ORIGIN_US - before - at) % w, min(at + after - before, hi), w):
            j = bisect_left(edges, u)
            if u >= lo and (j == len(edges) or edges[j] != u):
                edges.insert(j, u)
    return edges


def _subday_floor(t: int, w: int, tz: tzinfo) -> int:
    span = 2 * w + 1
    while not (edges := _subday_edges(t - span, t + 1, w, tz)):
        span *= 4  # (only where stretches are shorter than w: never in tzdata)
    return edges[-1]


def _subday_next(b: int, w: int, tz: tzinfo) -> int:
    span = 2 * w + 1
    while not (edges := _subday_edges(b + 1, b + 1 + span, w, tz)):
        span *= 4
    return edges[0]


_SUBDAY_CHUNK = 512
"""Buckets the lazy iterator computes at once (a page holds at most 10,000)."""


def _iter_subday(start: int, end: int, w: int, tz: tzinfo) -> Iterator[tuple[int, int]]:
    if start >= end:
        return
    b = _subday_floor(start, w, tz)
    while b < end:
        edges = _subday_edges(b, b + _SUBDAY_CHUNK * w + 1, w, tz)
        if len(edges) < 2:
            edges = [b, _subday_next(b, w, tz)]
        for lo, hi in zip(edges, edges[1:]):
            if lo >= end:
                return
            yield lo, hi
        b = edges[-1]


# --------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------

DAY = US_PER_DAY
_TZ_FIXED_CHUNK = 64
"""Buckets of a day or more `Grid._iter_tz_fixed` checks against one zone model."""


class Grid:
    """The buckets of one resolution in one time zone.

    Invariants (checked on creation, relied on everywhere): the width is positive and either whole months
    or days + time, never both; ``tz`` is None for every name of UTC. The edges tile the time line:
    ``floor(t) <= t < next(t)``, ``floor(next(t)) == next(t)``, and `buckets` restarted at any edge yields
    the rest of the same buckets (what paging relies on).

    >>> from zoneinfo import ZoneInfo
    >>> from connect_readings.domain.timefmt import parse_datetime
    >>> day = Grid(Interval(0, 0, 15 * 60 * US_PER_SECOND), ZoneInfo("Europe/Brussels"))
    >>> start = parse_datetime("2024-10-27T00:00:00+02:00")
    >>> quarters = list(day.buckets(start, parse_datetime("2024-10-28T00:00:00+01:00")))
    >>> len(quarters), {b - a for a, b in quarters} == {15 * 60 * US_PER_SECOND}
    (100, True)
    """

    __slots__ = ("width", "tz", "months", "fixed")

    def __init__(self, width: Interval, tz: tzinfo | None = None) -> None:
        self.months, self.fixed = _spec(width)
        self.width = width
        self.tz = None if _is_utc(tz) else tz

    def __repr__(self) -> str:
        return f"Grid({self.width.canonical()!r}, {getattr(self.tz, 'key', None)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and (self.months, self.fixed, self.tz) == (other.months, other.fixed, other.tz)

    def __hash__(self) -> int:
        return hash((self.months, self.fixed, self.tz))

    @property
    def _subday(self) -> bool:
        return 0 < self.fixed < DAY and self.tz is not None

    def floor(self, t: int) -> int:
        """The start of the bucket holding ``t``: the largest edge ``<= t``."""
        return self._edge(t, 0)

    def next(self, t: int) -> int:
        """The smallest edge ``> t``: the end of the bucket holding ``t``."""
        return self._edge(t, 1)

    def _edge(self, t: int, after: int) -> int:
        """`floor` (after = 0) or `next` (after = 1), by the path the width and zone take."""
        months, fixed, tz = self.months, self.fixed, self.tz
        if tz is None:
            if fixed:
                return t - (t - ORIGIN_US) % fixed + after * fixed
            k = (_month_index_of_days(t // US_PER_DAY) - ORIGIN_MONTH) // months + after
            return _month_start_us(ORIGIN_MONTH + k * months)
        if fixed and fixed < DAY:
            return (_subday_next if after else _subday_floor)(t, fixed, tz)
        if fixed and fixed < _DOMINANCE:
            return (_tz_fixed_next if after else _tz_fixed_floor)(t, fixed, tz)
        return (_tz_coarse_next if after else _tz_coarse_floor)(t, months, fixed, tz)

    def ceil(self, t: int) -> int:
        """The smallest edge ``>= t``."""
        b = self.floor(t)
        return t if b == t else self.next(t)

    def buckets(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """Lazily, the whole buckets ``(bucket_start, bucket_end)`` that meet ``[start, end)``, ascending; the
        first holds ``start``. Lazy: a window may hold millions of buckets and a page needs a few."""
        months, fixed, tz = self.months, self.fixed, self.tz
        if tz is None:
            if fixed:
                return _iter_utc_fixed(start, end, fixed)
            return _iter_utc_months(start, end, months)
        if fixed and fixed < DAY:
            return _iter_subday(start, end, fixed, tz)
        if fixed and fixed < _DOMINANCE:
            return self._iter_tz_fixed(start, end)
        return self._iter_generic(start, end)

    def _iter_generic(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        if start >= end:
            return
        b = self.floor(start)
        while b < end:
            n = self.next(b)
            yield b, n
            b = n

    def _iter_tz_fixed(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """`_iter_generic` for widths of a day up to ``_DOMINANCE`` in a zone: far (``_DOMINANCE``) from any
        transition the offset is constant, so the next edge is the bucket's start plus the width; only near
        one is it searched (`next`). A year of daily buckets searches four of them instead of 365."""
        if start >= end:
            return
        w, tz = self.fixed, self.tz
        assert tz is not None
        b = self.floor(start)
        while b < end:
            zone = _zone(tz, b - _DOMINANCE, b + _TZ_FIXED_CHUNK * w + _DOMINANCE)
            starts = zone.starts
            limit = b + _TZ_FIXED_CHUNK * w
            while b < end and b < limit:
                i = bisect_left(starts, b - _DOMINANCE)
                # Every bucket starting before `far` ends _DOMINANCE before the next transition: a run of
                # them is a range (stepped in C), the bucket after it is searched.
                far = min(end, limit) if i == len(starts) else min(end, limit, starts[i] - w - _DOMINANCE)
                if b < far:
                    run = range(b, b + ((far - b - 1) // w + 1) * w + 1, w)  # each b + k·w < far, and one more
                    yield from zip(run, run[1:])
                    b = run[-1]
                    continue
                n = self.next(b)
                yield b, n
                b = n

    def edges(self, start: int, end: int) -> list[int]:
        """Every edge ``e`` with ``start <= e <= end``, ascending (demand windows are pairs of them).

        >>> [e // (60 * US_PER_SECOND) for e in Grid(Interval(0, 0, 15 * 60 * US_PER_SECOND)).edges(
        ...     5 * 60 * US_PER_SECOND, 45 * 60 * US_PER_SECOND)]
        [15, 30, 45]
        """
        if start > end:
            return []
        if self.tz is None and self.fixed:
            return list(range(start + (ORIGIN_US - start) % self.fixed, end + 1, self.fixed))
        if self._subday:
            assert self.tz is not None
            return _subday_edges(start, end + 1, self.fixed, self.tz)
        edges = [b for b, _ in self.buckets(start, end + 1) if b >= start]
        return edges

    def page_edges(self, position: int, start: int, end: int, n: int) -> list[int]:
        """The edges of up to ``n`` buckets from the one holding ``position`` (``< end``), clipped to
        ``[start, end)``: what a page of buckets answers.

        >>> hour = Grid(Interval(0, 0, 3600 * US_PER_SECOND))
        >>> [e // US_PER_SECOND for e in hour.page_edges(1800 * US_PER_SECOND, 1800 * US_PER_SECOND, 9000 * US_PER_SECOND, 5)]
        [1800, 3600, 7200, 9000]
        """
        chunk = list(islice(self.buckets(position, end), n))
        edges = [max(chunk[0][0], start)] + [b for _, b in chunk]
        edges[-1] = min(edges[-1], end)
        return edges

    def count(self, start: int, end: int, cap: int) -> int:
        """How many buckets meet ``[start, end)``, counted up to ``cap + 1`` (enough to refuse a window)."""
        n = 0
        for _ in self.buckets(start, end):
            n += 1
            if n > cap:
                break
        return n

    def month_key(self, t: int) -> str:
        """'YYYY-MM' of the local month holding ``t`` in this grid's zone."""
        return month_key(t, self.tz)


# --------------------------------------------------------------------------------------
# Local calendar months (the capacity tariff's)
# --------------------------------------------------------------------------------------


def month_index(t: int, tz: tzinfo | None = None) -> int:
    """``year*12 + month-1`` of the month holding instant ``t`` on the monthly grid of ``tz`` (its local
    calendar month; `month_start` of it is ``<= t``).

    >>> month_index(0), month_index(-1)
    (23640, 23639)
    """
    if tz is None or _is_utc(tz):
        return _month_index_of_days(t // US_PER_DAY)
    k = _month_index_of_days((t + _offset_at(tz, t)) // US_PER_DAY)
    return _monotone_index(t, _month_start_us, k, tz)  # (an ambiguous local midnight is the later instant)


def month_key(t: int, tz: tzinfo | None = None) -> str:
    """'YYYY-MM' of the local month holding instant ``t``.

    >>> month_key(0)
    '1970-01'
    """
    return month_label(month_index(t, tz))


def month_label(index: int) -> str:
    """'YYYY-MM' of month ``index`` (``year*12 + month-1``).

    >>> month_label(2024 * 12 + 9)
    '2024-10'
    """
    year, month0 = divmod(index, 12)
    return f"{year:04}-{month0 + 1:02}"


def month_start(index: int, tz: tzinfo | None = None) -> int:
    """The instant the local month ``index`` (``year*12 + month-1``) starts: the monthly grid's edge."""
    local = _month_start_us(index)
    return local if tz is None or _is_utc(tz) else _to_utc(local, tz)


def _iter_utc_fixed(start: int, end: int, w: int) -> Iterator[tuple[int, int]]:
    if start >= end:
        return
    b = start - (start - ORIGIN_US) % w
    while b < end:
        n = b + w
        yield b, n
        b = n


def _iter_utc_months(start: int, end: int, months: int) -> Iterator[tuple[int, int]]:
    if start >= end:
        return
    m = ORIGIN_MONTH + (_month_index_of_days(start // US_PER_DAY) - ORIGIN_MONTH) // months * months
    b = _month_start_us(m)
    while b < end:
        m += months
        n = _month_start_us(m)
        yield b, n
        b = n
