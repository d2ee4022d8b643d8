"""The ASGI app: routes that translate HTTP into service calls and back, nothing more.

Starlette + orjson: the fastest of the frameworks we measured for this API (see README, Design), and small
enough that every line of the HTTP layer is ours to read. The OpenAPI document is written by hand (spec
first) and served as is, so the framework need not generate it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar

import orjson
import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import service
from ..config import Settings
from ..domain.errors import DomainError
from ..domain.paging import Cursor, decode_token, encode_token, query_digest
from ..domain.readings import parse_reading
from ..domain.timefmt import format_datetime, parse_datetime
from ..storage.base import Store, open_store
from . import encode, params
from .auth import READ_SCOPE, WRITE_SCOPE, Authenticator, require_scope
from .errors import ApiError, on_api_error, on_domain_error, on_http_error, on_unexpected

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
        )
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
        url = request.url.include_query_params(continuationToken=token)
        if self.settings.public_url:
            base = self.settings.public_url.rstrip("/")
            return base + url.path + ("?" + url.query if url.query else "")
        return str(url)

    def cursor(self, query: Any, digest: str) -> Cursor | None:
        token = query.get("continuationToken")
        return decode_token(self.paging_key, digest, token) if token else None

    # -- endpoints ----------------------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def openapi(self, request: Request) -> Response:
        return Response(self.openapi_bytes, media_type=JSON)

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
        start = parse_datetime(params.required(query, "start"), "start")
        end_given = _optional_datetime(query, "end")
        digest = query_digest("readings", entity_id, start, end_given)
        cursor = self.cursor(query, digest)
        start, end = params.window(query, cursor.now if cursor else None)
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
        start = parse_datetime(params.required(query, "start"), "start")
        end_given = _optional_datetime(query, "end")
        tz_name = tz.key if tz is not None else "UTC"
        digest = query_digest("aggregations", entity_id, start, end_given, width.canonical(), tz_name)
        cursor = self.cursor(query, digest)
        start, end = params.window(query, cursor.now if cursor else None)
        agg_query = service.AggregationQuery(entity_id, start, end, width, tz)
        position = cursor.position if cursor else start
        page = await _run(size > INLINE_PAGE_LIMIT, service.aggregation_page, self.store, agg_query, position, size)
        entity = str(entity_id)
        items = [encode.aggregation(entity, bucket, tz) for bucket in page.items]
        return self.paged(request, items, page.next_position, end, end_given, digest, size)

    async def aggregation_total(self, request: Request) -> Response:
        entity_id = self.entity(request, READ_SCOPE)
        query = request.query_params
        tz = params.time_zone(query)
        start, end = params.window(query, None)
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
        Route("/v1/entities/{entityId}/readings", api.post_readings, methods=["POST"]),
        Route("/v1/entities/{entityId}/readings", api.get_readings, methods=["GET"]),
        Route("/v1/entities/{entityId}/readings/last", api.last_reading, methods=["GET"]),
        Route("/v1/entities/{entityId}/aggregations", api.aggregations, methods=["GET"]),
        Route("/v1/entities/{entityId}/aggregations/total", api.aggregation_total, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
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


async def _run(in_thread: bool, fn: Callable[..., T], *args: Any) -> T:
    return await run_in_threadpool(fn, *args) if in_thread else fn(*args)


async def _limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, "PayloadTooLarge", f"the request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "PayloadTooLarge", f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_batch(body: bytes, max_batch: int) -> list[Any]:
    """The whole batch is validated before anything is written; the first bad item names its index."""
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


def _optional_datetime(query: Any, name: str) -> int | None:
    raw = query.get(name)
    return parse_datetime(raw, name) if raw is not None and raw.strip() else None


def _read(path: str | None) -> str | None:
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read()
