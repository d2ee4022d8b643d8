"""The bucket grid (docs/semantics.md §4) on integer microseconds.

Tables follow the shape of TimescaleDB's ``time_bucket`` regression tests; the property
tests check the invariants paging relies on, and compare the zone path with brute-force
references built directly on ``zoneinfo``: under one day, every instant at which the clock
shows a grid time (both readings of an ambiguous one, ``fold=0`` for a skipped one); a day or
more, one instant per grid time (fold=0 for gaps, fold=1 for overlaps) and the running maximum.
"""

from __future__ import annotations

import inspect
import itertools
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from connect_readings.domain import grid
from connect_readings.domain.grid import Grid
from connect_readings.domain.interval import Interval

SEC = 1_000_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
HAVANA = ZoneInfo("America/Havana")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
ZONES = [None, BERLIN, NEW_YORK, KATHMANDU, LORD_HOWE]


def bucket_floor(t: int, width: Interval, tz: ZoneInfo | timezone | None = None) -> int:
    return Grid(width, tz).floor(t)


def next_boundary(t: int, width: Interval, tz: ZoneInfo | timezone | None = None) -> int:
    return Grid(width, tz).next(t)


def iter_buckets(start: int, end: int, width: Interval, tz: ZoneInfo | timezone | None = None):  # type: ignore[no-untyped-def]
    return Grid(width, tz).buckets(start, end)


