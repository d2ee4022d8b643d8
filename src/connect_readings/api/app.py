"""The ASGI app: routes that translate HTTP into service calls and back, nothing more.

Starlette + orjson: the fastest of the frameworks we measured for this API (see README, Design), and small
enough that every line of the HTTP layer is ours to read. The OpenAPI document is written by hand (spec
first) and served as is, so the framework need not generate it.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
import uuid
from urllib.parse import urlencode
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar

import anyio
import orjson
import psycopg
import psycopg_pool
import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import service
from ..config import REQUEST_DEADLINE, Deadline, Settings
from ..domain.errors import DomainError
from ..domain.paging import Cursor, decode_token, encode_token, query_digest
from ..domain.readings import decode_batch, parse_reading
from ..domain.timefmt import format_datetime
from ..storage.base import Store, open_store
from . import encode, params
from .auth import READ_SCOPE, WRITE_SCOPE, Authenticator, require_scope
from .errors import ApiError, error_response, log, on_api_error, on_domain_error, on_http_error, on_unexpected

T = TypeVar("T")
JSON = "application/json"
# Pages up to this many buckets are answered on the event loop; larger ones go to a thread.
INLINE_PAGE_LIMIT = 200


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    text = (resources.files("connect_readings") / "openapi.yaml").read_text()
    return yaml.safe_load(text)


class Api:
    """The handlers, bound to one store and one authenticator."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        secret = settings.jwt_secret
        if secret is None and not (settings.jwt_public_key_file or settings.jwt_jwks_file):
            secret = store.meta_value("jwt_secret", secrets.token_urlsafe(32))
        self.auth = Authenticator(
            secret=secret,
            public_key_pem=_read(settings.jwt_public_key_file),
            jwks_json=_read(settings.jwt_jwks_file),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.jwt_algorithms,
            leeway_s=settings.jwt_leeway_s,
        )
        # Only pages answered on the event loop are remembered, so the cache is never touched from threads.
        self.pages = service.PageCache(max_pages=settings.page_cache, max_buckets=INLINE_PAGE_LIMIT)
        self.paging_key = store.meta_value("paging_key", secrets.token_hex(32)).encode()
        self.openapi_bytes = orjson.dumps(openapi_document())

    # -- plumbing -----------------------------------------------------------------------------------
    def entity(self, request: Request, scope: str, must_exist: bool = True) -> uuid.UUID:
        """Authentication (401), scope (403), entity access (404), in that order."""
        principal = self.auth.authenticate(request.headers.get("authorization"))
        require_scope(principal, scope)
        entity_id = params.entity_id(request.path_params["entityId"])
        if entity_id is None or not principal.can_see(entity_id) or (
            must_exist and not self.store.entity_exists(entity_id)
        ):
            raise ApiError(404, "EntityNotFound", "no such entity, or it is not visible to this token")
        return entity_id

    def next_link(self, request: Request, token: str) -> str:
        """The same request with `continuationToken` set: absolute, behind a proxy too (public_url)."""
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "continuationToken"]
        pairs.append(("continuationToken", token))
        url = request.url
        base = self.settings.public_url.rstrip("/") if self.settings.public_url else f"{url.scheme}://{url.netloc}"
        return f"{base}{url.path}?{urlencode(pairs)}"

    def cursor(self, query: Any, digest: str) -> Cursor | None:
        token = query.get("continuationToken")
        return decode_token(self.paging_key, digest, token) if token else None

    # -- endpoints ----------------------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def openapi(self, request: Request) -> Response:
        return Response(self.openapi_bytes, media_type=JSON)

    async def readings(self, request: Request) -> Response:
        """One route for both methods, so a 405 on it lists every method it has in `Allow`."""
        if request.method == "POST":
            return await self.post_readings(request)
        return await self.get_readings(request)

    async def post_readings(self, request: Request) -> Response:
        entity_id = self.entity(request, WRITE_SCOPE, must_exist=False)
        body = await _limited_body(request, self.settings.max_body_bytes)
        readings = _parse_batch(body, self.settings.max_batch)
        result = await run_in_threadpool(self.store.ingest, entity_id, readings)
        return Response(encode.ingest_result(result), media_type=JSON)

    async def get_readings(self, request: Request) -> Response:
        entity_id = self.entity(request, READ_SCOPE)
        query = request.query_params
        size = params.page_size(query)
        start, end_given = params.window(query)
        digest = query_digest("readings", entity_id, start, end_given)
        cursor = self.cursor(query, digest)
        end = params.resolve_end(start, end_given, cursor.now if cursor else None)
        position = cursor.position if cursor else start
        page = await _run(size > INLINE_PAGE_LIMIT, service.readings_page, self.store, entity_id, position, end, size)
        items = [encode.reading(entity_id, r) for r in page.items]
        return self.paged(request, items, page.next_position, end, end_given, digest, size)

    async def last_reading(self, request: Request) -> Response:
        entity_id = self.entity(request, READ_SCOPE)
        last = self.store.last_reading(entity_id)
        if last is None:
            raise ApiError(404, "ReadingNotFound", "the entity has no readings yet")
        return Response(orjson.dumps(encode.reading(entity_id, last)), media_type=JSON)

    async def aggregations(self, request: Request) -> Response:
        entity_id = self.entity(request, READ_SCOPE)
        query = request.query_params
        width = params.resolution(query)
        tz = params.time_zone(query)
        size = params.page_size(query)
        start, end_given = params.window(query)
        tz_name = tz.key if tz is not None else "UTC"
        digest = query_digest("aggregations", entity_id, start, end_given, width.canonical(), tz_name)
        cursor = self.cursor(query, digest)
        end = params.resolve_end(start, end_given, cursor.now if cursor else None)
        agg_query = service.AggregationQuery(entity_id, start, end, width, tz)
        position = cursor.position if cursor else start
        page = await _run(
            size > INLINE_PAGE_LIMIT, service.aggregation_page, self.store, agg_query, position, size, self.pages
        )
        entity = str(entity_id)
        items = [encode.aggregation(entity, bucket, tz) for bucket in page.items]
        return self.paged(request, items, page.next_position, end, end_given, digest, size)

    async def aggregation_total(self, request: Request) -> Response:
        entity_id = self.entity(request, READ_SCOPE)
        query = request.query_params
        tz = params.time_zone(query)
        start, end_given = params.window(query)
        end = params.resolve_end(start, end_given, None)
        data = service.aggregation_total(self.store, entity_id, start, end)
        body = {
            "data": data,
            "entityId": str(entity_id),
            "id": str(service.total_id(entity_id, start, end)),
            "timeframe": {"start": format_datetime(start, tz), "end": format_datetime(end, tz)},
        }
        return Response(orjson.dumps(body), media_type=JSON)

    def paged(
        self, request: Request, items: list[dict[str, Any]], next_position: int | None, end: int,
        end_given: int | None, digest: str, size: int,
    ) -> Response:
        token = next_url = None
        if next_position is not None:
            token = encode_token(self.paging_key, digest, Cursor(next_position, None if end_given else end))
            next_url = self.next_link(request, token)
        return Response(encode.paged(items, next_url, token, size), media_type=JSON)


