"""Resolution parsing: PostgreSQL interval input, validated in TimescaleDB's order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_readings.domain.errors import DomainError
from connect_readings.domain.interval import Interval, parse_resolution

SEC = 1_000_000
MIN = 60 * SEC
HOUR = 60 * MIN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15 minutes", (0, 0, 15 * MIN)),
        ("15 min", (0, 0, 15 * MIN)),
        ("15min", (0, 0, 15 * MIN)),
        ("15 MINUTES", (0, 0, 15 * MIN)),
        ("PT15M", (0, 0, 15 * MIN)),
        ("0:15:00", (0, 0, 15 * MIN)),
        ("  15 minutes \n", (0, 0, 15 * MIN)),
        ("15 minute(s)", (0, 0, 15 * MIN)),
        ("1 hour(s)", (0, 0, HOUR)),
        ("1 hrs", (0, 0, HOUR)),
        ("1 h", (0, 0, HOUR)),
        ("@ 1 hour", (0, 0, HOUR)),
        ("2 day(s)", (0, 2, 0)),
        ("1 d", (0, 1, 0)),
        ("2 weeks", (0, 14, 0)),
        ("1 w", (0, 7, 0)),
        ("P2W", (0, 14, 0)),
        ("1 mon", (1, 0, 0)),
        ("2 mons", (2, 0, 0)),
        ("3 months", (3, 0, 0)),
        ("P3M", (3, 0, 0)),
        ("1 year 2 months", (14, 0, 0)),
        ("P1Y2M", (14, 0, 0)),
        ("5 years", (60, 0, 0)),
        ("1 yr", (12, 0, 0)),
        ("1 decade", (120, 0, 0)),
        ("1 century", (1_200, 0, 0)),
        ("2 millennia", (24_000, 0, 0)),
        ("1:30:00", (0, 0, 90 * MIN)),
        ("1:30", (0, 0, 90 * MIN)),
        ("1:30:00.25", (0, 0, 90 * MIN + 250_000)),
        ("1:30.5", (0, 0, 90 * SEC + 500_000)),  # PostgreSQL: m:s.f is minutes:seconds
        ("1 12:00:00", (0, 1, 12 * HOUR)),
        ("1.5 hours", (0, 0, 90 * MIN)),
        ("PT1.5H", (0, 0, 90 * MIN)),
        ("1.5 years", (18, 0, 0)),
        ("1.5 days", (0, 1, 12 * HOUR)),
        ("1.5 weeks", (0, 10, 12 * HOUR)),
        ("0.5 months", (0, 15, 0)),
        ("1 m", (0, 0, MIN)),
        ("30 minutes", (0, 0, 30 * MIN)),
        ("15", (0, 0, 15 * SEC)),
        ("1 day 2", (0, 1, 2 * SEC)),
        ("1.5 s", (0, 0, 1_500_000)),
        ("250 ms", (0, 0, 250_000)),
        ("10 us", (0, 0, 10)),
        ("1 day -1 hour", (0, 1, -HOUR)),
        ("1 hour 30 minutes", (0, 0, 90 * MIN)),
        ("-1 hour ago", (0, 0, HOUR)),
    ],
)
def test_accepted(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_resolution(text) == Interval(*expected)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("1 month 3 days", "MixedMonthInterval"),
        ("2 month 3 weeks", "MixedMonthInterval"),
        ("1.5 months", "MixedMonthInterval"),
        ("P1M1D", "MixedMonthInterval"),
        ("1 year 1 hour", "MixedMonthInterval"),
        ("1 month -1 hour", "MixedMonthInterval"),  # mixed is checked before the sign
        ("0 minutes", "NonPositiveResolution"),
        ("-1 hour", "NonPositiveResolution"),
        ("1 hour ago", "NonPositiveResolution"),
        ("-1 month", "NonPositiveResolution"),
        ("1 day -24 hours", "NonPositiveResolution"),
        ("-1:30", "NonPositiveResolution"),
        ("PT", "NonPositiveResolution"),
        ("P", "NonPositiveResolution"),
        ("", "InvalidResolution"),
        ("   ", "InvalidResolution"),
        ("@", "InvalidResolution"),
        ("1 mo", "InvalidResolution"),
        ("1 quarter", "InvalidResolution"),
        ("pt15m", "InvalidResolution"),
        ("1,5 hours", "InvalidResolution"),
        ("infinity", "InvalidResolution"),
        ("-infinity", "InvalidResolution"),
        ("1 day day", "InvalidResolution"),
        ("1 day 2 days", "InvalidResolution"),
        ("1 hour 1:00", "InvalidResolution"),
        ("1 hours(s)", "InvalidResolution"),
        ("hour", "InvalidResolution"),
        ("15 ago", "InvalidResolution"),
        ("ago 1 hour", "InvalidResolution"),
        ("1:60", "InvalidResolution"),
        ("1.5.5 hours", "InvalidResolution"),
        ("P1D1D", "InvalidResolution"),
        ("PT1H2", "InvalidResolution"),
        ("P1DT1D", "InvalidResolution"),
        ("99999999999 years", "InvalidResolution"),
        ("15 minutes" + " " * 300 + "x", "InvalidResolution"),
    ],
)
def test_refused(text: str, code: str) -> None:
    with pytest.raises(DomainError) as raised:
        parse_resolution(text)
    assert raised.value.code == code


def test_messages_name_the_input_and_the_fix() -> None:
    with pytest.raises(DomainError) as raised:
        parse_resolution("1 month 3 days")
    assert raised.value.message == (
        "resolution '1 month 3 days' mixes months with days or time; "
        "use either a month/year interval or a day/time interval"
    )


@pytest.mark.parametrize(
    "spellings",
    [
        ("15 minutes", "PT15M", "15min", "0:15:00", "900", "@ 15 MINS", "0.25 hours"),
        ("1 week", "7 days", "P1W", "P7D", "1 w"),
        ("1 year", "12 months", "P1Y", "P12M", "1 y"),
    ],
)
def test_equivalent_spellings_share_a_canonical_text(spellings: tuple[str, ...]) -> None:
    assert len({parse_resolution(text).canonical() for text in spellings}) == 1


def test_canonical_keeps_days_apart_from_hours() -> None:
    assert parse_resolution("15 minutes").canonical() == "0mon0d900000000us"
    assert parse_resolution("1 day").canonical() != parse_resolution("24 hours").canonical()


def test_is_monthly() -> None:
    assert parse_resolution("3 months").is_monthly
    assert not parse_resolution("90 days").is_monthly


@given(st.integers(min_value=1, max_value=10**9))
def test_minutes_and_iso_minutes_agree(n: int) -> None:
    assert parse_resolution(f"{n} minutes").canonical() == parse_resolution(f"PT{n}M").canonical()


@given(st.text())
def test_arbitrary_text_parses_or_raises_domain_error(text: str) -> None:
    try:
        parse_resolution(text)
    except DomainError as error:
        assert error.code in {"InvalidResolution", "MixedMonthInterval", "NonPositiveResolution"}
