"""Everything of the client that does no I/O, once: requests (`Call`), decoding, errors, retry decisions.

`Client` and `AsyncClient` only send a `Call` and sleep; what to send, what the answer means, whether and
when to try again, and which page comes next are decided here, so both behave the same by construction.

>>> call = aggregations_call("8667fb97-68f2-485a-87c7-f3bdfa9482e1", start=date(2024, 1, 1),
...                          end=date(2025, 1, 1), resolution=timedelta(days=1), time_zone="Europe/Brussels")
>>> call.path, call.params["start"], call.params["resolution"]
('/v1/entities/8667fb97-68f2-485a-87c7-f3bdfa9482e1/aggregations', '2024-01-01', '86400 seconds')
"""

from __future__ import annotations

import email.utils
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from time import monotonic
from typing import Any

import msgspec

from ..wire import models
from ..wire.models import (Aggregation, CapacityMonth, Cost, Entity, Health, IngestResult, Page, Readiness, Reading,
                     Statistics)

Instant = datetime | date | str
"""A `start`/`end`: an aware datetime; a naive one or a date is in the query's `time_zone` (UTC without one);
a string is sent as it is (RFC 3339)."""
Resolution = str | timedelta
"""'15 minutes', '1 day', 'P1M', … (the API's grammar), or a timedelta (sent in seconds)."""
EntityId = uuid.UUID | str

RETRY_STATUSES = frozenset({429, 503, 504})
"""Answers that say "not now" (rate limit, busy or shutting down, deadline), not "never"."""


