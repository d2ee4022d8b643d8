"""Per-bucket register deltas: interpolation, clamping to coverage, resets (docs/semantics.md §5)."""

from __future__ import annotations

import pytest

from connect_readings.domain.registers import aggregate_columns, bucket_deltas, reset_deltas

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
    # interpolation halfway, on a reading, flat
    ([5, 10], [((0, 0.0), (10, 10.0)), ((10, 10.0), (10, 10.0))], [5.0]),
    ([0, 3], [((0, 1.0), (4, 1.0)), ((0, 1.0), (4, 1.0))], [0.0]),
    # no data at all
    ([0, 10], [(None, None), (None, None)], [None]),
    # float noise is rounded away
    ([0, 10], [((0, 0.1), (0, 0.1)), ((10, 0.4), (10, 0.4))], [0.3]),
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
    ([], 4.0, []),                        # nothing after the reading before
    ([(1, 4.0), (2, 6.0)], 4.0, []),      # equal to the reading before: no reset
]


@pytest.mark.parametrize(("series", "previous", "expected"), RESETS)
def test_reset_deltas(series: list, previous: float | None, expected: list) -> None:
    assert reset_deltas([ts for ts, _ in series], [v for _, v in series], previous) == expected


def test_aggregate_columns_shapes() -> None:
    # REGISTER_SERIES order: pAE t1..t4,total, nAE t1..t4,total, pGV, nGV
    row = [1.0, None, None, None, 1.5, None, None, None, None, None, 2.0, None]
    columns = [None if v is None else [v] for v in row]
    assert aggregate_columns(columns, 1)[0] == {
        "positiveActiveEnergy": {"t1": 1.0, "t2": None, "t3": None, "t4": None, "total": 1.5, "unit": "kWh"},
        "positiveGasVolume": {"value": 2.0, "unit": "m3"},
    }
    assert aggregate_columns([None] * 12, 1) == [{}]
