"""The ASGI app: routes that translate HTTP into service calls and back, nothing more.

Starlette + orjson: the fastest of the frameworks we measured for this API (see README, Design), and small
enough that every line of the HTTP layer is ours to read. The OpenAPI document is written by hand (spec
first) and served as is, so the framework need not generate it.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, TypeVar
from zoneinfo import ZoneInfo
from urllib.parse import urlencode

import orjson
import yaml
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..usecases import aggregations, costs, statistics
from ..usecases.pages import Page, deadline_scope
from ..usecases.readings import readings_page
from ..config import Settings
from ..domain.errors import DomainError
from ..domain.entities import parse_entity
from ..domain.grid import GRID_VERSION
from ..domain.paging import Cursor, decode_id_token, decode_token, encode_id_token, encode_token, query_digest
from ..domain.timefmt import format_datetime, parse_datetime, parse_time_zone, zone_name
from ..storage import open_store
from ..storage.base import Store, StoreBusy, StoreTimeout
from ..wire import encode
from . import csv_export, params, web
from .auth import ENTITIES_WRITE_SCOPE, READ_SCOPE, WRITE_SCOPE, Authenticator, JwksUrl, Principal, require_scope
from ..ingest.batch import parse_batch
from .body import limited_body, require_json
from .edge import PUBLIC_BASE_KEY, Edge, HostPolicy
from .errors import ApiError, log, on_api_error, on_domain_error, on_http_error, on_unexpected
from .guard import DEADLINE_KEY, RequestGuard, on_store_busy, on_store_timeout
from .offload import ThreadPool
from .pagecache import CachedPage, PageCache
from . import operations
from .prices import routes as price_routes
from .auth import PRINCIPAL_KEY
from ..logs import configure_logging, flush_access
from .metrics import Metrics

T = TypeVar("T")
JSON = "application/json"
CAPACITY_TARIFF_ZONE = "Europe/Brussels"
"""The capacity tariff is Flemish: its months are Brussels' unless the request names another zone."""


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    text = (resources.files("connect_readings") / "openapi.yaml").read_text()
    return yaml.safe_load(text)


