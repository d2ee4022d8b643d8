"""Register values at 15-minute UTC edges (`Store.register_values_at`), on every backend.

The stores keep each register's value at every 15-minute UTC edge (multiples of 900_000_000 µs since the
epoch) inside the register's coverage, so `register_values_at(entity, registers, instants)` answers, without a
search, the instants where the value is known: a reading exactly there, or an edge on the 15-minute grid between
the register's first and last reading (inclusive). Values are continuous across resets relative to the answer:
only differences between two returned values count (with no reset at all they are the raw interpolated values).

An independent brute-force witness, exact (fractions.Fraction), nothing imported from the project's
interpolation or reset code:

- final readings: the last value written per timestamp over all batches in write order (a reading replaces the
  whole stored reading: a register it lacks is gone from that timestamp);
- continuous value of register k: walk its readings in time order; a raw value below the previous raw value is a
  meter reset, the previous raw value is added to a running offset from that reading on;
- value at t, first ≤ t ≤ last: linear interpolation between the continuous values of the readings at-or-before
  and at-or-after t (exact at a reading).

1. A property test: 1–4 batches of 1–30 readings (late data, replacements, resets, a sparse second register).
2. A table of hand-computed rows, one edge case a row.
"""

from __future__ import annotations

import bisect
import uuid
from fractions import Fraction
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from connect_readings.domain.readings import REGISTER_SERIES, parse_reading
from connect_readings.domain.timefmt import format_datetime
from connect_readings.storage.base import Store

S = 1_000_000
MINUTE = 60 * S
EDGE = 15 * MINUTE  # 900_000_000 µs
DAY = 24 * 60 * MINUTE
T0 = 1_729_900_800_000_000  # 2024-10-26T00:00:00Z
WINDOW = 2 * DAY
assert T0 % EDGE == 0 and format_datetime(T0) == "2024-10-26T00:00:00Z"

POS = REGISTER_SERIES.index(("positiveActiveEnergy", "total"))
NEG = REGISTER_SERIES.index(("negativeActiveEnergy", "total"))
METRIC = {POS: "positiveActiveEnergy", NEG: "negativeActiveEnergy"}

# one wire reading: (ts µs, positiveActiveEnergy total or None, negativeActiveEnergy total or None)
Item = tuple[int, float | None, float | None]


