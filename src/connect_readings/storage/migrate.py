"""The migration runner and the data migrations, written once for both stores.

A store applies its dialect's SQL files (storage/migrations/<backend>/) in order; after some of them a data
migration written in Python fills what the SQL created, through `Sql`: the store's connection inside the
migration's transaction, with `?` placeholders (the PostgreSQL store's adapter turns them into `%s`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..domain.edges import rows_of_days
from ..domain.ingest import rebuild_tiers
from .base import GAUGE_COLUMNS, migrations, pack_summaries

GAUGE_BLOCKS_MIGRATION = 5
"""The migration that created `gauge_blocks`: filled from the stored readings right after it."""
EDGE_BLOCKS_MIGRATION = 10
"""The migration that created `register_edge_blocks`: the day rows of `register_edges` are moved into it right after
it (`edges.rows_of_days`), then that table is dropped."""


class Sql(Protocol):
    """A connection inside the migration's transaction; statements use `?` placeholders."""

    def rows(self, statement: str, args: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """The rows of a query."""

    def run_many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """A statement once per row of arguments (nothing when there is none)."""

    def run(self, statement: str) -> None:
        """A statement without arguments."""


def apply_pending(backend: str, applied: int, sql: Sql, apply: Callable[[str], None],
                  record: Callable[[int], None]) -> int:
    """Every migration of `backend` after version `applied`, in order: its SQL (`apply`), its data migration if it
    has one, then `record(version)`. Returns the version reached; the caller holds the transaction."""
    for number, text in migrations(backend):
        if number > applied:
            apply(text)
            data = DATA_MIGRATIONS.get(number)
            if data is not None:
                data(sql)
            record(number)
            applied = number
    return applied


def rebuild_gauge_blocks(sql: Sql) -> None:
    """Block summaries and series bounds of the gauges stored before they existed (migration 0005 moved them
    into columns)."""
    any_gauge = " OR ".join(f"{c} IS NOT NULL" for c in GAUGE_COLUMNS)
    for (entity,) in sql.rows("SELECT entity_id FROM entities"):
        rows = sql.rows(f"SELECT ts, {', '.join(GAUGE_COLUMNS)} FROM readings WHERE entity_id = ? AND ({any_gauge}) "
                        "ORDER BY ts", (entity,))
        bounds: dict[int, tuple[int, int]] = {}
        blocks = []
        for width, block, summaries in rebuild_tiers((row[0], tuple(row[1:])) for row in rows):
            blocks.append((entity, width, block, pack_summaries(summaries)))
            for k, summary in summaries.items():
                first, last = bounds.get(k, (summary.head[0], summary.tail[0]))
                bounds[k] = (min(first, summary.head[0]), max(last, summary.tail[0]))
        sql.run_many("INSERT INTO gauge_blocks (entity_id, width, block, summaries) VALUES (?, ?, ?, ?)", blocks)
        sql.run_many("INSERT INTO series (entity_id, register, first_ts, last_ts) VALUES (?, ?, ?, ?)",
                     [(entity, GAUGE_COLUMNS[k], first, last) for k, (first, last) in bounds.items()])


def move_edge_rows(sql: Sql) -> None:
    """The day rows of `register_edges` (migration 0009) into rows of edges.ROW_DAYS days, then that table dropped."""
    for entity, register in sql.rows("SELECT DISTINCT entity_id, register FROM register_edges"):
        days = sql.rows("SELECT day, edges FROM register_edges WHERE entity_id = ? AND register = ? ORDER BY day",
                        (entity, register))
        sql.run_many("INSERT INTO register_edge_blocks (entity_id, register, block, edges) VALUES (?, ?, ?, ?)",
                     [(entity, register, block, row) for block, row in rows_of_days((int(d), bytes(r)) for d, r in days)])
    sql.run("DROP TABLE register_edges")


DATA_MIGRATIONS: dict[int, Callable[[Sql], None]] = {
    GAUGE_BLOCKS_MIGRATION: rebuild_gauge_blocks,
    EDGE_BLOCKS_MIGRATION: move_edge_rows,
}
