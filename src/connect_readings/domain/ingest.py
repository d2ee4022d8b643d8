"""The ingest planner: a batch plus what the store holds around it → every row to write (docs/semantics.md §5).

Pure: no SQL, no I/O. A store ingests in four steps inside one transaction:

1. `prepare(readings)`: the batch in time order, one reading per timestamp, with its register columns;
2. the store reads the `Surroundings` the batch asks for (`probe_registers`): the readings already stored in
   the batch's span, and per register the nearest reading before and after the span that has it;
3. `plan(batch, surroundings)`: rows to upsert, series bounds to widen, reset rows to replace;
4. the store executes the plan.

Both stores, the benchmarks' bulk writer and the tests go through this one planner, so the reset rule (any
decrease of a register is a meter reset; see `registers.reset_deltas`) is decided in exactly one place.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import lt

from .gauges import BLOCK_US, GaugeSummary, block_of, merge, of_columns
from .readings import GAUGE_COUNT, Reading, last_per_timestamp
from .registers import Sample, reset_deltas

Values = tuple[float | None, ...]
"""A reading's register values in REGISTER_SERIES order (None where absent)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """A validated batch in time order, one reading per timestamp (the last one sent wins)."""

    readings: list[Reading]
    received: int
    stamps: list[int]
    columns: list[Values]
    """Per register: its value in each reading of the batch."""
    present: list[int]
    """Registers with a value in at least one reading."""
    gauge_columns: list[Values]
    """Per gauge (GAUGE_SERIES order): its value in each reading of the batch."""
    gauges_present: list[int]
    """Gauges with a value in at least one reading."""

    @classmethod
    def from_columns(cls, stamps: list[int], columns: dict[int, list[float]], register_count: int) -> "Batch":
        """A batch given column-wise (ascending distinct timestamps; the registers present; no gauges), without
        readings: for writers that hold their data as columns (the benchmarks' bulk writer)."""
        absent: Values = (None,) * len(stamps)
        return cls([], len(stamps), stamps, [tuple(columns[k]) if k in columns else absent
                                             for k in range(register_count)], sorted(columns),
                   [absent] * GAUGE_COUNT, [])

    @property
    def lo(self) -> int:
        return self.stamps[0]

    @property
    def hi(self) -> int:
        return self.stamps[-1]

    def bounds(self, k: int) -> tuple[int, int]:
        """The first and last timestamps of the batch where register k has a value (it has at least one)."""
        column = self.columns[k]
        first = next(i for i, v in enumerate(column) if v is not None)
        last = next(i for i in range(len(column) - 1, -1, -1) if column[i] is not None)
        return self.stamps[first], self.stamps[last]


def prepare(readings: Sequence[Reading], register_count: int) -> Batch | None:
    """The batch as the planner and the stores use it; None for an empty batch."""
    stamps = [r.ts for r in readings]
    if all(map(lt, stamps, islice(stamps, 1, None))):  # the usual batch: in order, no repeats
        ordered = list(readings)
    else:
        ordered = last_per_timestamp(readings)
        stamps = [r.ts for r in ordered]
    if not ordered:
        return None
    n = len(ordered)
    columns: list[Values] = list(zip(*[r.registers for r in ordered])) or [(None,) * n] * register_count
    present = [k for k, column in enumerate(columns) if column[0] is not None or column.count(None) != n]
    gauge_columns: list[Values] = list(zip(*[r.gauges for r in ordered]))
    gauges_present = [k for k, column in enumerate(gauge_columns) if column[0] is not None or column.count(None) != n]
    return Batch(ordered, len(readings), stamps, columns, present, gauge_columns, gauges_present)


def probe_registers(batch: Batch, stored: Collection[int], appending: bool) -> list[int]:
    """The registers whose neighbours the store must read: with nothing stored at or after the batch
    (`appending`), only those the batch has; otherwise every register the entity has (`stored`) too."""
    if appending:
        return list(batch.present)
    return sorted(set(stored) | set(batch.present))


