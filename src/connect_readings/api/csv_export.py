"""CSV answers of GET …/readings, …/aggregations, …/statistics and …/costs (docs/semantics.md §11).

Asked for by `format=csv`, or by an `Accept` that prefers text/csv to application/json. The whole window is
one file, streamed: the handler walks the pages itself, with the same service functions as the JSON pages,
CHUNK items at a time, each chunk read and encoded as CSV in a store thread and a snapshot of its own (the event
loop only sends bytes). The row limit (CONNECT_READINGS_CSV_MAX_ROWS) is checked before the first byte, from the
window alone (aggregations, statistics: its buckets) or one counting query (readings), so a refused window is a
400 TooManyRows, never a 200 with a cut-off file. Memory per request is one chunk; the request deadline bounds
each chunk's store work.

Errors stay JSON (the ConnectApiErrorResult body): they are raised as usual and answered by the error handlers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..usecases.aggregations import AggregationQuery, aggregation_page
from ..usecases.costs import costs_page
from ..usecases.readings import readings_page
from ..usecases.pages import deadline_scope
from ..usecases.statistics import STATISTICS_METRICS, StatisticsQuery, page_buckets_within_work, statistics_page
from ..domain.errors import DomainError, quoted
from ..domain.grid import Grid
from ..domain.interval import Interval
from ..config import Settings
from ..storage.base import Store
from ..wire import csv_rows, encode
from . import params
from .errors import ApiError
from .guard import streaming
from .offload import ThreadPool



class Serving(Protocol):
    """What a CSV answer needs of the API: its store, the threads that run store calls, its settings."""

    store: Store
    threads: ThreadPool
    settings: Settings

CSV_MEDIA_TYPE = "text/csv; charset=utf-8; header=present"
CHUNK = 1_000
"""Items read per service call while walking the window."""
FORMATS = ("json", "csv")


# -- negotiation -----------------------------------------------------------------------------------------------
def wanted(request: Request) -> bool:
    """True when the answer is CSV: `format=csv`; else (no `format`) an Accept preferring text/csv.
    `format=json` is JSON whatever the Accept; any other `format` is 400 InvalidFormat."""
    fmt = request.query_params.get("format")
    if fmt is not None:
        if fmt not in FORMATS:
            raise DomainError("InvalidFormat", f"{quoted(fmt, 40)} is not a format; use json or csv")
        return fmt == "csv"
    return prefers_csv(request.headers.get("accept"))


def prefers_csv(accept: str | None) -> bool:
    """text/csv when it is listed with a q above 0 and at least application/json's q (application/json's q:
    its own entry, else application/*, else */*; wildcards never choose CSV).

    >>> prefers_csv("text/csv"), prefers_csv("application/json, text/csv;q=0.9"), prefers_csv("*/*")
    (True, False, False)
    >>> prefers_csv("text/csv;q=0.5, */*;q=0.5"), prefers_csv("text/csv;q=0")
    (True, False)
    """
    if not accept or "text/csv" not in accept.lower():
        return False
    q: dict[str, float] = {}
    for part in accept.lower().split(","):
        media, *options = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip() == "q":
                try:
                    weight = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    weight = 0.0
        q[media] = max(q.get(media, 0.0), weight)
    csv_q = q.get("text/csv", 0.0)
    json_q = q.get("application/json", q.get("application/*", q.get("*/*", 0.0)))
    return csv_q > 0.0 and csv_q >= json_q


def refuse_paging(query: Mapping[str, str]) -> None:
    if "pageSize" in query or "continuationToken" in query:
        raise DomainError("InvalidParameter", "CSV returns the whole window; drop pageSize/continuationToken")


def whole_window(query: Mapping[str, str], zone: ZoneInfo | None) -> tuple[int, int]:
    refuse_paging(query)
    start, end_given = params.window(query, zone)
    return start, params.resolve_end(start, end_given, None)


# -- the three files -------------------------------------------------------------------------------------------
Rows = list[list[str]]
Chunk = Callable[[int], tuple[Rows, "int | None"]]
"""Rows from a position on, and where the next chunk starts (None after the last)."""


def readings(api: Serving, request: Request, entity_id: uuid.UUID, tz: ZoneInfo | None) -> Response:
    """`tz`: the request's zone, that of a `start`/`end` without an offset."""
    start, end = whole_window(request.query_params, tz)
    limit = api.settings.csv_max_rows
    if api.store.count_readings(entity_id, start, end, limit) > limit:
        raise too_many_rows(limit, "readings")

    def chunk(position: int) -> tuple[Rows, int | None]:
        page = readings_page(api.store, entity_id, position, end, CHUNK)
        return [csv_rows.reading_row(encode.reading(entity_id, r)) for r in page.items], page.next_position

    return stream(api, request, csv_rows.READING_COLUMNS, chunk, start, filename(entity_id, "readings", start, end))