def at(text: str) -> int:
    """ISO-8601 instant (``Z`` or offset; a bare date/time means UTC) -> epoch µs."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - _EPOCH) // _US


def iso(us: int) -> str:
    """Epoch µs -> ISO-8601 UTC, so failures read like the tables."""
    dt = _EPOCH + timedelta(microseconds=us)
    spec = "minutes" if dt.second == dt.microsecond == 0 else "auto"
    return dt.isoformat(timespec=spec).replace("+00:00", "Z")


def micros(n: int) -> Interval:
    return Interval(0, 0, n)


def minutes(n: int) -> Interval:
    return Interval(0, 0, n * MIN)


def hours(n: int) -> Interval:
    return Interval(0, 0, n * HOUR)


def days(n: int) -> Interval:
    return Interval(0, n, 0)


def weeks(n: int) -> Interval:
    return Interval(0, 7 * n, 0)


def months(n: int) -> Interval:
    return Interval(n, 0, 0)


def years(n: int) -> Interval:
    return Interval(12 * n, 0, 0)


def spans(
    start: str, end: str, width: Interval, tz: ZoneInfo | None = None
) -> list[tuple[str, str]]:
    """``iter_buckets`` over an ISO window, as ISO pairs."""
    return [(iso(b), iso(e)) for b, e in iter_buckets(at(start), at(end), width, tz)]


# --------------------------------------------------------------------------------------
# UTC tables
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "t", "expected"),
    [
        (minutes(15), "2024-05-27T13:07Z", "2024-05-27T13:00Z"),
        (minutes(15), "2024-05-27T13:15Z", "2024-05-27T13:15Z"),
        (minutes(15), "2024-05-27T13:14:59.999999Z", "2024-05-27T13:00Z"),
        (hours(7), "2024-05-27T13:00Z", "2024-05-27T07:00Z"),
        (days(1), "2024-05-27T13:00Z", "2024-05-27T00:00Z"),
        (days(2), "2024-05-27T13:00Z", "2024-05-26T00:00Z"),
        (days(3), "2024-05-27T13:00Z", "2024-05-26T00:00Z"),
        (Interval(0, 1, 12 * HOUR), "2000-01-04T11:59Z", "2000-01-03T00:00Z"),
        (Interval(0, 1, 12 * HOUR), "2000-01-04T12:00Z", "2000-01-04T12:00Z"),
        (weeks(1), "2024-05-27T13:00Z", "2024-05-27T00:00Z"),
        (weeks(1), "2024-05-26T23:59Z", "2024-05-20T00:00Z"),
        (weeks(2), "2024-05-27T13:00Z", "2024-05-20T00:00Z"),
        (weeks(1), "1970-01-01T00:00Z", "1969-12-29T00:00Z"),
        (weeks(1), "2000-01-02T23:59:59.999999Z", "1999-12-27T00:00Z"),
        (weeks(1), "1900-01-01T00:00Z", "1900-01-01T00:00Z"),  # also a Monday
        (micros(1), "2024-05-27T13:07:01.123456Z", "2024-05-27T13:07:01.123456Z"),
        (micros(7), "2000-01-03T00:00:00.000006Z", "2000-01-03T00:00Z"),
        (micros(7), "2000-01-02T23:59:59.999999Z", "2000-01-02T23:59:59.999993Z"),
        (months(1), "2024-05-27T13:00Z", "2024-05-01T00:00Z"),
        (months(2), "2024-05-27T13:00Z", "2024-05-01T00:00Z"),
        (months(3), "2024-05-27T13:00Z", "2024-04-01T00:00Z"),
        (months(2), "1999-12-31T00:00Z", "1999-11-01T00:00Z"),
        (months(2), "2000-01-01T00:00Z", "2000-01-01T00:00Z"),
        (months(1), "2024-02-29T23:59:59.999999Z", "2024-02-01T00:00Z"),
        (months(1), "2024-03-01T00:00Z", "2024-03-01T00:00Z"),
        (months(12), "2024-12-31T23:59Z", "2024-01-01T00:00Z"),
        (years(5), "2024-05-27T13:00Z", "2020-01-01T00:00Z"),
        (years(5), "1999-12-31T00:00Z", "1995-01-01T00:00Z"),
        (years(5), "1900-03-01T00:00Z", "1900-01-01T00:00Z"),
        (years(100), "2099-12-31T23:59Z", "2000-01-01T00:00Z"),
        (years(100), "1999-12-31T23:59Z", "1900-01-01T00:00Z"),
    ],
)
def test_bucket_floor_utc(width: Interval, t: str, expected: str) -> None:
    assert iso(bucket_floor(at(t), width)) == expected
    assert iso(bucket_floor(at(t), width, ZoneInfo("UTC"))) == expected
    assert iso(bucket_floor(at(t), width, ZoneInfo("Etc/UTC"))) == expected


@pytest.mark.parametrize(
    ("width", "b", "expected"),
    [
        (minutes(15), "2024-05-27T13:00Z", "2024-05-27T13:15Z"),
        (weeks(1), "2024-05-27T00:00Z", "2024-06-03T00:00Z"),
        (months(1), "2024-01-01T00:00Z", "2024-02-01T00:00Z"),
        (months(1), "2024-02-01T00:00Z", "2024-03-01T00:00Z"),
        (months(2), "1999-11-01T00:00Z", "2000-01-01T00:00Z"),
        (years(5), "1995-01-01T00:00Z", "2000-01-01T00:00Z"),
        # not a boundary: the end of the bucket containing it
        (months(3), "2024-05-27T13:00Z", "2024-07-01T00:00Z"),
    ],
)
def test_next_boundary_utc(width: Interval, b: str, expected: str) -> None:
    assert iso(next_boundary(at(b), width)) == expected


def test_utc_fixed_path_uses_no_zone_machinery(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hot path (UTC, fixed width) is integer arithmetic only."""

    def boom(*_: object) -> int:
        raise AssertionError("zone machinery used on the UTC fast path")

    monkeypatch.setattr(grid, "_offset_at", boom)
    monkeypatch.setattr(grid, "_to_utc", boom)
    monkeypatch.setattr(grid, "_to_local", boom)
    t = at("2024-05-27T13:07Z")
    for tz in (None, ZoneInfo("UTC"), timezone.utc):
        assert bucket_floor(t, minutes(15), tz) == at("2024-05-27T13:00Z")
        assert next_boundary(t, minutes(15), tz) == at("2024-05-27T13:15Z")
        assert bucket_floor(t, months(1), tz) == at("2024-05-01T00:00Z")
        assert list(iter_buckets(t, t + 1, hours(1), tz)) == [
            (at("2024-05-27T13:00Z"), at("2024-05-27T14:00Z"))
        ]


