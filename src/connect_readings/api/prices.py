"""Price series and tariffs (docs/semantics.md §15): the handlers of /v1/prices, /v1/prices/{priceId} and
/v1/entities/{entityId}/tariff, bound to the Api (as csv_export is): they authorize on the loop, then parse and
touch the store in a store thread.

- `PUT /v1/prices/{priceId}` (tariffs:write) creates or updates a series: every interval of the body replaces
  whatever it overlaps of the stored series (domain/prices.replace_overlapped, in the store's one transaction).
- `GET /v1/prices` and `GET /v1/prices/{priceId}` (readings:read): the series, and a page of a series' intervals
  (paged as readings are, with a signed continuation token). Series are shared: every token may read them.
- `PUT /v1/entities/{entityId}/tariff` (tariffs:write) replaces the entity's tariff; `GET` (readings:read) reads
  it, in the request's `timeZone`, else the entity's.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain.errors import DomainError, quoted
from ..domain.paging import Cursor, decode_token, encode_token, query_digest
from ..domain.prices import PriceInterval, check_price_id, parse_price_body
from ..domain.tariffs import parse_tariff, tariff_document
from ..domain.timefmt import MAX_US, MIN_US, format_datetime, parse_datetime
from ..storage.base import PriceSeriesInfo
from ..wire import encode
from . import params
from .auth import PRINCIPAL_KEY, READ_SCOPE, TARIFFS_WRITE_SCOPE, require_scope
from .body import limited_body, require_json
from .errors import ApiError

if TYPE_CHECKING:
    from .app import Api

JSON = "application/json"
MAX_TARIFF_BODY_BYTES = 1024 * 1024
"""A PUT tariff body (1000 periods of every component fit)."""
PRICE_PAGE_PARAMETERS = ("start", "end", "timeZone", "pageSize", "continuationToken")


def routes(api: Api) -> list[Route]:
    handlers = PriceHandlers(api)
    return [
        Route("/v1/prices", handlers.list_series, methods=["GET"]),
        Route("/v1/prices/{priceId}", handlers.series, methods=["GET", "PUT"]),
        Route("/v1/entities/{entityId}/tariff", handlers.tariff, methods=["GET", "PUT"]),
    ]


class PriceHandlers:
    def __init__(self, api: Api) -> None:
        self.api = api

    @property
    def store(self) -> Any:
        return self.api.store

    def authenticate(self, request: Request, scope: str) -> None:
        """401, then 403: the price series are shared, so no entity is checked."""
        principal = self.api.auth.authenticate(request.headers.get("authorization"))
        request.scope[PRINCIPAL_KEY] = principal
        require_scope(principal, scope)

    # -- price series ------------------------------------------------------------------------------------
    async def list_series(self, request: Request) -> Response:
        self.authenticate(request, READ_SCOPE)
        return await self.api.offload(request, self._list_series, request)

    def _list_series(self, deadline: float | None, request: Request) -> Response:
        query = request.query_params
        params.only(query, ("timeZone",))
        zone = params.time_zone(query)
        with self.store.snapshot(deadline):
            found = self.store.price_series()
        return Response(orjson.dumps({"data": [series_info(info, zone) for info in found]}), media_type=JSON)

    async def series(self, request: Request) -> Response:
        if request.method == "PUT":
            self.authenticate(request, TARIFFS_WRITE_SCOPE)
            price_id = check_price_id(request.path_params["priceId"])
            require_json(request.headers.get("content-type"))
            body = await limited_body(request, self.api.settings.max_body_bytes)
            return await self.api.offload(request, self._put_series, request, price_id, body)
        self.authenticate(request, READ_SCOPE)
        price_id = check_price_id(request.path_params["priceId"])
        return await self.api.offload(request, self._get_series, request, price_id)

    def _put_series(self, deadline: float | None, request: Request, price_id: str, body: bytes) -> Response:
        query = request.query_params
        params.only(query, ("timeZone",))
        zone = params.time_zone(query)
        series, intervals = parse_price_body(body, price_id, zone)
        _, created = self.store.put_prices(series, intervals, time.time_ns() // 1000)
        info = self.store.price_series(price_id)[0]
        return Response(orjson.dumps(series_info(info, zone)), status_code=201 if created else 200, media_type=JSON)

    def _get_series(self, deadline: float | None, request: Request, price_id: str) -> Response:
        """A page of the series' intervals overlapping [start, end) (either may be left out: the whole series)."""
        query = request.query_params
        params.only(query, PRICE_PAGE_PARAMETERS)
        zone = params.time_zone(query)
        size = params.page_size(query)
        raw_start, raw_end = query.get("start"), query.get("end")
        lo = MIN_US if raw_start is None else parse_datetime(raw_start, "start", zone)
        hi = MAX_US if raw_end is None else parse_datetime(raw_end, "end", zone)
        params.resolve_end(lo, hi, None)  # (400 InvalidTimeWindow unless lo < hi)
        digest = query_digest("prices", price_id, lo, hi)
        token = query.get("continuationToken")
        after = decode_token(self.api.paging_key, digest, token).position if token else None
        with self.store.snapshot(deadline):
            if not self.store.price_series(price_id):
                raise price_series_not_found(price_id)
            found = self.store.price_intervals(price_id, lo, hi, after, size + 1)
        next_token = next_url = None
        if len(found) > size:
            found = found[:size]
            next_token = encode_token(self.api.paging_key, digest, Cursor(found[-1].start, None))
            next_url = self.api.next_link(request, next_token)
        items = orjson.dumps([interval(i, zone) for i in found])
        return Response(encode.paged(items, next_url, next_token, size), media_type=JSON)

    # -- tariffs -----------------------------------------------------------------------------------------
    async def tariff(self, request: Request) -> Response:
        if request.method == "PUT":
            entity_id = self.api.authorize(request, TARIFFS_WRITE_SCOPE)
            require_json(request.headers.get("content-type"))
            body = await limited_body(request, min(self.api.settings.max_body_bytes, MAX_TARIFF_BODY_BYTES))
            return await self.api.offload(request, self._put_tariff, request, entity_id, body)
        entity_id = self.api.authorize(request, READ_SCOPE)
        return await self.api.offload(request, self._get_tariff, request, entity_id)

    def _put_tariff(self, deadline: float | None, request: Request, entity_id: uuid.UUID, body: bytes) -> Response:
        query = request.query_params
        params.only(query, ("timeZone",))
        zone = self.api.require_entity(entity_id).zone_for(query)
        tariff = parse_tariff(body, zone)
        for price_id in sorted(tariff.series_ids()):
            if not self.store.price_series(price_id):
                raise DomainError("InvalidTariff", f"the price series {quoted(price_id, 67)} does not exist; "
                                                   f"PUT /v1/prices/{price_id} first")
        stored = orjson.dumps(tariff_document(tariff, None)).decode()
        created = self.store.put_tariff(entity_id, stored, time.time_ns() // 1000)
        if created is None:  # (deleted since require_entity)
            raise ApiError(404, "EntityNotFound", "no such entity, or it is not visible to this token")
        return Response(orjson.dumps(tariff_document(tariff, zone)), status_code=201 if created else 200,
                        media_type=JSON)

    def _get_tariff(self, deadline: float | None, request: Request, entity_id: uuid.UUID) -> Response:
        query = request.query_params
        params.only(query, ("timeZone",))
        with self.store.snapshot(deadline):
            zone = self.api.require_entity(entity_id).zone_for(query)
            document = self.store.tariff(entity_id)
        if document is None:
            raise ApiError(404, "TariffNotFound", "the entity has no tariff; PUT one first")
        tariff = parse_tariff(document.encode(), None)
        return Response(orjson.dumps(tariff_document(tariff, zone)), media_type=JSON)


def price_series_not_found(price_id: str) -> ApiError:
    return ApiError(404, "PriceSeriesNotFound", f"there is no price series {quoted(price_id, 67)}")


def series_info(info: PriceSeriesInfo, zone: ZoneInfo | None) -> dict[str, Any]:
    series = info.series
    return {
        "priceId": series.price_id,
        "name": series.name,
        "unit": series.unit,
        "currency": series.currency,
        "intervals": info.intervals,
        "first": None if info.first is None else format_datetime(info.first, zone),
        "last": None if info.last is None else format_datetime(info.last, zone),
    }


def interval(item: PriceInterval, zone: ZoneInfo | None) -> dict[str, Any]:
    return {"start": format_datetime(item.start, zone), "end": format_datetime(item.end, zone), "price": item.price}