def aggregations(api: Serving, request: Request, entity_id: uuid.UUID, tz: ZoneInfo | None) -> Response:
    """`tz`: the request's zone, else the entity's, as for JSON."""
    query = request.query_params
    width = params.resolution(query)
    start, end = whole_window(query, tz)
    refuse_too_many_buckets(api, start, end, width, tz)
    agg_query = AggregationQuery(entity_id, start, end, width, tz)
    entity = str(entity_id)

    def chunk(position: int) -> tuple[Rows, int | None]:
        page = aggregation_page(api.store, agg_query, position, CHUNK)
        return [csv_rows.aggregation_row(item) for item in encode.aggregations(entity, page.items, tz)], page.next_position

    kind = f"aggregations-{resolution_label(width)}"
    return stream(api, request, csv_rows.AGGREGATION_COLUMNS, chunk, start, filename(entity_id, kind, start, end))


def statistics(api: Serving, request: Request, entity_id: uuid.UUID, tz: ZoneInfo | None) -> Response:
    """`tz`: the request's zone, else the entity's, as for JSON."""
    query = request.query_params
    width = params.resolution(query)
    metrics = params.statistics_metrics(query, STATISTICS_METRICS)
    window_us = params.demand_window(query)
    start, end = whole_window(query, tz)
    refuse_too_many_buckets(api, start, end, width, tz)
    stats_query = StatisticsQuery(entity_id, start, end, width, tz, metrics, window_us)
    chunk_buckets = min(CHUNK, page_buckets_within_work(width, window_us, metrics) or CHUNK)  # (a bounded chunk)
    layout = csv_rows.statistics_layout(metrics)
    entity = str(entity_id)

    def chunk(position: int) -> tuple[Rows, int | None]:
        page = statistics_page(api.store, stats_query, position, chunk_buckets)
        return [csv_rows.statistics_row(encode.statistics(entity, b, tz), layout) for b in page.items], page.next_position

    kind = f"statistics-{resolution_label(width)}"
    columns = tuple(name for name, _ in layout)
    return stream(api, request, columns, chunk, start, filename(entity_id, kind, start, end))


def costs(api: Serving, request: Request, entity_id: uuid.UUID, tz: ZoneInfo | None,
          entity_tz: ZoneInfo | None) -> Response:
    """`tz`: the request's zone, else the entity's, as for JSON; `entity_tz`: the entity's own (its months)."""
    query = request.query_params
    width = params.resolution(query)
    start, end = whole_window(query, tz)
    refuse_too_many_buckets(api, start, end, width, tz)
    cost_query = AggregationQuery(entity_id, start, end, width, tz)
    entity = str(entity_id)

    def chunk(position: int) -> tuple[Rows, int | None]:
        page = costs_page(api.store, cost_query, entity_tz, position, CHUNK)
        return [csv_rows.cost_row(encode.cost(entity, b, tz)) for b in page.items], page.next_position

    kind = f"costs-{resolution_label(width)}"
    return stream(api, request, csv_rows.COST_COLUMNS, chunk, start, filename(entity_id, kind, start, end))


def refuse_too_many_buckets(api: Serving, start: int, end: int, width: Interval, tz: ZoneInfo | None) -> None:
    """Buckets count against the limit whether or not they hold data: known before any is computed."""
    limit = api.settings.csv_max_rows
    if Grid(width, tz).count(start, end, limit) > limit:
        raise too_many_rows(limit, "buckets")


