"""Date-time parsing and formatting (semantics.md §2)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_readings.domain.errors import DomainError
from connect_readings.domain.timefmt import MAX_US, MIN_US, format_datetime, parse_datetime, parse_time_zone, to_micros

PARSED = [
    ("2024-05-27 13:00:00Z", "2024-05-27T13:00:00Z"),
    ("2024-05-27T13:00:00Z", "2024-05-27T13:00:00Z"),
    ("2024-05-27T13:00:00", "2024-05-27T13:00:00Z"),             # no offset means UTC
    ("2024-05-27T15:00:00+02:00", "2024-05-27T13:00:00Z"),
    ("2024-05-27T13:00:00.123456789Z", "2024-05-27T13:00:00.123456Z"),  # beyond µs is truncated
    ("2024-05-27", "2024-05-27T00:00:00Z"),
    ("2024-05-27T13:00Z", "2024-05-27T13:00:00Z"),
    ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500000Z"),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse_then_format(text: str, expected: str) -> None:
    assert format_datetime(parse_datetime(text)) == expected


@pytest.mark.parametrize("text", ["", "now", "27/05/2024", "2024-05-27T25:00:00Z", "2024-02-30", "1899-12-31T00:00:00Z",
                                  "2200-01-01T00:00:00Z", "2024-05-27T13:00:00+2", "２０２４-05-27"])
def test_invalid_date_times(text: str) -> None:
    with pytest.raises(DomainError) as info:
        parse_datetime(text)
    assert info.value.code == "InvalidDateTime"


@given(st.integers(MIN_US, MAX_US - 1))
def test_utc_fast_path_matches_datetime(us: int) -> None:
    moment = datetime.fromtimestamp(0, timezone.utc) + __import__("datetime").timedelta(microseconds=us)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")[:-6] + "Z"
    assert format_datetime(us) == text
    assert parse_datetime(text) == us


def test_local_offsets() -> None:
    us = to_micros(datetime(2024, 3, 31, 1, 0, tzinfo=timezone.utc))
    assert format_datetime(us, ZoneInfo("Europe/Berlin")) == "2024-03-31T03:00:00+02:00"
    assert format_datetime(us - 3_600_000_000, ZoneInfo("Europe/Berlin")) == "2024-03-31T01:00:00+01:00"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "Europe/../../x", "a" * 100, "UTC\x00"])
def test_unknown_time_zones(name: str) -> None:
    with pytest.raises(DomainError) as info:
        parse_time_zone(name)
    assert info.value.code == "UnknownTimeZone"
