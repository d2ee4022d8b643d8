"""Resolution text → Interval(months, days, micros), read the way PostgreSQL reads interval input.

Why: the resolution ends up as a TimescaleDB ``time_bucket`` width, so we accept what
PostgreSQL's interval input accepts (minus a few quirks, see ``parse_resolution``) and
refuse up front what TimescaleDB would refuse, with stable error codes instead of SQL errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction

from connect_readings.domain.errors import DomainError, quoted

_USEC_PER_SEC = 1_000_000
_USEC_PER_DAY = 86_400 * _USEC_PER_SEC
_DAYS_PER_MONTH = 30  # PostgreSQL's DAYS_PER_MONTH: fractional months spill as 30-day months
_INT32 = range(-(2**31), 2**31)
_INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True, slots=True)
class Interval:
    """PostgreSQL's interval shape: months, days and microseconds stay apart because
    they don't convert into each other (months vary in length, days vary with DST)."""

    months: int
    days: int
    micros: int

    @property
    def is_monthly(self) -> bool:
        """Monthly widths need calendar bucketing; TimescaleDB treats them separately."""
        return self.months != 0

    def canonical(self) -> str:
        """Stable text for equality/caching, e.g. ``0mon0d900000000us`` for 15 minutes.

        The format is frozen forever. It keeps days apart from micros (``1 day`` differs
        from ``24 hours``, as in PostgreSQL); it is a key, not resolution input.
        """
        return f"{self.months}mon{self.days}d{self.micros}us"


# Unit spellings (lower case) → unit name; PostgreSQL's deltatktbl minus quarter/timezone.
_SPELLINGS: dict[str, str] = {
    **dict.fromkeys(("microsecond", "microseconds", "us", "usec", "usecs", "useconds"), "microsec"),
    **dict.fromkeys(("millisecond", "milliseconds", "ms", "msec", "msecs", "mseconds"), "millisec"),
    **dict.fromkeys(("second", "seconds", "s", "sec", "secs"), "second"),
    **dict.fromkeys(("minute", "minutes", "m", "min", "mins"), "minute"),
    **dict.fromkeys(("hour", "hours", "h", "hr", "hrs"), "hour"),
    **dict.fromkeys(("day", "days", "d"), "day"),
    **dict.fromkeys(("week", "weeks", "w"), "week"),
    **dict.fromkeys(("month", "months", "mon", "mons"), "month"),
    **dict.fromkeys(("year", "years", "y", "yr", "yrs"), "year"),
    **dict.fromkeys(("decade", "decades", "dec", "decs"), "decade"),
    **dict.fromkeys(("century", "centuries", "c", "cent"), "century"),
    **dict.fromkeys(("millennium", "millennia", "mil", "mils"), "millennium"),
}
_MICROS_PER = {
    "microsec": 1,
    "millisec": 1_000,
    "second": _USEC_PER_SEC,
    "minute": 60 * _USEC_PER_SEC,
    "hour": 3_600 * _USEC_PER_SEC,
}
_MONTHS_PER = {"year": 12, "decade": 120, "century": 1_200, "millennium": 12_000}
_DAYS_PER = {"day": 1, "week": 7, "month": _DAYS_PER_MONTH}  # month: only its fraction
_SUBSECOND = frozenset({"second", "millisec", "microsec"})
_TIME_FIELDS = frozenset({"hour", "minute"}) | _SUBSECOND

_NUM = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_TOKEN = re.compile(
    rf"""\s*(?:
        (?P<time>(?:[+-]\s*)?[0-9]+:[0-9]+(?::[0-9]+)?(?:\.[0-9]*)?)(?![0-9:.])
      | (?P<number>(?:[+-]\s*)?{_NUM})(?![0-9.])
      | (?P<word>[a-z]+(?:\(s\))?)(?=\s|$)
    )""",
    re.VERBOSE | re.ASCII,
)
_ISO_NUM = rf"(-?{_NUM})"
_ISO = re.compile(
    rf"P(?:{_ISO_NUM}Y)?(?:{_ISO_NUM}M)?(?:{_ISO_NUM}W)?(?:{_ISO_NUM}D)?"
    rf"(?:T(?:{_ISO_NUM}H)?(?:{_ISO_NUM}M)?(?:{_ISO_NUM}S)?)?",
    re.ASCII,
)
_ISO_UNITS = ("year", "month", "week", "day", "hour", "minute", "second")
_WHITESPACE = " \t\n\r\f\v"
_MAX_LENGTH = 255  # PostgreSQL's interval_in work buffer is 256 bytes, too