class Api:
    """The handlers, bound to one store and one authenticator.

    A handler authenticates on the event loop (no I/O), then runs everything that touches the store, and the
    parsing of a body, in one of a few store threads (`offload`), so the loop always stays free: one thread
    hop per request. Inside that thread a read is one snapshot, with the request's deadline.
    """

    metrics: Metrics | None = None
    """Set by `operations.install` when metrics are on."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        secret = settings.jwt_secret
        if secret is None and not (settings.jwt_public_key_file or settings.jwt_jwks_file or settings.jwt_jwks_url):
            secret = store.meta_value("jwt_secret", secrets.token_urlsafe(32))
        self.auth = Authenticator(
            secret=secret,
            public_key_pem=_read(settings.jwt_public_key_file),
            jwks_json=_read(settings.jwt_jwks_file),
            jwks_url=(JwksUrl(settings.jwt_jwks_url, settings.jwt_jwks_refresh_s)
                      if settings.jwt_jwks_url else None),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.jwt_algorithms,
            leeway_s=settings.jwt_leeway_s,
        )
        self.pages = PageCache(settings.page_cache_mib * 1024 * 1024)
        self.threads = ThreadPool(settings.store_threads)
        self.paging_key = store.meta_value("paging_key", secrets.token_hex(32)).encode()
        self.openapi_bytes = orjson.dumps(openapi_document())
        self.get_readings = self.reader(self.readings_page)

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        if self.auth.jwks_url is not None:
            self.auth.jwks_url.close()
        # Shutdown: requests are finished or cancelled by now; store calls they started still run in the
        # threads (each to its commit or rollback), so wait for them before the process exits.
        if not await self.threads.drain(self.settings.shutdown_timeout_s):
            log.warning("store calls still running at exit; their transactions are rolled back")
        flush_access()  # the last request lines held: uvicorn then ends the process by its signal, no exit hooks

    # -- plumbing -----------------------------------------------------------------------------------
    def authorize(self, request: Request, scope: str) -> uuid.UUID:
        """Authentication (401), scope (403), entity visible to the token (404), in that order; no I/O."""
        principal = self.auth.authenticate(request.headers.get("authorization"))
        request.scope[PRINCIPAL_KEY] = principal
        require_scope(principal, scope)
        entity_id = params.entity_id(request.path_params["entityId"])
        if entity_id is None or not principal.can_see(entity_id):
            raise _entity_not_found()
        return entity_id

    def require_entity(self, entity_id: uuid.UUID) -> "EntityHead":
        """The entity's data version and time zone; 404 (the same answer as an entity outside the token) when
        it is not registered. A registered entity without readings is found (its reads are empty)."""
        head = self.store.entity_head(entity_id)
        if head is None:
            raise _entity_not_found()
        return EntityHead(head[0], _stored_zone(head[1], self.settings.default_time_zone), head[1] is not None,
                          head[2])

    async def offload(self, request: Request, fn: Callable[..., T], *args: Any) -> T:
        """`fn(deadline, *args)` in a store thread; the deadline is the request's (see RequestGuard)."""
        return await self.threads.run(fn, request.scope.get(DEADLINE_KEY), *args)

    def next_link(self, request: Request, token: str) -> str:
        """The same request with `continuationToken` set, on the public base the Edge checked (no forged Host)."""
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "continuationToken"]
        pairs.append(("continuationToken", token))
        return f"{request.scope[PUBLIC_BASE_KEY]}{request.url.path}?{urlencode(pairs)}"

    def cursor(self, query: Any, digest: str) -> Cursor | None:
        """The cursor of the query's `continuationToken`; None on the first page (no token, or an empty one: the
        customer's schema allows an empty string, and generated clients send one for an unset parameter)."""
        token = query.get("continuationToken")
        return decode_token(self.paging_key, digest, token) if token else None

    def cached_page(self, key: Any, compute: Callable[[], Page], encode_items: Callable[[list[Any]], bytes]
                    ) -> tuple[CachedPage, Page | None]:
        """The encoded page under `key` (which holds the entity's data version, so it is never stale), computed
        and remembered on a miss; the computed Page too, None on a hit."""
        page = self.pages.get(key)
        if page is not None:
            return page, None
        found = compute()
        page = CachedPage(encode_items(found.items), found.next_position)
        self.pages.put(key, page)
        return page, found

    def paged(self, request: Request, items: bytes, next_position: int | None, w: "PagedWindow", size: int) -> Response:
        token = next_url = None
        if next_position is not None:
            token = encode_token(self.paging_key, w.digest, Cursor(next_position, None if w.end_given else w.end))
            next_url = self.next_link(request, token)
        # The three paged reads also answer CSV (csv_export), by Accept: a cache must key on it.
        return Response(encode.paged(items, next_url, token, size), media_type=JSON, headers=VARY_ACCEPT)

    # -- endpoints ----------------------------------------------------------------------------------
    async def healthz(self, request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON)

    async def openapi(self, request: Request) -> Response:
        return Response(self.openapi_bytes, media_type=JSON)

    def reader(self, read: Callable[[Request, uuid.UUID, "EntityHead"], Response]) -> Callable[..., Any]:
        """The endpoint of a read: authorize on the loop; then, in a worker thread and one snapshot with the
        request's deadline, check the entity exists (404) and `read(request, entity_id, head)`."""

        async def endpoint(request: Request) -> Response:
            entity_id = self.authorize(request, READ_SCOPE)
            return await self.offload(request, self._read, read, request, entity_id)

        return endpoint

    def _read(self, deadline: float | None, read: Callable[[Request, uuid.UUID, "EntityHead"], Response], request: Request,
              entity_id: uuid.UUID) -> Response:
        with self.store.snapshot(deadline), deadline_scope(deadline):
            return read(request, entity_id, self.require_entity(entity_id))

    def window(self, query: Any, zone: ZoneInfo | None, kind: str, entity_id: uuid.UUID, *more: object
               ) -> "PagedWindow":
        """`start`, `end` (without an offset: wall time in `zone`) and the continuation token of a paged query
        (bound to all of its parameters)."""
        start, end_given = params.window(query, zone)
        digest = query_digest(kind, entity_id, start, end_given, *more)
        cursor = self.cursor(query, digest)
        end = params.resolve_end(start, end_given, cursor.now if cursor else None)
        if cursor is not None and not start <= cursor.position < end:
            # (signed by us, so only a leaked key or a bug makes one: still a 400, never a page outside the window)
            raise DomainError("InvalidContinuationToken", "the continuation token does not continue this window")
        return PagedWindow(start, end, end_given, digest, cursor.position if cursor else start)

    async def list_entities(self, request: Request) -> Response:
        """GET /v1/entities: a page of the registered entities the token may see, by id."""
        principal = self.auth.authenticate(request.headers.get("authorization"))
        request.scope[PRINCIPAL_KEY] = principal
        require_scope(principal, READ_SCOPE)
        return await self.offload(request, self._list_entities, request, principal)

    def _list_entities(self, deadline: float | None, request: Request, principal: Principal) -> Response:
        query = request.query_params
        params.only(query, ("pageSize", "continuationToken"))
        size = params.page_size(query)
        digest = query_digest("entities")
        token = query.get("continuationToken")
        after = decode_id_token(self.paging_key, digest, token) if token else None
        with self.store.snapshot(deadline):
            found = self.store.entities(after, size + 1, principal.entities)
        next_token = next_url = None
        if len(found) > size:
            found = found[:size]
            next_token = encode_id_token(self.paging_key, digest, found[-1].entity_id)
            next_url = self.next_link(request, next_token)
        items = orjson.dumps([encode.entity(record, principal.can_see) for record in found])
        return Response(encode.paged(items, next_url, next_token, size), media_type=JSON)

    async def entity(self, request: Request) -> Response:
        """GET (readings:read), PUT and DELETE (entities:write) of one entity; one route, so a 405 lists all."""
        if request.method == "DELETE":
            entity_id = self.authorize(request, ENTITIES_WRITE_SCOPE)
            return await self.offload(request, self._delete_entity, request.scope[PRINCIPAL_KEY], entity_id)
        if request.method == "PUT":
            entity_id = self.authorize(request, ENTITIES_WRITE_SCOPE)
            require_json(request.headers.get("content-type"))
            body = await limited_body(request, min(self.settings.max_body_bytes, MAX_ENTITY_BODY_BYTES))
            return await self.offload(request, self._put_entity, request, entity_id, body)
        entity_id = self.authorize(request, READ_SCOPE)
        return await self.offload(request, self._get_entity, request.scope[PRINCIPAL_KEY], entity_id)

    def _get_entity(self, deadline: float | None, principal: Principal, entity_id: uuid.UUID) -> Response:
        with self.store.snapshot(deadline):
            record = self.store.entity(entity_id)
        if record is None:
            raise _entity_not_found()
        return Response(orjson.dumps(encode.entity(record, principal.can_see)), media_type=JSON)

    def _put_entity(self, deadline: float | None, request: Request, entity_id: uuid.UUID, body: bytes) -> Response:
        principal: Principal = request.scope[PRINCIPAL_KEY]

        def parent_allowed(parent: uuid.UUID) -> bool:
            return principal.can_see(parent) and self.store.entity_head(parent) is not None

        record = parse_entity(body, entity_id, time.time_ns() // 1000, parent_allowed)
        # (the store checks that the parent makes no cycle, in the write's transaction: 400 InvalidEntity)
        stored, created = self.store.put_entity(record)
        return Response(orjson.dumps(encode.entity(stored, principal.can_see)), status_code=201 if created else 200,
                        media_type=JSON)

    def _delete_entity(self, deadline: float | None, principal: Principal, entity_id: uuid.UUID) -> Response:
        """The entity and all its data, in one transaction (docs/semantics.md §12); refused while it has children."""
        deletion = self.store.delete_entity(entity_id, deadline)
        if deletion is None:
            raise _entity_not_found()
        if not deletion.deleted:
            shown = next((child for child in deletion.some_children if principal.can_see(child)), None)
            count = f"{deletion.children} {'entity names' if deletion.children == 1 else 'entities name'}"
            example = f" (e.g. {shown})" if shown is not None else ""
            them = "it" if deletion.children == 1 else "them"
            raise ApiError(409, "EntityHasChildren",
                           f"{count} this entity as its parent{example}: delete {them}, or PUT {them} with another "
                           "parentId (or none), first; nothing was deleted")
        # Pages of the deleted entity can never be served again (reads find no entity; a registration anew has
        # another `created`, part of every page's key): dropping them only gives their memory back at once.
        self.pages.drop(lambda key: _key_entity(key) == entity_id)
        if self.metrics is not None:
            self.metrics.entity_deleted(deletion, self.pages)
        return Response(status_code=204)

    async def readings(self, request: Request) -> Response:
        """One route for both methods, so a 405 on it lists every method it has in `Allow`."""
        if request.method == "POST":
            entity_id = self.authorize(request, WRITE_SCOPE)
            require_json(request.headers.get("content-type"))
            body = await limited_body(request, self.settings.max_body_bytes)
            return await self.offload(request, self._ingest, entity_id, body)
        return await self.get_readings(request)

    def _ingest(self, deadline: float | None, entity_id: uuid.UUID, body: bytes) -> Response:
        readings = parse_batch(body, self.settings.max_batch)
        result = self.store.ingest(entity_id, readings, deadline)
        if self.metrics is not None:
            self.metrics.ingest(result)
        return Response(encode.ingest_result(result), media_type=JSON)

    def readings_page(self, request: Request, entity_id: uuid.UUID, head: "EntityHead") -> Response:
        if csv_export.wanted(request):
            return csv_export.readings(self, request, entity_id, head.zone_for(request.query_params))
        query = request.query_params
        size = params.page_size(query)
        w = self.window(query, head.zone_for(query), "readings", entity_id)
        page = readings_page(self.store, entity_id, w.position, w.end, size)
        if self.metrics is not None:
            self.metrics.readings_page(len(page.items))
        items = orjson.dumps([encode.reading(entity_id, r) for r in page.items])
        return self.paged(request, items, page.next_position, w, size)

    def last_reading(self, request: Request, entity_id: uuid.UUID, head: "EntityHead") -> Response:
        params.json_only(request.query_params)
        last = self.store.last_reading(entity_id)
        if last is None:
            raise ApiError(404, "ReadingNotFound", "the entity has no readings yet")
        return Response(orjson.dumps(encode.reading(entity_id, last)), media_type=JSON)

    def aggregations(self, request: Request, entity_id: uuid.UUID, head: "EntityHead") -> Response:
        if csv_export.wanted(request):
            return csv_export.aggregations(self, request, entity_id, head.zone_for(request.query_params))
        query = request.query_params
        width = params.resolution(query)
        tz = head.zone_for(query)
        version = head.version
        size = params.page_size(query)
        w = self.window(query, tz, "aggregations", entity_id, width.canonical(), zone_name(tz), GRID_VERSION)
        agg_query = aggregations.AggregationQuery(entity_id, w.start, w.end, width, tz)
        entity = str(entity_id)
        page, found = self.cached_page(
            (agg_query, w.position, size, version, head.created),
            lambda: aggregations.aggregation_page(self.store, agg_query, w.position, size),
            lambda items: orjson.dumps(encode.aggregations(entity, items, tz)))
        if self.metrics is not None:
            self.metrics.aggregation_page(found, self.pages)
        return self.paged(request, page.items, page.next_position, w, size)

    def statistics(self, request: Request, entity_id: uuid.UUID, head: "EntityHead") -> Response:
        if csv_export.wanted(request):
            return csv_export.statistics(self, request, entity_id, head.zone_for(request.query_params))
        query = request.query_params
        width = params.resolution(query)
        tz = head.zone_for(query)
        version = head.version
        size = params.page_size(query)
        metrics = params.statistics_metrics(query, statistics.STATISTICS_METRICS)
        window_us = params.demand_window(query)
        w = self.window(query, tz, "statistics", entity_id, width.canonical(), zone_name(tz), ",".join(metrics),
                        window_us, GRID_VERSION)
        stats_query = statistics.StatisticsQuery(entity_id, w.start, w.end, width, tz, metrics, window_us)
        statistics.check_work(stats_query, size)
        entity = str(entity_id)
        page, _ = self.cached_page(
            (stats_query, w.position, size, version, head.created),
            lambda: statistics.statistics_page(self.store, stats_query, w.position, size),
            lambda items: orjson.dumps([encode.statistics(entity, bucket, tz) for bucket in items]))
        return self.paged(request, page.items, page.next_position, w, size)

    def capacity_tariff(self, request: Request, entity_id: uuid.UUID, head: "EntityHead") -> Response:
        query = request.query_params
        params.json_only(query)
        tz = head.zone_for(query) if head.has_zone else params.time_zone(query, default=CAPACITY_TARIFF_ZONE)
        start = parse_datetime(params.required(query, "start"), "start", tz)
        end = parse_datetime(params.required(query, "end"), "end", tz)
        months = statistics.capacity_tariff(self.store, entity_id, start, end, tz)
        return Response(orjson.dumps({"data": [encode.capacity_month(m, tz) for m in months]}), media_type=JSON)

    def aggregation_total(self, request: Request, entity_id: uuid.UUID, head: "EntityHead") -> Response:
        query = request.query_params
        params.json_only(query)
        tz = head.zone_for(query)
        start, end_given = params.window(query, tz)
        end = params.resolve_end(start, end_given, None)
        body = {
            "data": aggregations.aggregation_total(self.store, entity_id, start, end),
            "entityId": str(entity_id),
            "id": str(aggregations.total_id(entity_id, start, end)),
            "timeframe": {"start": format_datetime(start, tz), "end": format_datetime(end, tz)},
        }
        return Response(orjson.dumps(body), media_type=JSON)

    def costs(self, request: Request, entity_id: uuid.UUID, head: "EntityHead") -> Response:
        """GET …/costs (docs/semantics.md §15, Costs): the grid, window, paging, ids and tokens of `aggregations`;
        capacity and fixed amounts by the local months of the entity's own zone (`head.zone`), whatever the
        request's. No page cache: a page's costs depend on the tariff and the price series too, which the
        entity's data version (the cache key) does not follow."""
        if csv_export.wanted(request):
            return csv_export.costs(self, request, entity_id, head.zone_for(request.query_params), head.zone)
        query = request.query_params
        width = params.resolution(query)
        tz = head.zone_for(query)
        size = params.page_size(query)
        w = self.window(query, tz, "costs", entity_id, width.canonical(), zone_name(tz), GRID_VERSION)
        cost_query = aggregations.AggregationQuery(entity_id, w.start, w.end, width, tz)
        page = costs.costs_page(self.store, cost_query, head.zone, w.position, size)
        entity = str(entity_id)
        items = orjson.dumps([encode.cost(entity, bucket, tz) for bucket in page.items])
        return self.paged(request, items, page.next_position, w, size)

    def cost_total(self, request: Request, entity_id: uuid.UUID, head: "EntityHead") -> Response:
        """GET …/costs/total: the cost of [start, end) as one bucket (as `aggregation_total`)."""
        query = request.query_params
        params.json_only(query)
        tz = head.zone_for(query)
        start, end_given = params.window(query, tz)
        end = params.resolve_end(start, end_given, None)
        currency, data = costs.costs_total(self.store, entity_id, start, end, head.zone)
        body = encode.cost_total(str(entity_id), str(costs.total_id(entity_id, start, end)), start, end, currency,
                                 data, tz)
        return Response(orjson.dumps(body), media_type=JSON)


@dataclass(frozen=True, slots=True)
class EntityHead:
    """What a read needs of the registry: the data version (page cache keys) and the entity's time zone."""

    version: int
    zone: ZoneInfo | None
    """The entity's `timeZone` (None: UTC, or none set)."""
    has_zone: bool
    """Whether the entity has a `timeZone` of its own."""
    created: int = 0
    """When the entity was registered (µs): with `version`, the data version of a page's key. An entity deleted
    and registered again starts again at version 0 but never with the same `created`, so no page of the
    deleted one is ever served for the new one, in any worker process."""

    def zone_for(self, query: Any) -> ZoneInfo | None:
        """The request's `timeZone`, else the entity's, else UTC: the zone the query is answered in (and what
        its cache key and continuation token hold)."""
        if "timeZone" in query:
            return params.time_zone(query)
        return self.zone


@dataclass(frozen=True, slots=True)
class PagedWindow:
    start: int
    end: int
    end_given: int | None
    digest: str
    """What the continuation token is bound to."""
    position: int
    """Where this page starts: `start`, or the token's position."""


def _stored_zone(name: str | None, default: str | None = None) -> ZoneInfo | None:
    """An entity's stored time zone, else `default` (the setting default_time_zone; None: UTC); a stored one
    the tz database no longer knows counts as none, not as a 400."""
    try:
        return parse_time_zone(name) if name is not None else parse_time_zone(default)
    except DomainError:
        return parse_time_zone(default)


MAX_ENTITY_BODY_BYTES = 64 * 1024
"""A PUT /v1/entities/{entityId} body (its `properties` may encode to 16 KiB)."""


def _key_entity(key: Any) -> uuid.UUID | None:
    """The entity of a page cache key (its query's), None for a key of another shape."""
    query = key[0] if isinstance(key, tuple) and key else None
    return getattr(query, "entity_id", None)


def _entity_not_found() -> ApiError:
    return ApiError(404, "EntityNotFound", "no such entity, or it is not visible to this token")


def create_app(settings: Settings | None = None, store: Store | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    store = store or open_store(settings.database, timeout_s=settings.request_timeout_s,
                                synchronous=settings.sqlite_synchronous, cache_mib=settings.sqlite_cache_mib,
                                connections=settings.store_threads + 1,  # the store threads and the event loop
                                compress_after_days=settings.timescaledb_compress_after_days,
                                ingest_on_workers=settings.citus_ingest_on_workers)
    api = Api(settings, store)
    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
        Route("/v1/entities", api.list_entities, methods=["GET"]),
        Route("/v1/entities/{entityId}", api.entity, methods=["GET", "PUT", "DELETE"]),
        Route("/v1/entities/{entityId}/readings", api.readings, methods=["GET", "POST"]),
        Route("/v1/entities/{entityId}/readings/last", api.reader(api.last_reading), methods=["GET"]),
        Route("/v1/entities/{entityId}/aggregations", api.reader(api.aggregations), methods=["GET"]),
        Route("/v1/entities/{entityId}/aggregations/total", api.reader(api.aggregation_total), methods=["GET"]),
        Route("/v1/entities/{entityId}/costs", api.reader(api.costs), methods=["GET"]),
        Route("/v1/entities/{entityId}/costs/total", api.reader(api.cost_total), methods=["GET"]),
        Route("/v1/entities/{entityId}/statistics", api.reader(api.statistics), methods=["GET"]),
        Route("/v1/entities/{entityId}/statistics/capacity-tariff", api.reader(api.capacity_tariff), methods=["GET"]),
        *price_routes(api),  # /v1/prices, /v1/prices/{priceId}, /v1/entities/{entityId}/tariff (api/prices.py)
        *web.ROUTES,  # the dashboard at /, the API docs at /docs, their static files (no auth, no data)
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Edge, hosts=HostPolicy(settings)),  # (checks its settings now, not on a request)
                    Middleware(RequestGuard, timeout_s=settings.request_timeout_s,
                               max_header_bytes=settings.max_header_bytes,
                               max_concurrent=settings.max_concurrent_requests,
                               body_timeout_s=settings.request_body_timeout_s)],
        lifespan=api.lifespan,
        exception_handlers={
            ApiError: on_api_error,
            DomainError: on_domain_error,
            StoreBusy: on_store_busy,
            StoreTimeout: on_store_timeout,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )
    app.state.api = api
    operations.install(app, api)  # /readyz, the root path, request ids and logs, metrics, rate limits
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn workers: settings travel as CONNECT_READINGS_* variables."""
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    return create_app(settings)


VARY_ACCEPT = {"Vary": "Accept"}


def _read(path: str | None) -> str | None:
    if not path:
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read()