class ConnectReadingsError(Exception):
    """Every failure of a call: an error answer of the API, or no answer at all.

    `status` is the HTTP status (None when no answer came), `code` the API's error code (`EntityNotFound`,
    `InvalidResolution`, `TooManyRequests`, … or `ConnectionError`/`InvalidResponse` of the client's own),
    `request_id` the server's `X-Request-ID` (quote it when asking about a failure).
    """

    def __init__(self, status: int | None, code: str, message: str, description: str | None = None,
                 request_id: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{status or 'no answer'} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.description = description
        self.request_id = request_id
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a call again: on 429/503/504, and on a lost connection when the call is idempotent.

    The n-th retry waits `backoff_s · 2ⁿ⁻¹` (at most `max_backoff_s`) with jitter, and never less than the
    answer's `Retry-After`; at most `max_attempts` attempts in all, and none that would start after
    `max_total_s`. `RetryPolicy(max_attempts=1)` (or `RetryPolicy.none()`) turns retries off.

    >>> RetryPolicy(jitter=False).delay(attempt=3, retry_after=None)
    2.0
    >>> RetryPolicy(jitter=False).delay(attempt=1, retry_after=5.0)
    5.0
    """

    max_attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    max_total_s: float = 120.0
    jitter: bool = True

    @classmethod
    def none(cls) -> "RetryPolicy":
        return cls(max_attempts=1)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before attempt `attempt + 1`: exponential, jittered (half fixed, half random, so clients
        that failed together spread out), and at least what the server asked for."""
        backoff = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        if self.jitter:
            backoff = backoff / 2 + random.uniform(0, backoff / 2)
        return max(backoff, retry_after or 0.0)

    def next_wait(self, attempt: int, elapsed_s: float, error: ConnectReadingsError, idempotent: bool
                  ) -> float | None:
        """Seconds to wait before trying again after `error` on attempt `attempt` (1-based), None to give up."""
        retryable = error.status in RETRY_STATUSES or (error.status is None and idempotent
                                                       and error.code == "ConnectionError")
        if not retryable or attempt >= self.max_attempts:
            return None
        wait = self.delay(attempt, error.retry_after)
        return wait if elapsed_s + wait <= self.max_total_s else None


@dataclass(frozen=True)
class Call:
    """One request and how to read its answer; `follow(token)` is the next page's request."""

    method: str
    path: str
    decode: Callable[[bytes], Any]
    params: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    """JSON (msgspec encodes datetimes, UUIDs and Structs as the API reads them)."""
    idempotent: bool = True
    """Safe to send twice (every operation of this API is: reads, PUT, ingest, an upsert per timestamp, and
    DELETE, whose retry after a lost answer may find the entity gone: `Attempts` takes that 404 as done)."""
    zone: str | None = None
    """The query's time zone, for `to_pandas`."""

    def follow(self, token: str) -> "Call":
        return replace(self, params={**self.params, "continuationToken": token})


# -- values → query parameters ---------------------------------------------------------------------
def instant(value: Instant) -> str:
    """A `start`/`end` as the API takes it: an aware datetime with its offset; a date or a naive datetime
    without one, so the server reads it as wall time in the query's zone (its `timeZone`, else the entity's),
    the one rule for every client (docs/semantics.md §2).

    >>> instant(datetime(2024, 3, 31, 12, tzinfo=timezone.utc)), instant(date(2024, 7, 1))
    ('2024-03-31T12:00:00+00:00', '2024-07-01')
    """
    if isinstance(value, str):
        return value
    return value.isoformat()


def resolution(value: Resolution) -> str:
    """A resolution as the API takes it.

    >>> resolution("15 minutes"), resolution(timedelta(minutes=15)), resolution(timedelta(milliseconds=1))
    ('15 minutes', '900 seconds', '1000 microseconds')
    """
    if isinstance(value, str):
        return value
    us = value // timedelta(microseconds=1)
    return f"{us // 1_000_000} seconds" if us % 1_000_000 == 0 else f"{us} microseconds"


def query(**values: Any) -> dict[str, str]:
    """The query string's parameters: camelCase names, None left out."""
    return {_camel(name): value for name, value in values.items() if value is not None}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def entity_path(entity_id: EntityId, tail: str = "") -> str:
    return f"/v1/entities/{uuid.UUID(str(entity_id))}{tail}"


# -- decoding --------------------------------------------------------------------------------------
def _decoder(kind: Any) -> Callable[[bytes], Any]:
    return msgspec.json.Decoder(kind).decode


def _page_decoder(kind: type) -> Callable[[bytes], Page[Any]]:
    decode = msgspec.json.Decoder(models.Envelope[kind]).decode  # type: ignore[valid-type]

    def page(body: bytes) -> Page[Any]:
        envelope = decode(body)
        return Page(envelope.data, envelope.meta.continuation_token)

    return page


def _list_decoder(kind: type) -> Callable[[bytes], models.Results[Any]]:
    decode = msgspec.json.Decoder(models.ListEnvelope[kind]).decode  # type: ignore[valid-type]
    return lambda body: models.Results(decode(body).data)


DECODE_AGGREGATIONS = _page_decoder(Aggregation)
DECODE_COSTS = _page_decoder(Cost)
DECODE_STATISTICS = _page_decoder(Statistics)
DECODE_READINGS = _page_decoder(Reading)
DECODE_ENTITIES = _page_decoder(Entity)
DECODE_CAPACITY = _list_decoder(CapacityMonth)


def decode_answer(call: Call, status: int, headers: Mapping[str, str], body: bytes) -> Any:
    """The call's result from a 2xx answer; ConnectReadingsError for any other, or for a body that is not
    the documented shape."""
    if not 200 <= status < 300:
        raise error_of(status, headers, body)
    try:
        return call.decode(body)
    except msgspec.DecodeError as exc:
        raise ConnectReadingsError(status, "InvalidResponse", f"the answer is not the documented shape: {exc}",
                                   request_id=headers.get("x-request-id")) from exc


_ERROR_BODY = msgspec.json.Decoder(models.ErrorBody)


def error_of(status: int, headers: Mapping[str, str], body: bytes) -> ConnectReadingsError:
    """The exception for an error answer, from its ConnectApiErrorResult body (the first error; a proxy's
    body that is not one still gives the status, as `Http<status>`).

    >>> error_of(404, {}, b'{"errors":[{"code":"EntityNotFound","message":"no such entity"}]}').code
    'EntityNotFound'
    """
    try:
        first = _ERROR_BODY.decode(body).errors[0]
    except (msgspec.DecodeError, IndexError):
        first = models.ApiErrorItem()
    return ConnectReadingsError(status, first.code or f"Http{status}", first.message or f"HTTP {status}",
                                first.description, headers.get("x-request-id"),
                                retry_after(headers.get("retry-after")))


def connection_error(exc: Exception) -> ConnectReadingsError:
    return ConnectReadingsError(None, "ConnectionError", f"{type(exc).__name__}: {exc}")


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); None when absent/unreadable.

    >>> now = datetime(2015, 10, 21, 7, 28, tzinfo=timezone.utc)
    >>> retry_after("3"), retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now)
    (3.0, 10.0)
    """
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - (now or datetime.now(timezone.utc))).total_seconds())


# -- the operations --------------------------------------------------------------------------------
def health_call() -> Call:
    return Call("GET", "/healthz", _decoder(Health))


def openapi_call() -> Call:
    return Call("GET", "/openapi.json", msgspec.json.decode)


def readiness_call() -> Call:
    return Call("GET", "/readyz", _decoder(Readiness))


def entities_call(page_size: int | None = None) -> Call:
    return Call("GET", "/v1/entities", DECODE_ENTITIES, query(page_size=_int(page_size)))


def entity_call(entity_id: EntityId) -> Call:
    return Call("GET", entity_path(entity_id), _decoder(Entity))


def put_entity_call(entity_id: EntityId, description: Mapping[str, Any]) -> Call:
    """`description` in Python names (type, name, brand, identifier, parent_id, properties, time_zone)."""
    body = {_camel(k): v for k, v in description.items()}
    return Call("PUT", entity_path(entity_id), _decoder(Entity), body=_ENCODE(body))


def delete_entity_call(entity_id: EntityId) -> Call:
    """204 No Content: the answer is None."""
    return Call("DELETE", entity_path(entity_id), _no_content)


def _no_content(body: bytes) -> None:
    return None


def ingest_call(entity_id: EntityId, readings: Iterable[Mapping[str, Any]]) -> Call:
    """Readings as `{"timestamp": datetime or RFC 3339 text, "data": {metric: {...}}}` (an aware datetime;
    a naive one is UTC, as the API reads a timestamp without offset)."""
    batch = [{**reading, "timestamp": instant(reading["timestamp"])} for reading in readings]
    return Call("POST", entity_path(entity_id, "/readings"), _decoder(IngestResult), body=_ENCODE({"data": batch}))


def readings_call(entity_id: EntityId, start: Instant, end: Instant | None = None,
                  page_size: int | None = None) -> Call:
    return Call("GET", entity_path(entity_id, "/readings"), DECODE_READINGS,
                query(start=instant(start), end=_opt(end), page_size=_int(page_size)))


def last_reading_call(entity_id: EntityId) -> Call:
    return Call("GET", entity_path(entity_id, "/readings/last"), _decoder(Reading))


def aggregations_call(entity_id: EntityId, start: Instant, resolution: Resolution, end: Instant | None = None,
                      time_zone: str | None = None, page_size: int | None = None) -> Call:
    return Call("GET", entity_path(entity_id, "/aggregations"), DECODE_AGGREGATIONS,
                query(start=instant(start), end=_opt(end), resolution=_resolution(resolution),
                      time_zone=time_zone, page_size=_int(page_size)), zone=time_zone)


def aggregation_total_call(entity_id: EntityId, start: Instant, end: Instant | None = None,
                           time_zone: str | None = None) -> Call:
    return Call("GET", entity_path(entity_id, "/aggregations/total"), _decoder(Aggregation),
                query(start=instant(start), end=_opt(end), time_zone=time_zone), zone=time_zone)


def costs_call(entity_id: EntityId, start: Instant, resolution: Resolution, end: Instant | None = None,
               time_zone: str | None = None, page_size: int | None = None) -> Call:
    return Call("GET", entity_path(entity_id, "/costs"), DECODE_COSTS,
                query(start=instant(start), end=_opt(end), resolution=_resolution(resolution),
                      time_zone=time_zone, page_size=_int(page_size)), zone=time_zone)


def cost_total_call(entity_id: EntityId, start: Instant, end: Instant | None = None,
                    time_zone: str | None = None) -> Call:
    return Call("GET", entity_path(entity_id, "/costs/total"), _decoder(Cost),
                query(start=instant(start), end=_opt(end), time_zone=time_zone), zone=time_zone)


def statistics_call(entity_id: EntityId, start: Instant, resolution: Resolution, end: Instant | None = None,
                    time_zone: str | None = None, metrics: str | Sequence[str] | None = None,
                    demand_window: Resolution | None = None, page_size: int | None = None) -> Call:
    return Call("GET", entity_path(entity_id, "/statistics"), DECODE_STATISTICS,
                query(start=instant(start), end=_opt(end), resolution=_resolution(resolution),
                      time_zone=time_zone, metrics=_metrics(metrics),
                      demand_window=None if demand_window is None else _resolution(demand_window),
                      page_size=_int(page_size)), zone=time_zone)


def capacity_tariff_call(entity_id: EntityId, start: Instant, end: Instant, time_zone: str | None = None) -> Call:
    return Call("GET", entity_path(entity_id, "/statistics/capacity-tariff"), DECODE_CAPACITY,
                query(start=instant(start), end=instant(end), time_zone=time_zone),
                zone=time_zone)


_ENCODE = msgspec.json.Encoder().encode
_resolution = resolution  # (the operations' parameter of that name hides the function)


def _opt(value: Instant | None) -> str | None:
    return None if value is None else instant(value)


def _metrics(value: str | Sequence[str] | None) -> str | None:
    """A list of names, or one comma-separated string of them (not read letter by letter)."""
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else value
    return ",".join(name.strip() for name in names)


def _int(value: int | None) -> str | None:
    return None if value is None else str(value)


# -- one call's attempts, and the pages of a list --------------------------------------------------
class Attempts:
    """The retry state of one call: feed it each answer (or lost connection), it says done or how long to wait.

    >>> attempts = Attempts(health_call(), RetryPolicy(jitter=False, backoff_s=0.1))
    >>> attempts.answer(503, {"retry-after": "1"}, b"")
    (False, 1.0)
    >>> attempts.answer(200, {}, b'{"status":"ok"}')
    (True, Health(status='ok'))
    """

    def __init__(self, call: Call, policy: RetryPolicy, clock: Callable[[], float] = monotonic) -> None:
        self.call = call
        self.policy = policy
        self.clock = clock
        self.started = clock()
        self.attempt = 0
        self.unanswered = False
        """Whether an earlier attempt got no answer (it may have been done all the same)."""

    def answer(self, status: int, headers: Mapping[str, str], body: bytes) -> tuple[bool, Any]:
        """(True, the result), or (False, seconds to wait before sending again); raises when it gives up."""
        self.attempt += 1
        if status == 404 and self.call.method == "DELETE" and self.unanswered:
            return True, None  # an attempt whose answer was lost deleted it: done, as asked
        try:
            return True, decode_answer(self.call, status, headers, body)
        except ConnectReadingsError as error:
            return False, self._wait(error)

    def lost(self, exc: Exception) -> float:
        """No answer (refused, reset, timed out): seconds to wait before sending again; raises when it gives up."""
        self.attempt += 1
        self.unanswered = True
        return self._wait(connection_error(exc))

    def _wait(self, error: ConnectReadingsError) -> float:
        wait = self.policy.next_wait(self.attempt, self.clock() - self.started, error, self.call.idempotent)
        if wait is None:
            raise error
        return wait


def next_page(call: Call, page: Page[Any]) -> Call | None:
    """The request of the page after `page`, None when it was the last."""
    return None if page.continuation_token is None else call.follow(page.continuation_token)


class Operations:
    """Every endpoint, once. A subclass says how a Call is sent (`_one`) and how a list is walked (`_list`):
    `Client` returns results, `AsyncClient` awaitables and async iterators of the same.

    Entity ids are UUIDs or their text. `start`/`end`: see `Instant`; `resolution`: see `Resolution`;
    `time_zone`: an IANA name (the entity's own zone when omitted, else UTC).
    """

    def _one(self, call: Call) -> Any:
        raise NotImplementedError

    def _list(self, call: Call) -> Any:
        raise NotImplementedError

    def health(self) -> Any:
        """`GET /healthz` → Health."""
        return self._one(health_call())

    def readiness(self) -> Any:
        """`GET /readyz` → Readiness (a 503 not-ready is raised, after the retries, with its reason's code)."""
        return self._one(readiness_call())

    def openapi(self) -> Any:
        """`GET /openapi.json` → the served OpenAPI document, a dict."""
        return self._one(openapi_call())

    def entities(self, page_size: int | None = None) -> Any:
        """`GET /v1/entities`, every page → iterator of Entity."""
        return self._list(entities_call(page_size))

    def entity(self, entity_id: EntityId) -> Any:
        """`GET /v1/entities/{id}` → Entity."""
        return self._one(entity_call(entity_id))

    def put_entity(self, entity_id: EntityId, **description: Any) -> Any:
        """`PUT /v1/entities/{id}` → Entity: registers it or replaces its description (a field left out
        becomes null). `client.put_entity(e, type="Meter", name="Household", time_zone="Europe/Brussels")`."""
        return self._one(put_entity_call(entity_id, description))

    def delete_entity(self, entity_id: EntityId) -> Any:
        """`DELETE /v1/entities/{id}` → None: the entity and all its data are deleted, at once and for good
        (ConnectReadingsError 404 EntityNotFound when there is none; 409 EntityHasChildren while other entities
        name it as their parent). A retry after a lost answer that finds it gone counts as done."""
        return self._one(delete_entity_call(entity_id))

    def ingest(self, entity_id: EntityId, readings: Iterable[Mapping[str, Any]]) -> Any:
        """`POST /v1/entities/{id}/readings` (one atomic batch, up to the server's max_batch) → IngestResult.
        `client.ingest(e, [{"timestamp": t, "data": {"positiveGasVolume": {"value": 1.5, "unit": "m3"}}}])`."""
        return self._one(ingest_call(entity_id, readings))

    def readings(self, entity_id: EntityId, start: Instant, end: Instant | None = None,
                 page_size: int | None = None) -> Any:
        """`GET …/readings`, every page → iterator of Reading (oldest first)."""
        return self._list(readings_call(entity_id, start, end, page_size))

    def last_reading(self, entity_id: EntityId) -> Any:
        """`GET …/readings/last` → Reading."""
        return self._one(last_reading_call(entity_id))

    def aggregations(self, entity_id: EntityId, start: Instant, end: Instant | None = None, *,
                     resolution: Resolution, time_zone: str | None = None, page_size: int | None = None) -> Any:
        """`GET …/aggregations`, every page → iterator of Aggregation (consumption per bucket)."""
        return self._list(aggregations_call(entity_id, start, resolution, end, time_zone, page_size))

    def aggregation_total(self, entity_id: EntityId, start: Instant, end: Instant | None = None, *,
                          time_zone: str | None = None) -> Any:
        """`GET …/aggregations/total` → Aggregation (the whole window as one bucket)."""
        return self._one(aggregation_total_call(entity_id, start, end, time_zone))

    def costs(self, entity_id: EntityId, start: Instant, end: Instant | None = None, *,
              resolution: Resolution, time_zone: str | None = None, page_size: int | None = None) -> Any:
        """`GET …/costs`, every page → iterator of Cost (what each bucket costs under the entity's tariff)."""
        return self._list(costs_call(entity_id, start, resolution, end, time_zone, page_size))

    def cost_total(self, entity_id: EntityId, start: Instant, end: Instant | None = None, *,
                   time_zone: str | None = None) -> Any:
        """`GET …/costs/total` → Cost (the whole window as one bucket)."""
        return self._one(cost_total_call(entity_id, start, end, time_zone))

    def statistics(self, entity_id: EntityId, start: Instant, end: Instant | None = None, *,
                   resolution: Resolution, time_zone: str | None = None,
                   metrics: str | Sequence[str] | None = None,
                   demand_window: Resolution | None = None, page_size: int | None = None) -> Any:
        """`GET …/statistics`, every page → iterator of Statistics (gauges' mean/min/max, peak demand);
        `metrics`: a list of names or one comma-separated string."""
        return self._list(statistics_call(entity_id, start, resolution, end, time_zone, metrics, demand_window,
                                          page_size))

    def capacity_tariff(self, entity_id: EntityId, start: Instant, end: Instant, *,
                        time_zone: str | None = None) -> Any:
        """`GET …/statistics/capacity-tariff` → Results of CapacityMonth."""
        return self._one(capacity_tariff_call(entity_id, start, end, time_zone))


JSON_BODY = {"Content-Type": "application/json"}


def headers(token: str | None) -> dict[str, str]:
    """The headers of every request: JSON answers (never the CSV), and the token."""
    found = {"Accept": "application/json", "User-Agent": "connect-readings-client"}
    if token is not None:
        found["Authorization"] = f"Bearer {token}"
    return found
