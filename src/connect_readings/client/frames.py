"""Results → pandas DataFrames, flattened the way the CSV export flattens them (domain/csv_rows.py).

One row per item; the columns are the CSV's (`positiveActiveEnergy.t1`, `instantaneousVoltage.l1.mean`, …),
less those no item has a value in; the index is the tz-aware `timeframe.start` (buckets, months) or
`timestamp` (readings), an entity's `id` otherwise. Date-time columns become tz-aware too, in `tz` (default:
the query's `time_zone` when the iterator knows it, else UTC). pandas is imported only here, when asked for.

>>> frame([], None).shape
(0, 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone, tzinfo
from typing import Any

import msgspec

from ..domain import csv_rows
from ..statistics_service import STATISTICS_METRICS

INDEX_COLUMNS = ("timeframe.start", "timestamp", "id")
"""The first of these an item has is the frame's index."""


def pandas() -> Any:
    """The pandas module, or an ImportError that says how to get it."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("to_pandas() needs pandas: pip install 'connect-readings[pandas]'") from exc
    return pd


def frame(results: Sequence[msgspec.Struct], tz: str | tzinfo | None) -> Any:
    """The results as one DataFrame (see the module's docstring)."""
    pd = pandas()
    items = [msgspec.to_builtins(result, builtin_types=(datetime,)) for result in results]
    columns, rows = table(items, type(results[0]).__name__ if results else "")
    df = pd.DataFrame(rows, columns=list(columns))
    df = df.loc[:, [name for name in df.columns if df[name].notna().any()]]  # a metric no item has
    zone = tz if tz is not None else timezone.utc
    for name in df.columns:
        if _all_datetimes(df[name]):
            df[name] = pd.to_datetime(df[name], utc=True).dt.tz_convert(zone)
    index = next((name for name in INDEX_COLUMNS if name in df.columns), None)
    return df.set_index(index) if index is not None else df


def table(items: list[dict[str, Any]], kind: str) -> tuple[tuple[str, ...], list[list[Any]]]:
    """(column names, rows of values) by the CSV export's layout for `kind`, the generic one otherwise."""
    if kind == "Reading":
        return csv_rows.READING_COLUMNS, [csv_rows.reading_values(item) for item in items]
    layout = {
        "Aggregation": csv_rows.AGGREGATION_LAYOUT,
        "Statistics": csv_rows.statistics_layout(STATISTICS_METRICS),
    }.get(kind) or csv_rows.leaf_layout(items)
    return tuple(name for name, _ in layout), [csv_rows.values(item, layout) for item in items]


def _all_datetimes(column: Any) -> bool:
    present = column.dropna()
    return len(present) > 0 and all(isinstance(value, datetime) for value in present)
