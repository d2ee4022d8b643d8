"""The JSON items of readings, aggregations, statistics and costs → flat CSV rows (docs/semantics.md §11).

Pure: an item is the dict the JSON answer holds (api/encode.py), so a CSV cell is always the JSON value it
stands for. Each endpoint has a FIXED column set (every metric it can produce), so every file of an endpoint
has the same header; a metric absent from an item leaves its cells empty. Column names are the item's keys
joined with dots, without the `data.` level.

>>> aggregation_row({"entityId": "e", "id": "i", "timeframe": {"start": "s", "end": "t"},
...                  "data": {"positiveGasVolume": {"value": 12.0, "unit": "m3"}}})[-4:]
['12.0', 'm3', '', '']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from ..domain.readings import (GAUGE_UNITS, PHASE_FIELDS, PHASE_GAUGES, TIER_FIELDS, TIERED_REGISTERS, VALUE_GAUGES,
                       VOLUME_REGISTERS)

Path = tuple[str, ...]
Layout = tuple[tuple[str, Path], ...]
"""Columns in order: (name, where in the item). A name is `column_name(path)`."""


def column_name(path: Path) -> str:
    """The flattening rule: the item's keys joined with dots, without the `data.` level.

    >>> column_name(("data", "positiveActiveEnergy", "t1")), column_name(("timeframe", "start"))
    ('positiveActiveEnergy.t1', 'timeframe.start')
    """
    return ".".join(path[1:] if path[:1] == ("data",) else path)


def _layout(paths: Iterable[Path]) -> Layout:
    return tuple((column_name(path), path) for path in paths)


BUCKET_HEAD: Layout = _layout((("entityId",), ("id",), ("timeframe", "start"), ("timeframe", "end")))
REGISTER_FIELDS: dict[str, tuple[str, ...]] = {
    **{metric: TIER_FIELDS + ("unit",) for metric in TIERED_REGISTERS},
    **{metric: ("value", "unit") for metric in VOLUME_REGISTERS},
}
GAUGE_FIELDS: dict[str, tuple[str, ...]] = {
    **{metric: PHASE_FIELDS + ("unit",) for metric in PHASE_GAUGES},
    **{metric: ("value", "unit") for metric in VALUE_GAUGES},
}
READING_METRICS: dict[str, tuple[str, ...]] = {**REGISTER_FIELDS, **GAUGE_FIELDS}
"""The metrics a reading's CSV row has columns for; any other metric goes to `extra`, as JSON."""
STATISTICS_FIELDS = ("mean", "min", "minAt", "max", "maxAt", "count", "coveredSeconds")
PEAK_FIELDS = ("value", "start", "end", "energy")
QUALITY_FIELDS_OF = {metric: ("intervals", "readings", "statuses") for metric in ("quality", "gasQuality")}
"""The statistics of the interval import's quality marks (no unit: counts)."""

AGGREGATION_LAYOUT: Layout = BUCKET_HEAD + _layout(
    ("data", metric, field) for metric, fields in REGISTER_FIELDS.items() for field in fields)
READING_LAYOUT: Layout = _layout((("id",), ("entityId",), ("timestamp",))) + _layout(
    ("data", metric, field) for metric, fields in READING_METRICS.items() for field in fields)

COST_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("import", ("energy", "cost", "unpricedEnergy")), ("export", ("energy", "cost", "unpricedEnergy")),
    ("gas", ("volume", "cost", "unpricedVolume")), ("capacity", ("cost",)), ("fixed", ("cost",)))
COST_LAYOUT: Layout = BUCKET_HEAD + _layout((("currency",),)) + _layout(
    ("data", part, field) for part, fields in COST_FIELDS for field in fields) + _layout(
    (("data", "vat"), ("data", "total")))
"""A costs file (docs/semantics.md §15, Costs): every component a tariff can have; an absent one is empty."""

AGGREGATION_COLUMNS = tuple(name for name, _ in AGGREGATION_LAYOUT)
COST_COLUMNS = tuple(name for name, _ in COST_LAYOUT)
READING_COLUMNS = tuple(name for name, _ in READING_LAYOUT) + ("extra",)


def cell(value: Any) -> str:
    """A JSON value as CSV text: empty for null/absent, shortest round-trip repr for a float (12.0, 1e-05:
    what a spreadsheet reads back to the same double), JSON for anything else that is not a string."""
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return value
    if kind is float:
        return repr(value)
    if kind is int:
        return str(value)
    return orjson.dumps(value).decode()