# Remembered: every aggregation request parses its resolution (`python -m bench --only hot`, cache off).
@lru_cache(maxsize=1024)
def parse_resolution(text: str) -> Interval:
    """Parse a resolution the way PostgreSQL parses interval input, then validate it the
    way TimescaleDB would: months never mixed with days/time, and the width positive.

    Deliberately stricter than PostgreSQL: punctuation is never a separator, ``@`` only
    as a prefix, ISO 8601 only with designators in order, upper case and each at most
    once; no ``Y-M`` year-month or ISO "alternative" form; no exponents. Looser: ``P``
    alone means zero and ``hour(s)``-style plurals are accepted.
    """
    interval = _parse(text)
    if interval.months != 0 and (interval.days != 0 or interval.micros != 0):
        raise DomainError(
            "MixedMonthInterval",
            f"resolution {_quote(text)} mixes months with days or time; "
            "use either a month/year interval or a day/time interval",
        )
    if interval.is_monthly:
        width = interval.months
    else:
        width = interval.days * _USEC_PER_DAY + interval.micros
    if width <= 0:
        raise DomainError(
            "NonPositiveResolution",
            f"resolution {_quote(text)} must be a positive interval",
        )
    return interval


def _parse(text: str) -> Interval:
    """Text → Interval, or InvalidResolution; no validation of the result's meaning."""
    stripped = text.strip(_WHITESPACE)
    if len(stripped) > _MAX_LENGTH:
        raise _invalid(text, f"it is longer than {_MAX_LENGTH} characters")
    if not stripped.isascii():
        raise _invalid(text, "it has non-ASCII characters")
    if stripped.startswith("P"):
        result = _parse_iso(stripped, text)
    else:
        result = _parse_postgres(stripped.lower(), text)
    months, days, micros = result
    if months not in _INT32 or days not in _INT32 or micros not in _INT64:
        raise _invalid(text, "it is out of range")
    return Interval(months, days, micros)


def _parse_iso(stripped: str, text: str) -> tuple[int, int, int]:
    """ISO 8601 duration with designators (``P1Y2M3DT4H5M6S``, ``P2W``, ``PT1.5H``)."""
    match = _ISO.fullmatch(stripped)
    if match is None:
        raise _invalid(text, "it is not an ISO 8601 duration like 'PT15M'")
    total = (0, 0, 0)
    for unit, number in zip(_ISO_UNITS, match.groups()):
        if number is not None:
            total = _plus(total, _amount(unit, _number(number)))
    return total


def _parse_postgres(lowered: str, text: str) -> tuple[int, int, int]:
    """PostgreSQL's ``[@] quantity unit [quantity unit ...] [ago]`` form, with ``h:m:s``."""
    tokens = _tokenize(lowered.removeprefix("@"), text)
    ago = bool(tokens) and tokens[-1] == ("word", "ago")
    if ago:
        tokens.pop()
    if not tokens:
        raise _invalid(text, "it is empty")
    total, i = (0, 0, 0), 0
    claimed: set[str] = set()  # PostgreSQL's field mask: each unit at most once
    while i < len(tokens):
        kind, value = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if kind == "time":
            amount, fields, i = _time(value, text), _TIME_FIELDS, i + 1
        elif kind == "word":
            raise _invalid(text, f"{quoted(value)} has no number before it")
        else:
            if following is not None and following[0] == "word":
                unit, i = _unit(following[1], text), i + 2
            elif following is not None and following[0] == "time":
                unit, i = "day", i + 1  # '1 12:00:00' is a day count then a time
            elif following is None and not ago:
                unit, i = "second", i + 1  # a bare trailing number means seconds
            else:
                raise _invalid(text, f"number {quoted(value)} has no unit")
            number = _number(value)
            amount = _amount(unit, number)
            # PostgreSQL: fractional seconds also occupy the milli/microsecond fields.
            fractional_second = unit == "second" and number.denominator != 1
            fields = _SUBSECOND if fractional_second else frozenset({unit})
        if claimed & fields:
            raise _invalid(text, "a unit is given more than once")
        claimed |= fields
        total = _plus(total, amount)
    return (-total[0], -total[1], -total[2]) if ago else total