# --------------------------------------------------------------------------------------
# Time-zone tables
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "tz", "t", "start", "end"),
    [
        # spring forward: a 23-hour day
        (days(1), BERLIN, "2024-03-31T12:00Z", "2024-03-30T23:00Z", "2024-03-31T22:00Z"),
        # fall back: a 25-hour day, up to its last microsecond
        (days(1), BERLIN, "2024-10-27T22:59Z", "2024-10-26T22:00Z", "2024-10-27T23:00Z"),
        (days(1), BERLIN, "2024-10-27T22:59:59.999999Z", "2024-10-26T22:00Z", "2024-10-27T23:00Z"),
        (days(1), BERLIN, "2024-10-27T23:00Z", "2024-10-27T23:00Z", "2024-10-28T23:00Z"),
        (days(1), BERLIN, "2024-10-26T21:59Z", "2024-10-25T22:00Z", "2024-10-26T22:00Z"),
        # months in local time
        (months(1), BERLIN, "2024-03-31T21:30Z", "2024-02-29T23:00Z", "2024-03-31T22:00Z"),
        (months(1), BERLIN, "2024-03-31T22:30Z", "2024-03-31T22:00Z", "2024-04-30T22:00Z"),
        (months(3), BERLIN, "2024-03-31T22:30Z", "2024-03-31T22:00Z", "2024-06-30T22:00Z"),
        (years(1), BERLIN, "2024-12-31T23:30Z", "2024-12-31T23:00Z", "2025-12-31T23:00Z"),
        # weeks start Monday 00:00 local
        (weeks(1), BERLIN, "2024-05-27T13:00Z", "2024-05-26T22:00Z", "2024-06-02T22:00Z"),
        (weeks(1), NEW_YORK, "2024-03-12T00:00Z", "2024-03-11T04:00Z", "2024-03-18T04:00Z"),
        (weeks(1), NEW_YORK, "2024-03-10T12:00Z", "2024-03-04T05:00Z", "2024-03-11T04:00Z"),
        # quarter-hour offset
        (hours(1), KATHMANDU, "2024-05-27T12:10Z", "2024-05-27T11:15Z", "2024-05-27T12:15Z"),
        (hours(1), KATHMANDU, "2024-05-27T12:15Z", "2024-05-27T12:15Z", "2024-05-27T13:15Z"),
        (days(1), KATHMANDU, "2024-05-27T12:10Z", "2024-05-26T18:15Z", "2024-05-27T18:15Z"),
        # Kathmandu 1986-01-01 00:00 +05:30 -> 00:15 +05:45: a 15-minute gap at midnight
        (days(1), KATHMANDU, "1986-01-01T12:00Z", "1985-12-31T18:30Z", "1986-01-01T18:15Z"),
        # Lord Howe: 30-minute DST; fall back 02:00 +11 -> 01:30 +10:30
        (hours(1), LORD_HOWE, "2024-04-06T15:10Z", "2024-04-06T14:00Z", "2024-04-06T15:30Z"),
        (hours(1), LORD_HOWE, "2024-04-06T15:30Z", "2024-04-06T15:30Z", "2024-04-06T16:30Z"),
        # spring forward 02:00 +10:30 -> 02:30 +11: the 02:00 bucket is 30 minutes long
        (hours(1), LORD_HOWE, "2024-10-05T15:45Z", "2024-10-05T15:30Z", "2024-10-05T16:00Z"),
        (hours(1), LORD_HOWE, "2024-10-05T15:29Z", "2024-10-05T14:30Z", "2024-10-05T15:30Z"),
        # midnight that does not exist (00:00 -> 01:00): the day starts at the transition
        (days(1), SAO_PAULO, "2018-11-04T12:00Z", "2018-11-04T03:00Z", "2018-11-05T02:00Z"),
        # midnight that happens twice (01:00 -> 00:00): the day starts at the later one
        (days(1), HAVANA, "2023-11-05T04:30Z", "2023-11-04T04:00Z", "2023-11-05T05:00Z"),
        (days(1), HAVANA, "2023-11-05T05:00Z", "2023-11-05T05:00Z", "2023-11-06T05:00Z"),
        # Berlin 1945: double summer time (+3), transitions at local 03:00 -> 02:00
        # (local 02:00 is shown twice: 23:00Z and 00:00Z are both edges)
        (hours(1), BERLIN, "1945-09-23T22:30Z", "1945-09-23T22:00Z", "1945-09-23T23:00Z"),
        (hours(1), BERLIN, "1945-09-23T23:30Z", "1945-09-23T23:00Z", "1945-09-24T00:00Z"),
        (hours(1), BERLIN, "1945-09-24T00:00Z", "1945-09-24T00:00Z", "1945-09-24T01:00Z"),
        # the autumn quarter-hours of Berlin (and Brussels): 02:45 is shown twice, each a 15-minute bucket
        (minutes(15), BERLIN, "2024-10-27T00:50Z", "2024-10-27T00:45Z", "2024-10-27T01:00Z"),
        (minutes(15), BERLIN, "2024-10-27T01:50Z", "2024-10-27T01:45Z", "2024-10-27T02:00Z"),
        # London, 90 minutes: 01:30 BST (00:30Z) and 01:30 GMT (01:30Z) are both edges: 60 minutes
        (minutes(90), ZoneInfo("Europe/London"), "2024-10-27T01:00Z", "2024-10-27T00:30Z", "2024-10-27T01:30Z"),
    ],
)
def test_bucket_in_time_zone(width: Interval, tz: ZoneInfo, t: str, start: str, end: str) -> None:
    b = bucket_floor(at(t), width, tz)
    assert iso(b) == start
    assert iso(next_boundary(b, width, tz)) == end
    assert iso(next_boundary(at(t), width, tz)) == end


