"""/readyz: the database answers (off the event loop) and its schema is at the latest migration; /healthz
stays liveness. Both backends, real databases: a schema row changed, a lock held by another connection."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.storage.base import Store, latest_migration
from connect_readings.storage.sqlite import SQLiteStore

from ..conftest import BACKENDS, ApiClient

LATEST = latest_migration("sqlite")


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store whose lock waits end within the readiness check's 2 s."""
    if request.param == "sqlite":
        store: Store = SQLiteStore(str(tmp_path / "ready.db"), busy_timeout_s=1)
    else:
        from ..pg import make_postgres_store

        store = make_postgres_store(request)
    yield store
    store.close()


@pytest.fixture
def ready_client(db: Store, settings: Settings) -> Iterator[ApiClient]:
    with ApiClient(create_app(settings, db)) as client:
        yield client


def _set_schema_version(store: Store, version: int) -> None:
    """What the database records as applied: SQLite's user_version, PostgreSQL's schema_version rows."""
    if isinstance(store, SQLiteStore):
        store.db.execute(f"PRAGMA user_version = {int(version)}")
        return
    with psycopg.connect(store.url, autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute("DELETE FROM schema_version WHERE version > %s", (version,))
        for missing in range(1, version + 1):
            conn.execute("INSERT INTO schema_version (version) VALUES (%s) ON CONFLICT DO NOTHING", (missing,))


def test_ready_names_the_schema_version(ready_client: ApiClient) -> None:
    response = ready_client.get("/readyz", headers={"Authorization": None})
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "schemaVersion": LATEST}
    assert ready_client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("version, code", [(LATEST - 1, "MigrationsPending"), (LATEST + 1, "SchemaTooNew")])
def test_schema_other_than_the_latest_migration_is_not_ready(ready_client: ApiClient, db: Store, version: int,
                                                             code: str) -> None:
    _set_schema_version(db, version)
    try:
        response = ready_client.get("/readyz")
        assert response.status_code == 503
        error = response.json()["errors"][0]
        assert error["code"] == code and str(version) in error["message"] and str(LATEST) in error["message"]
        assert ready_client.get("/healthz").status_code == 200  # still alive: nothing to restart
    finally:
        _set_schema_version(db, LATEST)
    assert ready_client.get("/readyz").status_code == 200


def test_database_that_does_not_answer_is_not_ready(ready_client: ApiClient, db: Store) -> None:
    """Another connection holds the lock the check needs: 503 within about 2 s, then ready once it is gone."""
    release = _hold_exclusive_lock(db)
    try:
        began = time.monotonic()
        response = ready_client.get("/readyz")
        took = time.monotonic() - began
        assert response.status_code == 503, response.text
        assert response.json()["errors"][0]["code"] == "DatabaseUnavailable"
        assert took < 4, took
        assert ready_client.get("/healthz").status_code == 200
    finally:
        release()
    deadline = time.monotonic() + 10
    while ready_client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "never ready again after the lock was released"
        time.sleep(0.2)


def _hold_exclusive_lock(store: Store) -> Any:
    if isinstance(store, SQLiteStore):
        store.close()  # this thread's connection; the store's threads open their own
        conn = sqlite3.connect(store.path, isolation_level=None)
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        return conn.close
    pg = psycopg.connect(store.url)  # type: ignore[attr-defined]
    pg.execute("LOCK TABLE schema_version IN ACCESS EXCLUSIVE MODE")
    return pg.close