# -- the response ----------------------------------------------------------------------------------------------
def stream(api: Serving, request: Request, columns: tuple[str, ...], chunk: Chunk, start: int, name: str) -> Response:
    """The file, streamed (RFC 4180: CRLF, a header row, fields quoted only when needed, UTF-8).

    Called in a store thread, inside the request's snapshot, after the limit was checked: the first chunk is
    computed and encoded here, so an error in it is still a JSON error answer. Each later chunk is one more hop
    to a store thread with a snapshot of its own, which encodes it too (the event loop only sends bytes), so a
    slow reader never holds a thread or a transaction; the cursor (the next item's start) keeps every item
    exactly once. The request deadline bounds the store work of each chunk, not the transfer. Once the file has
    started it no longer counts as a request in progress (guard.streaming), and a client that takes no byte for
    IDLE_WRITE_TIMEOUT_S is cut off (server.Protocol). A chunk that fails
    (its deadline, a database error), or a cut-off, ends the answer without the closing empty chunk, so the
    client can tell the file is incomplete.
    """
    first, position = chunk(start)
    head = encode_rows([list(columns), *first])
    timeout_s = api.settings.request_timeout_s

    async def body() -> AsyncIterator[bytes]:
        streaming(request.scope)  # the client reads at its own pace: no request deadline, no request slot
        yield head
        next_position = position
        while next_position is not None:
            deadline = time.monotonic() + timeout_s
            data, next_position = await api.threads.run(_in_snapshot, api.store, deadline, chunk, next_position)
            yield data

    return StreamingResponse(body(), media_type=CSV_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Vary": "Accept"})


def _in_snapshot(store: Store, deadline: float | None, chunk: Chunk, position: int) -> tuple[bytes, int | None]:
    """A later chunk: read in a snapshot of its own, then encoded, in the store thread that read it."""
    with store.snapshot(deadline), deadline_scope(deadline):
        rows, following = chunk(position)
    return encode_rows(rows), following


def encode_rows(rows: Rows) -> bytes:
    """Rows as CSV bytes, in a store thread, never on the event loop (a wide chunk of 1,000 rows takes
    10-80 ms). One row per call of the writer: `writerows` runs in C and keeps the GIL to the end, so 1,000 rows
    in one call held the loop as long as encoding them on it did; between two rows another thread (the loop)
    can take the GIL. Byte for byte what one `writerows` over the whole file writes (tests/api/test_csv.py)."""
    out = io.StringIO()
    write = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerow
    for row in rows:
        write(row)
    return out.getvalue().encode("utf-8")


def too_many_rows(limit: int, what: str) -> ApiError:
    return ApiError(400, "TooManyRows", f"the window holds more than {limit} {what}, the CSV row limit",
                    "narrow the time window, choose a coarser resolution, or page through the JSON answer")


def filename(entity_id: uuid.UUID, kind: str, start: int, end: int) -> str:
    """`<entityId>_<kind>_<start>_<end>.csv`, times as compact UTC.

    >>> filename(uuid.UUID(int=1), "readings", 1716814800000000, 1716901200000000)
    '00000000-0000-0000-0000-000000000001_readings_20240527T130000Z_20240528T130000Z.csv'
    """
    return f"{entity_id}_{kind}_{compact_utc(start)}_{compact_utc(end)}.csv"


_EPOCH = dt.datetime(1970, 1, 1)


def compact_utc(us: int) -> str:
    """A UTC instant (µs) as e.g. 20240527T130000Z; a fraction of a second only when there is one.

    >>> compact_utc(1716814800500000)
    '20240527T130000.5Z'
    """
    t = _EPOCH + dt.timedelta(microseconds=us)
    text = f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}"
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return text + "Z"


def resolution_label(width: Interval) -> str:
    """A short name of a bucket width for file names: 15min, 1h, 1d, 1mon, 1mon2d, 90s, 500us.

    >>> resolution_label(Interval(0, 0, 900_000_000)), resolution_label(Interval(12, 1, 3_600_000_000))
    ('15min', '12mon1d1h')
    """
    parts = []
    if width.months:
        parts.append(f"{width.months}mon")
    if width.days:
        parts.append(f"{width.days}d")
    us = width.micros
    if us:
        for unit, size in (("h", 3_600_000_000), ("min", 60_000_000), ("s", 1_000_000), ("us", 1)):
            if us % size == 0:
                parts.append(f"{us // size}{unit}")
                break
    return "".join(parts) or "0us"