@dataclass(slots=True)
class Surroundings:
    """What the store holds around a batch, read in the batch's transaction before anything is written."""

    existing: list[tuple[int, Values]] = field(default_factory=list)
    """Readings stored in [lo, hi], ascending: (timestamp, register values)."""
    before: dict[int, float] = field(default_factory=dict)
    """Per register: the value of the nearest stored reading before lo that has it (absent: none)."""
    after: dict[int, Sample] = field(default_factory=dict)
    """Per register: the nearest stored reading after hi that has it (absent: none)."""
    registers: list[int] = field(default_factory=list)
    """The registers probed (`probe_registers`)."""
    gauge_rows: list[tuple[int, Values]] | None = None
    """Not appending: the stored readings in the batch's blocks (`gauge_spans`), ascending, as (timestamp,
    gauge values); None when the entity has no gauges stored there (then there is nothing to read)."""
    gauge_tail: dict[int, GaugeSummary] = field(default_factory=dict)
    """Appending: per gauge, the stored summary of the block holding the batch's first reading (absent: none)."""


@dataclass(frozen=True, slots=True)
class IngestPlan:
    rows: list[Reading]
    """To upsert: a reading replaces the whole stored reading with its timestamp."""
    replaced: int
    widen: list[tuple[int, int, int]]
    """(register, first_ts, last_ts): widen the register's series bounds to include these."""
    reset_spans: list[tuple[int, int, int]]
    """(register, lo, hi): the stored resets of the register in [lo, hi] are replaced by ..."""
    resets: list[tuple[int, int, float]]
    """... these (register, timestamp, offset added from that reading on)."""
    gauge_blocks: list[tuple[int, int, GaugeSummary]]
    """(gauge, block start, summary of the block's samples) to upsert."""
    gauge_deletes: list[tuple[int, int]]
    """(gauge, block start): blocks left without samples of the gauge."""


def plan(batch: Batch, around: Surroundings) -> IngestPlan:
    """Every row the batch changes. The resets of a register are recomputed from the reading before the
    batch to the first one after it, over the stored readings the batch does not replace and the batch."""
    lo, hi = batch.lo, batch.hi
    batch_stamps = set(batch.stamps) if around.existing else set()
    kept = [(ts, values) for ts, values in around.existing if ts not in batch_stamps]
    reset_spans: list[tuple[int, int, int]] = []
    resets: list[tuple[int, int, float]] = []
    for k in around.registers:
        after = around.after.get(k)
        stamps, values = _merged(batch, kept, k)
        if after is not None:
            stamps.append(after[0])
            values.append(after[1])
        reset_spans.append((k, lo, after[0] if after is not None else hi))
        resets.extend((k, ts, offset) for ts, offset in reset_deltas(stamps, values, around.before.get(k)))
    blocks, deletes = plan_gauge_blocks(batch, around)
    return IngestPlan(
        rows=batch.readings,
        replaced=len(around.existing) - len(kept),
        widen=[(k, *batch.bounds(k)) for k in batch.present],
        reset_spans=reset_spans,
        resets=resets,
        gauge_blocks=blocks,
        gauge_deletes=deletes,
    )


def gauge_spans(batch: Batch) -> list[tuple[int, int]]:
    """The blocks holding the batch's readings, as half-open spans [lo, hi) of consecutive blocks: where a
    batch that does not append must read the stored readings (a reading it replaces may take gauges away)."""
    spans: list[tuple[int, int]] = []
    for ts in batch.stamps:
        block = block_of(ts)
        if spans and block <= spans[-1][1]:
            if block == spans[-1][1]:
                spans[-1] = (spans[-1][0], block + BLOCK_US)
            continue
        spans.append((block, block + BLOCK_US))
    return spans


