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

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import lt

from .readings import Reading, last_per_timestamp
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

    @classmethod
    def from_columns(cls, stamps: list[int], columns: dict[int, list[float]], register_count: int) -> "Batch":
        """A batch given column-wise (ascending distinct timestamps; the registers present), without readings:
        for writers that hold their data as columns (the benchmarks' bulk writer)."""
        absent: Values = (None,) * len(stamps)
        return cls([], len(stamps), stamps, [tuple(columns[k]) if k in columns else absent
                                             for k in range(register_count)], sorted(columns))

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
    return Batch(ordered, len(readings), stamps, columns, present)


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
    return IngestPlan(
        rows=batch.readings,
        replaced=len(around.existing) - len(kept),
        widen=[(k, *batch.bounds(k)) for k in batch.present],
        reset_spans=reset_spans,
        resets=resets,
    )


def _merged(batch: Batch, kept: list[tuple[int, Values]], k: int) -> tuple[list[int], list[float]]:
    """Register k's samples in [lo, hi] after the batch is written: the batch's and the kept stored ones."""
    column = batch.columns[k]
    if None not in column and not kept:  # the usual case, without a Python loop
        return list(batch.stamps), list(column)  # type: ignore[arg-type]
    samples = [(ts, v) for ts, v in zip(batch.stamps, column) if v is not None]
    samples += [(ts, values[k]) for ts, values in kept if values[k] is not None]  # type: ignore[misc]
    samples.sort()
    return [ts for ts, _ in samples], [v for _, v in samples]