def test_berlin_day_lengths_2024() -> None:
    year = iter_buckets(at("2024-01-01T00:00+01:00"), at("2025-01-01T00:00+01:00"), days(1), BERLIN)
    lengths = [e - b for b, e in year]
    assert len(lengths) == 366
    assert lengths.count(23 * HOUR) == 1
    assert lengths.count(25 * HOUR) == 1
    assert lengths.count(24 * HOUR) == 364


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (
            ("2024-03-30T23:00Z", "2024-03-31T03:00Z"),
            [
                ("2024-03-30T23:00Z", "2024-03-31T00:00Z"),  # 00:00 CET
                ("2024-03-31T00:00Z", "2024-03-31T01:00Z"),  # 01:00 CET
                ("2024-03-31T01:00Z", "2024-03-31T02:00Z"),  # 03:00 CEST (02:00 is skipped)
                ("2024-03-31T02:00Z", "2024-03-31T03:00Z"),  # 04:00 CEST
            ],
        ),
        (
            ("2024-10-26T22:00Z", "2024-10-27T04:00Z"),
            [
                ("2024-10-26T22:00Z", "2024-10-26T23:00Z"),  # 00:00 CEST
                ("2024-10-26T23:00Z", "2024-10-27T00:00Z"),  # 01:00 CEST
                ("2024-10-27T00:00Z", "2024-10-27T01:00Z"),  # 02:00 CEST: the clock shows 02:00 twice
                ("2024-10-27T01:00Z", "2024-10-27T02:00Z"),  # 02:00 CET
                ("2024-10-27T02:00Z", "2024-10-27T03:00Z"),  # 03:00 CET
                ("2024-10-27T03:00Z", "2024-10-27T04:00Z"),  # 04:00 CET
            ],
        ),
    ],
)
def test_hourly_berlin_across_dst(
    window: tuple[str, str], expected: list[tuple[str, str]]
) -> None:
    assert spans(*window, hours(1), BERLIN) == expected


def test_hourly_berlin_whole_year_tiles() -> None:
    got = list(iter_buckets(at("2024-01-01T00:00Z"), at("2025-01-01T00:00Z"), hours(1), BERLIN))
    assert all(e > b for b, e in got)
    assert all(e == b2 for (_, e), (b2, _) in itertools.pairwise(got))
    assert all(e - b == HOUR for b, e in got)  # 23 hours in spring, 25 in autumn: every one an hour
    assert len(got) == 366 * 24


def test_skipped_grid_times_take_the_pre_transition_offset_berlin_45_minutes() -> None:
    """02:15 is never shown: read with +01:00 it is 01:15Z, after 03:00 CEST (01:00Z), which the
    clock does show: both are edges, so a width that does not divide the shift gives short buckets."""
    assert spans("2024-03-30T23:00Z", "2024-03-31T03:00Z", minutes(45), BERLIN) == [
        ("2024-03-30T23:00Z", "2024-03-30T23:45Z"),  # 00:00
        ("2024-03-30T23:45Z", "2024-03-31T00:30Z"),  # 00:45
        ("2024-03-31T00:30Z", "2024-03-31T01:00Z"),  # 01:30 to 03:00 CEST
        ("2024-03-31T01:00Z", "2024-03-31T01:15Z"),  # 03:00 CEST to 02:15 read as CET
        ("2024-03-31T01:15Z", "2024-03-31T01:45Z"),
        ("2024-03-31T01:45Z", "2024-03-31T02:30Z"),  # 03:45
        ("2024-03-31T02:30Z", "2024-03-31T03:15Z"),  # 04:30
    ]


