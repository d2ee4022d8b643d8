"""Each register's value at every 15-minute UTC edge, kept at ingest (docs/semantics.md §5, Quarter-hour edges).

Every zone's offset is a whole number of quarter-hours, so every edge of a width made of whole quarter-hours,
and every hourly or quarter-hourly price edge, is a multiple of `QUARTER_US` since the epoch. A page that reads a
register at thousands of such instants (a year of costs under hourly prices: 8,760) reads them from one row per
register and span of `ROW_DAYS` UTC days (`ROW_SLOTS` doubles, NaN where unknown) instead of seeking a reading
for each: a year of daily buckets reads 23 rows per register.

What is kept is the register in the *raw frame*: `edge = continuous(e) - O(e)`, where O(e) is the sum of the
reset offsets up to e (registers.ResetOffsets). A reader adds the offsets as it does to raw readings, so a late
reset never rewrites the edges after it. Between two readings b < e < a of the register, with `off_a` the
reset offset starting at a (0 without one):

    edge(e) = interpolate((b.ts, b.raw), (a.ts, a.raw + off_a), e)        edge(b.ts) = b.raw

Outside the register's readings (before the first, after the last) an edge is unknown (NaN). A batch changes
the edges between the register's reading before it and the first one after it (`Surroundings.before`,
`after`): `plan_edges` recomputes exactly those, from the same samples and resets the ingest planner uses, and
the store merges them into the stored rows (`merge_rows`).
"""

from __future__ import annotations

import math
import sys
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from operator import mod

from .registers import interpolate

QUARTER_US = 900_000_000
DAY_US = 86_400_000_000
ROW_DAYS = 16
"""UTC days per stored row. Rows of one day (96 edges) made a year of daily buckets read 366 rows per register,
the larger part of the page; 16 days (1,536 edges, 12 KiB) read 23, while a batch still rewrites few bytes per
register (`python -m bench.edge_rows`, BENCHMARKS.md "Aggregations from the edges")."""
ROW_US = ROW_DAYS * DAY_US
ROW_SLOTS = ROW_US // QUARTER_US
NAN = math.nan
_SWAP = sys.byteorder != "little"  # rows hold little-endian doubles on every machine


