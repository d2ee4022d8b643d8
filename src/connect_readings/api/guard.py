"""The guard around every HTTP request: a deadline, a bounded head, a deadline for the body, requests in progress
counted, and one whole answer with the error body whatever happens (docs/operations.md, "Connections, overload
and shutdown")."""

from __future__ import annotations

import asyncio
import math
import time

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, error_response, internal_error_response, log

DEADLINE_KEY = "connect_readings.deadline"
"""Where RequestGuard puts the request's deadline (a time.monotonic() instant) in the ASGI scope."""
DEADLINE_SCOPE_KEY = "connect_readings.deadline_scope"
"""Where RequestGuard puts the anyio cancel scope that enforces it."""
STREAMING_KEY = "connect_readings.streaming"
"""Where RequestGuard puts what `streaming(scope)` releases: the request's cancel scope and its slot."""
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def streaming(scope: Scope) -> None:
    """A streamed answer (a CSV file) has started: from now on the client reads at its own pace. The request's
    deadline no longer applies (each chunk's store work keeps its own) and it no longer counts as a request in
    progress, so downloads cannot starve short requests; a client that stops reading is cut off by the server
    after IDLE_WRITE_TIMEOUT_S (server.Protocol)."""
    held = scope.get(STREAMING_KEY)
    if held is not None:
        cancel_scope, slot = held
        cancel_scope.deadline = math.inf
        if slot is not None:
            slot.give_back()


class RequestGuard:
    """Every HTTP request runs under a deadline (settings.request_timeout_s), its head is bounded, requests in
    progress are counted, and whatever happens the client gets one whole answer with the error body.

    - More than `max_concurrent` requests in progress in this process: 503 with Retry-After. (Counted here,
      not by uvicorn, whose limit also counts idle connections.) A POST, PUT or PATCH that announces a body
      counts only once its body is complete (else, like an idle connection, it holds just a descriptor and the
      bytes received so far), so slow uploads cannot starve readers; the handlers of those methods read the
      body before any other work (app.py). When every slot is taken as its body completes: 503.
    - A body must arrive whole within `body_timeout_s` of the request's start: else 408 RequestBodyTimeout,
      Connection: close. (None: the request's own deadline.)
    - A streamed answer leaves the count and its deadline once it starts (`streaming`).
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
                 max_concurrent: int = 1024, body_timeout_s: float | None = None) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.max_header_bytes = max_header_bytes
        self.max_concurrent = max_concurrent
        self.body_timeout_s = body_timeout_s
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        slot = _Slot(self)
        if _announces_body(scope):
            receive = self._receive_body(scope, receive, slot)  # counted once the body is complete
        elif not slot.take():
            await _overloaded()(scope, receive, send)
            return
        try:
            await self.guard(scope, receive, send, slot)
        finally:
            slot.give_back()

    def _receive_body(self, scope: Scope, receive: Receive, slot: _Slot) -> Receive:
        """`receive` under the body deadline (408), taking the request's slot with the body's last piece (503)."""
        timeout_s = self.timeout_s if self.body_timeout_s is None else self.body_timeout_s
        deadline = time.monotonic() + timeout_s
        complete = False

        async def receive_body() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            with anyio.move_on_after(deadline - time.monotonic()):
                message = await receive()
                if message["type"] == "http.request" and not message.get("more_body", False):
                    complete = True
                    if not slot.take():
                        raise ApiError(503, "ServiceUnavailable", "too many requests in progress; retry shortly",
                                       headers={"Retry-After": "1"})
                return message
            raise ApiError(408, "RequestBodyTimeout", f"the request body did not arrive within {timeout_s:g} s",
                           "send the body at once, or a smaller one", headers={"Connection": "close"})

        return receive_body

    async def guard(self, scope: Scope, receive: Receive, send: Send, slot: _Slot | None = None) -> None:
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
                scope[STREAMING_KEY] = (cancel_scope, slot)
                await self.app(scope, receive, guarded_send)
        except ClientDisconnect:  # gone while sending its body: nobody to answer, nothing to log
            return
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


class _Slot:
    """A request's place among the `max_concurrent` in progress: taken at most once, given back at most once."""

    __slots__ = ("guard", "held")

    def __init__(self, guard: RequestGuard) -> None:
        self.guard = guard
        self.held = False

    def take(self) -> bool:
        guard = self.guard
        if guard.in_progress >= guard.max_concurrent:
            return False
        guard.in_progress += 1
        self.held = True
        return True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.guard.in_progress -= 1


def _announces_body(scope: Scope) -> bool:
    """A POST, PUT or PATCH with a Content-Length above 0 or a Transfer-Encoding (other methods' bodies are
    never read: they count at once)."""
    if scope["method"] not in _BODY_METHODS:
        return False
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.lstrip(b"0") != b""
        if name == b"transfer-encoding":
            return True
    return False


def _overloaded() -> Response:
    return error_response(503, "ServiceUnavailable", "too many requests in progress; retry shortly",
                          headers={"Retry-After": "1"})


def _timeout_response(timeout_s: float) -> Response:
    return error_response(
        504, "RequestTimeout", f"the request did not complete within {timeout_s:g} s",
        "narrow the time window or the page size", headers={"Connection": "close"},
    )


async def on_store_busy(request: Request, exc: Exception) -> Response:
    return error_response(503, "ServiceUnavailable", "the database is busy; retry shortly", headers={"Retry-After": "1"})


async def on_store_timeout(request: Request, exc: Exception) -> Response:
    return _timeout_response(request.app.state.api.settings.request_timeout_s)
