"""The guard around every HTTP request: a deadline, a bounded head, requests in progress counted, and one whole
answer with the error body whatever happens (docs/operations.md, "Connections, overload and shutdown")."""

from __future__ import annotations

import asyncio
import time

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response, internal_error_response, log

DEADLINE_KEY = "connect_readings.deadline"
"""Where RequestGuard puts the request's deadline (a time.monotonic() instant) in the ASGI scope."""
DEADLINE_SCOPE_KEY = "connect_readings.deadline_scope"
"""Where RequestGuard puts the anyio cancel scope that enforces it (a streamed answer moves it, per chunk)."""


class RequestGuard:
    """Every HTTP request runs under a deadline (settings.request_timeout_s), its head is bounded, requests in
    progress are counted, and whatever happens the client gets one whole answer with the error body.

    - More than `max_concurrent` requests in progress in this process: 503 with Retry-After. (Counted here,
      not by uvicorn, whose limit also counts idle connections.)
    - Request line plus headers over `max_header_bytes`: 431 (a head that arrives in pieces is bounded by the
      server, server.Protocol). An HTTP/1.1 request without Host: 400 (RFC 9112 §3.2).
    - The deadline goes into the scope (DEADLINE_KEY); handlers pass it to the store, which interrupts a
      statement that outlives it (StoreTimeout → 504). The request itself is cancelled at its next await
      (waiting for the body, say), also answered 504 RequestTimeout.
    - A bug is answered 500 here, and not re-raised (as Starlette's ServerErrorMiddleware would), so the
      server keeps the kept-alive connection; only a response cut off half-way closes it.
    - A request cancelled by the server's graceful shutdown (shutdown_timeout_s) is answered 503.
    """

    def __init__(self, app: ASGIApp, timeout_s: float, max_header_bytes: int = 16 * 1024,
                 max_concurrent: int = 1024) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.max_header_bytes = max_header_bytes
        self.max_concurrent = max_concurrent
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_progress >= self.max_concurrent:
            response = error_response(503, "ServiceUnavailable", "too many requests in progress; retry shortly",
                                      headers={"Retry-After": "1"})
            await response(scope, receive, send)
            return
        self.in_progress += 1
        try:
            await self.guard(scope, receive, send)
        finally:
            self.in_progress -= 1

    async def guard(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        if scope.get("http_version") == "1.1" and not any(name == b"host" for name, _ in scope["headers"]):
            response = error_response(400, "BadRequest", "an HTTP/1.1 request must carry a Host header",
                                      headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        scope[DEADLINE_KEY] = time.monotonic() + self.timeout_s
        started = completed = False

        async def guarded_send(message: Message) -> None:
            nonlocal started, completed
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                completed = True
            with anyio.CancelScope(shield=True):  # a response is never cut off half-way
                await send(message)

        try:
            with anyio.move_on_after(self.timeout_s) as cancel_scope:
                scope[DEADLINE_SCOPE_KEY] = cancel_scope
                await self.app(scope, receive, guarded_send)
        except Exception:
            if started and not completed:
                raise  # half a response: only closing the connection can tell the client
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not started:
                await internal_error_response()(scope, receive, send)
            return
        except asyncio.CancelledError:  # the graceful shutdown's time ran out (not our deadline: anyio's own)
            if not started:
                with anyio.CancelScope(shield=True):
                    await error_response(503, "ServiceUnavailable", "the server is shutting down; retry shortly",
                                         headers={"Retry-After": "1", "Connection": "close"})(scope, receive, send)
            raise
        if cancel_scope.cancelled_caught and not started:
            log.warning("%s %s answered 504 at its deadline", scope["method"], scope["path"])
            await _timeout_response(self.timeout_s)(scope, receive, send)


def _timeout_response(timeout_s: float) -> Response:
    return error_response(
        504, "RequestTimeout", f"the request did not complete within {timeout_s:g} s",
        "narrow the time window or the page size", headers={"Connection": "close"},
    )


async def on_store_busy(request: Request, exc: Exception) -> Response:
    return error_response(503, "ServiceUnavailable", "the database is busy; retry shortly", headers={"Retry-After": "1"})


async def on_store_timeout(request: Request, exc: Exception) -> Response:
    return _timeout_response(request.app.state.api.settings.request_timeout_s)