def first_edge_at_or_after(t: int) -> int:
    """The first quarter-hour edge at or after t.

    >>> first_edge_at_or_after(1), first_edge_at_or_after(900_000_000)
    (900000000, 900000000)
    """
    return -(-t // QUARTER_US) * QUARTER_US


def pack(values: Sequence[float]) -> bytes:
    """A stored row: ROW_SLOTS doubles, little-endian (the row `t // ROW_US` holds the edges of [row, row + 1) × ROW_US)."""
    row = array("d", values)
    if _SWAP:
        row.byteswap()
    return row.tobytes()


ROW_BYTES = ROW_SLOTS * 8
_NAN_BYTES = pack([NAN])


def unpack(blob: bytes) -> array:
    row = array("d")
    row.frombytes(blob)
    if _SWAP:
        row.byteswap()
    return row


MAX_GAP_US = 3_600_000_000
"""Edges are kept only between readings at most an hour apart: so a batch writes at most four edges per reading
whatever its data (monthly readings would otherwise fill 2,880 edges each), and every dense series (hourly or
finer) has all of them. An edge between readings further apart stays unknown and is read by seeking them."""


def plan_edges(stamps: Sequence[int], values: Sequence[float], resets: Mapping[int, float], lo: int, hi: int
               ) -> tuple[list[int], list[float]]:
    """The register's known edges in [lo, hi], as (edges, their values) ascending, from its readings `stamps`/`values`
    (ascending, raw) that cover at least [lo, hi] ∩ coverage, and the reset offsets starting at those readings
    (`resets`: ts → offset): an edge with a reading on it, or between two readings at most MAX_GAP_US apart.

    >>> plan_edges([600_000_000, 2_400_000_000], [10.0, 13.0], {}, 0, 2_700_000_000)
    ([900000000, 1800000000], [10.5, 12.0])
    >>> plan_edges([0, 1_800_000_000], [10.0, 1.0], {1_800_000_000: 10.0}, 0, 1_800_000_000)  # a reset
    ([0, 900000000, 1800000000], [10.0, 10.5, 1.0])
    >>> plan_edges([0, 7_200_000_000], [1.0, 2.0], {}, 0, 7_200_000_000)  # two hours apart: the ends only
    ([0, 7200000000], [1.0, 2.0])
    """
    edges = range(first_edge_at_or_after(lo), hi + 1, QUARTER_US)
    if len(stamps) == len(edges) and stamps == list(edges):  # a reading on every edge, none between (in C)
        return list(edges), list(values)
    n = len(stamps)
    out: list[tuple[int, float]] = []
    if len(edges) <= n:  # dense readings: a search per edge
        i = 0
        for e in edges:
            i = bisect_left(stamps, e, i)
            if i < n and stamps[i] == e:
                out.append((e, values[i]))
            elif 0 < i < n and stamps[i] - stamps[i - 1] <= MAX_GAP_US:
                out.append((e, _between(stamps, values, resets, i, e)))
        return [e for e, _ in out], [v for _, v in out]
    for i in range(bisect_left(stamps, lo), n):  # sparse readings: a walk over them
        t = stamps[i]
        if t > hi:
            break
        if t % QUARTER_US == 0:
            out.append((t, values[i]))
        if i + 1 < n and stamps[i + 1] - t <= MAX_GAP_US:
            following = stamps[i + 1]
            out.extend((e, _between(stamps, values, resets, i + 1, e))
                       for e in range(first_edge_at_or_after(t + 1), min(following, hi + 1), QUARTER_US))
    return [e for e, _ in out], [v for _, v in out]


def _between(stamps: Sequence[int], values: Sequence[float], resets: Mapping[int, float], i: int, e: int) -> float:
    """The edge e strictly between readings i - 1 and i (raw frame: the reset offset starting at i added)."""
    return interpolate((stamps[i - 1], values[i - 1]), (stamps[i], values[i] + resets.get(stamps[i], 0.0)), e)


def merge_rows(stored: Mapping[int, bytes], lo: int, hi: int, known: tuple[Sequence[int], Sequence[float]]
               ) -> list[tuple[int, bytes | None]]:
    """The rows after recomputing the edges in [lo, hi]: the stored rows (key → row) meeting it with their
    edges there cleared, then the `known` ones (from `plan_edges`) written; (key, row), or (key, None) for a
    row left without any known edge (delete it)."""
    rows: dict[int, array] = {}
    for key, blob in stored.items():
        if key * ROW_US <= hi and lo < (key + 1) * ROW_US:
            row = rows[key] = unpack(blob)
            a = max(0, -(-(lo - key * ROW_US) // QUARTER_US))
            b = min(ROW_SLOTS - 1, (hi - key * ROW_US) // QUARTER_US)
            if a <= b:
                row[a:b + 1] = array("d", [NAN]) * (b + 1 - a)
    written: set[int] = set()  # rows given a known edge (finite): kept without looking at them
    stamps, values = known
    i, n = 0, len(stamps)
    while i < n:  # a row at a time; a run of consecutive edges (the usual case) as one slice
        key = stamps[i] // ROW_US
        j = bisect_left(stamps, (key + 1) * ROW_US, i)
        row = rows.get(key)
        if row is None:
            row = rows[key] = array("d", [NAN]) * ROW_SLOTS
        first = (stamps[i] - key * ROW_US) // QUARTER_US
        if stamps[j - 1] - stamps[i] == (j - 1 - i) * QUARTER_US:
            row[first:first + j - i] = array("d", values[i:j])
        else:
            for e, v in zip(stamps[i:j], values[i:j]):
                row[(e - key * ROW_US) // QUARTER_US] = v
        written.add(key)
        i = j
    return [(key, pack(row) if key in written or any(v == v for v in row) else None)
            for key, row in sorted(rows.items())]


def rows_of_days(day_rows: Iterable[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Rows of one UTC day each (96 edges: migration 0009's layout) as rows of ROW_DAYS days (migration 0010).

    >>> day = pack([1.0] * (DAY_US // QUARTER_US))
    >>> [(key, len(row) // 8) for key, row in rows_of_days([(ROW_DAYS + 1, day)])]
    [(1, 1536)]
    """
    per_day = DAY_US // QUARTER_US
    rows: dict[int, array] = {}
    for day, blob in day_rows:
        key, nth = divmod(day, ROW_DAYS)
        row = rows.get(key)
        if row is None:
            row = rows[key] = array("d", [NAN]) * ROW_SLOTS
        row[nth * per_day:(nth + 1) * per_day] = unpack(blob)
    return [(key, pack(row)) for key, row in sorted(rows.items())]


def values_at(registers: Sequence[Iterable[tuple[int, bytes]]], instants: Sequence[int]) -> list[list[float | None]]:
    """Per register, its stored edge at each instant (None: not an edge, no row holding it, or unknown there),
    from its stored rows (key, row).

    >>> row = pack([float(k) for k in range(ROW_SLOTS)])
    >>> values_at([[(1, row)], []], [ROW_US, ROW_US + 1, ROW_US + 2 * QUARTER_US, 3 * ROW_US])
    [[0.0, None, 2.0, None], [None, None, None, None]]
    """
    tables = [list(rows) for rows in registers]
    keys = [key for rows in tables for key, _ in rows]
    if not keys:
        return [[None] * len(instants) for _ in tables]
    first, last = min(keys), max(keys)
    if last - first + 1 > 4 * len(keys) + 32:  # rows far apart (sparse data): no array over the keys between
        found = [{key: unpack(blob) for key, blob in rows} for rows in tables]
        return [[_edge(by_key, t) for t in instants] for by_key in found]
    base, end = first * ROW_US, (last + 1) * ROW_US
    if instants and base <= instants[0] and instants[-1] < end and not any(map(mod, instants, repeat(QUARTER_US))):
        slots = [(t - base) // QUARTER_US for t in instants]  # every instant an edge of a row read (checked in C)
    else:
        slots = [(t - base) // QUARTER_US if base <= t < end and not t % QUARTER_US else -1 for t in instants]
    out: list[list[float | None]] = []
    for rows in tables:
        found: list[float | None] = list(map(_flat(rows, first, last).__getitem__, slots))
        if math.isnan(sum(found)):  # some edge unknown (NaN propagates; every value is finite): None there
            found = [v if v == v else None for v in found]
        out.append(found)
    return out


def _flat(rows: list[tuple[int, bytes]], first: int, last: int) -> Sequence[float]:
    """One register's edges of the rows first..last in one sequence (NaN where no row), and NaN after them (the
    slot -1 of an instant that is not an edge): the rows joined as they are stored when they are all there (one
    copy; a year is ~1.4 MB of rows for 5 registers), else laid into an array of NaN."""
    if not _SWAP and len(rows) == last - first + 1 and all(len(blob) == ROW_BYTES for _, blob in rows):
        return memoryview(b"".join([blob for _, blob in sorted(rows)] + [_NAN_BYTES])).cast("d")
    flat = array("d", [NAN]) * ((last - first + 1) * ROW_SLOTS)
    for key, blob in rows:
        at = (key - first) * ROW_SLOTS
        flat[at:at + ROW_SLOTS] = unpack(blob)
    flat.append(NAN)
    return flat


def _edge(by_key: Mapping[int, array], t: int) -> float | None:
    key, rest = divmod(t, ROW_US)
    row = by_key.get(key)
    if row is None or rest % QUARTER_US:
        return None
    v = row[rest // QUARTER_US]
    return v if v == v else None
