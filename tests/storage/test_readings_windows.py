"""A page of raw readings read in windows (`readings_in_windows`, storage/base.py; issue 22, item 2): on TimescaleDB
the store reads the part of [start, end) inside the chunk-aligned window holding start first, then, only when
that gave too few, the rest. The rows must be those of one read of [start, end): same readings, same order, on
every backend. Witnessed twice: the rule on its own (table rows, a fake read), and each backend's real reads with
a small span forced (here 10 minutes; TimescaleDB's own, its weekly chunks, in test_scaleout_engines.py).
"""

from __future__ import annotations

import bisect
import uuid

import pytest

from connect_readings.domain.readings import Reading, parse_reading
from connect_readings.domain.timefmt import format_datetime
from connect_readings.storage.base import Store, StoredReading, Window, reading_window, readings_in_windows

MINUTE = 60_000_000
SPAN = 10 * MINUTE
T0 = 1_716_768_000_000_000  # 2024-05-27T00:00Z: a multiple of SPAN, so windows start at T0 + k * SPAN
BIG = 2**63 - 1


# -- the window holding start ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "span", "window"), [
    (25, 10, (20, 30)),  # inside
    (20, 10, (20, 30)),  # at a window's start: that window
    (29, 10, (20, 30)),  # at its last instant
    (30, 10, (30, 40)),  # a window's end is the next one's start
    (-5, 10, (-10, 0)),  # before the epoch: floored, as TimescaleDB aligns chunks
    (-10, 10, (-10, 0)),
    (0, 10, (0, 10)),
    (BIG - 2, 10, (BIG - 7, BIG)),  # clipped to the bigint range: both bounds stay valid SQL bigints
    (-(2**63), 10, (-(2**63), -(2**63) + 8)),  # -2**63 - 2 floored, then clipped
    (T0 + 3 * MINUTE, SPAN, (T0, T0 + SPAN)),
])
def test_reading_window(start: int, span: int, window: Window) -> None:
    assert reading_window(start, span) == window


# -- the rule with a fake read --------------------------------------------------------------------------------------
STAMPS = [0, 1, 2, 9, 10, 11, 19, 40, 41, 70, 99]  # windows of 10: 4 | 3 | 1 | - | 2 | - | - | 1 | - | 1


def fake(stamps: list[int], calls: list[tuple[int, int, Window | None, int]]):  # type: ignore[no-untyped-def]
    def read(start: int, end: int, window: Window | None, limit: int) -> list[StoredReading]:
        calls.append((start, end, window, limit))
        assert window is None or window[0] <= start <= end <= window[1]
        lo, hi = bisect.bisect_left(stamps, start), bisect.bisect_left(stamps, end)
        return [StoredReading(ts, {}) for ts in stamps[lo:hi][:limit]]
    return read


@pytest.mark.parametrize(("start", "end", "limit", "reads"), [
    (0, 100, 4, [(0, 10, (0, 10), 4)]),  # the page ends exactly at the window's end: no second read
    (0, 100, 3, [(0, 10, (0, 10), 3)]),  # inside the first window
    (0, 100, 5, [(0, 10, (0, 10), 5), (10, 100, None, 1)]),  # across a window boundary
    (2, 100, 2, [(2, 10, (0, 10), 2)]),  # from inside a window
    (2, 100, 6, [(2, 10, (0, 10), 6), (10, 100, None, 4)]),
    (20, 100, 3, [(20, 30, (20, 30), 3), (30, 100, None, 3)]),  # an empty window, then a gap longer than it
    (42, 100, 2, [(42, 50, (40, 50), 2), (50, 100, None, 2)]),  # gaps of several windows: still two reads
    (42, 100, 9, [(42, 50, (40, 50), 9), (50, 100, None, 9)]),  # fewer readings than the limit in all
    (0, 10, 9, [(0, 10, (0, 10), 9)]),  # end at the window's end: nothing after it to read
    (0, 5, 9, [(0, 5, (0, 10), 9)]),  # end inside the window
    (5, 5, 9, [(5, 5, None, 9)]),  # empty range: one read, as without windows
    (9, 5, 9, [(9, 5, None, 9)]),
    (0, 100, 0, [(0, 100, None, 0)]),
    (-(2**63), BIG, 6, [(-(2**63), -(2**63) + 8, (-(2**63), -(2**63) + 8), 6),
                        (-(2**63) + 8, BIG, None, 6)]),  # every timestamp (the copy's read): windows clipped
])
def test_readings_in_windows(start: int, end: int, limit: int, reads: list[tuple[int, int, Window | None, int]]
                             ) -> None:
    calls: list[tuple[int, int, Window | None, int]] = []
    rows = readings_in_windows(fake(STAMPS, calls), start, end, limit, 10)
    assert calls == reads
    whole: list[tuple[int, int, Window | None, int]] = []
    assert rows == readings_in_windows(fake(STAMPS, whole), start, end, limit, None)  # the rows of one read
    assert whole == [(start, end, None, limit)]


# -- each backend, a small span forced ----------------------------------------------------------------------------
# Minutes after T0 (windows of 10 minutes): a full window, one cut at a boundary, readings at a window's first
# and last microsecond, an hour's gap (several empty windows), a lone reading, then a run of 25 across 3 windows.
OFFSETS = [*range(10), 20, 29, 30, 31, 39, 40, 100, 200, *range(300, 325)]
STAMPS_US = sorted({T0 + m * MINUTE for m in OFFSETS} | {T0 + 50 * MINUTE - 1, T0 + 60 * MINUTE})


def reading(ts: int, i: int) -> Reading:
    return parse_reading({"timestamp": format_datetime(ts), "data": {
        "positiveActiveEnergy": {"total": float(i), "t1": i / 2, "unit": "kWh"}, "voltageL1": {"value": 230.0 + i % 7,
                                                                                               "unit": "V"}}})


CASES = [  # (start, end, limit) as minutes after T0 and a count
    (0, 400, 10), (0, 400, 11), (0, 400, 12), (0, 400, 1000), (3, 400, 7), (3, 400, 8), (5, 30, 100),
    (10, 400, 3), (20, 30, 2), (29, 400, 1), (29, 400, 4), (40, 60, 5), (41, 400, 2), (41, 400, 50),
    (45, 400, 1), (60, 400, 3), (101, 400, 1), (201, 310, 4), (305, 400, 15), (305, 400, 20), (300, 320, 20),
    (330, 400, 5), (0, 10, 100), (0, 1, 1),
]


@pytest.mark.parametrize(("start", "end", "limit"), CASES)
def test_windowed_reads_equal_one_read_on_every_backend(store: Store, start: int, end: int, limit: int) -> None:
    entity, other = uuid.uuid4(), uuid.uuid4()
    store.ingest(entity, [reading(ts, i) for i, ts in enumerate(STAMPS_US)])
    store.ingest(other, [reading(ts + 1, i) for i, ts in enumerate(STAMPS_US)])  # interleaved: never read
    lo, hi = T0 + start * MINUTE, T0 + end * MINUTE
    expected = [ts for ts in STAMPS_US if lo <= ts < hi][:limit]
    store.readings_span = None  # type: ignore[attr-defined]
    whole = store.readings(entity, lo, hi, limit)
    store.readings_span = SPAN  # type: ignore[attr-defined]
    windowed = store.readings(entity, lo, hi, limit)
    assert [r.ts for r in windowed] == expected
    assert windowed == whole  # the same readings, values and all
