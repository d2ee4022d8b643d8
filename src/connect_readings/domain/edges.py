"""Each register's value at every 15-minute UTC edge, kept at ingest (docs/semantics.md §5, Quarter-hour edges).

Every zone's offset is a whole number of quarter-hours, so every edge of a width made of whole quarter-hours,
and every hourly or quarter-hourly price edge, is a multiple of `QUARTER_US` since the epoch. A page that reads a
register at thousands of such instants (a year of costs under hourly prices: 8,760) reads them from one row per
register and UTC day (`DAY_SLOTS` doubles, NaN where unknown) instead of seeking a reading for each.

What is kept is the register in the *raw frame*: `edge = continuous(e) - O(e)`, where O(e) is the sum of the
reset offsets up to e (registers.ResetOffsets). A reader adds the offsets as it does to raw readings, so a late
reset never rewrites the edges after it. Between two readings b < e < a of the register, with `off_a` the
reset offset starting at a (0 without one):

    edge(e) = interpolate((b.ts, b.raw), (a.ts, a.raw + off_a), e)        edge(b.ts) = b.raw

Outside the register's readings (before the first, after the last) an edge is unknown (NaN). A batch changes
the edges between the register's reading before it and the first one after it (`Surroundings.before`,
`after`): `plan_edges` recomputes exactly those, from the same samples and resets the ingest planner uses, and
the store merges them into the stored day rows (`merge_days`).
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
DAY_SLOTS = DAY_US // QUARTER_US
NAN = math.nan
_SWAP = sys.byteorder != "little"  # rows hold little-endian doubles on every machine


def first_edge_at_or_after(t: int) -> int:
    """The first quarter-hour edge at or after t.

    >>> first_edge_at_or_after(1), first_edge_at_or_after(900_000_000)
    (900000000, 900000000)
    """
    return -(-t // QUARTER_US) * QUARTER_US


def on_edge(t: int) -> bool:
    return t % QUARTER_US == 0


def pack(values: Sequence[float]) -> bytes:
    """A day row: DAY_SLOTS doubles, little-endian."""
    row = array("d", values)
    if _SWAP:
        row.byteswap()
    return row.tobytes()


def unpack(blob: bytes) -> array:
    row = array("d")
    row.frombytes(blob)
    if _SWAP:
        row.byteswap()
    return row


def plan_edges(stamps: Sequence[int], values: Sequence[float], resets: Mapping[int, float], lo: int, hi: int
               ) -> list[float]:
    """The register's edges in [lo, hi] (first_edge_at_or_after(lo), then every QUARTER_US up to hi), from
    its readings `stamps`/`values` (ascending, raw) that cover at least [lo, hi] ∩ coverage, and the reset
    offsets starting at those readings (`resets`: ts → offset); NaN outside [stamps[0], stamps[-1]].

    >>> plan_edges([600_000_000, 2_400_000_000], [10.0, 13.0], {}, 0, 2_700_000_000)
    [nan, 10.5, 12.0, nan]
    >>> plan_edges([0, 1_800_000_000], [10.0, 1.0], {1_800_000_000: 10.0}, 0, 1_800_000_000)  # a reset
    [10.0, 10.5, 1.0]
    """
    edges = range(first_edge_at_or_after(lo), hi + 1, QUARTER_US)
    if len(stamps) == len(edges) and stamps == list(edges):  # a reading on every edge, none between (in C)
        return list(values)
    out: list[float | None] = list(map(dict(zip(stamps, values)).get, edges))  # a reading on the edge (in C)
    if None in out:
        n = len(stamps)
        for j in [j for j, v in enumerate(out) if v is None]:
            e = edges[j]
            i = bisect_left(stamps, e)  # the first reading after the edge (none sits on it)
            out[j] = (NAN if i == 0 or i == n else
                      interpolate((stamps[i - 1], values[i - 1]), (stamps[i], values[i] + resets.get(stamps[i], 0.0)), e))
    return out  # type: ignore[return-value]


def merge_days(stored: Mapping[int, bytes], lo: int, edges: Sequence[float]) -> list[tuple[int, bytes | None]]:
    """The day rows after writing `edges` (consecutive, the first at `first_edge_at_or_after(lo)`) over the
    stored rows (day → row): (day, row), or (day, None) for a day left without any known edge (delete it)."""
    first = first_edge_at_or_after(lo)
    out: list[tuple[int, bytes | None]] = []
    k, n = 0, len(edges)
    while k < n:
        e = first + k * QUARTER_US
        day, slot = divmod(e, DAY_US)
        slot //= QUARTER_US
        take = min(DAY_SLOTS - slot, n - k)
        found = stored.get(day)
        row = unpack(found) if found is not None else array("d", [NAN]) * DAY_SLOTS
        part = array("d", edges[k:k + take])
        row[slot:slot + take] = part
        known = not math.isnan(sum(part)) or any(v == v for v in row)  # (NaN propagates through the sum)
        out.append((day, pack(row) if known else None))
        k += take
    return out


def values_at(registers: Sequence[Iterable[tuple[int, bytes]]], instants: Sequence[int]) -> list[list[float | None]]:
    """Per register, its stored edge at each instant (None: not an edge, no row for its day, or unknown there),
    from its day rows (day, row).

    >>> row = pack([float(k) for k in range(DAY_SLOTS)])
    >>> values_at([[(1, row)], []], [DAY_US, DAY_US + 1, DAY_US + 2 * QUARTER_US, 3 * DAY_US])
    [[0.0, None, 2.0, None], [None, None, None, None]]
    """
    tables = [list(rows) for rows in registers]
    days = [day for rows in tables for day, _ in rows]
    if not days:
        return [[None] * len(instants) for _ in tables]
    first, last = min(days), max(days)
    base, end = first * DAY_US, (last + 1) * DAY_US
    if instants and base <= instants[0] and instants[-1] < end and not any(map(mod, instants, repeat(QUARTER_US))):
        slots = [(t - base) // QUARTER_US for t in instants]  # every instant an edge of a day read (checked in C)
    else:
        slots = [(t - base) // QUARTER_US if base <= t < end and not t % QUARTER_US else -1 for t in instants]
    out: list[list[float | None]] = []
    for rows in tables:
        flat = array("d", [NAN]) * ((last - first + 1) * DAY_SLOTS)
        for day, blob in rows:
            at = (day - first) * DAY_SLOTS
            flat[at:at + DAY_SLOTS] = unpack(blob)
        flat.append(NAN)  # slot -1: not an edge
        found: list[float | None] = list(map(flat.__getitem__, slots))
        if math.isnan(sum(found)):  # some edge unknown (NaN propagates; every value is finite): None there
            found = [v if v == v else None for v in found]
        out.append(found)
    return out