def test_half_hours_in_gap_do_not_produce_empty_buckets() -> None:
    assert spans("2024-03-31T00:00Z", "2024-03-31T02:00Z", minutes(30), BERLIN) == [
        ("2024-03-31T00:00Z", "2024-03-31T00:30Z"),
        ("2024-03-31T00:30Z", "2024-03-31T01:00Z"),
        ("2024-03-31T01:00Z", "2024-03-31T01:30Z"),
        ("2024-03-31T01:30Z", "2024-03-31T02:00Z"),
    ]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (  # fall back 02:00 +11 -> 01:30 +10:30
            ("2024-04-06T13:00Z", "2024-04-06T17:00Z"),
            [
                ("2024-04-06T13:00Z", "2024-04-06T14:00Z"),  # 00:00 +11
                ("2024-04-06T14:00Z", "2024-04-06T15:30Z"),  # 01:00 +11, 90 minutes
                ("2024-04-06T15:30Z", "2024-04-06T16:30Z"),  # 02:00 +10:30
                ("2024-04-06T16:30Z", "2024-04-06T17:30Z"),
            ],
        ),
        (  # spring forward 02:00 +10:30 -> 02:30 +11
            ("2024-10-05T13:30Z", "2024-10-05T17:00Z"),
            [
                ("2024-10-05T13:30Z", "2024-10-05T14:30Z"),  # 00:00 +10:30
                ("2024-10-05T14:30Z", "2024-10-05T15:30Z"),  # 01:00 +10:30
                ("2024-10-05T15:30Z", "2024-10-05T16:00Z"),  # 02:00 (gap) .. 03:00, 30 minutes
                ("2024-10-05T16:00Z", "2024-10-05T17:00Z"),  # 03:00 +11
            ],
        ),
    ],
)
def test_hourly_lord_howe_across_dst(
    window: tuple[str, str], expected: list[tuple[str, str]]
) -> None:
    assert spans(*window, hours(1), LORD_HOWE) == expected