def _tokenize(lowered: str, text: str) -> list[tuple[str, str]]:
    """Split into ('time' | 'number' | 'word', text) tokens; anything else is unparsable."""
    tokens: list[tuple[str, str]] = []
    position, end = 0, len(lowered.rstrip(_WHITESPACE))
    while position < end:
        match = _TOKEN.match(lowered, position)
        if match is None:
            rest = lowered[position:].strip(_WHITESPACE)
            raise _invalid(text, f"unexpected text at {quoted(rest[:20])}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _unit(word: str, text: str) -> str:
    """Unit name for a spelling; ``hour(s)`` is accepted when ``hour`` and ``hours`` both are."""
    if word.endswith("(s)"):
        singular = word.removesuffix("(s)")
        unit = _SPELLINGS.get(singular)
        if unit is not None and _SPELLINGS.get(singular + "s") == unit:
            return unit
    elif word in _SPELLINGS:
        return _SPELLINGS[word]
    raise _invalid(text, f"{quoted(word)} is not a unit")


def _time(value: str, text: str) -> tuple[int, int, int]:
    """SQL-standard ``h:m``, ``h:m:s[.f]``, or PostgreSQL's ``m:s.f`` (a fraction after
    two fields means minutes:seconds)."""
    sign = -1 if value.startswith("-") else 1
    head, dot, fraction = value.lstrip("+- \t\n\r\f\v").partition(".")
    parts = [int(part) for part in head.split(":")]
    if len(parts) == 2 and dot:
        parts.insert(0, 0)
    hours, minutes, seconds = parts + [0] * (3 - len(parts))
    if minutes > 59 or seconds > 60:
        raise _invalid(text, f"time {quoted(value)} is out of range")
    micros = round(Fraction(f"0.{fraction or 0}") * _USEC_PER_SEC)  # rint, as PostgreSQL
    return 0, 0, sign * ((hours * 3_600 + minutes * 60 + seconds) * _USEC_PER_SEC + micros)


def _amount(unit: str, value: Fraction) -> tuple[int, int, int]:
    """One ``value unit`` as (months, days, micros), with PostgreSQL's fraction spill:
    fractional years go to whole months, months/weeks to days, days and smaller to micros."""
    whole = int(value)  # truncates toward zero, like PostgreSQL
    fraction = value - whole
    if unit in _MICROS_PER:
        scale = _MICROS_PER[unit]
        return 0, 0, whole * scale + _round_half_to_zero(fraction * scale)
    if unit in _MONTHS_PER:
        scale = _MONTHS_PER[unit]
        return whole * scale + round(fraction * scale), 0, 0  # rint, as PostgreSQL
    spill = fraction * _DAYS_PER[unit]
    spill_days = int(spill)
    micros = _round_half_to_zero((spill - spill_days) * _USEC_PER_DAY)
    if unit == "month":
        return whole, spill_days, micros
    return 0, whole * _DAYS_PER[unit] + spill_days, micros


def _round_half_to_zero(value: Fraction) -> int:
    """PostgreSQL's AdjustFractMicroseconds rounding: nearest, ties toward zero."""
    whole = int(value)
    rest = value - whole
    return whole + (rest > Fraction(1, 2)) - (rest < Fraction(-1, 2))


def _number(value: str) -> Fraction:
    """Exact value of a decimal like ``-1.5``, ``+ 2``, ``.5`` or ``3.``."""
    compact = "".join(value.split())
    sign, digits = (compact[0], compact[1:]) if compact[0] in "+-" else ("", compact)
    whole, _, fraction = digits.partition(".")
    return Fraction(f"{sign}{whole or 0}.{fraction or 0}")


def _plus(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def _invalid(text: str, reason: str) -> DomainError:
    return DomainError(
        "InvalidResolution",
        f"resolution {_quote(text)} is not a valid interval ({reason}); "
        "use e.g. '15 minutes', '1 hour', '1 day', '1 month' or ISO 8601 'PT15M'",
    )


def _quote(text: str) -> str:
    """Quote user text for a message, shortened so a huge input can't bloat the error."""
    return quoted(text, 60)
