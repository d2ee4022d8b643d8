"""The migration runner and the data migrations, written once for both stores.

A store applies its dialect's SQL files (storage/migrations/<backend>/) in order; after some of them a data
migration written in Python fills what the SQL created, through `Sql`: the store's connection inside the
migration's transaction, with `?` placeholders (the PostgreSQL store's adapter turns them into `%s`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec

from ..domain.edges import rows_of_days
from ..domain.errors import DomainError
from ..domain.ingest import rebuild_tiers
from ..domain.readings import DISTANCE_COUNTERS, GAUGE_UNITS, NO_GAUGES, parse_reading
from .base import GAUGE_COLUMNS, migrations, pack_summaries

GAUGE_MIGRATION = 5
"""The migration that created the gauge columns and `gauge_blocks`: the gauges stored in `extra` move into the
columns right after it (`move_gauges_out_of_extra`), then the blocks are built from them."""
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

    def json(self, text: str) -> Any:
        """The argument that stores JSON `text` in `readings.extra`."""


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


def fill_gauges(sql: Sql) -> None:
    """Migration 0005's data: gauges out of `extra`, then their blocks and series bounds."""
    move_gauges_out_of_extra(sql)
    rebuild_gauge_blocks(sql)


def move_gauges_out_of_extra(sql: Sql) -> None:
    """Each reading's stored gauge metrics into the gauge columns and its odometer into km, as ingest normalises
    them today (`gauges_out_of_extra`); rows it leaves as they are are not written."""
    assign = ", ".join(f"{c} = ?" for c in GAUGE_COLUMNS)
    for (entity,) in sql.rows("SELECT DISTINCT entity_id FROM readings WHERE extra IS NOT NULL"):
        moved = []
        for ts, text in sql.rows("SELECT ts, CAST(extra AS TEXT) FROM readings WHERE entity_id = ? "
                                 "AND extra IS NOT NULL ORDER BY ts", (entity,)):
            if (found := gauges_out_of_extra(text)) is not None:
                gauges, kept = found
                moved.append((*gauges, None if kept is None else sql.json(kept), entity, ts))
        sql.run_many(f"UPDATE readings SET {assign}, extra = ? WHERE entity_id = ? AND ts = ?", moved)


_NORMALISED_IN_EXTRA = frozenset(GAUGE_UNITS) | frozenset(DISTANCE_COUNTERS)
_decode_members = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
"""A JSON object's members in order, each value as its stored text."""


def gauges_out_of_extra(text: str) -> tuple[tuple[float | None, ...], str | None] | None:
    """A stored `extra` (JSON text) → its gauge values (GAUGE_SERIES order) and the `extra` left (None when
    empty), or None when nothing in it changes. A gauge metric or odometer ingest accepts today (parse_reading)
    becomes what ingest makes of it: the gauge leaves `extra`, the odometer is rewritten in km. Anything else
    keeps its text and place. A text holding the escape \\u0000 is left as it is (as migration 0005 always did)."""
    if "\\u0000" in text:
        return None
    try:
        members = _decode_members(text)
    except msgspec.ValidationError:  # (not an object)
        return None
    gauges: list[float | None] = list(NO_GAUGES)
    kept: list[bytes] = []
    changed = False
    for name, raw in members.items():
        reading = _normalised(name, msgspec.json.decode(raw)) if name in _NORMALISED_IN_EXTRA else None
        if reading is None:
            kept.append(msgspec.json.encode(name) + b":" + bytes(raw))
            continue
        changed = True
        if name in GAUGE_UNITS:
            gauges = [g if n is None else n for g, n in zip(gauges, reading.gauges)]
        else:
            kept.append(msgspec.json.encode(name) + b":" + msgspec.json.encode(reading.data[name]))
    if not changed:
        return None
    return tuple(gauges), (b"{" + b",".join(kept) + b"}").decode() if kept else None


def _normalised(name: str, measurement: Any) -> Any:
    """A reading of the one metric as ingest would store it, or None when ingest refuses it."""
    try:
        return parse_reading({"timestamp": "1970-01-01T00:00:00Z", "data": {name: measurement}})
    except DomainError:
        return None


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
    GAUGE_MIGRATION: fill_gauges,
    EDGE_BLOCKS_MIGRATION: move_edge_rows,
}
