"""`encode.aggregations`: each item's timeframe is its bucket's [start, end) as RFC 3339 in the page's zone. A page
whose buckets follow each other formats its edges once in a row; a page with buckets left out (no coverage)
formats each distinct instant; both against `format_datetime` of every instant on its own (hand rows over clock
changes, and a property)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connect_readings.domain.timefmt import format_datetime, parse_datetime
from connect_readings.usecases.aggregations import Bucket
from connect_readings.wire.encode import aggregations

ENTITY = "6d1f1a8e-0000-4000-8000-00000000e1c0"
HOUR = 3_600_000_000


def us(text: str) -> int:
    return parse_datetime(text, "t")


def buckets(edges: list[int], left_out: tuple[int, ...] = ()) -> list[Bucket]:
    return [Bucket(id=f"id-{i}", start=a, end=b, data={"n": i}) for i, (a, b) in enumerate(zip(edges, edges[1:]))
            if i not in left_out]


def reference(items: list[Bucket], tz: ZoneInfo | None) -> list[dict]:
    return [{"data": b.data, "entityId": ENTITY, "id": b.id,
             "timeframe": {"start": format_datetime(b.start, tz), "end": format_datetime(b.end, tz)}} for b in items]


BRUSSELS, LORD_HOWE, KOLKATA = ZoneInfo("Europe/Brussels"), ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Kolkata")


@pytest.mark.parametrize("edges, left_out, tz, timeframes", [
    pytest.param([us("2024-10-26T22:00:00Z"), us("2024-10-27T23:00:00Z"), us("2024-10-28T23:00:00Z")], (), BRUSSELS,
                 [("2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00"),
                  ("2024-10-28T00:00:00+01:00", "2024-10-29T00:00:00+01:00")],
                 id="Brussels autumn day of 25 h, in a row"),
    pytest.param([us("2024-03-30T23:00:00Z"), us("2024-03-31T22:00:00Z"), us("2024-04-01T22:00:00Z")], (), BRUSSELS,
                 [("2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00"),
                  ("2024-04-01T00:00:00+02:00", "2024-04-02T00:00:00+02:00")],
                 id="Brussels spring day of 23 h, in a row"),
    pytest.param([us("2024-10-05T15:00:00Z"), us("2024-10-05T15:30:00Z"), us("2024-10-05T16:00:00Z")], (), LORD_HOWE,
                 [("2024-10-06T01:30:00+10:30", "2024-10-06T02:30:00+11:00"),
                  ("2024-10-06T02:30:00+11:00", "2024-10-06T03:00:00+11:00")],
                 id="Lord Howe spring: 02:00 to 02:30, half an hour skipped"),
    pytest.param([us("2024-10-26T22:00:00Z"), us("2024-10-27T23:00:00Z"), us("2024-10-28T23:00:00Z"),
                  us("2024-10-29T23:00:00Z")], (1,), BRUSSELS,
                 [("2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00"),
                  ("2024-10-29T00:00:00+01:00", "2024-10-30T00:00:00+01:00")], id="a bucket left out between"),
    pytest.param([us("2024-04-06T14:30:00Z"), us("2024-04-06T15:00:00Z"), us("2024-04-06T15:30:00Z")], (), LORD_HOWE,
                 [("2024-04-07T01:30:00+11:00", "2024-04-07T01:30:00+10:30"),
                  ("2024-04-07T01:30:00+10:30", "2024-04-07T02:00:00+10:30")],
                 id="Lord Howe autumn: 01:30 twice, half an hour apart"),
    pytest.param([us("2024-03-31T18:30:00Z"), us("2024-04-01T18:30:00Z") + 1], (), KOLKATA,
                 [("2024-04-01T00:00:00+05:30", "2024-04-02T00:00:00.000001+05:30")], id="Kolkata, an end clipped"),
    pytest.param([0, HOUR, 2 * HOUR], (0, 1), None, [], id="every bucket left out"),
    pytest.param([0, HOUR, 2 * HOUR], (), None, [("1970-01-01T00:00:00Z", "1970-01-01T01:00:00Z"),
                                                 ("1970-01-01T01:00:00Z", "1970-01-01T02:00:00Z")], id="UTC"),
])
def test_timeframes(edges: list[int], left_out: tuple[int, ...], tz: ZoneInfo | None,
                    timeframes: list[tuple[str, str]]) -> None:
    items = buckets(edges, left_out)
    encoded = aggregations(ENTITY, items, tz)
    assert [(item["timeframe"]["start"], item["timeframe"]["end"]) for item in encoded] == timeframes
    assert encoded == reference(items, tz)


@settings(max_examples=300, deadline=None)
@given(first=st.integers(us("1990-01-01T00:00:00Z"), us("2150-01-01T00:00:00Z")),
       steps=st.lists(st.integers(1, 40 * 24 * 4).map(lambda k: k * 900_000_000), min_size=1, max_size=40),
       left_out=st.sets(st.integers(0, 40), max_size=10),
       zone=st.sampled_from(["Europe/Brussels", "Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns",
                             "Pacific/Apia", None]))
def test_matches_formatting_each_instant(first: int, steps: list[int], left_out: set[int], zone: str | None) -> None:
    edges = [first]
    for step in steps:
        edges.append(edges[-1] + step)
    tz = ZoneInfo(zone) if zone else None
    items = buckets(edges, tuple(left_out))
    assert aggregations(ENTITY, items, tz) == reference(items, tz)
