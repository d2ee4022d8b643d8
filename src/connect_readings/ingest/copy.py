"""Copy one database into another (an embedded one into PostgreSQL, say), through the Store methods only.

The price series first (docs/semantics.md §15), then entity by entity (its registry record and tariff), oldest
first, in batches: `readings(...)` chunks from the source, `ingest(...)` into the
target. Idempotent: ingest is an upsert keyed (entity, timestamp), so running it again (after an interruption,
or to catch up with a source that kept receiving readings) rewrites the same rows and leaves the same resets;
readings that exist only in the target stay. The signing keys (`jwt_secret`, `paging_key`) are copied when
the target has none yet, so bearer tokens and continuation tokens issued by the embedded server keep working.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..storage.base import Store, StoredReading, as_reading

COPIED_META = ("jwt_secret", "paging_key")
BEGINNING, END = -(2**63), 2**63 - 1  # every representable timestamp: [BEGINNING, END)


@dataclass
class CopyReport:
    entities: int = 0
    readings: int = 0
    written: int = 0
    replaced: int = 0
    price_series: int = 0
    """Price series copied (each interval replacing what it overlaps in the target: copying again is safe)."""
    tariffs: int = 0
    meta_copied: list[str] = field(default_factory=list)
    """Keys now equal in both databases (copied, or already the same)."""
    meta_conflicts: list[str] = field(default_factory=list)
    """Keys the target already had with another value: left as they were."""


def copy_meta(source: Store, target: Store, report: CopyReport) -> None:
    for key in COPIED_META:
        value = source.meta_get(key)
        if value is None:
            continue
        kept = target.meta_value(key, value)  # sets it only when the target has none
        (report.meta_copied if kept == value else report.meta_conflicts).append(key)


def chunks(store: Store, entity_id: uuid.UUID, size: int) -> Iterator[list[StoredReading]]:
    """All readings of one entity, oldest first, `size` at a time."""
    start = BEGINNING
    while True:
        rows = store.readings(entity_id, start, END, size)
        if rows:
            yield rows
        if len(rows) < size:
            return
        start = rows[-1].ts + 1


def copy_store(source: Store, target: Store, batch: int = 5_000,
               progress: Callable[[int], None] = lambda readings: None) -> CopyReport:
    report = CopyReport()
    copy_meta(source, target, report)
    for info in source.price_series():  # (shared by the tariffs below: first)
        target.put_prices(info.series, source.price_intervals(info.series.price_id, BEGINNING, END), info.updated)
        report.price_series += 1
    for entity_id in source.entity_ids():
        report.entities += 1
        record = source.entity(entity_id)
        if record is not None:  # first, so the target registers it as created when the source did
            target.put_entity(record)
            tariff = source.tariff(entity_id)
            if tariff is not None:
                target.put_tariff(entity_id, tariff, record.created)
                report.tariffs += 1
        for rows in chunks(source, entity_id, batch):
            result = target.ingest(entity_id, [as_reading(r) for r in rows])
            report.readings += result.received
            report.written += result.written
            report.replaced += result.replaced
            progress(len(rows))
    return report
