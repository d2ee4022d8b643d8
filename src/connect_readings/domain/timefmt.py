"""Date-time text ↔ integer microseconds UTC (semantics.md §2)."""

from __future__ import annotations

import re
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import DomainError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MIN_US = int((datetime(1900, 1, 1, tzinfo=timezone.utc) - EPOCH) / timedelta(microseconds=1))
MAX_US = int((datetime(2200, 1, 1, tzinfo=timezone.utc) - EPOCH) / timedelta(microseconds=1))

# RFC 3339 with ' ' or 'T', optional fraction, optional offset (none means UTC).
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
    r"(?:Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_datetime(text: str, name: str = "date-time") -> int:
    """Parse an RFC 3339 date-time into UTC microseconds; years 1900..2199."""
    if type(text) is str:  # (anything else gets the full parser's own error)
        # Fast path, the shape clients send: a known 'YYYY-MM-DDTHH' prefix, then ':MM:SS' and 'Z'.
        hour = _HOURS.get(text[:13])
        if hour is not None:
            tail = _TAILS.get(text[13:])
            if tail is not None:
                return hour + tail
        us = canonical_datetime(text)
        if us is not None:
            return us
    return _parse_datetime(text, name)


def canonical_datetime(text: str) -> int | None:
    """UTC microseconds of a canonical `YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|z]`, else None (not an error).

    Integer arithmetic on slices and two dictionary look-ups, no regex or datetime. Whatever it returns,
    `_parse_datetime` returns too; anything else (offsets, short forms, whitespace, non-ASCII digits,
    out-of-range fields) is left to it.
    """
    if not 19 <= len(text) <= 30 or not text.isascii():
        return None
    head = text[:13]
    hour = _HOURS.get(head)
    if hour is None:
        hour = _hour(head)
        if hour is None:
            return None
        if len(_HOURS) >= _CACHE_LIMIT:
            _HOURS.clear()
        _HOURS[head] = hour
    rest = text[13:]
    tail = _TAILS.get(rest)
    if tail is not None:
        return hour + tail
    # ':MM:SS.f…' with 1..9 fraction digits (those beyond microseconds are truncated), optional 'Z'/'z'
    if rest[-1] in "Zz":
        rest = rest[:-1]
    if not 8 <= len(rest) <= 16 or rest[6] != ".":
        return None
    tail = _TAILS.get(rest[:6])
    digits = rest[7:]
    if tail is None or not digits.isdigit():  # (ASCII, so isdigit() means 0-9)
        return None
    fraction = digits[:6]
    return hour + tail + int(fraction) * _FRACTION_SCALE[len(fraction)]


def _hour(head: str) -> int | None:
    """UTC microseconds of an ASCII 'YYYY-MM-DD[T ]HH' within 1900..2199, else None."""
    if head[4] != "-" or head[7] != "-" or (head[10] != "T" and head[10] != " "):
        return None
    year, month, day, hour = head[0:4], head[5:7], head[8:10], head[11:13]
    if not (year.isdigit() and month.isdigit() and day.isdigit() and hour.isdigit()):
        return None
    y, m, d, h = int(year), int(month), int(day), int(hour)
    if not (1900 <= y <= 2199 and 1 <= m <= 12 and 1 <= d and h <= 23):
        return None
    if d > (29 if m == 2 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else _MONTH_DAYS[m]):
        return None
    return (days_from_civil(y, m, d) * 24 + h) * 3_600_000_000


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_FRACTION_SCALE = (0, 100_000, 10_000, 1_000, 100, 10, 1)
# Validated 'YYYY-MM-DD[T ]HH' prefixes → µs; bounded (cleared when full): a batch spans a few hours.
_HOURS: dict[str, int] = {}
_CACHE_LIMIT = 1 << 14
# Every valid ':MM:SS' tail, bare or with 'Z'/'z' → µs into the hour.
_TAILS: dict[str, int] = {
    f":{m:02d}:{s:02d}{z}": (60 * m + s) * 1_000_000 for m in range(60) for s in range(60) for z in ("Z", "z", "")
}


def _parse_datetime(text: str, name: str) -> int:
    """The full RFC 3339 parser (every shape and every error message)."""
    candidate = text.strip()
    if not _DATETIME.match(candidate):
        raise DomainError(
            "InvalidDateTime",
            f"'{name}' must be an RFC 3339 date-time such as 2024-05-27T13:00:00Z; got {text[:40]!r}",
        )
    candidate = re.sub(r"(\.\d{6})\d+", r"\1", candidate.replace("z", "Z"))
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError as exc:
        raise DomainError("InvalidDateTime", f"'{name}' is not a valid date-time: {exc}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    us = to_micros(moment)
    if not MIN_US <= us < MAX_US:
        raise DomainError("InvalidDateTime", f"'{name}' must lie between 1900 and 2199")
    return us


def to_micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(us: int, tz: ZoneInfo | None = None) -> datetime:
    moment = EPOCH + timedelta(microseconds=us)
    return moment.astimezone(tz) if tz is not None else moment


_DAY_US = 86_400_000_000


@lru_cache(maxsize=4096)
def _utc_date(day: int) -> str:
    return (EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")


def format_datetime(us: int, tz: ZoneInfo | None = None) -> str:
    """RFC 3339: 'Z' in UTC, the local offset when a time zone is given; fraction only when non-zero."""
    if tz is None:
        return _utc_text(us)
    moment = from_micros(us, tz)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")


@lru_cache(maxsize=65_536)
def _utc_text(us: int) -> str:
    """Hot path: a page formats two instants per bucket, mostly the same ones request after request."""
    day, rest = divmod(us, _DAY_US)
    seconds, fraction = divmod(rest, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    text = f"{_utc_date(day)}{hour:02d}:{minute:02d}:{second:02d}"
    return f"{text}.{fraction:06d}Z" if fraction else text + "Z"


def parse_time_zone(name: str) -> ZoneInfo:
    """An IANA zone name → ZoneInfo; anything else is UnknownTimeZone."""
    if not name or len(name) > 64 or not re.match(r"^[A-Za-z0-9_+\-/]+$", name) or ".." in name:
        raise DomainError("UnknownTimeZone", f"'timeZone' must be an IANA time zone name; got {name[:64]!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise DomainError(
            "UnknownTimeZone", f"'timeZone' {name!r} is not a known IANA time zone (e.g. Europe/Berlin)"
        ) from None
