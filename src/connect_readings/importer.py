"""Bulk import of a CSV or JSON Lines file into a store: idempotent, batched, with line numbers of rejects.

CSV: a `timestamp` column, then one column per register field named `metric.field`
(`positiveActiveEnergy.t1`, `positiveActiveEnergy.total`, `positiveActiveEnergy.unit`,
`positiveGasVolume.value`, `positiveGasVolume.unit`, `positiveActiveInstantaneousPower.total`, …).
Empty cells are absent values. JSONL: one reading object `{"timestamp":…,"data":{…}}` per line.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from .domain.errors import DomainError
from .domain.readings import Reading, parse_reading
from .storage.base import Store

BATCH = 5_000


@dataclass
class ImportReport:
    read: int = 0
    written: int = 0
    replaced: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def import_file(
    store: Store,
    entity_id: uuid.UUID,
    handle: io.BufferedReader,
    fmt: str,
    progress: Callable[[int], None] = lambda _: None,
) -> ImportReport:
    """Read, validate and write `handle` in batches; bad lines are reported, good ones written."""
    report = ImportReport()
    batch: list[Reading] = []
    lines = _csv_items(handle, progress) if fmt == "csv" else _jsonl_items(handle, progress)
    for line_no, item in lines:
        report.read += 1
        try:
            if isinstance(item, DomainError):
                raise item
            batch.append(parse_reading(item))
        except DomainError as exc:
            report.rejected.append((line_no, exc.message))
            continue
        if len(batch) >= BATCH:
            _flush(store, entity_id, batch, report)
    _flush(store, entity_id, batch, report)
    return report


def _flush(store: Store, entity_id: uuid.UUID, batch: list[Reading], report: ImportReport) -> None:
    if batch:
        result = store.ingest(entity_id, batch)
        report.written += result.written
        report.replaced += result.replaced
        batch.clear()


def _jsonl_items(handle: io.BufferedReader, progress: Callable[[int], None]) -> Iterator[tuple[int, Any]]:
    for line_no, raw in enumerate(handle, start=1):
        progress(len(raw))
        if not raw.strip():
            continue
        try:
            yield line_no, orjson.loads(raw)
        except orjson.JSONDecodeError:
            yield line_no, DomainError("InvalidJson", "not a JSON object")


def _csv_items(handle: io.BufferedReader, progress: Callable[[int], None]) -> Iterator[tuple[int, Any]]:
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    reader = csv.reader(text)
    header = next(reader, None)
    if not header or header[0].strip() != "timestamp":
        raise DomainError("InvalidCsv", "the first CSV column must be 'timestamp'")
    columns = [tuple(name.strip().split(".", 1)) for name in header[1:]]
    for row in reader:
        progress(sum(len(cell) + 1 for cell in row))
        line_no = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield line_no, DomainError("InvalidCsv", f"expected {len(header)} cells, got {len(row)}")
            continue
        data: dict[str, dict[str, Any]] = {}
        try:
            for (metric, *rest), cell in zip(columns, row[1:]):
                cell = cell.strip()
                if not cell or not rest:
                    continue
                data.setdefault(metric, {})[rest[0]] = cell if rest[0] == "unit" else float(cell)
        except ValueError:
            yield line_no, DomainError("InvalidCsv", "a value cell is not a number")
            continue
        yield line_no, {"timestamp": row[0], "data": data}
