"""Date-time text ↔ integer microseconds UTC (docs/semantics.md §2): one parser, one formatter."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from itertools import repeat
from operator import add, getitem
from zoneinfo import ZoneInfo

from .errors import DomainError, quoted
from .zones import offset_at, transitions

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MIN_US = int((datetime(1900, 1, 1, tzinfo=timezone.utc) - EPOCH) / timedelta(microseconds=1))
MAX_US = int((datetime(2200, 1, 1, tzinfo=timezone.utc) - EPOCH) / timedelta(microseconds=1))

# RFC 3339 with ' ', 'T' or 't', optional fraction, optional offset (none: wall time in the given zone, or UTC).
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
    r"(?:Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_datetime(text: str, name: str = "date-time", zone: ZoneInfo | None = None) -> int:
    """Parse an RFC 3339 date-time into UTC microseconds; years 1900..2199.

    Without an offset (a date, or a date-time) it is wall time in `zone` (UTC when None): an ambiguous wall
    time names the earlier instant and a skipped one moves forward (Python's fold=0).

    >>> parse_datetime("2024-05-27T13:00:00Z"), parse_datetime("2024-05-27t13:00:00z")
    (1716814800000000, 1716814800000000)
    >>> parse_datetime("2024-01-01", zone=ZoneInfo("Europe/Brussels")) == parse_datetime("2023-12-31T23:00:00Z")
    True
    """
    if zone is not None:
        return _parse_datetime(text, name, zone)  # (a query's start and end: not the ingest path)
    if type(text) is str:
        hour = _HOURS.get(text[:13])
        if hour is not None:
            tail = _TAILS.get(text[13:])
            if tail is not None:
                return hour + tail
    us = _parse_datetime(text, name)
    tail = _TAILS.get(text[13:])
    if tail is not None:  # 'YYYY-MM-DD[T ]HH' + ':MM:SS[Z]': remember the validated hour prefix
        if len(_HOURS) >= _HOURS_LIMIT:
            _HOURS.clear()
        _HOURS[text[:13]] = us - tail
    return us


# Validated 'YYYY-MM-DD[T ]HH' prefixes → µs: two dict look-ups instead of a regex and a datetime per
# timestamp, which `python -m bench --only ingest` (import and HTTP ingest) names. Bounded: cleared when full.
_HOURS: dict[str, int] = {}
_HOURS_LIMIT = 1 << 14
# Every valid ':MM:SS' tail, bare or with 'Z'/'z' → µs into the hour.
_TAILS: dict[str, int] = {
    f":{m:02d}:{s:02d}{z}": (60 * m + s) * 1_000_000 for m in range(60) for s in range(60) for z in ("Z", "z", "")
}


def parse_remembered(texts: Sequence[str]) -> list[int] | None:
    """`parse_datetime` (UTC) of each of many texts, a column at a time, when every one is an hour already
    remembered and a ':MM:SS' tail (with 'Z', 'z' or nothing); None when one is not (parse each on its own then,
    which remembers its hour). Such a text holds exactly two ':' (an hour 'YYYY-MM-DD[Tt ]HH' holds none).

    >>> parse_datetime("2024-05-27T13:00:00Z") and parse_remembered(["2024-05-27T13:59:59Z", "2024-05-27T13:00:01"])
    [1716818399000000, 1716814801000000]
    >>> parse_remembered(["2024-05-27T13:00:00Z", "2024-05-27T13:00:00+00:00"]) is None  # (an offset: never)
    True
    """
    hours = map(_HOURS.get, map(getitem, texts, repeat(_HOUR)))
    try:  # (None + an int, or an int + None: a text outside the two tables)
        return list(map(add, hours, map(_TAILS.get, map(getitem, texts, repeat(_TAIL)))))
    except TypeError:
        return None


_HOUR, _TAIL = slice(None, 13), slice(13, None)


def _parse_datetime(text: str, name: str, zone: ZoneInfo | None = None) -> int:
    """The full RFC 3339 parser (every shape and every error message)."""
    candidate = text.strip()
    if not _DATETIME.match(candidate):
        raise DomainError(
            "InvalidDateTime",
            f"'{name}' must be an RFC 3339 date-time such as 2024-05-27T13:00:00Z; got {quoted(text, 43)}",
        )
    candidate = re.sub(r"(\.\d{6})\d+", r"\1", candidate.replace("z", "Z").replace("t", "T"))
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise DomainError(
            "InvalidDateTime", f"'{name}' is not a date and time of the calendar; got {quoted(text, 43)}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone or timezone.utc)  # (fold=0)
    us = to_micros(moment)
    if not MIN_US <= us < MAX_US:
        raise DomainError("InvalidDateTime", f"'{name}' must lie between 1900 and 2199")
    return us


def to_micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(us: int, tz: ZoneInfo | None = None) -> datetime:
    moment = EPOCH + timedelta(microseconds=us)
    return moment.astimezone(tz) if tz is not None else moment


def format_datetime(us: int, tz: ZoneInfo | None = None) -> str:
    """RFC 3339: 'Z' in UTC, the local offset when a time zone is given; fraction only when non-zero."""
    if tz is None:
        return _utc_text(us)
    moment = from_micros(us, tz)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")


def format_datetimes(instants: Sequence[int], tz: ZoneInfo | None = None) -> list[str]:
    """`format_datetime` of each of ascending instants, the zone's offset looked up once per stretch between its
    transitions (zones.py) instead of through a datetime per instant: a year of daily buckets formats 366 instants.

    >>> brussels = ZoneInfo("Europe/Brussels")
    >>> spring = 1_711_846_800_000_000  # 2024-03-31T01:00Z, the clock goes from 02:00 to 03:00
    >>> format_datetimes([spring - 1, spring, spring + 1_500_000], brussels)
    ['2024-03-31T01:59:59.999999+01:00', '2024-03-31T03:00:00+02:00', '2024-03-31T03:00:01.500000+02:00']
    """
    if tz is None or not instants:
        return [_utc_text(us) for us in instants]
    changes = transitions(tz)
    if changes is None or not MIN_US <= instants[0] <= instants[-1] < MAX_US:
        return [format_datetime(us, tz) for us in instants]
    offset = offset_at(tz, instants[0])
    ahead = iter(changes.between(instants[0], instants[-1]))
    upcoming = next(ahead, None)
    out = []
    for us in instants:
        while upcoming is not None and upcoming[0] <= us:
            offset = upcoming[1]
            upcoming = next(ahead, None)
        out.append(_wall_text(us + offset) + _offset_text(offset))
    return out


def _wall_text(us: int) -> str:
    """Wall-clock µs since 1970-01-01T00:00 as RFC 3339 without an offset; fraction only when non-zero. The
    date and the time of day are each remembered (a page's instants share a few times of day and its days recur
    on other pages): a datetime per instant was a tenth of a year of daily buckets.

    >>> _wall_text(-1), _wall_text(86_400_000_000 + 3_600_000_000)
    ('1969-12-31T23:59:59.999999', '1970-01-02T01:00:00')
    """
    day, of_day = divmod(us, _DAY_US)
    return _date_text(day) + _time_of_day_text(of_day)


_DAY_US = 86_400_000_000


@lru_cache(maxsize=4096)
def _date_text(day: int) -> str:
    return (_WALL_EPOCH + timedelta(days=day)).date().isoformat()


@lru_cache(maxsize=4096)
def _time_of_day_text(us: int) -> str:
    """'T01:00:00' or 'T01:00:00.500000'."""
    return (_WALL_EPOCH + timedelta(microseconds=us)).isoformat()[10:]


@lru_cache(maxsize=256)
def _offset_text(offset: int) -> str:
    """'+01:00' for an offset in µs, as datetime.isoformat writes it (seconds only when non-zero)."""
    sign = "-" if offset < 0 else "+"
    minutes, second = divmod(abs(offset) // 1_000_000, 60)
    hour, minute = divmod(minutes, 60)
    return f"{sign}{hour:02d}:{minute:02d}" + (f":{second:02d}" if second else "")


_WALL_EPOCH = datetime(1970, 1, 1)


# A page formats two instants per bucket, mostly the same ones request after request: remembered, which
# `python -m bench --only hot` names.
@lru_cache(maxsize=65_536)
def _utc_text(us: int) -> str:
    return _wall_text(us) + "Z"


# The names `timeZone` accepts: the tzdata package's list of canonical IANA zones and their backward links,
# the same on every host. (zoneinfo.available_timezones() also walks the host's zoneinfo tree, which holds
# `localtime`, the server's own zone, and on some systems `posix/…` and `right/…`.) `Factory` means "no zone".
ZONE_NAMES = frozenset(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()) - {"Factory"}

# Every name of UTC itself (Etc/UTC, Etc/GMT and their links; never a place such as Africa/Abidjan, whose rules
# may change): all are one query, served with 'Z' offsets and "UTC" in ids and continuation tokens.
UTC_NAMES = frozenset({
    "UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu",
    "GMT", "Etc/GMT", "GMT0", "Etc/GMT0", "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0", "Greenwich", "Etc/Greenwich",
})


def parse_time_zone(name: str | None) -> ZoneInfo | None:
    """A `timeZone` value → its ZoneInfo, or None for UTC (absent, or any name of UTC); else UnknownTimeZone.

    The one place that decides what UTC is (docs/semantics.md §2).
    """
    if name is None or name in UTC_NAMES:
        return None
    if name not in ZONE_NAMES:
        raise DomainError(
            "UnknownTimeZone", f"'timeZone' {quoted(name, 67)} is not a known IANA time zone (e.g. Europe/Berlin)"
        )
    return ZoneInfo(name)


def zone_name(tz: ZoneInfo | None) -> str:
    """The zone as ids and continuation tokens name it: "UTC" for every name of UTC."""
    return "UTC" if tz is None or tz.key in UTC_NAMES else tz.key