def wire(ts: int, pos: float | None, neg: float | None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if pos is not None:
        data["positiveActiveEnergy"] = {"total": pos, "unit": "kWh"}
    if neg is not None:
        data["negativeActiveEnergy"] = {"total": neg, "unit": "kWh"}
    return {"timestamp": format_datetime(ts), "data": data}


def write(store: Store, entity: uuid.UUID, batches: list[list[Item]]) -> None:
    for batch in batches:
        store.ingest(entity, [parse_reading(wire(*item)) for item in batch])


# -- the reference ---------------------------------------------------------------------------------------
class Reference:
    """The brute-force witness for one register: exact continuous values and interpolation."""

    def __init__(self, batches: list[list[Item]], register: int) -> None:
        final: dict[int, Item] = {}
        for batch in batches:
            for item in batch:  # in write order: a later one replaces the whole reading at its timestamp
                final[item[0]] = item
        column = 1 if register == POS else 2
        series = sorted((ts, item[column]) for ts, item in final.items() if item[column] is not None)
        self.stamps = [ts for ts, _ in series]
        self.continuous: list[Fraction] = []
        self.resets = 0
        offset, previous = Fraction(0), None
        for _, raw in series:
            value = Fraction(raw)  # exactly the double the store keeps
            if previous is not None and value < previous:
                offset += previous
                self.resets += 1
            self.continuous.append(value + offset)
            previous = value

    @property
    def coverage(self) -> tuple[int, int] | None:
        return (self.stamps[0], self.stamps[-1]) if self.stamps else None

    def covers(self, t: int) -> bool:
        return bool(self.stamps) and self.stamps[0] <= t <= self.stamps[-1]

    def is_reading(self, t: int) -> bool:
        i = bisect.bisect_left(self.stamps, t)
        return i < len(self.stamps) and self.stamps[i] == t

    def kept(self, t: int) -> bool:
        """Whether the store keeps the edge t: a reading on it, or inside coverage between two readings at most
        an hour apart (edges.MAX_GAP_US, restated here)."""
        if t % EDGE or not self.covers(t):
            return False
        i = bisect.bisect_left(self.stamps, t)
        return self.stamps[i] == t or self.stamps[i] - self.stamps[i - 1] <= 60 * MINUTE

    def at(self, t: int) -> Fraction:
        assert self.covers(t)
        i = bisect.bisect_left(self.stamps, t)
        if self.stamps[i] == t:
            return self.continuous[i]
        t0, t1 = self.stamps[i - 1], self.stamps[i]
        v0, v1 = self.continuous[i - 1], self.continuous[i]
        return v0 + (v1 - v0) * Fraction(t - t0, t1 - t0)


def close(got: float, expected: Fraction, magnitude: float) -> bool:
    return abs(Fraction(got) - expected) <= Fraction(1e-9) + Fraction(1e-12) * Fraction(magnitude)


def require_known(missing: list[int], what: str) -> None:
    """Assertion (1): instants where a value must be known (an edge inside coverage) yet none was answered."""
    assert not missing, (
        f"{what}: {len(missing)} edge(s) inside coverage without a value: "
        f"{', '.join(map(format_datetime, missing[:4]))}{' …' if len(missing) > 4 else ''}")


def check_answer(ref: Reference, register: int, instants: list[int], stamps: list[int],
                 values: list[list[float | None]]) -> None:
    """The contract of `register_values_at` for one register, against the reference."""
    assert len(values) == 1 and len(values[0]) == len(stamps)
    column = values[0]
    assert stamps == sorted(set(stamps)), "stamps ascending, no repeats"
    assert set(stamps) <= set(instants), "stamps are some of the instants"
    answered = dict(zip(stamps, column))

    # a value only where it is known without a search: a reading of the register, or an edge inside coverage
    # (in particular nothing outside the register's coverage: no reading sits there)
    for t, v in answered.items():
        if v is not None:
            assert ref.is_reading(t) or (t % EDGE == 0 and ref.covers(t)), (
                f"value {v} at {format_datetime(t)}: neither a reading of register {register} nor an edge in "
                f"its coverage {ref.coverage}")

    # every reading of the register at an instant is answered (today's behaviour)
    for t in instants:
        if ref.is_reading(t):
            assert answered.get(t) is not None, f"reading at {format_datetime(t)} not answered"

    known = [(t, v) for t, v in zip(stamps, column) if v is not None]
    magnitude = max((abs(v) for _, v in known), default=0.0)
    # differences between consecutive known values are the reference's
    for (ta, va), (tb, vb) in pairwise(known):
        expected = ref.at(tb) - ref.at(ta)
        assert close(vb - va, expected, magnitude), (
            f"{format_datetime(ta)} → {format_datetime(tb)}: got {vb - va!r}, expected {float(expected)!r}")
    # and relative to the first known value (no drift across the answer)
    if known:
        t_first, v_first = known[0]
        for t, v in known[1:]:
            expected = ref.at(t) - ref.at(t_first)
            assert close(v - v_first, expected, magnitude), (
                f"{format_datetime(t_first)} → {format_datetime(t)}: got {v - v_first!r}, expected "
                f"{float(expected)!r}")
    # with no reset at all the values are the raw interpolated ones
    if ref.resets == 0:
        for t, v in known:
            assert close(v, ref.at(t), magnitude), f"{format_datetime(t)}: got {v!r}, expected {float(ref.at(t))!r}"

    # every edge kept at ingest (inside coverage, readings at most an hour apart around it) is answered
    missing = [t for t in instants if ref.kept(t) and answered.get(t) is None]
    require_known(missing, f"register {register}, coverage {tuple(map(format_datetime, ref.coverage or ()))}")


# -- 1. property test ---------------------------------------------------------------------------------------
values_st = st.integers(0, 1_000_000).map(lambda n: n / 1000)  # up to 3 decimals in [0, 1000]
offsets_st = st.one_of(
    st.integers(0, WINDOW // MINUTE - 1).map(lambda m: m * MINUTE),  # whole minutes (edges included)
    st.integers(0, WINDOW // S - 1).map(lambda s: s * S),  # whole seconds
)


@st.composite
def batches_st(draw: st.DrawFn) -> list[list[Item]]:
    """1–4 batches of 1–30 readings, in any time order. Timestamps come from a pool so that they repeat across
    (and within) batches with other values; values either follow a rising meter or are random (resets)."""
    pool = draw(st.lists(offsets_st, min_size=1, max_size=40, unique=True))
    rate = draw(st.integers(1, 500))  # a rising meter: Wh per minute … / 1000 → kWh
    base = draw(st.integers(0, 500_000))

    def value(ts: int) -> st.SearchStrategy[float]:
        rising = min(1_000_000, base + rate * (ts // MINUTE) // 10) / 1000
        return st.one_of(st.just(rising), values_st)

    batches = []
    for _ in range(draw(st.integers(1, 4))):
        batch = []
        for _ in range(draw(st.integers(1, 30))):
            offset = draw(st.sampled_from(pool))
            ts = T0 + offset
            pos = draw(st.one_of(value(offset), value(offset), value(offset), st.none()))
            neg = draw(st.one_of(st.none(), st.none(), st.none(), values_st))
            if pos is None and neg is None:
                pos = draw(value(offset))
            batch.append((ts, pos, neg))
        batches.append(batch)
    return batches


EDGES = list(range(T0, T0 + WINDOW + 1, EDGE))
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(batches=batches_st(), pick=st.integers(1, 4))
def test_values_at_edges_match_the_reference(store: Store, batches: list[list[Item]], pick: int) -> None:
    note(f"batches (ts, positiveActiveEnergy, negativeActiveEnergy): "
         f"{[[(format_datetime(ts), pos, neg) for ts, pos, neg in batch] for batch in batches]}")
    entity = uuid.uuid4()
    write(store, entity, batches)
    stamps_written = sorted({item[0] for batch in batches for item in batch})
    off_grid = [t for t in stamps_written if t % EDGE][::pick][:6]  # a few exact reading stamps between edges
    # and a few off-grid instants that are no reading (known only by a search: never answered)
    nowhere = [t for t in (T0 + 7 * MINUTE + 30 * S, T0 + DAY + 11 * MINUTE + 1, T0 + WINDOW - 1)
               if t not in stamps_written]
    instants = sorted(set(EDGES) | set(off_grid) | set(nowhere))
    for register in (POS, NEG):
        ref = Reference(batches, register)
        stamps, values = store.register_values_at(entity, [register], instants)
        check_answer(ref, register, instants, stamps, values)


# -- 2. table -----------------------------------------------------------------------------------------------
def at(hhmm: str) -> int:
    """'HH:MM' on 2024-10-26 UTC → µs."""
    h, m = hhmm.split(":")
    return T0 + (int(h) * 60 + int(m)) * MINUTE


def P(hhmm: str, pos: float | None, neg: float | None = None) -> Item:
    return at(hhmm), pos, neg


HOUR_EDGES = ["00:00", "00:15", "00:30", "00:45", "01:00"]

# (batches in write order, register, extra off-grid instants, expected values, absent, absolute)
# `expected`: instant → value; with `absolute` the values themselves, else only differences from the first
# expected instant count (a reset before or inside the span). `absent`: instants that must have no value.
ROWS = {
    "interpolation": (
        [[P("00:10", 10.0), P("00:40", 13.0)]], POS, [],
        {"00:15": 10.5, "00:30": 12.0}, ["00:00", "00:45", "01:00"], True),
    "late reading changes both edges": (
        [[P("00:10", 10.0), P("00:40", 13.0)], [P("00:20", 12.0)]], POS, ["00:20"],
        # 10 + 2·5/10, 12 + 1·10/20 (without the late reading: 10.5 and 12.0)
        {"00:15": 11.0, "00:20": 12.0, "00:30": 12.5}, ["00:00", "00:45"], True),
    "late reading before coverage widens it": (
        [[P("00:20", 12.0), P("00:40", 14.0)], [P("00:05", 9.0)]], POS, [],
        # 9 + 3·10/15; 12 + 2·10/20
        {"00:15": 11.0, "00:30": 13.0}, ["00:00", "00:45"], True),
    "replacement of the last reading": (
        [[P("00:10", 10.0), P("00:40", 13.0)], [P("00:40", 16.0)]], POS, ["00:40"],
        # 10 + 6·5/30, 10 + 6·20/30
        {"00:15": 11.0, "00:30": 14.0, "00:40": 16.0}, ["00:45"], True),
    "replacement within one batch: the last wins": (
        [[P("00:10", 10.0), P("00:40", 99.0), P("00:40", 13.0)]], POS, [],
        {"00:15": 10.5, "00:30": 12.0}, ["00:45"], True),
    "reading exactly on an edge": (
        [[P("00:10", 10.0), P("00:30", 20.0), P("00:50", 21.0)]], POS, [],
        # 10 + 10·5/20, the reading, 20 + 1·15/20
        {"00:15": 12.5, "00:30": 20.0, "00:45": 20.75}, ["00:00", "01:00"], True),
    "coverage ends on edges": (
        [[P("00:15", 10.0), P("00:45", 16.0)]], POS, [],
        {"00:15": 10.0, "00:30": 13.0, "00:45": 16.0}, ["00:00", "01:00"], True),
    "reset inside the span": (
        [[P("00:10", 100.0), P("00:20", 104.0), P("00:40", 2.0)]], POS, ["00:10", "00:20", "00:40"],
        # continuous 100, 104, 106: 102 at 00:15, 105 at 00:30
        {"00:10": 0.0, "00:15": 2.0, "00:20": 4.0, "00:30": 5.0, "00:40": 6.0}, ["00:00", "00:45"], False),
    "late reading is a reset": (
        [[P("00:10", 50.0), P("00:40", 56.0)], [P("00:20", 2.0)]], POS, ["00:10"],
        # continuous 50, 52, 106: 51 at 00:15, 52 + 54·10/20 = 79 at 00:30 (without it: 51, 54)
        {"00:10": 0.0, "00:15": 1.0, "00:30": 29.0}, ["00:00", "00:45"], False),
    "reset before the span": (
        [[P("00:05", 500.0), P("00:10", 20.0), P("00:20", 22.0), P("00:50", 28.0)]], POS, [],
        # continuous 500, 520, 522, 528: 521 at 00:15, 524 at 00:30, 527 at 00:45
        {"00:15": 0.0, "00:30": 3.0, "00:45": 6.0}, ["00:00", "01:00"], False),
    "sparse register has its own coverage": (
        [[P("00:10", 1.0), P("00:20", 2.0, 1.0), P("00:35", 3.0), P("00:50", 4.0, 4.0), P("01:00", 5.0)]],
        NEG, [],
        # negativeActiveEnergy: 1 at 00:20, 4 at 00:50 → 2 at 00:30, 3.5 at 00:45; none at 00:15 or 01:00
        {"00:30": 2.0, "00:45": 3.5}, ["00:00", "00:15", "01:00"], True),
    "replacement drops the other register": (
        [[P("00:10", 10.0, 5.0), P("00:20", 11.0, 6.0), P("00:40", 13.0, 8.0)], [P("00:20", 12.0)]], NEG, [],
        # the reading at 00:20 now lacks negativeActiveEnergy: 5 + 3·5/30, 5 + 3·20/30
        {"00:15": 5.5, "00:30": 7.0}, ["00:00", "00:45"], True),
    "replacement keeps the replaced register's coverage honest": (
        [[P("00:10", 10.0, 5.0), P("00:20", 11.0, 6.0), P("00:40", 13.0, 8.0)], [P("00:20", 12.0)]], POS, [],
        # 10 + 2·5/10, 12 + 1·10/20
        {"00:15": 11.0, "00:30": 12.5}, ["00:00", "00:45"], True),
}


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_table(store: Store, row: tuple[Any, ...]) -> None:
    batches, register, extra, expected, absent, absolute = row
    entity = uuid.uuid4()
    write(store, entity, batches)
    instants = sorted({at(x) for x in HOUR_EDGES + extra})
    stamps, values = store.register_values_at(entity, [register], instants)
    answered = dict(zip(stamps, values[0]))

    # the hand-computed numbers agree with the reference (the reference is checked too)
    ref = Reference(batches, register)
    first = next(iter(expected))
    for hhmm, value in expected.items():
        assert ref.at(at(hhmm)) - ref.at(at(first)) == Fraction(value) - Fraction(expected[first])
        if absolute:
            assert ref.at(at(hhmm)) == Fraction(value)
    for hhmm in absent:
        assert not ref.covers(at(hhmm))

    for hhmm in absent:
        assert answered.get(at(hhmm)) is None, f"{hhmm}: a value outside the register's coverage"
    got = {hhmm: answered.get(at(hhmm)) for hhmm in expected}
    present = {hhmm: v for hhmm, v in got.items() if v is not None}
    # the hand-computed numbers where the store answers (differences: between two answered instants)
    if present:
        anchor = next(iter(present))
        for hhmm, v in present.items():
            assert v - present[anchor] == pytest.approx(expected[hhmm] - expected[anchor], abs=1e-9), hhmm
            if absolute:
                assert v == pytest.approx(expected[hhmm], abs=1e-9), hhmm
    check_answer(ref, register, instants, stamps, values)
    require_known([at(hhmm) for hhmm, v in got.items() if v is None and ref.kept(at(hhmm))], f"{METRIC[register]} total")


def test_edges_between_readings_more_than_an_hour_apart_are_not_kept(store: Store) -> None:
    """Monthly readings over years (sparse data) write no edge between them: the batch stays cheap, and the
    values there come from seeking the two readings (costs, aggregations), not from the edges."""
    entity = uuid.uuid4()
    items = [(T0 + k * 2 * 60 * MINUTE, 10.0 + k, None) for k in range(3)]  # 00:00, 02:00, 04:00
    items += [(T0 + 4 * 60 * MINUTE + k * 15 * MINUTE, 12.0 + k, None) for k in range(1, 3)]  # 04:15, 04:30
    write(store, entity, [items])
    instants = list(range(T0, T0 + 5 * 60 * MINUTE, EDGE))
    stamps, [values] = store.register_values_at(entity, [POS], instants)
    known = {t: v for t, v in zip(stamps, values) if v is not None}
    assert known == {T0: 10.0, T0 + 120 * MINUTE: 11.0, T0 + 240 * MINUTE: 12.0, T0 + 255 * MINUTE: 13.0,
                     T0 + 270 * MINUTE: 14.0}
    ref = Reference([items], POS)
    assert [t for t in instants if ref.kept(t)] == sorted(known)
