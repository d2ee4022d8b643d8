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

from . import csv_rows

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
    columns, rows = table(items, getattr(results[0], "layout", None) if results else None)
    df = pd.DataFrame(rows, columns=list(columns))
    df = df.loc[:, [name for name in df.columns if df[name].notna().any()]]  # a metric no item has
    zone = tz if tz is not None else timezone.utc
    for name in df.columns:
        if _all_datetimes(df[name]):
            df[name] = pd.to_datetime(df[name], utc=True).dt.tz_convert(zone)
    index = next((name for name in INDEX_COLUMNS if name in df.columns), None)
    return df.set_index(index) if index is not None else df


def table(items: list[dict[str, Any]], kind: str | None) -> tuple[tuple[str, ...], list[list[Any]]]:
    """(column names, rows of values) by the CSV export's layout `kind` (models.Result.layout), else the
    generic one (every leaf of the items).

    >>> table([{"month": "2024-01", "peak": {"value": 3.1}}], None)
    (('month', 'peak.value'), [['2024-01', 3.1]])
    """
    if kind == "reading":
        return csv_rows.READING_COLUMNS, [csv_rows.reading_values(item) for item in items]
    if kind == "aggregation":
        layout = csv_rows.AGGREGATION_LAYOUT
    elif kind == "cost":
        layout = csv_rows.COST_LAYOUT
    elif kind == "statistics":
        from ..usecases.statistics import STATISTICS_METRICS  # (the server's modules: only when asked)

        layout = csv_rows.statistics_layout(STATISTICS_METRICS)
    else:
        layout = csv_rows.leaf_layout(items)
    return tuple(name for name, _ in layout), [csv_rows.values(item, layout) for item in items]


def _all_datetimes(column: Any) -> bool:
    present = column.dropna()
    return len(present) > 0 and all(isinstance(value, datetime) for value in present)
