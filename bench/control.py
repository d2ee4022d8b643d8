"""CONTROL server for figure 1 (never shipped in src/): the service's own app with the page computation
replaced by a dictionary lookup.

Everything else is the real code path: `cli._serve` (the very function behind `connect-readings serve`,
same uvicorn options) calls the real `app_from_env` factory, which builds the same Starlette routes and
`Api` handlers (Authenticator with its verified-token cache, params parsing, query digest, continuation
tokens, `encode.aggregation` / `encode.paged` with orjson). Then two things are swapped, in this process:

- `service.aggregation_page` (index seeks + interpolation) → a dict lookup of Pages computed at start-up by
  the real function on the real database;
- the app's store → an in-memory stand-in whose `entity_version` is a set lookup (anything else raises, so
  a change in the handler that reaches for the database shows up as errors, not as a flattering number).

The signing keys come from the real database, so the control's bodies (continuation tokens included) are
byte-identical to the real server's; the bench checks that before measuring.

    python -m bench.control --database bench/data/household-10s.db --port 18082 \
        --precompute '/v1/entities/<id>/aggregations?start=...&resolution=15%20minutes&end=...'
"""

from __future__ import annotations

import argparse
import sqlite3
import contextlib
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import QueryParams

from connect_readings import cli
from connect_readings.usecases import aggregations as service
from connect_readings.api import app as app_module
from connect_readings.api import params
from connect_readings.config import Settings
from connect_readings.storage.sqlite import SQLiteStore


class MemoryStore:
    """Answers the one question the aggregations handler asks of its store without touching a database."""

    def __init__(self, entities: set[uuid.UUID]) -> None:
        self.entities = entities

    def entity_version(self, entity_id: uuid.UUID) -> int | None:
        return 0 if entity_id in self.entities else None

    def entity_head(self, entity_id: uuid.UUID) -> tuple[int, str | None, int] | None:
        return (0, None, 0) if entity_id in self.entities else None  # (version, time zone, created)

    def snapshot(self, deadline: float | None = None) -> Any:
        return contextlib.nullcontext()

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"the control store has no database (asked for {name})")


def precompute(database: str, paths: list[str]) -> dict[tuple[Any, int, int], service.Page]:
    """Each path's first page, computed once by the real service on the real store."""
    store = SQLiteStore(database)
    pages: dict[tuple[Any, int, int], service.Page] = {}
    try:
        for path in paths:
            parts = urlsplit(path)
            entity = uuid.UUID(parts.path.split("/")[3])
            query = QueryParams(parse_qsl(parts.query, keep_blank_values=True))
            start, end_given = params.window(query)
            end = params.resolve_end(start, end_given, None)
            agg = service.AggregationQuery(entity, start, end, params.resolution(query), params.time_zone(query))
            size = params.page_size(query)
            pages[(agg, start, size)] = service.aggregation_page(store, agg, start, size)
    finally:
        store.close()
    return pages


LOOKUPS = 0


def install(database: str, paths: list[str]) -> None:
    """Patch this process only: the app factory still builds the real app, then loses its database."""
    pages = precompute(database, paths)
    db = sqlite3.connect(database)
    entities = {uuid.UUID(bytes=row[0]) for row in db.execute("SELECT entity_id FROM entities")}
    db.close()

    def page_from_memory(store: Any, query: service.AggregationQuery, position: int, page_size: int) -> service.Page:
        global LOOKUPS
        LOOKUPS += 1
        return pages[(query, position, page_size)]

    real_factory = app_module.app_from_env

    def control_factory() -> Any:
        app = real_factory()  # whatever start-up the real factory does (settings, auth, keys, tuning)
        api = app.state.api
        api.store.close()
        api.store = MemoryStore(entities)
        return app

    # app.py calls `service.aggregation_page` through the module at request time.
    service.aggregation_page = page_from_memory  # type: ignore[assignment]
    app_module.app_from_env = control_factory  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18082)
    parser.add_argument("--database", required=True)
    parser.add_argument("--precompute", action="append", default=[])
    args = parser.parse_args()
    install(args.database, args.precompute)
    try:
        # Exactly what `connect-readings serve --workers 1` runs (one process, so the patches hold).
        cli._serve(Settings.from_env(database=args.database, host=args.host, port=args.port, workers=1))
    finally:
        print(f"control: {LOOKUPS} pages served from memory", flush=True)


if __name__ == "__main__":
    main()
