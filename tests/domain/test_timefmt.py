"""Date-time parsing and formatting (semantics.md §2)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_readings.domain import timefmt
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


@pytest.mark.parametrize("name", [
    "Mars/Olympus", "", "../etc/passwd", "Europe/../../x", "a" * 100, "UTC\x00",
    # files of a zoneinfo tree that are not IANA zones, or zones that are not places (issue 10)
    "localtime", "Factory", "posixrules", "posix/Europe/Berlin", "posix/UTC", "right/UTC", "right/Europe/Berlin",
    "zone.tab", "zone1970.tab", "iso3166.tab", "tzdata.zi", "leapseconds", "leap-seconds.list", "SECURITY",
    "europe/berlin", "EUROPE/BERLIN", "utc", " UTC", "Europe/Berlin ", "Etc/GMT+15", "SystemV/AST4",
])
def test_unknown_time_zones(name: str) -> None:
    with pytest.raises(DomainError) as info:
        parse_time_zone(name)
    assert info.value.code == "UnknownTimeZone"


# Every spelling of UTC is UTC: no zone object, 'Z' in output, "UTC" in ids and tokens.
UTC_NAMES = ["UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu", "GMT", "Etc/GMT",
             "GMT0", "Etc/GMT0", "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0", "Greenwich", "Etc/Greenwich"]


@pytest.mark.parametrize(("name", "key"), [
    *[(name, None) for name in UTC_NAMES],
    ("Europe/Berlin", "Europe/Berlin"), ("US/Eastern", "US/Eastern"), ("Asia/Calcutta", "Asia/Calcutta"),
    ("Asia/Kathmandu", "Asia/Kathmandu"), ("Etc/GMT+1", "Etc/GMT+1"), ("Etc/GMT-14", "Etc/GMT-14"),
    ("Africa/Abidjan", "Africa/Abidjan"), ("Europe/London", "Europe/London"), ("EST5EDT", "EST5EDT"),
])
def test_time_zone_names(name: str, key: str | None) -> None:
    zone = parse_time_zone(name)
    assert (zone.key if zone is not None else None) == key


def test_every_listed_zone_loads_and_utc_is_exactly_the_fixed_zero_zones() -> None:
    """The accepted names all load; the UTC names are the zones always at +00:00 that are not places."""
    assert set(UTC_NAMES) == set(timefmt.UTC_NAMES) and timefmt.UTC_NAMES <= timefmt.ZONE_NAMES
    assert len(timefmt.ZONE_NAMES) > 500 and "Factory" not in timefmt.ZONE_NAMES
    probes = [datetime(year, month, 1, tzinfo=timezone.utc) for year in range(1900, 2200, 7) for month in (1, 7)]
    always_zero = set()
    for name in timefmt.ZONE_NAMES:
        zone = ZoneInfo(name)
        if all(moment.astimezone(zone).utcoffset() == timedelta(0) for moment in probes):
            always_zero.add(name)
    places = {name for name in always_zero if "/" in name and not name.startswith("Etc/")}  # e.g. Africa/Lome
    assert always_zero - places == set(UTC_NAMES)


# format_datetimes: rows written by hand (clock changes of several zones, a historic local-mean-time offset with
# seconds), and a property against datetime's own isoformat for any ascending instants in any zone.
FORMATTED = [
    ("Europe/Brussels", [1_729_990_800_000_000 - 1, 1_729_990_800_000_000],  # 2024-10-27T01:00Z: 03:00 → 02:00
     ["2024-10-27T02:59:59.999999+02:00", "2024-10-27T02:00:00+01:00"]),
    ("Europe/Brussels", [1_711_846_799_000_000, 1_711_846_800_000_000],  # 2024-03-31T01:00Z: 02:00 → 03:00
     ["2024-03-31T01:59:59+01:00", "2024-03-31T03:00:00+02:00"]),
    ("Australia/Lord_Howe", [1_743_865_199_000_000, 1_743_865_200_000_000],  # 2025-04-06T15:00Z: 02:00 → 01:30
     ["2025-04-06T01:59:59+11:00", "2025-04-06T01:30:00+10:30"]),
    ("Australia/Lord_Howe", [1_728_142_199_000_000, 1_728_142_200_000_000],  # 2024-10-05T15:30Z: 02:00 → 02:30
     ["2024-10-06T01:59:59+10:30", "2024-10-06T02:30:00+11:00"]),
    ("America/St_Johns", [1_710_048_600_000_000], ["2024-03-10T03:00:00-02:30"]),  # 05:30Z, after spring forward
    ("Africa/Monrovia", [0], ["1969-12-31T23:15:30-00:44:30"]),  # local mean time until 1972: seconds in the offset
    ("Asia/Kathmandu", [1_704_067_200_000_000], ["2024-01-01T05:45:00+05:45"]),
]


@pytest.mark.parametrize(("zone", "instants", "expected"), FORMATTED)
def test_format_datetimes_rows(zone: str, instants: list[int], expected: list[str]) -> None:
    assert timefmt.format_datetimes(instants, ZoneInfo(zone)) == expected
    assert [format_datetime(us, ZoneInfo(zone)) for us in instants] == expected


@settings(deadline=None)
@given(st.sampled_from(["Europe/Brussels", "Australia/Lord_Howe", "America/St_Johns", "Africa/Monrovia",
                        "Pacific/Chatham", "America/Sao_Paulo", "UTC"]),
       st.lists(st.integers(MIN_US, MAX_US - 1), min_size=1, max_size=40))
def test_format_datetimes_matches_datetime(zone: str, instants: list[int]) -> None:
    instants.sort()
    tz = ZoneInfo(zone)
    expected = [(datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)).astimezone(tz)
                .isoformat(timespec="microseconds" if us % 1_000_000 else "seconds") for us in instants]
    assert timefmt.format_datetimes(instants, tz) == expected
