"""Storage answers narrow questions and runs SQL (`base.Store`); `open_store` picks the backend for a database."""

from __future__ import annotations

from .base import Store, is_postgres_url

__all__ = ["open_store"]


def open_store(database: str, *, timeout_s: float = 30.0, synchronous: str | None = None,
               cache_mib: int | None = None, connections: int = 5, compress_after_days: int | None = None,
               ingest_on_workers: bool = True) -> Store:
    """A PostgreSQL URL selects the PostgreSQL backend; anything else is a SQLite file path.

    `timeout_s` bounds how long a call waits for a lock or a pooled connection (then StoreBusy). For SQLite,
    `synchronous` is the `PRAGMA synchronous` level of every connection (default FULL), and `cache_mib` the
    page cache of the whole process, divided equally among the `connections` it opens (a server worker: its
    store threads and its event loop), so that together they never hold more (default: the store's own
    per-connection default). PostgreSQL's durability and memory are the database server's (docs/operations.md).
    `compress_after_days`: on TimescaleDB, the compression policy of old readings the migration sets (None: the
    one there is kept; docs/postgresql.md); `ingest_on_workers`: on Citus, ingest transactions run on the worker
    holding the entity's shards (`PostgresStore`'s `route_to_workers`); both ignored by SQLite.
    """
    if is_postgres_url(database):
        from .postgres import PostgresStore  # (psycopg only when it is used)

        return PostgresStore(database, busy_timeout_s=timeout_s, compress_after_days=compress_after_days,
                             route_to_workers=ingest_on_workers)
    from .sqlite import SQLiteStore

    options: dict[str, object] = {}
    if synchronous is not None:
        options["synchronous"] = synchronous
    if cache_mib is not None:
        options["cache_kib"] = cache_mib * 1024 // max(1, connections)
    return SQLiteStore(database, busy_timeout_s=timeout_s, **options)  # type: ignore[arg-type]