@pytest.mark.parametrize("tz", [BERLIN, LORD_HOWE, NEW_YORK])
@pytest.mark.parametrize("width", [minutes(20), minutes(45), hours(1), hours(5), days(1)])
def test_resume_at_every_bucket_end_around_dst(tz: ZoneInfo, width: Interval) -> None:
    start, end = at("2024-03-08T00:00Z"), at("2024-04-09T00:00Z")
    if tz is not BERLIN:
        start, end = at("2024-10-03T00:00Z"), at("2024-11-05T00:00Z")
    all_buckets = list(iter_buckets(start, end, width, tz))
    step = max(1, len(all_buckets) // 300)
    for i in range(0, len(all_buckets), step):
        c = all_buckets[i][1]
        if c < end:
            assert list(iter_buckets(c, end, width, tz)) == all_buckets[i + 1 :]


# --------------------------------------------------------------------------------------
# API contract
# --------------------------------------------------------------------------------------


def test_iter_buckets_is_lazy() -> None:
    it = iter_buckets(at("1900-01-01T00:00Z"), at("2100-01-01T00:00Z"), micros(1))
    assert inspect.isgenerator(it)
    first = list(itertools.islice(it, 25))
    assert len(first) == 25 and first[0] == (at("1900-01-01T00:00Z"), at("1900-01-01T00:00Z") + 1)
    zoned = iter_buckets(at("1900-01-01T00:00Z"), at("2100-01-01T00:00Z"), minutes(1), BERLIN)
    assert len(list(itertools.islice(zoned, 25))) == 25


@pytest.mark.parametrize(
    ("start", "end", "width", "expected"),
    [
        ("2024-05-27T13:07Z", "2024-05-27T13:07Z", minutes(15), []),
        ("2024-05-27T13:07Z", "2024-05-27T13:00Z", minutes(15), []),
        (
            "2024-05-27T13:07Z",
            "2024-05-27T13:07:00.000001Z",
            minutes(15),
            [("2024-05-27T13:00Z", "2024-05-27T13:15Z")],
        ),
        (
            "2024-05-27T13:07Z",
            "2024-05-27T13:30Z",
            minutes(15),
            [
                ("2024-05-27T13:00Z", "2024-05-27T13:15Z"),
                ("2024-05-27T13:15Z", "2024-05-27T13:30Z"),
            ],
        ),
        (
            "2024-05-27T13:07Z",
            "2024-05-27T13:30:00.000001Z",
            minutes(15),
            [
                ("2024-05-27T13:00Z", "2024-05-27T13:15Z"),
                ("2024-05-27T13:15Z", "2024-05-27T13:30Z"),
                ("2024-05-27T13:30Z", "2024-05-27T13:45Z"),
            ],
        ),
        (
            "2023-12-15T00:00Z",
            "2024-03-01T00:00Z",
            months(1),
            [
                ("2023-12-01T00:00Z", "2024-01-01T00:00Z"),
                ("2024-01-01T00:00Z", "2024-02-01T00:00Z"),
                ("2024-02-01T00:00Z", "2024-03-01T00:00Z"),
            ],
        ),
    ],
)
def test_iter_buckets_utc(
    start: str, end: str, width: Interval, expected: list[tuple[str, str]]
) -> None:
    assert spans(start, end, width) == expected


@pytest.mark.parametrize(
    "width",
    [
        Interval(0, 0, 0),
        Interval(0, 0, -1),
        Interval(0, -1, 0),
        Interval(-1, 0, 0),
        Interval(1, 1, 0),
        Interval(1, 0, 5),
    ],
)
def test_invalid_width_is_rejected_eagerly(width: Interval) -> None:
    with pytest.raises(ValueError, match="bucket width"):
        bucket_floor(0, width)
    with pytest.raises(ValueError, match="bucket width"):
        next_boundary(0, width, BERLIN)
    with pytest.raises(ValueError, match="bucket width"):
        iter_buckets(0, 1, width)  # raised before the first next()


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

T_MIN = at("1900-01-01T00:00Z")
T_MAX = at("2100-01-01T00:00Z")


def _transitions(tz: ZoneInfo, first_year: int, last_year: int) -> list[int]:
    """UTC offset changes of ``tz`` (to the minute), straight from zoneinfo."""
    found = []
    u = datetime(first_year, 1, 1, tzinfo=timezone.utc)
    prev = u.astimezone(tz).utcoffset()
    while u.year <= last_year:
        u += timedelta(minutes=15)
        off = u.astimezone(tz).utcoffset()
        if off != prev:
            found.append((u - _EPOCH) // _US)
            prev = off
    return found


TRANSITIONS: dict[ZoneInfo | None, list[int]] = {
    None: [at("2000-01-03T00:00Z"), at("1970-01-01T00:00Z")],
    BERLIN: _transitions(BERLIN, 1945, 1947) + _transitions(BERLIN, 2024, 2024),
    NEW_YORK: _transitions(NEW_YORK, 1918, 1918) + _transitions(NEW_YORK, 2024, 2024),
    KATHMANDU: [at("1919-12-31T18:30Z"), at("1985-12-31T18:30Z")],
    LORD_HOWE: _transitions(LORD_HOWE, 1981, 1985) + _transitions(LORD_HOWE, 2024, 2024),
}

fixed_widths = st.one_of(
    st.sampled_from(
        [micros(1), micros(7), minutes(1), minutes(15), minutes(20), minutes(45), hours(1)]
        + [hours(7), days(1), days(2), days(3), weeks(1), weeks(2)]
    ),
    st.integers(1, 3 * DAY).map(micros),
    st.builds(Interval, st.just(0), st.integers(0, 400), st.integers(0, DAY)).filter(
        lambda w: w.days > 0 or w.micros > 0
    ),
)
month_widths = st.one_of(
    st.sampled_from([months(1), months(2), months(3), years(1), years(5)]),
    st.integers(1, 150).map(months),
)
widths = st.one_of(fixed_widths, month_widths)
zones = st.sampled_from(ZONES)


@st.composite
def instants(draw: st.DrawFn, tz: ZoneInfo | None) -> int:
    """Uniform over 1900..2100, or within a few days of a transition of ``tz``."""
    if draw(st.booleans()):
        return draw(st.integers(T_MIN, T_MAX))
    return draw(st.sampled_from(TRANSITIONS[tz])) + draw(st.integers(-3 * DAY, 3 * DAY))


def approx_width(width: Interval) -> int:
    return width.months * 31 * DAY + width.days * DAY + width.micros


@settings(max_examples=300, deadline=None)
@given(data=st.data(), width=widths, tz=zones)
def test_floor_contains_t_and_is_idempotent(
    data: st.DataObject, width: Interval, tz: ZoneInfo | None
) -> None:
    t = data.draw(instants(tz))
    b = bucket_floor(t, width, tz)
    n = next_boundary(b, width, tz)
    assert b <= t < n
    assert bucket_floor(b, width, tz) == b
    assert bucket_floor(n, width, tz) == n
    assert bucket_floor(n - 1, width, tz) == b
    assert next_boundary(t, width, tz) == n


@settings(max_examples=200, deadline=None)
@given(data=st.data(), width=widths, tz=zones, count=st.integers(0, 30))
def test_iter_buckets_tiles_window_and_resumes(
    data: st.DataObject, width: Interval, tz: ZoneInfo | None, count: int
) -> None:
    start = data.draw(instants(tz))
    end = start + data.draw(st.integers(-1, count * approx_width(width)))
    got = list(iter_buckets(start, end, width, tz))
    if end <= start:
        assert got == []
        return
    assert got[0][0] == bucket_floor(start, width, tz) <= start
    assert got[-1][0] < end <= got[-1][1]
    for b, e in got:
        assert b < e
    for (_, e), (b2, _) in itertools.pairwise(got):
        assert e == b2
    for i, (_, c) in enumerate(got):
        if c < end:
            assert list(iter_buckets(c, end, width, tz)) == got[i + 1 :]


# Brute-force reference for zones: zoneinfo applied to every grid point.


def _wall_to_utc(local_us: int, tz: ZoneInfo) -> int:
    naive = datetime(1970, 1, 1) + timedelta(microseconds=local_us)
    candidates = [naive.replace(tzinfo=tz, fold=f) for f in (0, 1)]
    # gap: fold=0 (pre-transition offset) is the later instant; overlap: fold=1 is.
    return max(
        (c.replace(tzinfo=None) - c.utcoffset() - datetime(1970, 1, 1)) // _US for c in candidates
    )


def _shown_at(local_us: int, tz: ZoneInfo) -> list[int]:
    """Every instant at which the clock of ``tz`` shows the wall time ``local_us``; for a wall time it never
    shows, the instant it names with the pre-transition offset (fold=0)."""
    naive = datetime(1970, 1, 1) + timedelta(microseconds=local_us)
    shown = set()
    for fold in (0, 1):
        u = (naive.replace(tzinfo=tz, fold=fold) - _EPOCH) // _US
        back = (_EPOCH + timedelta(microseconds=u)).astimezone(tz).replace(tzinfo=None)
        if back == naive:
            shown.add(u)
    return sorted(shown) or [(naive.replace(tzinfo=tz, fold=0) - _EPOCH) // _US]


def _reference_floor_and_next(t: int, width: Interval, tz: ZoneInfo) -> tuple[int, int]:
    """Under one day: the edges are the instants showing a grid time, of every grid point within 3 days of
    t. A day or more: the running maximum of the UTC images of every grid point from 3 days before t."""
    origin = at("2000-01-03T00:00Z")
    w = width.days * DAY + width.micros
    if w < DAY:
        local_t = (_EPOCH + timedelta(microseconds=t)).astimezone(tz).replace(tzinfo=timezone.utc)
        centre = (local_t - _EPOCH) // _US
        first, last = (centre - 3 * DAY - origin) // w, (centre + 3 * DAY - origin) // w
        edges = sorted({u for j in range(first, last + 1) for u in _shown_at(origin + j * w, tz)})
        return max(u for u in edges if u <= t), min(u for u in edges if u > t)
    j = (t - 3 * DAY - origin) // w
    running = _wall_to_utc(origin + j * w, tz)
    floor = running
    while True:
        j += 1
        running = max(running, _wall_to_utc(origin + j * w, tz))
        if running > t:
            return floor, running
        floor = running


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    width=st.one_of(
        st.sampled_from([minutes(15), minutes(20), minutes(45), minutes(90), hours(1), hours(2), hours(7),
                         days(1)]),
        st.integers(20 * MIN, 30 * HOUR).map(micros),
    ),
    tz=st.sampled_from(ZONES[1:]),
)
def test_zone_path_matches_brute_force_reference(
    data: st.DataObject, width: Interval, tz: ZoneInfo
) -> None:
    t = data.draw(instants(tz))
    assume(T_MIN <= t <= T_MAX)
    expected_floor, expected_next = _reference_floor_and_next(t, width, tz)
    assert iso(bucket_floor(t, width, tz)) == iso(expected_floor)
    assert iso(next_boundary(t, width, tz)) == iso(expected_next)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), width=month_widths, tz=st.sampled_from(ZONES[1:]))
