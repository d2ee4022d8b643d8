"""One settings object, from CLI flags and CONNECT_READINGS_* environment variables."""

from __future__ import annotations

import os
import time
from contextvars import ContextVar
from dataclasses import dataclass, fields

ENV_PREFIX = "CONNECT_READINGS_"
DEFAULT_DATABASE = "connect-readings.db"


@dataclass(frozen=True)
class Settings:
    database: str = DEFAULT_DATABASE
    jwt_secret: str | None = None
    """HS256 secret; when unset, one is generated once and kept in the database."""
    jwt_public_key_file: str | None = None
    jwt_jwks_file: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256", "RS256", "ES256")
    """Algorithm allow-list (a subset of HS256, RS256, ES256; anything else is refused at start-up)."""
    jwt_leeway_s: int = 30
    """Clock skew tolerated on exp/nbf/iat."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Larger request bodies (declared or streamed) are answered 413 PayloadTooLarge."""
    max_batch: int = 10_000
    """Readings per ingest batch; more is a 400 BatchTooLarge."""
    max_header_bytes: int = 16 * 1024
    """Request line plus headers; larger is a 431 RequestHeaderFieldsTooLarge. (The HTTP server refuses a
    head that arrives in pieces beyond its own limit with a plain 400 before the app sees it.)"""
    request_timeout_s: float = 30.0
    """Request deadline: a request still running after this is answered 504 RequestTimeout and its SQL
    statement is interrupted (see REQUEST_DEADLINE)."""
    page_cache: int = 4096
    """Aggregation pages remembered per process (0 disables); see service.PageCache."""
    public_url: str | None = None
    """Base URL for links.next behind a proxy; by default taken from the request."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> "Settings":
        """Environment first, then explicit overrides (CLI flags) that are not None."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a worker process."""
        env: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            env[ENV_PREFIX + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
        return env


def _coerce(name: str, raw: str) -> object:
    default = Settings.__dataclass_fields__[name].default
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, tuple):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


@dataclass(slots=True)
class Deadline:
    """The instant (time.monotonic) by which the current request must be done."""

    at: float
    fired: bool = False
    """Set once a statement has been interrupted for this deadline."""

    def expired(self) -> bool:
        return time.monotonic() >= self.at


REQUEST_DEADLINE: ContextVar[Deadline | None] = ContextVar("connect_readings_request_deadline", default=None)
"""Set by the API for each request; copied into worker threads with the rest of the context."""


def interrupt_if_late() -> int:
    """Progress handler for database connections: nonzero (interrupt the running statement) once the
    current request's deadline has passed.

    Once per request: after one interruption it answers 0, so the COMMIT or ROLLBACK the store runs while
    unwinding is never cut off itself (that could leave a transaction open on a pooled connection).
    Outside a request (CLI, imports, migrations) there is no deadline and nothing is interrupted.
    """
    deadline = REQUEST_DEADLINE.get()
    if deadline is None or deadline.fired or time.monotonic() < deadline.at:
        return 0
    deadline.fired = True
    return 1
