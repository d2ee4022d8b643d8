"""What operators need around the API: readiness, the base path, request ids and logs, metrics, rate limits.

`install` adds them to the app `create_app` builds; `start` runs in the `serve` process before its workers
(the metrics listener belongs to it). Apart from app.py, so the API's own routes read as before.
"""

from __future__ import annotations

import re
import time
from typing import Protocol

import anyio
import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from ..config import Settings
from ..storage.base import Store
from . import metrics as metrics_module
from .auth import Authenticator
from .errors import error_response, log
from ..logs import formatter
from .observe import Observe
from .offload import ThreadPool
from .ratelimit import PrincipalLimits



class Operated(Protocol):
    """What operations reads and sets on the API (`app.Api`): the store, its threads, settings, the contract."""

    settings: Settings
    store: Store
    auth: Authenticator
    threads: ThreadPool
    metrics: metrics_module.Metrics | None
    openapi_bytes: bytes

READINESS_TIMEOUT_S = 2.0
"""At most this long for the database to answer /readyz (probes give up after 1–5 s anyway)."""
_ROOT_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+")


def root_path(settings: Settings) -> str:
    """The path prefix, '' for none: `/connect` (a trailing slash is dropped)."""
    root = (settings.root_path or "").rstrip("/")
    if root and not _ROOT_PATH.fullmatch(root):
        raise ValueError(f"the root path must look like /connect (segments of letters, digits and ._~-), not {root!r}")
    return root


def check(settings: Settings) -> None:
    """Refuse, at start, operations settings that cannot work."""
    root_path(settings)
    formatter(settings.log_format)
    if not 0 <= settings.metrics_port <= 65535:
        raise ValueError(f"the metrics port must be between 0 and 65535, not {settings.metrics_port}")
    if settings.metrics_port and settings.metrics_port == settings.port:
        raise ValueError("the metrics port must differ from the API port: metrics are not served to API clients")
    if settings.rate_limit_per_s < 0 or settings.concurrency_limit < 0:
        raise ValueError("rate and concurrency limits must be positive (or 0 for no limit)")
    if settings.rate_limit_burst < 1:
        raise ValueError("the rate limit burst must be at least 1")


def start(settings: Settings) -> None:
    """In the `serve` process, before the workers start."""
    check(settings)
    metrics_module.start_exporter(settings)


def install(app: Starlette, api: Operated) -> None:
    settings = api.settings
    check(settings)
    root = root_path(settings)
    metrics = metrics_module.metrics() if settings.metrics_port else None
    api.metrics = metrics
    if metrics is not None:  # (no thread has started yet: they start with the first call)
        api.threads = metrics_module.MeasuredThreadPool(settings.store_threads, metrics.store_wait.observe)
    app.router.routes.append(Route("/readyz", readyz, methods=["GET"]))
    if root:
        app.router.routes[:] = [Mount(root, routes=list(app.router.routes))]
        api.openapi_bytes = orjson.dumps({**orjson.loads(api.openapi_bytes), "servers": [{"url": root}]})
    # outermost: it sees (and marks) every response
    app.add_middleware(Observe, metrics=metrics, log_requests=settings.request_log)
    if settings.rate_limit_per_s or settings.concurrency_limit:
        app.user_middleware.append(Middleware(  # innermost: after the head checks, before any work
            PrincipalLimits, authenticate=api.auth.authenticate, api_prefix=f"{root}/v1/",
            rate_per_s=settings.rate_limit_per_s, burst=settings.rate_limit_burst,
            concurrency=settings.concurrency_limit, metrics=metrics))


async def readyz(request: Request) -> Response:
    """Ready when the database answers, in a store thread like any request, and its schema is this code's."""
    api: Operated = request.app.state.api
    timeout = min(READINESS_TIMEOUT_S, api.settings.request_timeout_s / 2)  # before RequestGuard's 504
    with anyio.move_on_after(timeout):
        try:
            state = await api.threads.run(api.store.schema_state, time.monotonic() + timeout)
        except Exception as exc:  # noqa: BLE001 - whatever the failure, the answer is "not ready"
            log.warning("not ready: the database check failed: %s: %s", type(exc).__name__, exc)
            return _not_ready("DatabaseUnavailable", "the database did not answer the readiness check")
        if state.applied < state.latest:
            return _not_ready("MigrationsPending", f"the database schema is at version {state.applied}, this "
                              f"server needs {state.latest}", "run `connect-readings migrate`")
        if state.applied > state.latest:
            return _not_ready("SchemaTooNew", f"the database schema is at version {state.applied}, newer than "
                              f"this server's {state.latest}", "upgrade this server")
        return Response(orjson.dumps({"status": "ready", "schemaVersion": state.applied}),
                        media_type="application/json")
    log.warning("not ready: the database did not answer within %g s", timeout)
    return _not_ready("DatabaseUnavailable", f"the database did not answer within {timeout:g} s")


def _not_ready(code: str, message: str, description: str | None = None) -> Response:
    return error_response(503, code, message, description)
