"""`edges.values_at`: a register's stored edge at each instant, from its rows (key, packed row). Three ways to
read the rows (joined as stored when every row of the span is there; laid into an array of NaN when some are
missing; a dict per row when the rows lie far apart): hand rows for each, and a property against a reference
that looks every instant up in the rows one by one."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_readings.domain.edges import QUARTER_US, ROW_SLOTS, ROW_US, pack, values_at

NAN = math.nan


def row(first: float, unknown: tuple[int, ...] = ()) -> bytes:
    """A row whose slot k holds first + k, NaN (unknown) at the slots listed."""
    return pack([NAN if k in unknown else first + k for k in range(ROW_SLOTS)])


def at(key: int, slot: int) -> int:
    return key * ROW_US + slot * QUARTER_US


@pytest.mark.parametrize("registers, instants, expected", [
    pytest.param([[(3, row(0.0)), (4, row(1000.0))]], [at(3, 0), at(3, 95), at(4, 1), at(4, ROW_SLOTS - 1)],
                 [[0.0, 95.0, 1001.0, 1000.0 + ROW_SLOTS - 1]], id="every row there: joined"),
    pytest.param([[(4, row(1000.0)), (3, row(0.0))]], [at(3, 2), at(4, 2)], [[2.0, 1002.0]],
                 id="rows not in key order"),
    pytest.param([[(3, row(0.0)), (5, row(50.0))], [(4, row(7.0))]], [at(3, 1), at(4, 1), at(5, 1)],
                 [[1.0, None, 51.0], [None, 8.0, None]], id="a row missing in each register: array"),
    pytest.param([[(3, row(0.0, unknown=(1,)))]], [at(3, 0), at(3, 1)], [[0.0, None]], id="an unknown edge"),
    pytest.param([[(3, row(0.0))], []], [at(3, 0) + 1, at(3, 0) - QUARTER_US, at(4, 0)], [[None, None, None],
                 [None, None, None]], id="off the grid, before and after the rows; a register without rows"),
    pytest.param([[(0, row(0.0)), (1_000, row(9.0))]], [at(0, 3), at(500, 3), at(1_000, 3)], [[3.0, None, 12.0]],
                 id="rows far apart: per row"),
    pytest.param([[]], [at(0, 0)], [[None]], id="no rows at all"),
])
def test_values_at_rows(registers: list[list[tuple[int, bytes]]], instants: list[int],
                        expected: list[list[float | None]]) -> None:
    assert values_at(registers, instants) == expected


def _reference(registers: list[list[tuple[int, bytes]]], instants: list[int]) -> list[list[float | None]]:
    out = []
    for rows in registers:
        by_key = dict(rows)
        column: list[float | None] = []
        for t in instants:
            blob = by_key.get(t // ROW_US)
            if blob is None or t % QUARTER_US:
                column.append(None)
                continue
            slot = (t % ROW_US) // QUARTER_US
            (value,) = struct.unpack_from("<d", blob, slot * 8)
            column.append(None if value != value else value)
        out.append(column)
    return out


_keys = st.one_of(st.lists(st.integers(0, 12), unique=True, max_size=6),
                  st.tuples(st.integers(0, 6), st.integers(1, 5)).flatmap(  # every row of a span, in any order
                      lambda span: st.permutations(list(range(span[0], span[0] + span[1])))))
_register = _keys.flatmap(lambda keys: st.tuples(*[st.tuples(st.just(k), st.floats(0, 1e6), st.lists(
    st.integers(0, ROW_SLOTS - 1), max_size=3)) for k in keys]))


@settings(max_examples=200, deadline=None)
@given(st.lists(_register, min_size=1, max_size=3),
       st.lists(st.one_of(st.integers(0, 13 * ROW_SLOTS).map(lambda q: q * QUARTER_US),
                          st.integers(0, 13 * ROW_US)), max_size=30).map(sorted))
def test_values_at_matches_a_lookup_per_instant(registers: list, instants: list[int]) -> None:
    stored = [[(key, row(first, tuple(unknown))) for key, first, unknown in rows] for rows in registers]
    assert values_at(stored, instants) == _reference(stored, instants)
