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

from .edges import ROW_US, merge_rows, plan_edges
from .gauges import BLOCK_US, TIERS, GaugeSummary, block_of, merge, merge_run, of_columns
from .readings import GAUGE_COUNT, Reading, last_per_timestamp
from .registers import Sample, reset_deltas

Values = tuple[float | None, ...]
"""A reading's register values in REGISTER_SERIES order (None where absent)."""
Summaries = dict[int, GaugeSummary]
"""A block's summaries: gauge (GAUGE_SERIES index) → the summary of its samples in the block."""


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

    def bounds(self, k: int, columns: list[Values] | None = None) -> tuple[int, int]:
        """The first and last timestamps of the batch where register k (or column k of `columns`) has a value
        (it has at least one)."""
        column = (self.columns if columns is None else columns)[k]
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
    before_ts: dict[int, int] = field(default_factory=dict)
    """Per register in `before`: that reading's timestamp."""
    after: dict[int, Sample] = field(default_factory=dict)
    """Per register: the nearest stored reading after hi that has it (absent: none)."""
    registers: list[int] = field(default_factory=list)
    """The registers probed (`probe_registers`)."""
    gauge_rows: list[tuple[int, Values]] | None = None
    """Not appending: the stored readings in the batch's blocks (`gauge_spans`), ascending, as (timestamp,
    gauge values); None when the entity has no gauges stored there (then there is nothing to read)."""
    gauge_children: dict[int, dict[int, Summaries]] = field(default_factory=dict)
    """Not appending (with `gauge_rows`): per tier below the coarsest, its stored blocks in the coarsest blocks
    holding the batch's readings (`gauge_parent_spans`): {width: {block: summaries}}."""
    gauge_tail: dict[int, Summaries] = field(default_factory=dict)
    """Appending: per tier width, the stored summaries of its block holding the batch's first reading."""
    edge_rows: dict[int, dict[int, bytes]] = field(default_factory=dict)
    """Per register: its stored quarter-hour edge rows (key → row) meeting its `edge_span` (edges.py)."""


@dataclass(frozen=True, slots=True)
class IngestPlan:
    rows: list[Reading]
    """To upsert: a reading replaces the whole stored reading with its timestamp."""
    replaced: int
    widen: list[tuple[int, int, int]]
    """(register, first_ts, last_ts): widen the register's series bounds to include these."""
    gauge_widen: list[tuple[int, int, int]]
    """(gauge, first_ts, last_ts): the same for the gauges (their series bounds enclose their samples)."""
    reset_spans: list[tuple[int, int, int]]
    """(register, lo, hi): the stored resets of the register in [lo, hi] are replaced by ..."""
    resets: list[tuple[int, int, float]]
    """... these (register, timestamp, offset added from that reading on)."""
    gauge_blocks: list[tuple[int, int, Summaries]]
    """(tier width, block start, the summary of each gauge's samples in it) to upsert: a block's row holds all
    its gauges."""
    gauge_deletes: list[tuple[int, int]]
    """(tier width, block start) of blocks left without any gauge sample."""
    edge_rows: list[tuple[int, int, bytes | None]]
    """(register, row key, row) of quarter-hour edges to upsert (edges.ROW_US); row None: delete (no edge known in
    the row)."""


def plan(batch: Batch, around: Surroundings) -> IngestPlan:
    """Every row the batch changes. The resets of a register are recomputed from the reading before the
    batch to the first one after it, over the stored readings the batch does not replace and the batch."""
    lo, hi = batch.lo, batch.hi
    batch_stamps = set(batch.stamps) if around.existing else set()
    kept = [(ts, values) for ts, values in around.existing if ts not in batch_stamps]
    reset_spans: list[tuple[int, int, int]] = []
    resets: list[tuple[int, int, float]] = []
    edge_rows: list[tuple[int, int, bytes | None]] = []
    for k in around.registers:
        after = around.after.get(k)
        stamps, values = _merged(batch, kept, k)
        if after is not None:
            stamps.append(after[0])
            values.append(after[1])
        reset_spans.append((k, lo, after[0] if after is not None else hi))
        found = reset_deltas(stamps, values, around.before.get(k))
        resets.extend((k, ts, offset) for ts, offset in found)
        span_lo, span_hi = edge_span(batch, around, k)
        if k in around.before_ts:
            stamps.insert(0, around.before_ts[k])
            values.insert(0, around.before[k])
        known = plan_edges(stamps, values, dict(found), span_lo, span_hi)
        edge_rows.extend((k, key, row) for key, row in merge_rows(around.edge_rows.get(k, {}), span_lo, span_hi,
                                                                  known))
    blocks, deletes = plan_gauge_blocks(batch, around)
    return IngestPlan(
        rows=batch.readings,
        replaced=len(around.existing) - len(kept),
        widen=[(k, *batch.bounds(k)) for k in batch.present],
        gauge_widen=[(k, *batch.bounds(k, batch.gauge_columns)) for k in batch.gauges_present],
        reset_spans=reset_spans,
        resets=resets,
        gauge_blocks=blocks,
        gauge_deletes=deletes,
        edge_rows=edge_rows,
    )


