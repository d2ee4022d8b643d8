"""The outermost middleware: a request id on every response, one log line and the metrics of every request.

`X-Request-ID` is taken from the request when it looks like an id (1–128 characters of letters, digits and
`._:+/=-`), otherwise one is generated; either way it is returned. The log line names the route template (not
the path, which the JSON line carries separately), the entity and the token's subject, never the token.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import PRINCIPAL_KEY
from .errors import on_unexpected
from .. import logs
from ..logs import REQUEST_ID
from .metrics import Metrics

access_log = logging.getLogger(logs.ACCESS_LOGGER)
REQUEST_ID_KEY = "connect_readings.request_id"
_ID_SHAPE = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}").fullmatch
_CANONICAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
PLAIN_FIELDS = frozenset(("request_id", "route", "status", "duration_ms", "entity_id"))
"""Access-log fields never quoted in a text line: built here (route, status, duration), or checked (a request
id has _ID_SHAPE's characters, an entity id is canonical); method, path and subject come from the client."""
UNMATCHED = "unmatched"
"""The route label of a request that matched no route (a 404, or refused before routing)."""


def request_id(headers: Any) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            if _ID_SHAPE(value):
                return value.decode("ascii")
            break
    return secrets.token_hex(16)


class Observe:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        rid = request_id(scope["headers"])
        scope[REQUEST_ID_KEY] = rid
        context = REQUEST_ID.set(rid)
        header = (b"x-request-id", rid.encode("ascii"))
        status = 0
        metrics = self.metrics
        if metrics is not None:
            metrics.in_progress.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if status:
                    raise
                # Answered here rather than by Starlette's outer error middleware, so it has the id too.
                response = await on_unexpected(Request(scope), exc)
                await response(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - began
            route = scope.get("route")
            template = route.path if isinstance(route, Route) else UNMATCHED
            if metrics is not None:
                metrics.in_progress.dec()
                metrics.request(scope["method"], template, status, seconds)
            if self.log_requests and (logs.direct_access is not None or access_log.isEnabledFor(logging.INFO)):
                _log(scope, rid, template, status, seconds)
            REQUEST_ID.reset(context)


def _log(scope: Scope, rid: str, template: str, status: int, seconds: float) -> None:
    principal = scope.get(PRINCIPAL_KEY)
    entity = (scope.get("path_params") or {}).get("entityId")
    if entity is not None and not _CANONICAL_ID(entity):
        try:
            entity = str(uuid.UUID(entity))
        except ValueError:
            entity = None  # not an id: the client's text is not repeated
    ms = round(seconds * 1000, 3)
    fields = {"request_id": rid, "method": scope["method"], "route": template, "path": scope["path"],
              "status": status or None, "duration_ms": ms, "entity_id": entity,
              "subject": principal.subject if principal is not None else None}
    message = f"{scope['method']} {template} {status or '-'} {ms:.1f} ms"
    if logs.direct_access is not None:
        logs.direct_access(message, fields, PLAIN_FIELDS)
    else:
        access_log.info("%s", message, extra={"fields": fields})
