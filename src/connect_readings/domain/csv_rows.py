"""The JSON items of readings, aggregations and statistics → flat CSV rows (docs/semantics.md §11).

Pure: an item is the dict the JSON answer holds (api/encode.py), so a CSV cell is always the JSON value it
stands for. Each endpoint has a FIXED column set (every metric it can produce), so every file of an endpoint
has the same header; a metric absent from an item leaves its cells empty. Column names are the item's keys
joined with dots, without the `data.` level.

>>> aggregation_row({"entityId": "e", "id": "i", "timeframe": {"start": "s", "end": "t"},
...                  "data": {"positiveGasVolume": {"value": 12.0, "unit": "m3"}}})[-4:]
['12.0', 'm3', '', '']
"""

from __future__ import annotations

from typing import Any

import orjson

from .readings import (GAUGE_UNITS, PHASE_FIELDS, PHASE_GAUGES, TIER_FIELDS, TIERED_REGISTERS, VALUE_GAUGES,
                       VOLUME_REGISTERS)

Path = tuple[str, ...]

BUCKET_HEAD: tuple[tuple[str, Path], ...] = (
    ("entityId", ("entityId",)), ("id", ("id",)),
    ("timeframe.start", ("timeframe", "start")), ("timeframe.end", ("timeframe", "end")),
)
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

_AGGREGATION = BUCKET_HEAD + tuple(
    (f"{metric}.{field}", ("data", metric, field)) for metric, fields in REGISTER_FIELDS.items() for field in fields)
_READING = (("id", ("id",)), ("entityId", ("entityId",)), ("timestamp", ("timestamp",))) + tuple(
    (f"{metric}.{field}", ("data", metric, field)) for metric, fields in READING_METRICS.items() for field in fields)

AGGREGATION_COLUMNS = tuple(name for name, _ in _AGGREGATION)
READING_COLUMNS = tuple(name for name, _ in _READING) + ("extra",)


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


def _row(item: dict[str, Any], layout: tuple[tuple[str, Path], ...]) -> list[str]:
    return [cell(_get(item, path)) for _, path in layout]


def aggregation_row(item: dict[str, Any]) -> list[str]:
    return _row(item, _AGGREGATION)


def reading_row(item: dict[str, Any]) -> list[str]:
    """A reading: its known metrics in their columns, any other one (or a known one of unexpected shape, e.g.
    kept as sent by a migration) in `extra` as a JSON object; `extra` is empty when there is none."""
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
    row = _row({**item, "data": columns}, _READING)
    row.append(orjson.dumps(extra).decode() if extra else "")
    return row


def statistics_layout(metrics: tuple[str, ...]) -> tuple[tuple[str, Path], ...]:
    """The columns of a statistics file for the selected metrics (in STATISTICS_METRICS order): per gauge
    metric its unit then field.statistic; per energy register its unit then peakDemand.value/start/end/energy."""
    layout = list(BUCKET_HEAD)
    for metric in metrics:
        layout.append((f"{metric}.unit", ("data", metric, "unit")))
        if metric in GAUGE_UNITS:
            fields = PHASE_FIELDS if metric in PHASE_GAUGES else ("value",)
            layout.extend((f"{metric}.{field}.{stat}", ("data", metric, field, stat))
                          for field in fields for stat in STATISTICS_FIELDS)
        else:
            layout.extend((f"{metric}.peakDemand.{field}", ("data", metric, "peakDemand", field))
                          for field in PEAK_FIELDS)
    return tuple(layout)


def statistics_columns(metrics: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name, _ in statistics_layout(metrics))


def statistics_row(item: dict[str, Any], layout: tuple[tuple[str, Path], ...]) -> list[str]:
    return _row(item, layout)
