"""Per-principal limits (OWASP API4): a request rate (token bucket) and requests in progress, answered 429.

A principal is the verified token's identity (`Principal.identity`): its `sub` claim, else its `jti`, else a
SHA-256 digest of the token as verified; never the Authorization header's text, so spelling one token
differently (`bearer`, extra spaces) is the same principal. Only the API's operations
(`/v1/…`) with a token that verifies are counted: probes, the contract and requests refused with 401 are not
(an unauthenticated flood is the reverse proxy's to stop). State is per worker process, on its event loop
(no locks): with N workers a principal may get up to N times the configured figures.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .auth import PRINCIPAL_KEY, Principal
from .errors import ApiError, error_response
from .metrics import Metrics

MAX_PRINCIPALS = 100_000
"""Principals remembered per process; beyond, the least recently seen idle one is forgotten (a fresh bucket)."""


class _State:
    __slots__ = ("tokens", "updated", "in_progress")

    def __init__(self, tokens: float, now: float) -> None:
        self.tokens = tokens
        self.updated = now
        self.in_progress = 0


class PrincipalLimits:
    def __init__(self, app: ASGIApp, authenticate: Callable[[str | None], Principal], api_prefix: str,
                 rate_per_s: float = 0.0, burst: int = 1, concurrency: int = 0,
                 metrics: Metrics | None = None) -> None:
        self.app = app
        self.authenticate = authenticate
        self.api_prefix = api_prefix
        self.rate = rate_per_s
        self.burst = float(max(1, burst))
        self.concurrency = concurrency
        self.metrics = metrics
        self.states: OrderedDict[str, _State] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.api_prefix):
            await self.app(scope, receive, send)
            return
        authorization = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
        try:
            principal = self.authenticate(authorization)
        except ApiError:  # the endpoint answers 401
            await self.app(scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = principal
        key = principal.identity or "unidentified"  # every Principal the authenticator makes has an identity
        state = self._state(key)
        refusal = self._admit(state)
        if refusal is not None:
            limit, status = refusal
            if self.metrics is not None:
                self.metrics.limited.labels(limit).inc()
            await status(scope, receive, send)
            return
        state.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            state.in_progress -= 1

    def _state(self, key: str) -> _State:
        now = time.monotonic()
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = _State(self.burst, now)
            if len(self.states) > MAX_PRINCIPALS:
                self._forget_one()
        else:
            self.states.move_to_end(key)
        return state

    def _forget_one(self) -> None:
        for key, state in self.states.items():
            if state.in_progress == 0:
                del self.states[key]
                return

    def _admit(self, state: _State) -> tuple[str, Response] | None:
        """None to go ahead (a token taken), else (the limit hit, its 429 response)."""
        if self.concurrency and state.in_progress >= self.concurrency:
            return "concurrency", error_response(
                429, "TooManyConcurrentRequests",
                f"this client already has {self.concurrency} requests in progress",
                "wait for an answer before sending more requests", headers={"Retry-After": "1"})
        if self.rate:
            now = time.monotonic()
            state.tokens = min(self.burst, state.tokens + (now - state.updated) * self.rate)
            state.updated = now
            if state.tokens < 1.0:
                wait = max(1, math.ceil((1.0 - state.tokens) / self.rate))
                return "rate", error_response(
                    429, "TooManyRequests", f"this client exceeded {self.rate:g} requests per second",
                    f"retry after {wait} s", headers={"Retry-After": str(wait)})
            state.tokens -= 1.0
        return None
