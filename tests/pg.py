"""The PostgreSQL backend for the shared `store` fixture (imported by conftest.py).

One database per test session (`connect_readings_test_<pid>_<random>`), created and migrated on first use and
dropped when pytest unconfigures (`config.add_cleanup`, so also after a failed or interrupted run); tests are
isolated by truncating every table before each one. Server: CONNECT_READINGS_TEST_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/postgres (any database on the server: it is only used to create ours).

An unreachable server fails the run when CI is set, and skips the PostgreSQL tests with the reason otherwise.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from connect_readings.storage.base import migrations
from connect_readings.storage.postgres import PostgresStore

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TABLES = ("meta", "entities", "readings", "resets", "series", "gauge_blocks", "register_edge_blocks", "price_series",
          "price_intervals", "tariffs")


def server_url() -> str:
    return os.environ.get("CONNECT_READINGS_TEST_POSTGRES_URL") or DEFAULT_SERVER_URL


def postgres_backend_param() -> Any:
    return pytest.param("postgres", id="postgres")


class _Session:
    """The session's test database: created lazily, dropped at exit; or why PostgreSQL is unusable."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.error: str | None = None

    def database_url(self, config: pytest.Config) -> str:
        if self.url is None and self.error is None:
            try:
                self.url = self._create(config)
            except psycopg.Error as exc:
                self.error = f"PostgreSQL at {_redacted(server_url())} is unusable: {str(exc).strip()}"
        if self.error is not None:
            _unusable(self.error)
        assert self.url is not None
        return self.url

    def _create(self, config: pytest.Config) -> str:
        server = server_url()
        name = f"connect_readings_test_{os.getpid()}_{secrets.token_hex(4)}"
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        config.add_cleanup(lambda: _drop(server, name))
        url = with_database(server, name)
        PostgresStore(url, max_size=1).close()  # migrate once per session
        return url


_session = _Session()


def session_database_url(config: pytest.Config) -> str:
    """The URL of this session's (migrated) test database; skips or fails when PostgreSQL is unusable."""
    return _session.database_url(config)


def make_postgres_store(request: pytest.FixtureRequest) -> PostgresStore:
    """A fresh, empty, migrated store for one test."""
    url = _session.database_url(request.config)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(t) for t in TABLES)))
    return PostgresStore(url, min_size=1, max_size=4)


@contextmanager
def database_at_version(version: int) -> Iterator[str]:
    """A new database with the migrations up to `version` applied (and recorded in `schema_version`, as the
    store would have), for migration tests; dropped afterwards. Unusable server: as for the session database."""
    with new_database(f"connect_readings_v{version}") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, "
                         "applied_at timestamptz NOT NULL DEFAULT now())")
            for number, text in migrations("postgres"):
                if number <= version:
                    with conn.transaction():
                        conn.execute(text)
                        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        yield url


@contextmanager
def new_database(prefix: str = "connect_readings_new") -> Iterator[str]:
    """The URL of a new, empty (unmigrated) database on the test server, dropped afterwards: for tests that change
    what the session database's other tests rely on. Unusable server: as for the session database."""
    server = server_url()
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        _unusable(f"PostgreSQL at {_redacted(server)} is unusable: {str(exc).strip()}")
    try:
        yield with_database(server, name)
    finally:
        _drop(server, name)


def _unusable(error: str) -> None:
    """Fails the test when CI is set (a missing server must not pass CI by skipping), else skips it."""
    if os.environ.get("CI"):
        pytest.fail(f"{error} (CI is set, so this fails instead of skipping; start the server, e.g. "
                    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)", pytrace=False)
    pytest.skip(f"{error}; set CONNECT_READINGS_TEST_POSTGRES_URL or start a server to run these tests")


def with_database(server: str, name: str) -> str:
    """The server URL (or conninfo string) pointing at database `name`."""
    if server.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(server)
        return urlunsplit(parts._replace(path="/" + name))
    return make_conninfo(server, dbname=name)


def _drop(server: str, name: str) -> None:
    for attempt in range(10):
        try:
            with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            return
        except psycopg.errors.InvalidCatalogName:  # Citus: a retry after a drop that went through on some node
            return
        except psycopg.errors.ObjectInUse:  # Citus: the database's maintenance daemon may still be starting
            if attempt == 9:
                raise
            time.sleep(0.5)


def _redacted(url: str) -> str:
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "<unparsable URL>"
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)