def test_month_buckets_start_at_local_midnight_on_the_first(
    data: st.DataObject, width: Interval, tz: ZoneInfo
) -> None:
    t = data.draw(instants(tz))
    b = bucket_floor(t, width, tz)
    local = (_EPOCH + timedelta(microseconds=b)).astimezone(tz)
    month_index = local.year * 12 + local.month - 1 - 2000 * 12
    assert month_index % width.months == 0
    first_of_month = (datetime(local.year, local.month, 1) - datetime(1970, 1, 1)) // _US
    assert b == _wall_to_utc(first_of_month, tz)


def test_docstring_examples() -> None:
    import doctest

    from connect_readings.domain import registers, timefmt

    for module in (grid, registers, timefmt):
        assert doctest.testmod(module).failed == 0, module.__name__


@settings(max_examples=150, deadline=None)
@given(data=st.data(), w=st.one_of(st.sampled_from([DAY, DAY + 1, 25 * HOUR, 36 * HOUR, 2 * DAY - 1]),
                                   st.integers(DAY, 2 * DAY - 1)),
       tz=st.sampled_from(ZONES[1:] + [ZoneInfo("Pacific/Apia"), ZoneInfo("America/St_Johns")]),
       count=st.integers(1, 200))
def test_fixed_widths_of_a_day_or_more_step_as_next_does(data: st.DataObject, w: int, tz: ZoneInfo, count: int) -> None:
    """The arithmetic steps of `_iter_tz_fixed` (far from transitions) give exactly the buckets `next` finds one by
    one; around Apia's skipped day (2011-12-30) too."""
    near = instants(tz) if tz in TRANSITIONS else st.integers(T_MIN, T_MAX)
    start = data.draw(st.one_of(near, st.integers(at("2011-12-01T00:00Z"), at("2012-01-31T00:00Z"))))
    end = start + count * w
    g = Grid(micros(w), tz)
    stepped, b = [], g.floor(start)
    while b < end:
        stepped.append((b, g.next(b)))
        b = stepped[-1][1]
    assert list(g.buckets(start, end)) == stepped


