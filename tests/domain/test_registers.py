"""Per-bucket register deltas: interpolation, clamping to coverage, resets (semantics.md §5)."""

from __future__ import annotations

import pytest

from connect_readings.domain.registers import aggregation_data, bucket_deltas, reset_deltas, value_at

# (instant, (before, after)) → expected clamped value
VALUE_AT = [
    (5, ((0, 0.0), (10, 10.0)), (5, 5.0)),          # halfway
    (10, ((10, 3.0), (10, 3.0)), (10, 3.0)),         # on a reading
    (2, (None, (10, 7.0)), (10, 7.0)),               # before coverage: clamp to first reading
    (20, ((10, 7.0), None), (10, 7.0)),              # after coverage: clamp to last reading
    (1, (None, None), None),                         # no data at all
    (3, ((0, 1.0), (4, 1.0)), (3, 1.0)),             # flat
]


@pytest.mark.parametrize(("instant", "bracket", "expected"), VALUE_AT)
def test_value_at(instant: int, bracket: tuple, expected: tuple | None) -> None:
    assert value_at(instant, bracket) == expected


# edges, brackets per edge → deltas per bucket
DELTAS = [
    # two buckets inside one reading interval: consumption spread evenly
    ([0, 5, 10], [((0, 0.0), (10, 10.0))] * 3, [5.0, 5.0]),
    # first bucket before coverage contributes nothing; second from first reading on
    ([0, 10, 20], [(None, (15, 1.0)), (None, (15, 1.0)), ((15, 1.0), (25, 2.0))], [None, 0.5]),
    # a bucket touching coverage only at one instant is empty
    ([0, 10, 20], [(None, (10, 1.0)), ((10, 1.0), (10, 1.0)), ((10, 1.0), None)], [None, None]),
    # after the last reading: the unfinished bucket counts up to the last reading
    ([0, 10, 20], [((0, 0.0), (8, 8.0)), ((8, 8.0), None), ((8, 8.0), None)], [8.0, None]),
]


@pytest.mark.parametrize(("edges", "brackets", "expected"), DELTAS)
def test_bucket_deltas(edges: list[int], brackets: list, expected: list) -> None:
    assert bucket_deltas(edges, brackets) == expected


RESETS = [
    ([(1, 5.0), (2, 7.0), (3, 1.0), (4, 2.0)], None, [(3, 7.0)]),
    ([(1, 5.0), (2, 0.0)], None, [(2, 5.0)]),
    ([(1, 5.0), (2, 5.0)], None, []),
    ([(1, 5.0)], 9.0, [(1, 9.0)]),        # decrease against the reading before the batch
    ([(1, 3.0), (2, 2.0), (3, 1.0)], None, [(2, 3.0), (3, 2.0)]),
]


@pytest.mark.parametrize(("series", "previous", "expected"), RESETS)
def test_reset_deltas(series: list, previous: float | None, expected: list) -> None:
    assert reset_deltas(series, previous) == expected


def test_aggregation_data_shapes() -> None:
    # REGISTER_SERIES order: pAE t1..t4,total, nAE t1..t4,total, pGV, nGV
    row = [1.0, None, None, None, 1.5, None, None, None, None, None, 2.0, None]
    assert aggregation_data(row) == {
        "positiveActiveEnergy": {"t1": 1.0, "t2": None, "t3": None, "t4": None, "total": 1.5, "unit": "kWh"},
        "positiveGasVolume": {"value": 2.0, "unit": "m3"},
    }
    assert aggregation_data([None] * 12) == {}
    assert aggregation_data([0.1 + 0.2] + [None] * 3 + [0.3] + [None] * 7)["positiveActiveEnergy"]["t1"] == 0.3