def _get(item: dict[str, Any], path: Path) -> Any:
    node: Any = item
    for key in path:
        if type(node) is not dict:
            return None
        node = node.get(key)
    return node


def values(item: dict[str, Any], layout: Layout) -> list[Any]:
    """The item's JSON values in the layout's columns (None where absent): a row before it becomes text."""
    return [_get(item, path) for _, path in layout]


def _row(item: dict[str, Any], layout: Layout) -> list[str]:
    return [cell(value) for value in values(item, layout)]


def leaf_layout(items: Iterable[dict[str, Any]]) -> Layout:
    """The columns of items that have no fixed layout (entities, capacity-tariff months): every leaf path
    of any item, in the order first seen, named by the same rule (a `properties` object is flattened too).

    >>> [name for name, _ in leaf_layout([{"month": "2024-01", "peak": {"value": 3.0}}, {"peak": None}])]
    ['month', 'peak.value']
    """
    seen: dict[Path, None] = {}

    def walk(node: Any, path: Path) -> None:
        if type(node) is dict and node:
            for key, child in node.items():
                walk(child, path + (key,))
        else:
            seen.setdefault(path, None)

    for item in items:
        walk(item, ())
    # a null where another item has an object (a month without a peak) is that object's columns, empty
    return _layout(path for path in seen if not any(len(p) > len(path) and p[:len(path)] == path for p in seen))


def aggregation_row(item: dict[str, Any]) -> list[str]:
    return _row(item, AGGREGATION_LAYOUT)


def cost_row(item: dict[str, Any]) -> list[str]:
    """A costs item in COST_COLUMNS.

    >>> cost_row({"entityId": "e", "id": "i", "timeframe": {"start": "s", "end": "t"}, "currency": "EUR",
    ...           "data": {"fixed": {"cost": 0.5}, "vat": 0.03, "total": 0.53}})[4:]
    ['EUR', '', '', '', '', '', '', '', '', '', '', '0.5', '0.03', '0.53']
    """
    return _row(item, COST_LAYOUT)


def reading_row(item: dict[str, Any]) -> list[str]:
    """A reading: its known metrics in their columns, any other one (or a known one of unexpected shape, e.g.
    kept as sent by a migration) in `extra` as a JSON object; `extra` is empty when there is none."""
    row = reading_values(item)
    extra = row.pop()
    return [cell(value) for value in row] + [orjson.dumps(extra).decode() if extra else ""]


def reading_values(item: dict[str, Any]) -> list[Any]:
    """`reading_row` before it becomes text: the READING_COLUMNS values, `extra` a dict of the other metrics
    (None when there is none).

    >>> reading_values({"id": "i", "entityId": "e", "timestamp": "t", "data": {"odometer": {"value": 1.0}}})[-1]
    {'odometer': {'value': 1.0}}
    """
    data = item.get("data") or {}
    columns: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for metric, measurement in data.items():
        fields = READING_METRICS.get(metric)
        if (fields is not None and type(measurement) is dict and measurement.keys() <= set(fields)
                and all(type(v) not in (dict, list) for v in measurement.values())):
            columns[metric] = measurement
        else:
            extra[metric] = measurement
    return values({**item, "data": columns}, READING_LAYOUT) + [extra or None]


def statistics_layout(metrics: tuple[str, ...]) -> Layout:
    """The columns of a statistics file for the selected metrics (in STATISTICS_METRICS order): per gauge
    metric its unit then field.statistic; per energy register its unit then peakDemand.value/start/end/energy;
    per quality metric intervals, readings and statuses (a JSON object: readings per status)."""
    paths: list[Path] = []
    for metric in metrics:
        if metric in QUALITY_FIELDS_OF:
            paths.extend(("data", metric, field) for field in QUALITY_FIELDS_OF[metric])
            continue
        paths.append(("data", metric, "unit"))
        if metric in GAUGE_UNITS:
            fields = PHASE_FIELDS if metric in PHASE_GAUGES else ("value",)
            paths.extend(("data", metric, field, stat) for field in fields for stat in STATISTICS_FIELDS)
        else:
            paths.extend(("data", metric, "peakDemand", field) for field in PEAK_FIELDS)
    return BUCKET_HEAD + _layout(paths)


def statistics_columns(metrics: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name, _ in statistics_layout(metrics))


def statistics_row(item: dict[str, Any], layout: Layout) -> list[str]:
    return _row(item, layout)
