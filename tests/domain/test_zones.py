"""The zone transitions read from TZif data and the footer rule (domain/zones.py) against zoneinfo itself: an
hour-by-hour probe of the offset, with every change bisected to the microsecond (the reference), over years of
irregular history, of today's rules and of the far future that only the footer rule decides."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connect_readings.domain import zones

HOUR = 3_600_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ZONES = ["Europe/Brussels", "Europe/London", "America/New_York", "America/St_Johns", "Australia/Lord_Howe",
         "Australia/Sydney", "Asia/Kathmandu", "Africa/Casablanca", "America/Santiago", "Pacific/Chatham",
         "America/Havana", "Asia/Tehran", "Europe/Dublin", "Antarctica/Troll", "Asia/Singapore", "UTC"]
YEARS = [(1916, 1920), (1940, 1947), (2022, 2027), (2195, 2198)]


def at(year: int) -> int:
    return (datetime(year, 1, 1, tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)


def reference(tz: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int]]:
    """Every (instant, offset from then on) in (lo, hi], by probing zoneinfo each hour and bisecting."""
    found, previous = [], zones.offset_at(tz, lo)
    for s in range(lo, hi, HOUR):
        e = min(s + HOUR, hi)
        while zones.offset_at(tz, e) != previous:
            a, b = s, e
            while b - a > 1:
                mid = (a + b) // 2
                if zones.offset_at(tz, mid) == previous:
                    a = mid
                else:
                    b = mid
            previous = zones.offset_at(tz, b)
            found.append((b, previous))
            s = b
    return found


@pytest.mark.parametrize("name", ZONES)
def test_transitions_agree_with_zoneinfo(name: str) -> None:
    tz = ZoneInfo(name)
    source = zones.transitions(tz)
    assert source is not None
    for first, last in YEARS:
        assert source.between(at(first), at(last)) == reference(tz, at(first), at(last)), (name, first)


def test_first_use_of_a_zone_over_three_centuries_is_fast() -> None:
    """The first use reads the file once; three centuries of a zone with a yearly rule then take milliseconds,
    not the seconds that hour-by-hour probing took (measured, not asserted tightly: a loaded machine)."""
    tz = ZoneInfo("America/Toronto")
    zones.transitions.cache_clear()
    began = time.perf_counter()
    found = zones.transitions(tz).between(at(1900), at(2200))
    elapsed = time.perf_counter() - began
    assert 550 < len(found) < 700
    assert elapsed < 2.0, elapsed


def test_a_zone_without_a_file_has_no_transitions_to_read() -> None:
    assert zones.transitions(timezone(timedelta(hours=2))) is None


def test_docstring_examples() -> None:
    import doctest

    assert doctest.testmod(zones).failed == 0
