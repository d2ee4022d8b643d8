"""`rounded_deltas` and `rounded_differences`: every delta served is the double nearest its exact value rounded half-even to 9 decimals,
0 when not positive, whether the list is short (`round` per value) or long (one numpy array).

Two witnesses: hand rows, and a property against a reference with exact fractions written here.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_readings.domain.registers import _VECTOR_FROM, rounded_deltas, rounded_differences

NANO = 10 ** 9


def reference(delta: float) -> float:
    """The exact value of the double, rounded half-even at 9 decimals (Fraction's round), to the nearest double."""
    if not delta > 0.0:
        return 0.0
    if math.isinf(delta):
        return delta
    return float(Fraction(round(Fraction(delta) * NANO), NANO))


ROWS = [
    # (delta, served, why)
    (0.30000000000000004, 0.3, "0.1 + 0.2: float noise below a nano-unit"),
    (0.1 + 0.7, 0.8, "0.7999999999999999"),
    (-1e-17, 0.0, "negative by noise"),
    (-2.5, 0.0, "negative: nothing consumed"),
    (0.0, 0.0, "zero"),
    (1e-17, 0.0, "positive noise"),
    (0.0009765625, 0.000976562, "1/1024: x·10⁹ = 976,562.5 exactly, a tie, to the even 976,562"),
    (0.0029296875, 0.002929688, "3/1024: 2,929,687.5 exactly, a tie, to the even 2,929,688"),
    (4.9999999995e-10, 0.0, "just below half a nano-unit"),
    (5.0000000005e-10, 1e-9, "just above half a nano-unit"),
    (12345.678901234567, 12345.678901235, "a large register's digits"),
    (9050081.272654511, 9050081.272654511, "x·1e9 computes as …512.0, exactly …511.03: beyond 2⁵² the product errs"),
    (2.0 ** 60, 2.0 ** 60, "beyond 2⁵² nano-units: the value itself"),
    (math.inf, math.inf, "not finite"),
    (math.nan, 0.0, "NaN is not positive"),
]


@pytest.mark.parametrize("length", [1, _VECTOR_FROM])  # the per-value path and the array path
@pytest.mark.parametrize("delta, served, why", ROWS, ids=[row[2] for row in ROWS])
def test_rows(delta: float, served: float, why: str, length: int) -> None:
    rounded = rounded_deltas([delta] * length)
    assert rounded == [served] * length, why
    assert all(type(v) is float for v in rounded)
    assert reference(delta) == served  # the reference agrees with each hand row


def test_a_generator_and_a_list_round_alike() -> None:
    values = [k / 7 for k in range(-5, 200)]
    assert rounded_deltas(iter(values)) == rounded_deltas(values) == [reference(v) for v in values]


def near_ties() -> st.SearchStrategy[float]:
    """Doubles next to (k + ½)·10⁻⁹, where the computed x·1e9 may fall on the wrong side of the half."""
    def around(k: int, steps: int) -> float:
        x = (k + 0.5) / NANO
        for _ in range(abs(steps)):
            x = math.nextafter(x, math.inf if steps > 0 else -math.inf)
        return x
    return st.builds(around, st.integers(0, 10 ** 15), st.integers(-3, 3))


DELTAS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1e6), near_ties(),
                   st.integers(1, 2 ** 20).map(lambda m: m / 1024))  # the exact ties


@settings(max_examples=300, deadline=None)
@given(st.lists(DELTAS, min_size=0, max_size=3 * _VECTOR_FROM))
def test_property_equals_the_exact_fraction_reference(deltas: list[float]) -> None:
    assert rounded_deltas(deltas) == [reference(d) for d in deltas]


def test_the_array_path_matches_on_many_near_ties() -> None:
    """A deterministic sweep: 20,000 doubles at and beside (k + ½)·10⁻⁹ over 15 orders of magnitude."""
    values = []
    for e in range(0, 15):
        for k in range(0, 1_000, 7):
            x = (k * 10 ** e + 0.5) / NANO
            values += [math.nextafter(x, 0.0), x, math.nextafter(x, math.inf)]
    assert len(values) >= 6_000
    assert rounded_deltas(values) == [reference(v) for v in values]


DIFFERENCE_ROWS = [
    # (register values, served deltas, why)
    ([0.1, 0.3], [0.2], "0.3 - 0.1 = 0.19999999999999998"),
    ([1.0, 1.1, 1.4, 1.3], [0.1, 0.3, 0.0], "a step back (noise or a missed reset) serves 0"),
    ([5.0, 5.0009765625], [0.000976562], "the tie 1/1024, to even"),
    ([1e3, 1e3 + 0.0029296875], [0.002929688], "the tie 3/1024 on a register of 1,000: exact in binary"),
    ([9050081.272654511 + 1.0, 2 * 9050081.272654511 + 1.0], [9050081.272654511], "beyond 2⁵² nano-units"),
]


@pytest.mark.parametrize("pad", [0, _VECTOR_FROM])  # the per-value path and the array path
@pytest.mark.parametrize("values, served, why", DIFFERENCE_ROWS, ids=[row[2] for row in DIFFERENCE_ROWS])
def test_difference_rows(values: list[float], served: list[float], why: str, pad: int) -> None:
    rounded = rounded_differences([values[0]] * pad + values)  # the pad's deltas are 0
    assert rounded == [0.0] * pad + served, why
    assert served == [reference(b - a) for a, b in zip(values, values[1:])]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1e7), near_ties(), st.integers(0, 2 ** 30).map(lambda m: m / 1024)),
                min_size=0, max_size=3 * _VECTOR_FROM))
def test_property_differences_equal_the_reference(values: list[float]) -> None:
    assert rounded_differences(values) == [reference(b - a) for a, b in zip(values, values[1:])]
