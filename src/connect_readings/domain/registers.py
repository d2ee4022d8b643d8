"""Cumulative registers → consumption per bucket (semantics.md §5).

Every register series (each tier, total, each gas volume) is a counter. Storage hands us, for every bucket
edge, the nearest reading at or before and at or after it, with values already made continuous across
meter resets (see `reset_deltas`). The register at an instant is interpolated linearly between those two
readings; outside the first..last reading there is no extrapolation: an edge is clamped to the coverage.
A bucket's value is then the difference of the clamped register at its two edges, so the buckets of a
window telescope exactly into the window's total.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .readings import REGISTER_SERIES, TIER_FIELDS, TIERED_REGISTERS, ENERGY_UNIT, VOLUME_UNIT

Sample = tuple[int, float]
"""(timestamp µs, continuous register value)."""

Bracket = tuple[Sample | None, Sample | None]
"""The readings at-or-before and at-or-after an instant; None where there is none."""

ClampedValue = tuple[int, float] | None
"""(instant clamped to coverage, register value there), or None when the series is empty."""


def reset_deltas(series: Iterable[Sample], previous: float | None) -> list[Sample]:
    """Resets in an ordered raw series: any decrease is a reset to zero (TimescaleDB Toolkit's rule).

    Returns (timestamp, offset added from that reading on): the value before the reset, so the continuous
    counter rises by exactly the new raw value across the reset, never by a negative amount.
    """
    deltas: list[Sample] = []
    for ts, value in series:
        if previous is not None and value < previous:
            deltas.append((ts, previous))
        previous = value
    return deltas


def value_at(instant: int, bracket: Bracket) -> ClampedValue:
    """The register at `instant`, clamped to the series' coverage (no extrapolation)."""
    before, after = bracket
    if before is None:
        return after
    if after is None:
        return before
    t0, v0 = before
    t1, v1 = after
    if t1 == t0:
        return instant, v0
    return instant, v0 + (v1 - v0) * ((instant - t0) / (t1 - t0))


def bucket_deltas(edges: Sequence[int], brackets: Sequence[Bracket]) -> list[float | None]:
    """Consumption between consecutive edges; None where the clipped interval has no positive coverage."""
    values = [value_at(edge, bracket) for edge, bracket in zip(edges, brackets)]
    deltas: list[float | None] = []
    for left, right in zip(values, values[1:]):
        if left is None or right is None or right[0] <= left[0]:
            deltas.append(None)
        else:
            deltas.append(max(0.0, right[1] - left[1]))
    return deltas


def aggregation_data(per_register: Sequence[float | None]) -> dict[str, Any]:
    """One bucket's deltas (REGISTER_SERIES order) → AggregationData; {} when nothing is covered."""
    by_series = dict(zip(REGISTER_SERIES, per_register))
    data: dict[str, Any] = {}
    for metric in TIERED_REGISTERS:
        total = by_series[(metric, "total")]
        if total is None:
            continue
        measurement: dict[str, Any] = {
            field: _rounded(by_series[(metric, field)]) for field in TIER_FIELDS
        }
        measurement["unit"] = ENERGY_UNIT
        data[metric] = measurement
    for metric, field in REGISTER_SERIES:
        if field is None and by_series[(metric, None)] is not None:
            data[metric] = {"value": _rounded(by_series[(metric, None)]), "unit": VOLUME_UNIT}
    return data


def aggregate(edges: Sequence[int], brackets_per_register: Sequence[Sequence[Bracket]]) -> list[dict[str, Any]]:
    """AggregationData for each bucket between consecutive edges."""
    columns = [bucket_deltas(edges, brackets) for brackets in brackets_per_register]
    return [aggregation_data(row) for row in zip(*columns)]


def _rounded(value: float | None) -> float | None:
    """Nano-unit precision hides float noise (0.1+0.2) without changing any metered digit."""
    return None if value is None else round(value, 9)
