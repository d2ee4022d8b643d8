"""The SQLite connection settings reach every connection: `synchronous` (durability of an acknowledged
batch) and the page cache each connection may hold (its share of the process's budget), read back with
PRAGMA on a real file, from the store's own connections and through the app (docs/operations.md, "Memory"
and "Durability")."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.storage import open_store
from connect_readings.storage.sqlite import SQLiteStore

SECRET = "test-secret-of-at-least-32-bytes-long!!"
LEVELS = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}


def pragma(store: SQLiteStore, name: str) -> int:
    return store.db.execute(f"PRAGMA {name}").fetchone()[0]


def in_thread(store: SQLiteStore, name: str) -> int:
    """The pragma as a store thread's own connection sees it (each thread opens its own)."""
    found: list[int] = []
    thread = threading.Thread(target=lambda: found.append(pragma(store, name)))
    thread.start()
    thread.join()
    return found[0]


def test_a_store_syncs_every_commit_by_default(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "default.db"))
    try:
        assert pragma(store, "journal_mode") == "wal"
        assert pragma(store, "synchronous") == LEVELS["FULL"]
        assert in_thread(store, "synchronous") == LEVELS["FULL"]
        assert pragma(store, "mmap_size") == 0  # no file mapped into the process (it would count as its RSS)
    finally:
        store.close()


@pytest.mark.parametrize("level", ["NORMAL", "FULL", "EXTRA", "normal"])
def test_the_synchronous_level_reaches_every_connection(tmp_path: Path, level: str) -> None:
    store = SQLiteStore(str(tmp_path / "sync.db"), synchronous=level)
    try:
        assert pragma(store, "synchronous") == LEVELS[level.upper()]
        assert in_thread(store, "synchronous") == LEVELS[level.upper()]
    finally:
        store.close()


@pytest.mark.parametrize("level", ["OFF", "0", "fast", ""])
def test_an_unsafe_or_unknown_level_is_refused(tmp_path: Path, level: str) -> None:
    with pytest.raises(ValueError, match="NORMAL, FULL, EXTRA"):
        SQLiteStore(str(tmp_path / "refused.db"), synchronous=level)


def test_open_store_divides_the_cache_budget_among_the_connections(tmp_path: Path) -> None:
    """`cache_mib` is the whole process's: each connection (a store thread's, or the event loop's) gets an
    equal share, so store threads × share never exceeds it."""
    store = open_store(str(tmp_path / "budget.db"), cache_mib=20, connections=5, synchronous="NORMAL")
    assert isinstance(store, SQLiteStore)
    try:
        assert pragma(store, "cache_size") == -(20 * 1024 // 5)  # negative: KiB
        assert in_thread(store, "cache_size") == -(20 * 1024 // 5)
        assert pragma(store, "synchronous") == LEVELS["NORMAL"]
    finally:
        store.close()


def test_the_settings_reach_the_connection_through_the_app(tmp_path: Path) -> None:
    database = str(tmp_path / "app.db")
    settings = Settings(database=database, jwt_secret=SECRET, sqlite_synchronous="NORMAL", sqlite_cache_mib=10,
                        store_threads=4)
    store = create_app(settings).state.api.store
    try:
        assert pragma(store, "synchronous") == LEVELS["NORMAL"]
        assert in_thread(store, "cache_size") == -(10 * 1024 // 5)  # 4 store threads + the event loop's
    finally:
        store.close()
    store = create_app(Settings(database=database, jwt_secret=SECRET)).state.api.store
    try:
        assert in_thread(store, "synchronous") == LEVELS["FULL"]
        assert in_thread(store, "cache_size") == -(Settings().sqlite_cache_mib * 1024 // (Settings().store_threads + 1))
    finally:
        store.close()


def test_the_settings_are_read_and_checked() -> None:
    settings = Settings.from_env({"CONNECT_READINGS_SQLITE_SYNCHRONOUS": "extra",
                                  "CONNECT_READINGS_SQLITE_CACHE_MIB": "48"})
    assert settings.sqlite_synchronous == "EXTRA" and settings.sqlite_cache_mib == 48
    assert Settings.from_env({}, sqlite_synchronous="normal").sqlite_synchronous == "NORMAL"
    assert Settings().sqlite_synchronous == "FULL"
    with pytest.raises(ValueError, match="CONNECT_READINGS_SQLITE_SYNCHRONOUS"):
        Settings.from_env({"CONNECT_READINGS_SQLITE_SYNCHRONOUS": "OFF"})
    with pytest.raises(ValueError, match="CONNECT_READINGS_SQLITE_CACHE_MIB"):
        Settings(sqlite_cache_mib=-1)