def edge_span(batch: Batch, around: Surroundings, k: int) -> tuple[int, int]:
    """[lo, hi] where the batch may change register k's quarter-hour edges: from its reading before the batch
    (or the batch's start) to its first reading after it (or the batch's end). The store reads the stored edge
    rows meeting it (`Surroundings.edge_rows`) before planning."""
    after = around.after.get(k)
    return around.before_ts.get(k, batch.lo), after[0] if after is not None else batch.hi


def edge_row_keys(batch: Batch, around: Surroundings) -> tuple[int, int] | None:
    """The keys [first, last] of the edge rows meeting every probed register's `edge_span` (None: no register)."""
    spans = [edge_span(batch, around, k) for k in around.registers]
    if not spans:
        return None
    return min(lo for lo, _ in spans) // ROW_US, max(hi for _, hi in spans) // ROW_US


def gauge_spans(batch: Batch, width: int = BLOCK_US) -> list[tuple[int, int]]:
    """The blocks of `width` holding the batch's readings, as half-open spans [lo, hi) of consecutive blocks:
    where a batch that does not append must read what is stored (a reading it replaces may take gauges away)."""
    spans: list[tuple[int, int]] = []
    for ts in batch.stamps:
        block = ts - ts % width
        if spans and block <= spans[-1][1]:
            if block == spans[-1][1]:
                spans[-1] = (spans[-1][0], block + width)
            continue
        spans.append((block, block + width))
    return spans


def gauge_parent_spans(batch: Batch) -> list[tuple[int, int]]:
    """The coarsest tier's blocks holding the batch's readings: where the stored blocks of the finer tiers are
    read when the batch does not append (`Surroundings.gauge_children`)."""
    return gauge_spans(batch, TIERS[-1])


def plan_gauge_blocks(batch: Batch, around: Surroundings
                      ) -> tuple[list[tuple[int, int, Summaries]], list[tuple[int, int]]]:
    """The block summaries of every tier a batch changes (docs/semantics.md §10: late data updates every affected
    block at once).

    Appending, each tier's block the batch starts in keeps its stored summaries, merged with the batch's samples
    (block summaries depend on their own samples only); later blocks are new. Otherwise every 15-minute block
    holding a reading of the batch is summarised again from its samples after the write (the stored ones the
    batch does not replace, and the batch's), and each coarser block above a changed one again from its
    children; a block left without samples is deleted.
    """
    stamps = batch.stamps
    if around.gauge_rows is None:  # appending, or no gauge stored in the batch's blocks
        finest: dict[int, Summaries] = {}
        runs = _block_runs(stamps)  # (shared by every gauge that every reading has)
        for k in batch.gauges_present:
            column = batch.gauge_columns[k]
            if None in column:
                pairs = [(ts, v) for ts, v in zip(stamps, column) if v is not None]
                found = block_summaries([ts for ts, _ in pairs], [v for _, v in pairs])
            else:
                found = block_summaries(stamps, column, runs)  # type: ignore[arg-type]
            for block, summary in found:
                finest.setdefault(block, {})[k] = summary
        upserts: list[tuple[int, int, Summaries]] = []
        own = sorted(finest.items())  # the batch's own samples, per block of the tier at hand
        for width, parent in zip(TIERS, TIERS[1:] + (0,)):
            level = list(own)
            tail = around.gauge_tail.get(width)
            if tail and level and level[0][0] == block_of(stamps[0], width):
                mine = level[0][1]
                level[0] = (level[0][0], {k: merge(tail.get(k), mine.get(k)) for k in sorted(tail.keys() | mine.keys())})  # type: ignore[misc]
            upserts.extend((width, block, summaries) for block, summaries in level)
            if parent:  # the coarser tier's blocks of the batch: its finer ones merged
                grouped: dict[int, list[Summaries]] = {}
                for block, summaries in own:
                    grouped.setdefault(block - block % parent, []).append(summaries)
                own = [(block, merge_blocks(children)) for block, children in sorted(grouped.items())]
        return upserts, []
    batch_stamps = set(stamps)
    rows = [(ts, values) for ts, values in around.gauge_rows if ts not in batch_stamps]
    rows += [(ts, values) for ts, values in zip(stamps, zip(*batch.gauge_columns))]
    rows.sort(key=lambda row: row[0])
    rebuilt = dict(rebuild_blocks(rows))
    touched = sorted({block_of(ts) for ts in stamps})
    changed: dict[int, Summaries | None] = {block: rebuilt.get(block) for block in touched}  # None: deleted
    upserts, deletes = [], []
    for child, parent in zip(TIERS, TIERS[1:] + (0,)):
        upserts.extend((child, block, summaries) for block, summaries in changed.items() if summaries is not None)
        deletes.extend((child, block) for block, summaries in changed.items() if summaries is None)
        if not parent:
            break
        stored = around.gauge_children.get(child, {})
        children = {**stored, **changed}
        changed = {}
        for block in sorted({b - b % parent for b in children} & {b - b % parent for b in touched}):
            inside = sorted((b, s) for b, s in children.items() if block <= b < block + parent and s is not None)
            changed[block] = merge_blocks([s for _, s in inside]) if inside else None
        touched = sorted(changed)
    return upserts, deletes


