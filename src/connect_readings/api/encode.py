"""Domain values → JSON bytes with the customer's wire names."""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from ..domain.readings import reading_id
from ..domain.timefmt import format_datetime
from ..service import Bucket
from ..storage.base import IngestResult, StoredReading


def aggregation(entity: str, bucket: Bucket, tz: ZoneInfo | None) -> dict[str, Any]:
    return {
        "data": bucket.data,
        "entityId": entity,
        "id": bucket.id,
        "timeframe": {"start": format_datetime(bucket.start, tz), "end": format_datetime(bucket.end, tz)},
    }


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
