"""Query strings and path segments → domain values, or a DomainError with a stable code."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from ..domain.demand import valid_demand_window
from ..domain.errors import DomainError, quoted
from ..domain.interval import Interval, parse_resolution
from ..domain.timefmt import MAX_US, parse_datetime, parse_time_zone

MAX_PAGE_SIZE = 10_000
DEFAULT_PAGE_SIZE = 25


def entity_id(text: str) -> uuid.UUID | None:
    """The path's entity id, or None when it is not a UUID (then no such entity can exist)."""
    if len(text) > 64:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def only(query: Mapping[str, str], names: tuple[str, ...]) -> None:
    """UnknownParameter for a query parameter not in `names` (the operations that refuse what they do not take)."""
    for name in query.keys():
        if name not in names:
            raise DomainError("UnknownParameter", f"{quoted(name, 40)} is not a parameter of this operation; it "
                              f"takes {' and '.join(names)}")


def required(query: Mapping[str, str], name: str) -> str:
    """Only an absent parameter is missing; an empty one is a value that its own parser refuses."""
    value = query.get(name)
    if value is None:
        raise DomainError("MissingParameter", f"the query parameter '{name}' is required")
    return value


def window(query: Mapping[str, str], zone: ZoneInfo | None = None) -> tuple[int, int | None]:
    """`start` and, when given, `end` (None: the end is "now", fixed by the first page of a query). Either without
    an offset is wall time in `zone`, the request's zone (docs/semantics.md §2)."""
    start = parse_datetime(required(query, "start"), "start", zone)
    raw_end = query.get("end")
    return start, None if raw_end is None else parse_datetime(raw_end, "end", zone)


def resolve_end(start: int, end: int | None, now: int | None) -> int:
    """The window's end; an omitted one is `now`. The window is half-open and must not be empty."""
    if end is None:
        end = now if now is not None else min(time.time_ns() // 1000, MAX_US - 1)
    if start >= end:
        raise DomainError("InvalidTimeWindow", "'start' must be before 'end' (the window is [start, end))")
    return end


def json_only(query: Mapping[str, str]) -> None:
    """An operation that answers JSON only refuses any other `format` (400 InvalidFormat) instead of ignoring it."""
    fmt = query.get("format")
    if fmt is not None and fmt != "json":
        raise DomainError("InvalidFormat", f"this operation answers JSON only (format=json); format=csv is offered "
                                           "by readings, aggregations, statistics and costs")


def page_size(query: Mapping[str, str]) -> int:
    raw = query.get("pageSize")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    text = raw  # digits only: no sign, no space ('pageSize=+5' arrives as ' 5': refused)
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise DomainError("InvalidPageSize", f"'pageSize' must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(text)


def resolution(query: Mapping[str, str]) -> Interval:
    return parse_resolution(required(query, "resolution"))


def time_zone(query: Mapping[str, str], default: str | None = None) -> ZoneInfo | None:
    """`timeZone`, else `default`; None means UTC."""
    return parse_time_zone(query.get("timeZone", default))


def statistics_metrics(query: Mapping[str, str], known: tuple[str, ...]) -> tuple[str, ...]:
    """`metrics`: comma-separated names from `known`; absent means all. Returned in `known`'s order, once each."""
    raw = query.get("metrics")
    if raw is None:
        return known
    names = [name.strip() for name in raw.split(",")]
    for name in names:
        if name not in known:
            shown = repr(name if len(name) <= 40 else name[:37] + "...")
            raise DomainError("UnknownMetric", f"{shown} is not a statistics metric; use one or more of "
                              f"{', '.join(known)}, separated by commas")
    return tuple(name for name in known if name in names)


def demand_window(query: Mapping[str, str]) -> int:
    """`demandWindow` in µs (default 15 minutes); InvalidDemandWindow unless whole minutes dividing an hour."""
    raw = query.get("demandWindow")
    return DEFAULT_DEMAND_WINDOW_US if raw is None else valid_demand_window(raw)


DEFAULT_DEMAND_WINDOW_US = 15 * 60_000_000