def merge_blocks(blocks: Sequence[Summaries]) -> Summaries:
    """The summaries of consecutive blocks merged into the block that holds them (a coarser tier's)."""
    gauges = sorted({k for summaries in blocks for k in summaries})
    return {k: merge_run(summaries[k] for summaries in blocks if k in summaries) for k in gauges}  # type: ignore[misc]


def block_summaries(stamps: Sequence[int], values: Sequence[float], runs: list[tuple[int, int, int]] | None = None
                    ) -> list[tuple[int, GaugeSummary]]:
    """(block, summary of its samples) of every 15-minute block one gauge's samples (ascending times) fall in.

    `runs`: `_block_runs(stamps)` when the caller has it already (shared by the gauges every reading has). A block
    with one sample (data sparser than the blocks, such as a meter every 15 minutes) gets its summary straight
    from that sample.
    """
    found = []
    for block, lo, hi in _block_runs(stamps) if runs is None else runs:
        if hi - lo == 1:
            t, v = stamps[lo], values[lo]
            found.append((block, GaugeSummary(1, v, t, v, t, 0.0, (t, v), (t, v))))
        else:
            found.append((block, of_columns(stamps[lo:hi], values[lo:hi])))
    return found


def rebuild_blocks(rows: Iterable[tuple[int, Values]]) -> Iterator[tuple[int, Summaries]]:
    """(block, summaries) of every 15-minute block holding a gauge sample, from readings' gauge values in time
    order (also for data stored before block summaries existed: migration 0005). Streams, one block at a time."""
    current: int | None = None
    pending: dict[int, tuple[list[int], list[float]]] = {}
    for ts, values in rows:
        block = ts - ts % BLOCK_US
        if block != current:
            if pending:
                yield current, {k: of_columns(*pending[k]) for k in sorted(pending)}  # type: ignore[misc]
            current, pending = block, {}
        for k, value in enumerate(values):
            if value is not None:
                column = pending.setdefault(k, ([], []))
                column[0].append(ts)
                column[1].append(value)
    if pending:
        yield current, {k: of_columns(*pending[k]) for k in sorted(pending)}  # type: ignore[misc]


def rebuild_tiers(rows: Iterable[tuple[int, Values]]) -> Iterator[tuple[int, int, Summaries]]:
    """(width, block, summaries) of every tier's blocks, from readings' gauge values in time order (migration
    0005). Streams: a coarsest block at a time."""
    pending: list[tuple[int, Summaries]] = []
    for block, summaries in rebuild_blocks(rows):
        if pending and block - block % TIERS[-1] != pending[0][0] - pending[0][0] % TIERS[-1]:
            yield from _tiers_of(pending)
            pending = []
        pending.append((block, summaries))
    if pending:
        yield from _tiers_of(pending)


def _tiers_of(blocks: list[tuple[int, Summaries]]) -> Iterator[tuple[int, int, Summaries]]:
    """The blocks of every tier from the 15-minute blocks inside one coarsest block."""
    level = blocks
    for child, parent in zip(TIERS, TIERS[1:] + (0,)):
        yield from ((child, block, summaries) for block, summaries in level)
        if not parent:
            return
        grouped: dict[int, list[Summaries]] = {}
        for block, summaries in level:
            grouped.setdefault(block - block % parent, []).append(summaries)
        level = [(block, merge_blocks(children)) for block, children in sorted(grouped.items())]


def _block_runs(stamps: Sequence[int]) -> list[tuple[int, int, int]]:
    """(block, first index, end index) of each 15-minute block the ascending `stamps` fall in."""
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
