"""Domain values → JSON bytes with the customer's wire names."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from ..domain.demand import Peak
from ..domain.entities import EntityRecord
from ..domain.gauges import gauge_statistics
from ..domain.grid import month_label
from ..domain.readings import GAUGE_SERIES, GAUGE_UNITS, reading_id
from ..domain.timefmt import format_datetime, format_datetimes
from ..usecases.aggregations import Bucket
from ..usecases.costs import CostBucket
from ..usecases.statistics import CapacityMonth, StatisticsBucket
from ..storage.base import IngestResult, StoredReading


def aggregations(entity: str, buckets: Sequence[Bucket], tz: ZoneInfo | None) -> list[dict[str, Any]]:
    """A page's AggregationResult items; each instant formatted once (a bucket's end is the next one's start)."""
    starts = [bucket.start for bucket in buckets]
    ends = [bucket.end for bucket in buckets]
    if starts[1:] == ends[:-1]:  # no bucket left out between (a year of days): the edges, ascending, once each
        texts = format_datetimes(starts + ends[-1:], tz)
        return [{"data": bucket.data, "entityId": entity, "id": bucket.id, "timeframe": {"start": start, "end": end}}
                for bucket, start, end in zip(buckets, texts, texts[1:])]
    text = instant_texts([t for bucket in buckets for t in (bucket.start, bucket.end)], tz)
    return [{"data": bucket.data, "entityId": entity, "id": bucket.id,
             "timeframe": {"start": text[bucket.start], "end": text[bucket.end]}} for bucket in buckets]


def instant_texts(instants: Sequence[int], tz: ZoneInfo | None) -> dict[int, str]:
    """{instant: its RFC 3339 text} of ascending (or repeated) instants."""
    distinct = sorted(set(instants))
    return dict(zip(distinct, format_datetimes(distinct, tz)))


def cost(entity: str, bucket: CostBucket, tz: ZoneInfo | None) -> dict[str, Any]:
    """A costs item (docs/semantics.md §15, Costs): the bucket's currency (null without a tariff) and CostData."""
    return cost_total(entity, bucket.id, bucket.start, bucket.end, bucket.currency, bucket.data, tz)


def cost_total(entity: str, item_id: str, start: int, end: int, currency: str | None, data: dict[str, Any],
               tz: ZoneInfo | None) -> dict[str, Any]:
    return {
        "entityId": entity,
        "id": item_id,
        "timeframe": {"start": format_datetime(start, tz), "end": format_datetime(end, tz)},
        "currency": currency,
        "data": data,
    }


def statistics(entity: str, bucket: StatisticsBucket, tz: ZoneInfo | None) -> dict[str, Any]:
    """A statistics item (docs/semantics.md §10): gauges by metric then field, then the registers' peak demand,
    then the quality marks (intervals, readings, statuses)."""
    data: dict[str, Any] = {}
    for k, summary in bucket.gauges.items():
        metric, field = GAUGE_SERIES[k]
        fields = gauge_statistics(summary)
        if fields["minAt"] is not None:
            fields["minAt"] = format_datetime(fields["minAt"], tz)
            fields["maxAt"] = format_datetime(fields["maxAt"], tz)
        data.setdefault(metric, {"unit": GAUGE_UNITS[metric]})[field] = fields
    for metric, peak in bucket.peaks.items():
        data[metric] = {"unit": "kW", "peakDemand": peak_demand(peak, tz)}
    for metric, marks in bucket.quality.items():  # (quality, gasQuality: the interval import's marks)
        intervals = marks.intervals
        data[metric] = {"intervals": int(intervals) if intervals.is_integer() else intervals,
                        "readings": marks.readings, "statuses": dict(sorted(marks.statuses.items()))}
    return {
        "data": data,
        "entityId": entity,
        "id": bucket.id,
        "timeframe": {"start": format_datetime(bucket.start, tz), "end": format_datetime(bucket.end, tz)},
    }


def peak_demand(peak: Peak, tz: ZoneInfo | None) -> dict[str, Any]:
    return {"value": peak.value, "start": format_datetime(peak.start, tz), "end": format_datetime(peak.end, tz),
            "energy": peak.energy + 0.0}


def capacity_month(month: CapacityMonth, tz: ZoneInfo | None) -> dict[str, Any]:
    tariff = month.tariff
    return {
        "month": month_label(tariff.month),
        "timeframe": {"start": format_datetime(month.start, tz), "end": format_datetime(month.end, tz)},
        "peak": None if tariff.peak is None else peak_demand(tariff.peak, tz),
        "billedPeak": tariff.billed_peak,
        "rollingMean": tariff.rolling_mean,
        "monthsInMean": tariff.months_in_mean,
    }


def entity(record: EntityRecord, can_see: Callable[[uuid.UUID], bool] | None = None) -> dict[str, Any]:
    """An entity of the registry (docs/semantics.md §12) as a token that `can_see` some entities sees it: null
    where unknown, and `parentId` null when the token may not see the parent (the parent's id is not the child's
    to reveal). Every API answer passes its token's; None is the operator's view (the CLI): every parent."""
    parent = record.parent_id
    return {
        "id": str(record.entity_id),
        "type": record.type,
        "name": record.name,
        "brand": record.brand,
        "identifier": record.identifier,
        "parentId": None if parent is None or (can_see is not None and not can_see(parent)) else str(parent),
        "properties": None if record.properties is None else orjson.Fragment(_properties_json(record.properties)),
        "timeZone": record.time_zone,
        "created": format_datetime(record.created),
        "lastSeen": None if record.last_seen is None else format_datetime(record.last_seen),
    }


def _properties_json(properties: dict[str, Any]) -> bytes:
    """`properties` as JSON. PUT bounds their nesting (32 levels), but a row stored before the bound may nest up
    to 254, beyond orjson's encoder inside an entity inside a page: encoded here on its own, and by the standard
    library when orjson cannot, so a listing that holds it is never a 500."""
    try:
        return orjson.dumps(properties)
    except orjson.JSONEncodeError:
        return json.dumps(properties, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def reading(entity_id: uuid.UUID, stored: StoredReading) -> dict[str, Any]:
    return {
        "id": str(reading_id(entity_id, stored.ts)),
        "entityId": str(entity_id),
        "timestamp": format_datetime(stored.ts),
        "data": stored.data,
    }


def paged(items: bytes, next_url: str | None, token: str | None, page_size: int) -> bytes:
    """The page envelope around already encoded items (a JSON array): the bytes orjson gives for the whole."""
    return b"".join((
        b'{"data":', items, b',"links":', orjson.dumps({"next": next_url}),
        b',"meta":', orjson.dumps({"continuationToken": token, "pageSize": page_size}), b"}",
    ))


def ingest_result(result: IngestResult) -> bytes:
    return orjson.dumps({"received": result.received, "written": result.written, "replaced": result.replaced})
