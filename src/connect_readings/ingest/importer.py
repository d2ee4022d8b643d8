"""Bulk import of a CSV or JSON Lines file into a store: idempotent, batched, with line numbers of rejects.

CSV: a `timestamp` column, then one column per register field named `metric.field`
(`positiveActiveEnergy.t1`, `positiveActiveEnergy.total`, `positiveActiveEnergy.unit`,
`positiveGasVolume.value`, `positiveGasVolume.unit`, `positiveActiveInstantaneousPower.total`, …).
Empty cells are absent values. JSONL: one reading object `{"timestamp":…,"data":{…}}` per line. P1: DSMR
telegrams as P1 loggers capture them, back to back (`p1.split_telegrams`, `p1.TelegramStream`); a bad one is
rejected with the line number of its `/`. Interval files (a grid operator's volumes) and the `;` dialect of
the CSV: ingest/intervals.py (docs/semantics.md §14).

The file is read in chunks of about a megabyte, each line decoded and validated by the one reading parser
(`readings.decode_reading`), so rejects and their messages are those of the HTTP API. Readings go to the store `TRANSACTION` at a time (one transaction each; an
import that stops half-way keeps the transactions committed before, and running it again is idempotent); the
written/replaced counts are reported as if every `BATCH` readings had been one ingest call.
"""

from __future__ import annotations

import csv
import gc
import io
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, islice
from operator import lt

from ..domain.errors import DomainError
from ..domain.readings import Reading, decode_reading, decode_readings, parse_reading
from ..storage.base import Store, reading_at

BATCH = 5_000  # the unit of the written/replaced counts
TRANSACTION = 50_000  # readings per store.ingest call, a multiple of BATCH
CHUNK_BYTES = 1 << 20  # JSONL read size (whole lines)
CSV_ROWS = 5_000  # CSV rows per chunk


FORMAT_NAMES = {"p1": "P1 telegrams", "csv": "CSV with a timestamp column", "jsonl": "JSON Lines (one reading object a line)"}
"""What `guess_format` recognises, as an import's hint names it."""
_P1_LINE = re.compile(rb"(?m)^(?:/[A-Za-z]{3}\d|\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}\()")


def guess_format(head: bytes) -> str | None:
    """The format the start of a file looks like, for the hint of an import that rejected all of it: `p1` (a
    telegram header `/XXX5…` or an OBIS line `1-0:1.8.1(…`), `jsonl` (a first line that opens a JSON object),
    `csv` (a first line of comma-separated cells beginning with `timestamp`), else None.

    >>> guess_format(b"1-0:1.8.1(000123.456*kWh)"), guess_format(b'{"timestamp": 1}')
    ('p1', 'jsonl')
    >>> guess_format(b"timestamp,positiveActiveEnergy.total"), guess_format(b"hello")
    ('csv', None)
    """
    text = head.removeprefix(b"\xef\xbb\xbf")
    if _P1_LINE.search(text):
        return "p1"
    first = next((line.strip() for line in text.splitlines() if line.strip()), b"")
    if first.startswith(b"{"):
        return "jsonl"
    if b"," in first and first.split(b",", 1)[0].strip().strip(b'"') == b"timestamp":
        return "csv"
    return None


@dataclass
class ImportReport:
    read: int = 0
    written: int = 0
    replaced: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. an interval file's estimated intervals


def import_file(
    store: Store,
    entity_id: uuid.UUID,
    handle: io.BufferedReader,
    fmt: str,
    progress: Callable[[int], None] = lambda _: None,
    time_zone: str | None = None,
    preset: str | None = None,
    columns: str | None = None,
    default_zone: str | None = None,
) -> ImportReport:
    """Read, validate and write `handle` in batches; bad lines are reported, good ones written.

    `time_zone`: the zone of local times (interval files, the `;` CSV dialect); `preset`/`columns`: an interval
    file's layout (ingest/intervals.py); `default_zone`: an interval file's zone when neither `time_zone`, the
    entity nor the layout gives one."""
    report = ImportReport()
    writer = _Writer(store, entity_id, report)
    with _collector_paused():
        if fmt == "csv":
            _import_csv(handle, progress, report, writer, time_zone)
        elif fmt == "interval":
            from .intervals import import_intervals

            import_intervals(store, entity_id, handle, progress, report, writer, time_zone, preset, columns,
                             default_zone)
        elif fmt == "p1":
            _import_p1(handle, progress, report, writer)
        else:
            _import_jsonl(handle, progress, report, writer)
        writer.flush(final=True)
    return report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while importing: the readings held for a transaction form no cycles, and
    the collector's passes over them (hundreds of thousands of objects) cost more than parsing them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Writer:
    """Collects valid readings and ingests them TRANSACTION at a time.

    Counts equal those of one ingest call per BATCH readings: with U_i the distinct timestamps of the i-th
    BATCH, those calls would report written = Σ|U_i| and replaced = Σ|U_i| − (distinct timestamps that were
    new), and one call over their concatenation reports written − replaced = that number of new timestamps.
    """

    def __init__(self, store: Store, entity_id: uuid.UUID, report: ImportReport) -> None:
        self.store = store
        self.entity_id = entity_id
        self.report = report
        self.pending: list[Reading] = []

    def extend(self, readings: list[Reading]) -> None:
        self.pending += readings
        if len(self.pending) >= TRANSACTION:
            self.flush(final=False)

    def append(self, reading: Reading) -> None:
        self.pending.append(reading)
        if len(self.pending) >= TRANSACTION:
            self.flush(final=False)

    def flush(self, final: bool) -> None:
        pending = self.pending
        cut = len(pending) if final else len(pending) - len(pending) % BATCH  # keep BATCH boundaries aligned
        if not cut:
            return
        batch, self.pending = pending[:cut], pending[cut:]
        result = self.store.ingest(self.entity_id, batch)
        distinct = sum(_distinct(batch[i:i + BATCH]) for i in range(0, cut, BATCH))
        self.report.written += distinct
        self.report.replaced += distinct - (result.written - result.replaced)


