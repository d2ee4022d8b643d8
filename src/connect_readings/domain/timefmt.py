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
    if tz is None:  # hot path: a page formats two instants per bucket
        day, rest = divmod(us, _DAY_US)
        seconds, fraction = divmod(rest, 1_000_000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        text = f"{_utc_date(day)}{hour:02d}:{minute:02d}:{second:02d}"
        return f"{text}.{fraction:06d}Z" if fraction else text + "Z"
    moment = from_micros(us, tz)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text[:-6] + "Z" if tz is None else text


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
