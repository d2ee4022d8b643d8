"""The Store protocol: the few narrow questions the service asks of a backend.

Backends know nothing of HTTP; they store normalised readings and answer with plain values. Register values
they return are already continuous across meter resets (raw value + the resets before it), kept so by a
small side table maintained at ingest.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from ..domain.readings import Reading
from ..domain.registers import Bracket


@dataclass(frozen=True, slots=True)
class IngestResult:
    received: int
    written: int
    replaced: int


@dataclass(frozen=True, slots=True)
class StoredReading:
    ts: int
    data: dict[str, Any]


class Store(Protocol):
    def ingest(self, entity_id: uuid.UUID, readings: Sequence[Reading]) -> IngestResult:
        """Upsert a batch atomically: all of it or nothing."""

    def entity_exists(self, entity_id: uuid.UUID) -> bool: ...

    def entity_version(self, entity_id: uuid.UUID) -> int | None:
        """Changes with every ingest of the entity (in the ingest's transaction); None for an unknown entity."""

    def readings(self, entity_id: uuid.UUID, start: int, end: int, limit: int) -> list[StoredReading]:
        """Readings in [start, end), oldest first, at most `limit`."""

    def last_reading(self, entity_id: uuid.UUID) -> StoredReading | None: ...

    def register_brackets(self, entity_id: uuid.UUID, instants: Sequence[int]) -> list[list[Bracket]]:
        """For each register series, for each instant: the readings at-or-before and at-or-after it."""

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads inside the block see one consistent state (a page made of several store calls)."""

    def meta_value(self, key: str, default: str) -> str:
        """A persistent setting (e.g. a generated signing key); stores `default` when it is not set yet."""

    def close(self) -> None: ...


def open_store(database: str) -> Store:
    """A PostgreSQL URL selects the PostgreSQL backend; anything else is a SQLite file path."""
    if database.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(database)
    from .sqlite import SQLiteStore

    return SQLiteStore(database)