def _distinct(readings: Sequence[Reading]) -> int:
    stamps = [r.ts for r in readings]
    return len(stamps) if all(map(lt, stamps, islice(stamps, 1, None))) else len(set(stamps))


def _import_jsonl(
    handle: io.BufferedReader, progress: Callable[[int], None], report: ImportReport, writer: _Writer,
) -> None:
    line_no = 0
    while lines := handle.readlines(CHUNK_BYTES):
        progress(sum(map(len, lines)))
        try:  # the usual chunk: every line a good reading, so no per-line bookkeeping
            readings = decode_readings(lines)
        except DomainError:
            readings = None
        if readings is not None:
            report.read += len(lines)
            writer.extend(readings)
        else:
            _lines_one_by_one(lines, line_no, report, writer)
        line_no += len(lines)


def _lines_one_by_one(lines: list[bytes], line_no: int, report: ImportReport, writer: _Writer) -> None:
    """A chunk with a blank or a bad line: each line on its own, rejects listed with their line numbers."""
    for number, raw in enumerate(lines, start=line_no + 1):
        if not raw.strip():
            continue
        report.read += 1
        try:
            reading = decode_reading(raw)
        except DomainError as exc:
            report.rejected.append((number, exc.message))
            continue
        writer.append(reading)


def _import_csv(
    handle: io.BufferedReader, progress: Callable[[int], None], report: ImportReport, writer: _Writer,
    time_zone: str | None = None,
) -> None:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    first = text.readline()
    local = None  # the European spreadsheet dialect: `;`, decimal comma, local `dd/mm/yyyy hh:mm` (intervals.py)
    if first.count(";") > first.count(","):
        from .intervals import LocalDialect, looks_like_intervals, zone_for

        if looks_like_intervals(first):
            raise DomainError("InvalidCsv", "this is an interval file (volumes per interval): use --format interval")
        if time_zone is None:
            raise DomainError("MissingTimeZone", "a ';' CSV has local times: give --time-zone")
        local = LocalDialect(zone_for(time_zone))
    reader = csv.reader(chain([first], text), delimiter=";" if local else ",")
    header = next(reader, None)
    if not header or header[0].strip() != "timestamp":
        raise DomainError("InvalidCsv", "the first CSV column must be 'timestamp'")
    width = len(header)
    # (cell index, metric, field, is the unit) of every `metric.field` column; a column without a field is ignored
    plan = [
        (i, metric, rest[0], rest[0] == "unit")
        for i, (metric, *rest) in enumerate((tuple(name.strip().split(".", 1)) for name in header[1:]), start=1)
        if rest
    ]
    while True:
        rows = [(reader.line_num, row) for row in islice(reader, CSV_ROWS)]
        if not rows:
            break
        cells = [row for _, row in rows]
        progress(sum(map(len, chain.from_iterable(cells))) + sum(map(len, cells)))  # characters + separators
        for line_no, row in rows:
            if not row or (not row[0].strip() and not "".join(row).strip()):
                continue
            report.read += 1
            if len(row) != width:
                report.rejected.append((line_no, f"expected {width} cells, got {len(row)}"))
                continue
            data: dict[str, dict[str, object]] = {}
            try:
                for i, metric, name, is_unit in plan:
                    cell = row[i].strip()
                    if not cell:
                        continue
                    measurement = data.get(metric)
                    if measurement is None:
                        measurement = data[metric] = {}
                    measurement[name] = cell if is_unit else local.number(cell) if local else float(cell)
            except ValueError:
                report.rejected.append((line_no, "a value cell is not a number"))
                continue
            try:
                reading = parse_reading({"timestamp": local.timestamp(row[0]) if local else row[0], "data": data})
            except DomainError as exc:
                report.rejected.append((line_no, exc.message))
                continue
            writer.append(reading)


def _import_p1(
    handle: io.BufferedReader, progress: Callable[[int], None], report: ImportReport, writer: _Writer,
) -> None:
    """Each telegram is one `read`; its readings (electricity, gas) go to the writer, a bad one is rejected."""
    from .p1 import TelegramStream, split_telegrams  # (dsmr-parser is loaded only for P1 files)

    def lines() -> Iterator[bytes]:
        while chunk := handle.readlines(CHUNK_BYTES):
            progress(sum(map(len, chunk)))
            yield from chunk

    stream = TelegramStream(partial(reading_at, writer.store, writer.entity_id))
    for line_no, telegram in split_telegrams(lines()):
        report.read += 1
        try:
            readings = stream.readings(telegram)
        except DomainError as exc:
            report.rejected.append((line_no, exc.message))
            continue
        writer.extend(readings)
