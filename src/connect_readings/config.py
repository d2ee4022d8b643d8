"""One settings object, read and cast in one place: CONNECT_READINGS_* environment variables, then flags.

Every setting is a field of `Settings`; its variable is `CONNECT_READINGS_<FIELD>` and its command-line flag
`--<field-with-dashes>`. The server, its worker processes (which get the settings as variables) and every CLI
command read their settings through `Settings.from_env`.

>>> Settings.from_env({"CONNECT_READINGS_PORT": "9000"}, port=None).port
9000
>>> Settings.from_env({"CONNECT_READINGS_PORT": "9000"}, port=8081).port
8081
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

ENV_PREFIX = "CONNECT_READINGS_"
DEFAULT_DATABASE = "connect-readings.db"
SQLITE_CACHE_MIB = 16
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")
"""The levels of `sqlite_synchronous` (what each means: storage/sqlite.py, SYNCHRONOUS_LEVELS)."""


def _setting(default: Any, help: str, kind: type | None = None) -> Any:
    """`kind`: the type of a setting whose default is None (else that of its default)."""
    return field(default=default, metadata={"help": help, **({"type": kind} if kind is not None else {})})


@dataclass(frozen=True)
class Settings:
    database: str = _setting(DEFAULT_DATABASE, "SQLite file path, or postgresql://user@host:port/db")
    host: str = _setting("127.0.0.1", "address the server listens on")
    port: int = _setting(8080, "port the server listens on")
    workers: int = _setting(1, "server worker processes")
    request_log: bool = _setting(
        True, "one log line per request (`false` turns it off: on the hot page it costs about a fifth of the "
              "throughput, BENCHMARKS.md)")
    log_format: str = _setting("text", "`text` or `json`: one line per request and for every message of the app")
    metrics_port: int = _setting(0, "port of the Prometheus /metrics listener, apart from the API (0: no metrics)")
    metrics_host: str = _setting("127.0.0.1", "address the /metrics listener binds to")
    metrics_dir: str | None = _setting(
        None, "directory for the worker processes' metric files, emptied at start; by default a new temporary "
              "directory per run, removed at exit")
    rate_limit_per_s: float = _setting(
        0.0, "requests per second one principal may make, sustained, per worker process (0: no limit)")
    rate_limit_burst: int = _setting(20, "requests one principal may make at once above that rate (bucket size)")
    concurrency_limit: int = _setting(
        0, "requests one principal may have in progress at once, per worker process (0: no limit)")
    root_path: str | None = _setting(None, "path prefix every route is served under, e.g. /connect")
    jwt_secret: str | None = _setting(
        None, "HS256 secret (at least 32 bytes); when unset, one is generated once and kept in the database")
    jwt_public_key_file: str | None = _setting(None, "PEM file of RS256/ES256 public keys or certificates")
    jwt_jwks_file: str | None = _setting(None, "JWKS file of public keys, selected by the token's kid")
    jwt_jwks_url: str | None = _setting(
        None, "JWKS URL of public keys (an identity provider's jwks_uri), selected by the token's kid; read at start "
              "and again every jwt_jwks_refresh_s, or when a token names a kid it lacks (at most every 30 s)")
    jwt_jwks_refresh_s: float = _setting(300.0, "seconds between two reads of jwt_jwks_url")
    jwt_issuer: str | None = _setting(None, "required `iss` claim")
    jwt_audience: str | None = _setting(None, "required `aud` claim")
    jwt_algorithms: tuple[str, ...] = _setting(
        ("HS256", "RS256", "ES256"), "algorithm allow-list, comma-separated (a subset of HS256, RS256, ES256)")
    jwt_leeway_s: int = _setting(30, "clock skew tolerated on exp/nbf/iat, seconds")
    max_body_bytes: int = _setting(16 * 1024 * 1024, "larger request bodies are answered 413 PayloadTooLarge")
    max_batch: int = _setting(10_000, "readings per ingest batch; more is 400 BatchTooLarge")
    max_header_bytes: int = _setting(
        16 * 1024, "request line plus headers; larger is 431 RequestHeaderFieldsTooLarge")
    request_timeout_s: float = _setting(
        30.0, "request deadline: a request still running then is answered 504 and its SQL statement interrupted; "
              "also how long a request waits for a database lock or connection (then 503)")
    request_head_timeout_s: float = _setting(
        5.0, "a request line and headers must arrive whole within this many seconds (from the connection's "
             "start, or the first byte of the next request on a kept-alive connection); then 408 and closed")
    request_body_timeout_s: float = _setting(
        10.0, "a request body must arrive whole within this many seconds of the end of its head; then 408 "
              "RequestBodyTimeout and closed (a request still receiving its body is not counted in progress)")
    idle_timeout_s: float = _setting(5.0, "a kept-alive connection idle this long between requests is closed")
    idle_write_timeout_s: float = _setting(
        30.0, "a response the client takes no byte of for this many seconds (the server's send buffer full) is "
              "cut off and its connection closed, e.g. a CSV download that stopped reading")
    max_concurrent_requests: int = _setting(
        1024, "requests in progress per worker process; more are answered 503 ServiceUnavailable")
    shutdown_timeout_s: float = _setting(
        10.0, "on SIGTERM, how long requests in progress may take to finish before they are answered 503")
    store_threads: int = _setting(4, "threads per worker process that run store calls and parse bodies")
    page_cache_mib: int = _setting(
        64, "memory per process for remembered aggregation pages, MiB (0 disables)")
    sqlite_cache_mib: int = _setting(
        SQLITE_CACHE_MIB, "SQLite's page cache per worker process, MiB, divided equally among its connections "
                          "(store_threads + 1); no file is memory-mapped")
    sqlite_synchronous: str = _setting(
        "FULL", "SQLite `PRAGMA synchronous`: FULL (an acknowledged batch survives a power loss), NORMAL (it "
                "survives a crash of the process only; faster ingest of small batches) or EXTRA")
    timescaledb_compress_after_days: int | None = _setting(
        None, "on TimescaleDB, `migrate` and the server's start turn on native compression (columnstore, segmented by "
              "entity) of the readings and a policy compressing the weekly chunks whose readings are all older than "
              "this many days; 0 removes that policy (compressed chunks stay so); unset: left as it is",
        kind=int)
    citus_ingest_on_workers: bool = _setting(
        True, "on Citus, each ingest transaction runs on the worker holding the entity's shards (reached at the "
              "host and port Citus lists for it, with the same role: docs/postgresql.md), else through the "
              "coordinator; a worker that cannot be reached is left to the coordinator for 30 s")
    csv_max_rows: int = _setting(
        200_000, "rows one CSV answer (format=csv or Accept: text/csv) may hold, counted before any byte is sent "
                   "(readings; for aggregations and statistics the window's buckets, empty ones too); more is "
                   "400 TooManyRows")
    public_url: str | None = _setting(
        None, "base URL of links (links.next, redirects), e.g. https://api.example.com/readings; by default from "
              "the request's allowed Host")
    allowed_hosts: tuple[str, ...] = _setting(
        (), "host names the server answers to (Host, or X-Forwarded-Host from a trusted proxy), comma-separated; "
            "'*.example.com' matches subdomains, '*' any host; others get 400 InvalidHost (/healthz excepted). "
            "Empty: localhost, 127.0.0.1, [::1], the listen address unless a wildcard, and public_url's host")
    default_time_zone: str | None = _setting(
        None, "IANA time zone of the queries of an entity without a timeZone of its own, e.g. Europe/Brussels "
              "(a request's timeZone still wins); empty: UTC")
    trusted_proxies: tuple[str, ...] = _setting(
        (), "addresses or networks (CIDR) of reverse proxies whose X-Forwarded-Host, -Proto and -Prefix are "
            "honoured, comma-separated; none by default")

    # -- `connect-readings mqtt` (ingest/mqtt.py); every other command ignores them --------------------------
    mqtt_broker: str | None = _setting(None, "mqtt://[user:password@]host[:1883] or mqtts://… (TLS)")
    mqtt_config: str | None = _setting(
        None, "TOML file of [[topics]]: topic pattern or topic → entity, and payload format")
    mqtt_client_id: str | None = _setting(
        None, "MQTT client id of the persistent session; each process needs its own (default: "
              "connect-readings-<hostname>)")
    mqtt_share_group: str | None = _setting(None, "subscribe as $share/NAME/…: processes of one group split the messages")
    mqtt_batch_readings: int = _setting(5000, "commit once a batch holds this many readings (or messages), 1–100000")
    mqtt_batch_ms: int = _setting(200, "commit a batch at the latest this long after its first message, 1–60000")
    mqtt_session_expiry_s: int = _setting(
        86400, "seconds the broker keeps our session and queues messages while we are away")
    mqtt_username: str | None = _setting(None, "broker user name (overrides the URL's)")
    mqtt_password: str | None = _setting(None, "broker password (overrides the URL's)")
    mqtt_tls: bool = _setting(False, "TLS (as an mqtts:// URL)")
    mqtt_ca_file: str | None = _setting(None, "CA certificates to verify the broker with (default: the system's)")
    mqtt_stats_interval_s: float = _setting(10.0, "seconds between progress log lines, 0.1–3600")
    mqtt_max_payload_bytes: int = _setting(
        16 * 1024 * 1024, "a larger message is rejected unread (logged, counted, acknowledged)")

    def __post_init__(self) -> None:
        """Settings of the store checked (and a level put in capitals) here, so a bad value stops every command
        before it starts a worker."""
        level = str(self.sqlite_synchronous).strip().upper()
        if level not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"{env_name('sqlite_synchronous')}={self.sqlite_synchronous!r} is not one of "
                             f"{', '.join(SQLITE_SYNCHRONOUS)}")
        object.__setattr__(self, "sqlite_synchronous", level)
        if self.default_time_zone is not None:
            from .domain.errors import DomainError
            from .domain.timefmt import parse_time_zone

            if not self.default_time_zone.strip():
                object.__setattr__(self, "default_time_zone", None)
            else:
                try:
                    parse_time_zone(self.default_time_zone)
                except DomainError:
                    raise ValueError(f"{env_name('default_time_zone')}={self.default_time_zone!r} is not a known "
                                     "IANA time zone (e.g. Europe/Brussels)") from None
        if self.timescaledb_compress_after_days is not None and self.timescaledb_compress_after_days < 0:
            raise ValueError(f"{env_name('timescaledb_compress_after_days')}={self.timescaledb_compress_after_days} "
                             "must be 0 (off) or more")
        if self.sqlite_cache_mib < 0:
            raise ValueError(f"{env_name('sqlite_cache_mib')}={self.sqlite_cache_mib} must be 0 or more")
        for name, lo, hi in MQTT_RANGES:
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ValueError(f"{env_name(name)}={value} must be between {lo} and {hi}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **flags: object) -> "Settings":
        """Variables first, then flags that were given (not None)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(env_name(f.name))
            if raw is not None and raw != "":
                values[f.name] = _cast(f.name, raw)
        for name, value in flags.items():
            if value is not None:  # a flag of a list setting comes as its comma-separated text
                values[name] = _cast(name, value) if isinstance(value, str) and setting_type(name) is tuple else value
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a worker process."""
        env: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                env[env_name(f.name)] = ",".join(value) if isinstance(value, tuple) else str(value)
        return env


MQTT_RANGES = (("mqtt_batch_readings", 1, 100_000), ("mqtt_batch_ms", 1, 60_000),
               ("mqtt_session_expiry_s", 0, 2**32 - 1), ("mqtt_stats_interval_s", 0.1, 3600),
               ("mqtt_max_payload_bytes", 1, 268_435_455))
"""(setting, least, most) of the MQTT settings: MQTT 5's own bounds, and what keeps a batch in memory."""


def env_name(setting: str) -> str:
    """The variable of a setting.

    >>> env_name("jwt_secret")
    'CONNECT_READINGS_JWT_SECRET'
    """
    return ENV_PREFIX + setting.upper()


def setting_type(name: str) -> type:
    """The Python type a setting is cast to: that of its default (for those without one, the type it was declared
    with, else str)."""
    setting = Settings.__dataclass_fields__[name]
    return setting.metadata.get("type", str) if setting.default is None else type(setting.default)


def _cast(name: str, raw: str) -> object:
    kind = setting_type(name)
    try:
        if kind is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if kind is bool:
            return _BOOLEANS[raw.strip().lower()]
        return kind(raw)
    except (ValueError, KeyError):
        raise ValueError(f"{env_name(name)}={raw!r} is not a valid {kind.__name__}") from None


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
