"""When a time zone's UTC offset changes: its transitions, read once from the zone's TZif file (RFC 8536).

`zoneinfo` answers "what is the offset at this instant" but has no public list of transitions, and finding them
by asking it hour by hour costs seconds for a few centuries (a request over 1900-2199 did exactly that). So the
transitions come from the file `zoneinfo` itself reads (the first of `zoneinfo.TZPATH` that holds the key, else
the `tzdata` package, as `zoneinfo` looks them up), and after its last explicit transition from its footer rule
(a POSIX TZ string such as `CET-1CEST,M3.5.0,M10.5.0/3`): each year of a rule with daylight saving time is
probed monthly with `zoneinfo` and each change located by bisection to the second, once per zone and year. The
first use of a zone over a century costs milliseconds; every answer agrees with `zoneinfo` by construction
(tests/domain/test_zones.py compares the two, hour by hour, over 1900-2199).

Reading the file is the one I/O here, as constructing a `ZoneInfo` is; it happens once per zone.
"""

from __future__ import annotations

import bisect
import os
import struct
import threading
import zoneinfo
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from importlib import resources

US_PER_SECOND = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FIRST_YEAR, _LAST_YEAR = 2, 9997  # what datetime can probe (offsets are constant that far out anyway)
_SECONDS_PER_YEAR = 366 * 86_400


def offset_at(tz: tzinfo, utc_us: int) -> int:
    """The UTC offset (µs) of `tz` at an instant, as zoneinfo says; clamped to datetime's range."""
    utc_us = min(max(utc_us, _LIMIT_LO), _LIMIT_HI)
    offset = (_EPOCH + timedelta(microseconds=utc_us)).astimezone(tz).utcoffset()
    return 0 if offset is None else offset // timedelta(microseconds=1)


_LIMIT_LO = (datetime(_FIRST_YEAR, 1, 1, tzinfo=timezone.utc) - _EPOCH) // timedelta(microseconds=1)
_LIMIT_HI = (datetime(_LAST_YEAR, 1, 1, tzinfo=timezone.utc) - _EPOCH) // timedelta(microseconds=1)