def plan_gauge_blocks(batch: Batch, around: Surroundings) -> tuple[list[tuple[int, int, GaugeSummary]], list[tuple[int, int]]]:
    """The block summaries a batch changes (statistics design §7: late data updates every affected block at once).

    Appending, a block's summary is the stored one of the block the batch starts in merged with the batch's
    samples (block summaries depend on their own samples only). Otherwise every block holding a reading of the
    batch is summarised again from its samples after the write: the stored ones the batch does not replace,
    and the batch's.
    """
    upserts: list[tuple[int, int, GaugeSummary]] = []
    deletes: list[tuple[int, int]] = []
    stamps = batch.stamps
    if around.gauge_rows is None:  # appending, or nothing stored in the batch's blocks
        for k in batch.gauges_present:
            column = batch.gauge_columns[k]
            if None in column:
                pairs = [(ts, v) for ts, v in zip(stamps, column) if v is not None]
                ts_k, values = [ts for ts, _ in pairs], [v for _, v in pairs]
            else:
                ts_k, values = stamps, list(column)  # type: ignore[arg-type]
            tail = around.gauge_tail.get(k)
            for block, summary in block_summaries(ts_k, values):
                if tail is not None and block == block_of(tail.head[0]):
                    summary = merge(tail, summary)  # type: ignore[assignment]
                upserts.append((k, block, summary))
        return upserts, deletes
    batch_stamps = set(stamps)
    kept = [(ts, values) for ts, values in around.gauge_rows if ts not in batch_stamps]
    touched = {block_of(ts) for ts in stamps}
    stored_blocks: dict[int, set[int]] = {}  # gauge → blocks that held a sample before the batch
    for ts, values in around.gauge_rows:
        for k, v in enumerate(values):
            if v is not None:
                stored_blocks.setdefault(k, set()).add(block_of(ts))
    for k in sorted(set(batch.gauges_present) | stored_blocks.keys()):
        column = batch.gauge_columns[k]
        samples = [(ts, v) for ts, v in zip(stamps, column) if v is not None]
        samples += [(ts, values[k]) for ts, values in kept if values[k] is not None]  # type: ignore[misc]
        samples.sort()
        ts_k, vals = [ts for ts, _ in samples], [v for _, v in samples]  # type: ignore[misc]
        written = set()
        for block, lo, hi in _block_runs(ts_k):
            if block in touched:
                upserts.append((k, block, of_columns(ts_k[lo:hi], vals[lo:hi])))  # type: ignore[arg-type]
                written.add(block)
        deletes.extend((k, block) for block in sorted(stored_blocks.get(k, set()) & touched - written))
    return upserts, deletes


def block_summaries(stamps: Sequence[int], values: Sequence[float]) -> list[tuple[int, GaugeSummary]]:
    """(block, summary of its samples) of every block one gauge's samples (ascending times) fall in."""
    return [(block, of_columns(stamps[lo:hi], values[lo:hi])) for block, lo, hi in _block_runs(stamps)]


def rebuild_blocks(rows: Iterable[tuple[int, Values]]) -> Iterator[tuple[int, int, GaugeSummary]]:
    """(gauge, block, summary) of every block of one entity, from all its readings' gauge values in time order:
    what ingest would have kept, for data stored before block summaries existed (migration 0005). Streams,
    one block at a time."""
    current: int | None = None
    pending: dict[int, tuple[list[int], list[float]]] = {}
    for ts, values in rows:
        block = block_of(ts)
        if block != current:
            for k in sorted(pending):
                yield k, current, of_columns(*pending[k])  # type: ignore[misc]
            current, pending = block, {}
        for k, value in enumerate(values):
            if value is not None:
                column = pending.setdefault(k, ([], []))
                column[0].append(ts)
                column[1].append(value)
    for k in sorted(pending):
        yield k, current, of_columns(*pending[k])  # type: ignore[misc]


def _block_runs(stamps: Sequence[int]) -> list[tuple[int, int, int]]:
    """(block, first index, end index) of each block the ascending `stamps` fall in."""
    runs: list[tuple[int, int, int]] = []
    i, n = 0, len(stamps)
    while i < n:
        block = block_of(stamps[i])
        j = bisect_left(stamps, block + BLOCK_US, i, n)
        runs.append((block, i, j))
        i = j
    return runs


def _merged(batch: Batch, kept: list[tuple[int, Values]], k: int) -> tuple[list[int], list[float]]:
    """Register k's samples in [lo, hi] after the batch is written: the batch's and the kept stored ones."""
    column = batch.columns[k]
    if None not in column and not kept:  # the usual case, without a Python loop
        return list(batch.stamps), list(column)  # type: ignore[arg-type]
    samples = [(ts, v) for ts, v in zip(batch.stamps, column) if v is not None]
    samples += [(ts, values[k]) for ts, values in kept if values[k] is not None]  # type: ignore[misc]
    samples.sort()
    return [ts for ts, _ in samples], [v for _, v in samples]
