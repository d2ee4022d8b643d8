"""Time buckets with TimescaleDB ``time_bucket`` semantics, on integer microseconds.

All instants are integer microseconds since the Unix epoch (UTC).  The module is pure
(stdlib ``datetime``/``zoneinfo`` only, no I/O) so the query layer and the tests can
reason about bucket edges without a database.

Model
-----
Every (width, time zone) pair defines a *set of boundaries* ``B`` that tiles the time
line; a bucket is ``[b, next boundary)`` for ``b`` in ``B``.  Everything below is derived
from that one set, which is what makes ``bucket_floor``, ``next_boundary`` and
``iter_buckets`` agree with each other (and makes paging resumable).

* Fixed widths (``months == 0``): grid ``O + k*w`` with ``O`` = 2000-01-03 00:00 (a
  Monday, so weeks start on Monday).
* Month widths: the 1st of every ``months``-th month counted from 2000-01, 00:00.
* With a time zone the grid lives on the local wall clock (same origins, read as local
  times) and each local grid point ``x`` is mapped to UTC as ``M(x)``: a non-existent
  local time (DST gap) uses the pre-transition offset (``fold=0``), an ambiguous one
  (DST overlap) the later instant (``fold=1``).  Both cases are "the later of the two
  candidate instants", i.e. ``M(x) = x - offset`` with the offset switching at
  ``T + offset_after`` for a transition at UTC ``T``.
* ``M`` is not monotonic inside DST gaps (a grid point inside the gap maps past the
  transition, the first grid point after the gap maps back onto it).  Buckets must not
  overlap, so a later bucket starts where the earlier one ends: the boundaries are the
  running maximum ``S(k) = max(M(x_j) for j <= k)``; buckets that end up empty vanish.

Hence, with ``first_above(t) = min{j : M(x_j) > t}``::

    bucket_floor(t)  = max(M(x_j) for j < first_above(t))
    next_boundary(b) = M(x_first_above(b))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from connect_readings.domain.interval import Interval
from connect_readings.domain.timefmt import UTC_NAMES

__all__ = ["bucket_floor", "iter_buckets", "next_boundary"]

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
# Zone model: UTC offset transitions, found by probing zoneinfo (it has no public
# transition API).  Probes sit on a global grid so that every call sees the same
# transitions, whatever window it asks for: the model is self-consistent by design.
# --------------------------------------------------------------------------------------

#: Python guarantees |utcoffset| < 24 h; all window sizes below are derived from it.
_OFF_MAX = 24 * US_PER_HOUR
#: Grid points further apart than this (local time) always map to ordered UTC instants.
_DOMINANCE = 2 * _OFF_MAX
_BLOCK = 32 * US_PER_DAY
_PROBE_STEP = US_PER_HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)
_PROBE_MIN = (datetime(2, 1, 1, tzinfo=timezone.utc) - _EPOCH) // _ONE_US
_PROBE_MAX = (datetime(9998, 1, 1, tzinfo=timezone.utc) - _EPOCH) // _ONE_US


def _offset_at(tz: tzinfo, utc_us: int) -> int:
    """UTC offset (µs) of ``tz`` at an instant; clamped to datetime's range (offsets are
    constant that far out anyway)."""
    utc_us = min(max(utc_us, _PROBE_MIN), _PROBE_MAX)
    offset = (_EPOCH + timedelta(microseconds=utc_us)).astimezone(tz).utcoffset()
    return 0 if offset is None else offset // _ONE_US


# Remembered: a zone's transitions are probed once per block, not per bucket (`python -m bench --only density`).
@lru_cache(maxsize=8192)
def _block(tz: tzinfo, k: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    """Offset at ``k*_BLOCK`` and the transitions ``(T, offset from T on)`` in
    ``(k*_BLOCK, (k+1)*_BLOCK]``, found by hourly probes plus bisection.

    An offset excursion shorter than one probe step that returns to the same offset would
    be missed -- consistently, so the buckets still tile; tzdata has no such thing."""
    start = k * _BLOCK
    first = prev = _offset_at(tz, start)
    transitions: list[tuple[int, int]] = []
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
            transitions.append((hi, cur))
            low = hi
        prev = end_off
    return first, tuple(transitions)


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
# Public API
# --------------------------------------------------------------------------------------


def bucket_floor(t: int, width: Interval, tz: ZoneInfo | None = None) -> int:
    """Start (UTC µs) of the bucket containing ``t``: the largest boundary ``<= t``.

    Aggregations group readings by this value, so it must match TimescaleDB's
    ``time_bucket(width, t[, tz])`` (with the DST rules of the module doc)."""
    months, fixed = _spec(width)
    if _is_utc(tz):
        if fixed:
            return t - (t - ORIGIN_US) % fixed
        k = (_month_index_of_days(t // US_PER_DAY) - ORIGIN_MONTH) // months
        return _month_start_us(ORIGIN_MONTH + k * months)
    assert tz is not None
    if fixed and fixed < _DOMINANCE:
        return _tz_fixed_floor(t, fixed, tz)
    return _tz_coarse_floor(t, months, fixed, tz)


def next_boundary(b: int, width: Interval, tz: ZoneInfo | None = None) -> int:
    """Start of the bucket after the one starting at ``b`` (always ``> b``).

    For any ``b`` this is the smallest boundary ``> b``, i.e. the end of the bucket that
    contains ``b``; bucket ends are needed to clip windows and to page."""
    months, fixed = _spec(width)
    if _is_utc(tz):
        if fixed:
            return b - (b - ORIGIN_US) % fixed + fixed
        k = (_month_index_of_days(b // US_PER_DAY) - ORIGIN_MONTH) // months
        return _month_start_us(ORIGIN_MONTH + (k + 1) * months)
    assert tz is not None
    if fixed and fixed < _DOMINANCE:
        return _tz_fixed_next(b, fixed, tz)
    return _tz_coarse_next(b, months, fixed, tz)


def iter_buckets(
    start: int, end: int, width: Interval, tz: ZoneInfo | None = None
) -> Iterator[tuple[int, int]]:
    """Lazily yield the unclipped buckets ``(bucket_start, bucket_end)`` that intersect
    ``[start, end)``, ascending; the first one contains ``start``.

    Lazy because callers page through windows holding millions of buckets.  Resumable:
    restarting at any yielded bucket end ``c`` yields exactly the remaining buckets,
    because ``c`` is a boundary and ``bucket_floor(c) == c``.  The width is validated
    eagerly, not on the first ``next()``."""
    months, fixed = _spec(width)
    if _is_utc(tz):
        if fixed:
            return _iter_utc_fixed(start, end, fixed)
        return _iter_utc_months(start, end, months)
    return _iter_generic(start, end, width, tz)


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


def _iter_generic(
    start: int, end: int, width: Interval, tz: ZoneInfo | None
) -> Iterator[tuple[int, int]]:
    if start >= end:
        return
    b = bucket_floor(start, width, tz)
    while b < end:
        n = next_boundary(b, width, tz)
        yield b, n
        b = n
