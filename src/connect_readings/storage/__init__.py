"""Storage answers narrow questions and runs SQL (`base.Store`); `open_store` picks the backend for a database."""

from __future__ import annotations

from .base import Store, is_postgres_url

__all__ = ["open_store"]


def open_store(database: str, *, timeout_s: float = 30.0) -> Store:
    """A PostgreSQL URL selects the PostgreSQL backend; anything else is a SQLite file path.

    `timeout_s` bounds how long a call waits for a lock or a pooled connection (then StoreBusy).
    """
    if is_postgres_url(database):
        from .postgres import PostgresStore  # (psycopg only when it is used)

        return PostgresStore(database, busy_timeout_s=timeout_s)
    from .sqlite import SQLiteStore

    return SQLiteStore(database, busy_timeout_s=timeout_s)