def create_app(settings: Settings | None = None, store: Store | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    store = store or open_store(settings.database)
    api = Api(settings, store)
    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
        Route("/v1/entities/{entityId}/readings", api.readings, methods=["GET", "POST"]),
        Route("/v1/entities/{entityId}/readings/last", api.last_reading, methods=["GET"]),
        Route("/v1/entities/{entityId}/aggregations", api.aggregations, methods=["GET"]),
        Route("/v1/entities/{entityId}/aggregations/total", api.aggregation_total, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestGuard, timeout_s=settings.request_timeout_s,
                               max_header_bytes=settings.max_header_bytes)],
        exception_handlers={
            ApiError: on_api_error,
            DomainError: on_domain_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
    app.state.api = api
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn workers: settings travel as CONNECT_READINGS_* variables."""
    return create_app(Settings.from_env())


class RequestGuard:
    """Every HTTP request runs under a deadline (settings.request_timeout_s), and its head is bounded.

    Request line plus headers over `max_header_bytes` are a 431 with the error body. (The HTTP server's own
    limit, h11's max_incomplete_event_size, only bounds a head that arrives in pieces; one that arrives in a
    single read of up to 256 KiB gets here whole.)

    The deadline travels in REQUEST_DEADLINE (into worker threads too), where the database's progress
    handler interrupts a statement that outlives it; and the request itself is cancelled at its next await
    (waiting for the body, say). Either way the client gets 504 RequestTimeout with the error body, and the
    worker is free again. A database that stays locked past the busy timeout is a 503 with Retry-After.
    """

    def __init__(self, app: ASGIApp, timeout_s: float, max_header_bytes: int = 16 * 1024) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + sum(
            len(name) + len(value) + 4 for name, value in scope["headers"]
        )
        if head > self.max_header_bytes:
            response = error_response(
                431, "RequestHeaderFieldsTooLarge",
                f"the request line and headers exceed {self.max_header_bytes} bytes", headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        deadline = Deadline(time.monotonic() + self.timeout_s)
        reset = REQUEST_DEADLINE.set(deadline)
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            with anyio.CancelScope(shield=True):  # a response is never cut off half-way
                await send(message)

        try:
            with anyio.move_on_after(self.timeout_s) as scope_:
                await self.app(scope, receive, guarded_send)
        except Exception as exc:
            response = None if started else _failure_response(exc, deadline, self.timeout_s)
            if response is None:
                raise
            log.warning("%s %s answered %d after %s", scope["method"], scope["path"], response.status_code,
                        type(exc).__name__)
            await response(scope, receive, send)
            return
        finally:
            REQUEST_DEADLINE.reset(reset)
        if scope_.cancelled_caught and not started:
            log.warning("%s %s answered 504 at its deadline", scope["method"], scope["path"])
            await _timeout_response(self.timeout_s)(scope, receive, send)


def _timeout_response(timeout_s: float) -> Response:
    return error_response(
        504, "RequestTimeout", f"the request did not complete within {timeout_s:g} s",
        "narrow the time window or the page size", headers={"Connection": "close"},
    )


def _failure_response(exc: BaseException, deadline: Deadline, timeout_s: float) -> Response | None:
    """The answer for an exception that escaped the handlers, when it is an overload and not a bug."""
    if deadline.fired or deadline.expired():
        return _timeout_response(timeout_s)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, psycopg.errors.QueryCanceled):  # PostgreSQL's statement_timeout
            return _timeout_response(timeout_s)
        if (
            isinstance(seen, sqlite3.OperationalError) and ("locked" in str(seen) or "busy" in str(seen))
        ) or isinstance(seen, (psycopg_pool.PoolTimeout, psycopg.OperationalError)):
            return error_response(
                503, "ServiceUnavailable", "the database is busy; retry shortly", headers={"Retry-After": "1"}
            )
        seen = seen.__cause__ or seen.__context__
    return None


async def _run(in_thread: bool, fn: Callable[..., T], *args: Any) -> T:
    return await run_in_threadpool(fn, *args) if in_thread else fn(*args)


async def _limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not (declared.isascii() and declared.isdigit()) or int(declared) > limit):
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    # Connection: close, so the server drops the connection instead of reading the rest of the body.
    return ApiError(413, "PayloadTooLarge", f"the request body exceeds {limit} bytes", headers={"Connection": "close"})


def _parse_batch(body: bytes, max_batch: int) -> list[Any]:
    """The whole batch is validated before anything is written; the first bad item names its index."""
    fast = decode_batch(body)  # typed decoding in C; None when anything needs the full checks below
    if fast is not None and 0 < len(fast) <= max_batch:
        return fast
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DomainError("InvalidJson", "the request body is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list) or set(document) - {"data"}:
        raise DomainError("InvalidBatch", "the body must be an object {\"data\": [reading, …]}")
    items = document["data"]
    if not items:
        raise DomainError("InvalidBatch", "'data' must hold at least one reading")
    if len(items) > max_batch:
        raise DomainError("BatchTooLarge", f"a batch holds at most {max_batch} readings; got {len(items)}")
    readings = []
    for index, item in enumerate(items):
        try:
            readings.append(parse_reading(item))
        except DomainError as exc:
            raise DomainError(exc.code, f"data[{index}]: {exc.message}", f"index {index}") from None
    return readings


def _read(path: str | None) -> str | None:
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read()