class Transitions:
    """The offset changes of one zone: `between(lo, hi)` lists each `(instant, offset from then on)` in µs.

    Explicit transitions come from the TZif data (only those that change the offset: a change of name or of
    the daylight-saving flag alone is none); later ones are found per year of the footer rule, lazily.
    """

    def __init__(self, tz: tzinfo, explicit: list[tuple[int, int]], rule_has_dst: bool) -> None:
        self.tz = tz
        kept: list[tuple[int, int]] = []
        previous = offset_at(tz, explicit[0][0] - 1) if explicit else None
        for at, offset in explicit:
            if offset != previous:
                kept.append((at, offset))
                previous = offset
        self.instants = [at for at, _ in kept]
        self.offsets = [offset for _, offset in kept]
        self.rule_from = (explicit[-1][0] + 1) if explicit else _LIMIT_LO
        """From here on the footer rule decides (each year is probed): after the last explicit transition."""
        self.rule_has_dst = rule_has_dst
        self._years: dict[int, list[tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def between(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Every transition with lo < instant <= hi, ascending."""
        found = [(self.instants[i], self.offsets[i])
                 for i in range(bisect.bisect_right(self.instants, lo), bisect.bisect_right(self.instants, hi))]
        if self.rule_has_dst and hi >= self.rule_from:
            first = _year_of(max(lo, self.rule_from))
            for year in range(first, _year_of(hi) + 1):
                found.extend(t for t in self._rule_year(year) if lo < t[0] <= hi and t[0] >= self.rule_from)
        return found

    def _rule_year(self, year: int) -> list[tuple[int, int]]:
        """The footer rule's transitions in a UTC calendar year: monthly probes, each change bisected to the
        second (a rule's daylight-saving period lasts months; transitions fall on whole seconds)."""
        with self._lock:
            known = self._years.get(year)
        if known is not None:
            return known
        marks = [_utc_us(year, month) for month in range(1, 13)] + [_utc_us(year + 1, 1)]
        transitions: list[tuple[int, int]] = []
        previous = offset_at(self.tz, marks[0])
        for a, b in zip(marks, marks[1:]):
            offset_b = offset_at(self.tz, b)
            if offset_b == previous:
                continue
            lo, hi = a // US_PER_SECOND, b // US_PER_SECOND  # offset(lo) == previous, offset(hi) != previous
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset_at(self.tz, mid * US_PER_SECOND) == previous:
                    lo = mid
                else:
                    hi = mid
            transitions.append((hi * US_PER_SECOND, offset_at(self.tz, hi * US_PER_SECOND)))
            previous = offset_b
        with self._lock:
            self._years[year] = transitions
        return transitions


def _utc_us(year: int, month: int) -> int:
    year = min(max(year, _FIRST_YEAR), _LAST_YEAR)
    return (datetime(year, month, 1, tzinfo=timezone.utc) - _EPOCH) // timedelta(microseconds=1)


def _year_of(utc_us: int) -> int:
    utc_us = min(max(utc_us, _LIMIT_LO), _LIMIT_HI)
    return (_EPOCH + timedelta(microseconds=utc_us)).year


@lru_cache(maxsize=1024)
def transitions(tz: tzinfo) -> Transitions | None:
    """The transitions of a zone read from its TZif file; None when it has none to read (a zone made otherwise:
    the caller then asks zoneinfo instant by instant)."""
    key = getattr(tz, "key", None)
    data = _tzif_bytes(key) if isinstance(key, str) else None
    if data is None:
        return None
    try:
        explicit, footer = parse_tzif(data)
    except (ValueError, struct.error):
        return None
    return Transitions(tz, explicit, b"," in footer)


def _tzif_bytes(key: str) -> bytes | None:
    """The TZif file zoneinfo reads for `key`: the first of zoneinfo.TZPATH that has it, else the tzdata package."""
    if not key or key.startswith("/") or ".." in key.split("/"):
        return None
    for root in zoneinfo.TZPATH:
        path = os.path.join(root, key)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                return handle.read()
    try:
        return resources.files("tzdata.zoneinfo").joinpath(*key.split("/")).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, IsADirectoryError, NotADirectoryError, OSError):
        return None


_HEADER = struct.Struct(">4sc15x6l")


def parse_tzif(data: bytes) -> tuple[list[tuple[int, int]], bytes]:
    """`([(transition instant µs, UTC offset µs from then on)], footer TZ string)` of a TZif file (RFC 8536): the
    version-2+ data with 64-bit times when there is one, else version 1's.

    >>> explicit, footer = parse_tzif(_tzif_bytes("Europe/Brussels"))
    >>> footer, explicit[-1][1] in (3_600_000_000, 7_200_000_000)
    (b'CET-1CEST,M3.5.0,M10.5.0/3', True)
    """
    magic, version, isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = _HEADER.unpack_from(data, 0)
    if magic != b"TZif":
        raise ValueError("not a TZif file")
    time_size, start = 4, _HEADER.size
    if version >= b"2":  # skip the 32-bit block to the 64-bit one
        start += timecnt * 5 + typecnt * 6 + charcnt + leapcnt * 8 + isstdcnt + isutcnt
        _, _, isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = _HEADER.unpack_from(data, start)
        time_size, start = 8, start + _HEADER.size
    times = struct.unpack_from(f">{timecnt}{'q' if time_size == 8 else 'l'}", data, start)
    position = start + timecnt * time_size
    indices = data[position:position + timecnt]
    position += timecnt
    offsets = [struct.unpack_from(">l", data, position + 6 * i)[0] for i in range(typecnt)]
    position += typecnt * 6 + charcnt + leapcnt * (time_size + 4) + isstdcnt + isutcnt
    footer = data[position:].strip(b"\n") if version >= b"2" else b""
    explicit = [(t * US_PER_SECOND, offsets[i] * US_PER_SECOND) for t, i in zip(times, indices)]
    return explicit, footer
