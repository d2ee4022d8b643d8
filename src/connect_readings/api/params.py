"""Query strings and path segments → domain values, or a DomainError with a stable code."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from ..domain.errors import DomainError
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


def required(query: Mapping[str, str], name: str) -> str:
    """Only an absent parameter is missing; an empty one is a value that its own parser refuses."""
    value = query.get(name)
    if value is None:
        raise DomainError("MissingParameter", f"the query parameter '{name}' is required")
    return value


def window(query: Mapping[str, str]) -> tuple[int, int | None]:
    """`start` and, when given, `end` (None: the end is "now", fixed by the first page of a query)."""
    start = parse_datetime(required(query, "start"), "start")
    raw_end = query.get("end")
    return start, None if raw_end is None else parse_datetime(raw_end, "end")


def resolve_end(start: int, end: int | None, now: int | None) -> int:
    """The window's end; an omitted one is `now`. The window is half-open and must not be empty."""
    if end is None:
        end = now if now is not None else min(time.time_ns() // 1000, MAX_US - 1)
    if start >= end:
        raise DomainError("InvalidTimeWindow", "'start' must be before 'end' (the window is [start, end))")
    return end


def page_size(query: Mapping[str, str]) -> int:
    raw = query.get("pageSize")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise DomainError("InvalidPageSize", f"'pageSize' must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(text)


def resolution(query: Mapping[str, str]) -> Interval:
    return parse_resolution(required(query, "resolution"))


def time_zone(query: Mapping[str, str]) -> ZoneInfo | None:
    """None means UTC."""
    return parse_time_zone(query.get("timeZone"))
