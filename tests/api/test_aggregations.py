"""The customer's aggregations endpoint and aggregations/total over HTTP (semantics.md §3–§7)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ..conftest import ENTITY, ApiClient, energy

AGG = f"/v1/entities/{ENTITY}/aggregations"
TOTAL = f"{AGG}/total"
SEED = {"start": "2024-05-27 13:00:00Z", "resolution": "15 minutes", "end": "2024-05-28 13:00:00Z"}


def hourly_meter(client: ApiClient, start_hour: int = 12, hours: int = 3, per_hour: float = 4.0) -> None:
    """A meter read every 15 minutes, 1 kWh per quarter hour, t1 before 13:00, t2 after."""
    readings = []
    for q in range(hours * 4 + 1):
        minute = start_hour * 60 + q * 15
        total = q * per_hour / 4
        t1 = min(total, (13 - start_hour) * per_hour)
        readings.append(energy(f"2024-05-27T{minute // 60:02d}:{minute % 60:02d}:00Z", total, t1=t1, t2=total - t1))
    assert client.ingest(ENTITY, readings).status_code == 200


def totals(body: dict[str, Any]) -> list[float]:
    return [item["data"]["positiveActiveEnergy"]["total"] for item in body["data"]]


def test_seed_request_shape(client: ApiClient) -> None:
    hourly_meter(client)
    body = client.get(AGG, params=SEED).json()
    assert set(body) == {"data", "links", "meta"}
    assert body["meta"] == {"continuationToken": None, "pageSize": 25}
    first = body["data"][0]
    assert first["entityId"] == str(ENTITY)
    assert first["timeframe"] == {"start": "2024-05-27T13:00:00Z", "end": "2024-05-27T13:15:00Z"}
    assert first["data"] == {
        "positiveActiveEnergy": {"t1": 0.0, "t2": 1.0, "t3": None, "t4": None, "total": 1.0, "unit": "kWh"}
    }
    # readings end at 15:00: 8 quarter hours, later buckets are omitted, never zero-filled
    assert len(body["data"]) == 8
    assert totals(body) == [1.0] * 8


def test_ids_are_deterministic_and_spelling_independent(client: ApiClient) -> None:
    hourly_meter(client)
    a = client.get(AGG, params=SEED).json()["data"]
    b = client.get(AGG, params={**SEED, "resolution": "PT15M"}).json()["data"]
    assert [x["id"] for x in a] == [x["id"] for x in b]
    assert len({x["id"] for x in a}) == len(a)
    uuid.UUID(a[0]["id"])


def test_interpolation_spreads_consumption_evenly(client: ApiClient) -> None:
    client.ingest(ENTITY, [energy("2024-05-27T12:00:00Z", 0), energy("2024-05-27T14:00:00Z", 8)])
    body = client.get(AGG, params={**SEED, "start": "2024-05-27T12:00:00Z"}).json()
    assert totals(body) == [1.0] * 8


def test_window_clips_buckets(client: ApiClient) -> None:
    hourly_meter(client)
    body = client.get(AGG, params={"start": "2024-05-27T12:10:00Z", "end": "2024-05-27T13:40:00Z",
                                   "resolution": "1 hour"}).json()
    assert [i["timeframe"] for i in body["data"]] == [
        {"start": "2024-05-27T12:10:00Z", "end": "2024-05-27T13:00:00Z"},
        {"start": "2024-05-27T13:00:00Z", "end": "2024-05-27T13:40:00Z"},
    ]
    assert totals(body) == pytest.approx([50 / 15, 40 / 15])


def test_reset_contributes_the_new_value(client: ApiClient) -> None:
    client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 100), energy("2024-05-27T13:15:00Z", 101),
                           energy("2024-05-27T13:30:00Z", 0.5), energy("2024-05-27T13:45:00Z", 1.5)])
    body = client.get(AGG, params=SEED).json()
    assert totals(body) == [1.0, 0.5, 1.0]
    total = client.get(TOTAL, params={"start": SEED["start"], "end": SEED["end"]}).json()
    assert total["data"]["positiveActiveEnergy"]["total"] == 2.5


def test_late_out_of_order_ingest_updates_every_affected_bucket(client: ApiClient) -> None:
    client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 10), energy("2024-05-27T14:00:00Z", 14)])
    assert totals(client.get(AGG, params={**SEED, "resolution": "30 minutes"}).json()) == [2.0, 2.0]
    # a late reading shows a reset: 13:15 contributes 1, then 13 more until 14:00 (spread over 45 min)
    client.ingest(ENTITY, [energy("2024-05-27T13:15:00Z", 1)])
    assert totals(client.get(AGG, params={**SEED, "resolution": "30 minutes"}).json()) == pytest.approx(
        [1 + 13 / 3, 13 * 2 / 3])
    # correcting it removes the reset again
    client.ingest(ENTITY, [energy("2024-05-27T13:15:00Z", 11)])
    assert totals(client.get(AGG, params={**SEED, "resolution": "30 minutes"}).json()) == pytest.approx([2.0, 2.0])


def test_gap_before_coverage_is_skipped_across_pages(client: ApiClient) -> None:
    client.ingest(ENTITY, [energy("2024-05-27T12:00:00Z", 0), energy("2024-06-27T12:00:00Z", 744)])
    body = client.get(AGG, params={"start": "2020-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z",
                                   "resolution": "1 day", "pageSize": 40}).json()
    assert body["data"][0]["timeframe"]["start"] == "2024-05-27T00:00:00Z"
    assert body["data"][0]["data"]["positiveActiveEnergy"]["total"] == 12.0
    assert len(body["data"]) == 32 and body["links"]["next"] is None


def test_tiers_without_coverage_are_null_and_gas_is_absent(client: ApiClient) -> None:
    client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1, t1=1), energy("2024-05-27T13:15:00Z", 2, t1=2)])
    item = client.get(AGG, params=SEED).json()["data"][0]
    assert item["data"] == {
        "positiveActiveEnergy": {"t1": 1.0, "t2": None, "t3": None, "t4": None, "total": 1.0, "unit": "kWh"}
    }


def test_gas_volume(client: ApiClient) -> None:
    def gas(ts: str, value: float) -> dict[str, Any]:
        return {"timestamp": ts, "data": {"positiveGasVolume": {"value": value, "unit": "m3"}}}

    client.ingest(ENTITY, [gas("2024-05-27T13:00:00Z", 1.0), gas("2024-05-27T15:00:00Z", 3.0)])
    body = client.get(AGG, params={**SEED, "resolution": "1 hour"}).json()
    assert [i["data"] for i in body["data"]] == [{"positiveGasVolume": {"value": 1.0, "unit": "m3"}}] * 2


def test_pages_concatenate_to_one_big_page(client: ApiClient) -> None:
    hourly_meter(client, start_hour=0, hours=20)
    params = {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z", "resolution": "15 minutes"}
    big = client.get(AGG, params={**params, "pageSize": 10000}).json()
    assert big["links"]["next"] is None and len(big["data"]) == 80
    collected, response = [], client.get(AGG, params={**params, "pageSize": 7})
    while True:
        body = response.json()
        collected.extend(body["data"])
        if body["links"]["next"] is None:
            break
        assert body["meta"]["continuationToken"] in body["links"]["next"]
        response = client.get(body["links"]["next"])
    assert collected == big["data"]


def test_token_is_bound_to_its_query(client: ApiClient) -> None:
    hourly_meter(client)
    token = client.get(AGG, params={**SEED, "pageSize": 2}).json()["meta"]["continuationToken"]
    assert client.get(AGG, params={**SEED, "pageSize": 3, "continuationToken": token}).status_code == 200
    for other in ({"resolution": "30 minutes"}, {"start": "2024-05-27T13:15:00Z"}, {"timeZone": "Europe/Berlin"}):
        response = client.get(AGG, params={**SEED, **other, "continuationToken": token})
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "InvalidContinuationToken"


def test_open_end_is_fixed_by_the_first_page(client: ApiClient) -> None:
    hourly_meter(client)
    params = {"start": SEED["start"], "resolution": "15 minutes", "pageSize": 3}
    first = client.get(AGG, params=params).json()
    second = client.get(first["links"]["next"]).json()
    assert second["data"][0]["timeframe"]["start"] == "2024-05-27T13:45:00Z"


@pytest.mark.parametrize(("params", "code"), [
    ({"resolution": "1 month 3 days"}, "MixedMonthInterval"),
    ({"resolution": "0 minutes"}, "NonPositiveResolution"),
    ({"resolution": "1 quarter"}, "InvalidResolution"),
    ({"resolution": None}, "MissingParameter"),  # absent
    ({"resolution": ""}, "InvalidResolution"),  # present: an empty value is a value, and not a resolution
    ({"resolution": "  "}, "InvalidResolution"),
    ({"start": None}, "MissingParameter"),
    ({"start": ""}, "InvalidDateTime"),
    ({"start": " "}, "InvalidDateTime"),
    ({"end": ""}, "InvalidDateTime"),
    ({"pageSize": ""}, "InvalidPageSize"),
    ({"start": "27/05/2024"}, "InvalidDateTime"),
    ({"end": "2024-05-27T12:00:00Z"}, "InvalidTimeWindow"),
    ({"pageSize": "10001"}, "InvalidPageSize"),
    ({"timeZone": "Mars/Olympus"}, "UnknownTimeZone"),
    ({"timeZone": "../../etc/passwd"}, "UnknownTimeZone"),
    ({"timeZone": "localtime"}, "UnknownTimeZone"),
    ({"timeZone": "Factory"}, "UnknownTimeZone"),
    ({"timeZone": "posixrules"}, "UnknownTimeZone"),
    ({"timeZone": "posix/Europe/Berlin"}, "UnknownTimeZone"),
    ({"timeZone": "right/UTC"}, "UnknownTimeZone"),
    ({"timeZone": ""}, "UnknownTimeZone"),
    ({"continuationToken": "x.y"}, "InvalidContinuationToken"),
])
def test_bad_parameters_are_400_with_their_code(client: ApiClient, params: dict[str, str], code: str) -> None:
    hourly_meter(client)
    response = client.get(AGG, params={k: v for k, v in {**SEED, **params}.items() if v is not None})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == code


def test_time_zone_day_buckets_follow_local_midnight(client: ApiClient) -> None:
    # 2024-03-31 is 23 hours long in Berlin
    client.ingest(ENTITY, [energy("2024-03-30T00:00:00Z", 0), energy("2024-04-02T00:00:00Z", 72)])
    body = client.get(AGG, params={"start": "2024-03-30T23:00:00Z", "end": "2024-04-01T22:00:00Z",
                                   "resolution": "1 day", "timeZone": "Europe/Berlin"}).json()
    assert [i["timeframe"] for i in body["data"]] == [
        {"start": "2024-03-31T00:00:00+01:00", "end": "2024-04-01T00:00:00+02:00"},
        {"start": "2024-04-01T00:00:00+02:00", "end": "2024-04-02T00:00:00+02:00"},
    ]
    assert totals(body) == pytest.approx([23.0, 24.0])


def test_total_equals_sum_of_buckets_and_empty_window_is_empty(client: ApiClient) -> None:
    hourly_meter(client)
    buckets = client.get(AGG, params={**SEED, "start": "2024-05-27T12:07:00Z", "resolution": "1 hour"}).json()
    total = client.get(TOTAL, params={"start": "2024-05-27T12:07:00Z", "end": SEED["end"]}).json()
    assert sum(totals(buckets)) == pytest.approx(total["data"]["positiveActiveEnergy"]["total"])
    assert total["timeframe"] == {"start": "2024-05-27T12:07:00Z", "end": "2024-05-28T13:00:00Z"}
    empty = client.get(TOTAL, params={"start": "2023-01-01T00:00:00Z", "end": "2023-01-02T00:00:00Z"}).json()
    assert empty["data"] == {}


def test_month_buckets(client: ApiClient) -> None:
    client.ingest(ENTITY, [energy("2024-01-01T00:00:00Z", 0), energy("2024-03-01T00:00:00Z", 60)])
    body = client.get(AGG, params={"start": "2024-01-01T00:00:00Z", "end": "2024-04-01T00:00:00Z",
                                   "resolution": "1 month"}).json()
    assert totals(body) == pytest.approx([31.0, 29.0])


def test_reset_next_to_a_reading_without_that_register_is_counted(client: ApiClient) -> None:
    gas_only = {"timestamp": "2024-05-27T00:20:00Z", "data": {"positiveGasVolume": {"value": 1, "unit": "m3"}}}
    client.ingest(ENTITY, [energy("2024-05-27T00:00:00Z", 10), gas_only, energy("2024-05-27T00:30:00Z", 2)])
    total = client.get(TOTAL, params={"start": "2024-05-27T00:00:00Z", "end": "2024-05-27T00:15:00Z"}).json()
    assert total["data"]["positiveActiveEnergy"]["total"] == pytest.approx(1.0)  # 2 kWh after the reset, over 30 min


@pytest.mark.parametrize(("params", "code"), [
    ({"start": SEED["start"], "end": ""}, "InvalidDateTime"),
    ({"start": "", "end": SEED["end"]}, "InvalidDateTime"),
    ({"end": SEED["end"]}, "MissingParameter"),
    ({"start": SEED["start"], "timeZone": ""}, "UnknownTimeZone"),
])
def test_empty_is_not_absent_for_the_total(client: ApiClient, params: dict[str, str], code: str) -> None:
    hourly_meter(client)
    response = client.get(TOTAL, params=params)
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == code


def test_a_remembered_page_is_never_served_after_an_ingest(client: ApiClient) -> None:
    hourly_meter(client)
    first = client.get(AGG, params=SEED).json()
    assert client.get(AGG, params=SEED).json() == first  # remembered, identical
    client.ingest(ENTITY, [energy("2024-05-27T15:15:00Z", 13)])  # one more quarter hour, 1 kWh
    after = client.get(AGG, params=SEED).json()
    assert len(after["data"]) == len(first["data"]) + 1
    assert totals(after)[-1] == 1.0


def test_resets_at_the_register_bound_sum_to_a_finite_total(client: ApiClient) -> None:
    """Gas at the bound, reset to 0 every other reading: 200 resets, and every value stays a finite number."""
    gas = [{"timestamp": f"2024-05-27T{i // 60:02d}:{i % 60:02d}:00Z",
            "data": {"positiveGasVolume": {"value": 0 if i % 2 else 1e12, "unit": "m3"}}} for i in range(400)]
    assert client.ingest(ENTITY, gas).status_code == 200
    window = {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z"}
    total = client.get(TOTAL, params=window).json()["data"]["positiveGasVolume"]["value"]
    assert total == 199 * 1e12  # each rise from 0 counts 1e12; each reset counts its new value, 0
    buckets = client.get(AGG, params={**window, "resolution": "1 hour"}).json()["data"]
    assert sum(b["data"]["positiveGasVolume"]["value"] for b in buckets) == pytest.approx(total)


@pytest.mark.parametrize("zone", ["UTC", "Etc/UTC", "GMT", "Zulu", "Etc/GMT-0", "Universal", "Greenwich", "UCT"])
def test_every_name_of_utc_is_the_same_query(client: ApiClient, zone: str) -> None:
    """Same buckets, ids, 'Z' offsets and tokens as without timeZone, for aggregations and the total."""
    hourly_meter(client)
    plain = client.get(AGG, params={**SEED, "pageSize": 3}).json()
    named = client.get(AGG, params={**SEED, "pageSize": 3, "timeZone": zone}).json()
    assert named["data"] == plain["data"] and named["meta"] == plain["meta"]
    token = named["meta"]["continuationToken"]
    assert client.get(AGG, params={**SEED, "pageSize": 3, "continuationToken": token}).status_code == 200
    window = {"start": SEED["start"], "end": SEED["end"]}
    assert client.get(TOTAL, params={**window, "timeZone": zone}).json() == client.get(TOTAL, params=window).json()