# Daily buckets stepped by `Grid._iter_tz_fixed`, worked out by hand: a local day lasts 24 hours but on the days
# the clock changes (Brussels: 23 h in spring, 25 h in autumn; Lord Howe's half-hour shift: 24.5 h in autumn,
# 23.5 h in spring), over the whole month around each.
DAILY_CHANGES = [
    ("Europe/Brussels", "2024-03-01T00:00+01:00", "2024-04-01T00:00+02:00", "2024-03-31", 23 * HOUR),
    ("Europe/Brussels", "2024-10-01T00:00+02:00", "2024-11-01T00:00+01:00", "2024-10-27", 25 * HOUR),
    ("Australia/Lord_Howe", "2024-04-01T00:00+11:00", "2024-05-01T00:00+10:30", "2024-04-07", 24 * HOUR + 30 * MIN),
    ("Australia/Lord_Howe", "2024-10-01T00:00+10:30", "2024-11-01T00:00+11:00", "2024-10-06", 23 * HOUR + 30 * MIN),
]


@pytest.mark.parametrize(("zone", "start", "end", "day", "length"), DAILY_CHANGES)
def test_daily_buckets_across_a_clock_change(zone: str, start: str, end: str, day: str, length: int) -> None:
    tz = ZoneInfo(zone)
    buckets = list(Grid(days(1), tz).buckets(at(start), at(end)))
    lengths = {(_EPOCH + timedelta(microseconds=b)).astimezone(tz).date().isoformat(): e - b for b, e in buckets}
    assert lengths.pop(day) == length
    assert len(buckets) == round((at(end) - at(start)) / DAY) and set(lengths.values()) == {DAY}
