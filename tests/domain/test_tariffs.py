"""Tariffs (domain/tariffs.py): the PUT body, its wire form, and the period in force."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from connect_readings.domain import tariffs
from connect_readings.domain.errors import DomainError
from connect_readings.domain.tariffs import (
    GasPricing,
    Period,
    Pricing,
    Tariff,
    parse_tariff,
    tariff_document,
)
from connect_readings.domain.timefmt import parse_datetime

BRUSSELS = ZoneInfo("Europe/Brussels")

EXAMPLE: dict[str, Any] = {"currency": "EUR", "periods": [
    {"from": "2024-01-01T00:00:00+01:00", "import": {"t1": 0.32, "t2": 0.25}, "export": {"total": 0.04},
     "gas": {"perM3": 1.10}, "capacity": {"perKwYear": 48.0}, "fixed": {"perYear": 120.0}, "vat": 0.06},
    {"from": "2025-01-01T00:00:00+01:00", "import": {"prices": "be-dayahead", "factor": 1.0, "adder": 0.14},
     "export": {"prices": "be-dayahead", "factor": 0.9, "adder": -0.01}, "gas": {"perKwh": 0.07, "kwhPerM3": 10.35},
     "capacity": {"perKwYear": 52.0}, "fixed": {"perYear": 110.0}, "vat": 0.06}]}

EXAMPLE_TARIFF = Tariff("EUR", (
    Period(parse_datetime("2023-12-31T23:00:00Z"), Pricing(tiers={"t1": 0.32, "t2": 0.25}), Pricing(total=0.04),
           GasPricing(per_m3=1.1), 48.0, 120.0, 0.06),
    Period(parse_datetime("2024-12-31T23:00:00Z"), Pricing(prices="be-dayahead", factor=1.0, adder=0.14),
           Pricing(prices="be-dayahead", factor=0.9, adder=-0.01), GasPricing(per_kwh=0.07, kwh_per_m3=10.35),
           52.0, 110.0, 0.06),
))


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_the_design_doc_example() -> None:
    tariff = parse_tariff(encode(EXAMPLE), None)
    assert tariff == EXAMPLE_TARIFF
    assert tariff.series_ids() == {"be-dayahead"}
    assert tariff.periods[1].gas is not None and tariff.periods[1].gas.per_volume == 0.7245
    assert tariff.periods[1].import_ is not None and tariff.periods[1].import_.dynamic
    assert tariff.periods[0].import_ is not None and not tariff.periods[0].import_.dynamic


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"periods": []}, Tariff("EUR", ())),  # currency defaults to EUR; no period prices nothing
        ({"currency": "CHF", "periods": [{"from": "2024-01-01T00:00:00Z"}]},
         Tariff("CHF", (Period(1704067200000000),))),
        ({"currency": None, "periods": [{"from": "2024-01-01T00:00:00Z", "import": None, "vat": None}]},
         Tariff("EUR", (Period(1704067200000000),))),
        ({"periods": [{"from": "2024-01-01", "import": {"prices": "x"}}]},  # a date: local midnight (Brussels here)
         Tariff("EUR", (Period(1704063600000000, Pricing(prices="x", factor=1.0, adder=0.0)),))),
        ({"periods": [{"from": "2024-01-01T00:00Z", "export": {"t3": -0.01, "t1": 0, "t4": None}}]},
         Tariff("EUR", (Period(1704067200000000, export=Pricing(tiers={"t1": 0.0, "t3": -0.01})),))),
        ({"periods": [{"from": "2024-01-01T00:00Z", "import": {"total": 1}, "vat": 1}]},
         Tariff("EUR", (Period(1704067200000000, Pricing(total=1.0), vat=1.0),))),
        ({"periods": [{"from": "2024-01-01T00:00Z", "import": {"prices": "x", "factor": -1, "adder": 0}, "vat": 0}]},
         Tariff("EUR", (Period(1704067200000000, Pricing(prices="x", factor=-1.0)),))),
        ({"periods": [{"from": "2024-01-01T00:00Z", "fixed": {"perYear": -12}, "capacity": {"perKwYear": 0}}]},
         Tariff("EUR", (Period(1704067200000000, fixed_per_year=-12.0, capacity_per_kw_year=0.0),))),
    ],
)
def test_valid_bodies(document: dict[str, Any], expected: Tariff) -> None:
    assert parse_tariff(encode(document), BRUSSELS) == expected


FROM = "2024-01-01T00:00:00Z"


def one(**period: Any) -> bytes:
    return encode({"periods": [{"from": FROM, **period}]})


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        (b"", "InvalidJson", "not valid JSON"),
        (b'{"periods": [{"from": "2024-01-01", "vat": 1e400}]}', "InvalidJson", "numbers must lie within a double"),
        (b"[]", "InvalidTariff", "the body must be a JSON object {currency, periods}"),
        (b'{"periods": [], "periods": []}', "DuplicateKey", "'periods' appears twice"),
        (b'{"periods": [{"from": "2024-01-01", "import": {"t1": 1, "t1": 2}}]}', "DuplicateKey", "'t1' appears twice"),
        (encode({"periods": [], "name": "x"}), "InvalidTariff", "unknown field 'name'; a tariff has currency, periods"),
        (encode({"currency": "eur", "periods": []}), "InvalidTariff",
         "'currency' must be an ISO 4217 code of 3 upper-case letters (e.g. EUR); got 'eur'"),
        (encode({"currency": "EURO", "periods": []}), "InvalidTariff", "got 'EURO'"),
        (encode({"currency": 978, "periods": []}), "InvalidTariff", "got a number"),
        (encode({"currency": "EUR"}), "InvalidTariff", "'periods' must be an array of periods"),
        (encode({"periods": {"from": FROM}}), "InvalidTariff", "got an object"),
        (encode({"periods": [5]}), "InvalidTariff", "'periods[0]' must be an object"),
        (encode({"periods": [{}]}), "InvalidTariff", "'periods[0].from' is required: an RFC 3339 date-time string"),
        (encode({"periods": [{"from": 2024}]}), "InvalidTariff", "'periods[0].from' is required"),
        (encode({"periods": [{"from": "January"}]}), "InvalidTariff",
         "'periods[0].from' must be an RFC 3339 date-time such as 2024-05-27T13:00:00Z; got 'January'"),
        (one(water={"perM3": 2}), "InvalidTariff",
         "'periods[0]': unknown component 'water'; a period has from, import, export, gas, capacity, fixed, vat"),
        (one(imports={"total": 1}), "InvalidTariff", "unknown component 'imports'"),
        (one(**{"import": {"t5": 0.3}}), "InvalidTariff",
         "'periods[0].import': unknown tier 't5'; the tiers are t1, t2, t3, t4"),
        (one(export={"T1": 0.3}), "InvalidTariff", "'periods[0].export': unknown tier 'T1'"),
        (one(**{"import": {"peak": 0.3}}), "InvalidTariff", "'periods[0].import': unknown field 'peak'"),
        (one(**{"import": {"t1": 0.3, "total": 0.3}}), "InvalidTariff",
         "'periods[0].import': give tiers (t1…t4) or a total, not both"),
        (one(**{"import": {"prices": "x", "t1": 0.3}}), "InvalidTariff",
         "'periods[0].import': a dynamic price ('prices') takes no tiers or total"),
        (one(export={"prices": "x", "total": 0.3}), "InvalidTariff", "takes no tiers or total"),
        (one(**{"import": {"factor": 1.1}}), "InvalidTariff",
         "'periods[0].import.factor' applies to a dynamic price only: give 'prices'"),
        (one(**{"import": {"t1": 0.3, "adder": 0.1}}), "InvalidTariff", "'periods[0].import.adder' applies to"),
        (one(**{"import": {}}), "InvalidTariff", "'periods[0].import' needs tier prices (t1…t4), a total, or"),
        (one(**{"import": 0.3}), "InvalidTariff", "'periods[0].import' must be an object"),
        (one(**{"import": {"prices": "BE day-ahead"}}), "InvalidTariff",
         "'periods[0].import.prices': a price id is 1 to 64 lower-case letters"),
        (one(**{"import": {"prices": 7}}), "InvalidTariff", "'periods[0].import.prices' must be a price series id"),
        (one(**{"import": {"t1": "0.3"}}), "InvalidTariff",
         "'periods[0].import.t1' must be a finite number; got a string"),
        (one(**{"import": {"total": True}}), "InvalidTariff", "'periods[0].import.total' must be a finite number"),
        (one(**{"import": {"prices": "x", "factor": "1"}}), "InvalidTariff", "'periods[0].import.factor' must be a"),
        (one(gas={"perM3": 1.1, "perKwh": 0.07, "kwhPerM3": 10}), "InvalidTariff",
         "'periods[0].gas': give perM3, or perKwh with kwhPerM3, not both"),
        (one(gas={"perM3": 1.1, "kwhPerM3": 10}), "InvalidTariff", "not both"),
        (one(gas={"perKwh": 0.07}), "InvalidTariff", "'periods[0].gas.perKwh' needs 'kwhPerM3'"),
        (one(gas={"kwhPerM3": 10}), "InvalidTariff", "'periods[0].gas' needs perM3, or perKwh with kwhPerM3"),
        (one(gas={}), "InvalidTariff", "'periods[0].gas' needs perM3"),
        (one(gas={"perKwh": 0.07, "kwhPerM3": 0}), "InvalidTariff",
         "'periods[0].gas.kwhPerM3' must be greater than 0; got 0.0"),
        (one(gas={"perKwh": 0.07, "kwhPerM3": -10}), "InvalidTariff", "must be greater than 0"),
        (one(gas={"perLitre": 1}), "InvalidTariff", "'periods[0].gas': unknown field 'perLitre'"),
        (one(capacity={"perKwMonth": 4}), "InvalidTariff",
         "'periods[0].capacity': unknown field 'perKwMonth'; it has perKwYear"),
        (one(capacity={}), "InvalidTariff", "'periods[0].capacity.perKwYear' is required"),
        (one(fixed={"perYear": "120"}), "InvalidTariff", "'periods[0].fixed.perYear' must be a finite number"),
        (one(fixed=120), "InvalidTariff", "'periods[0].fixed' must be an object {perYear}; got a number"),
        (one(vat=-0.06), "InvalidTariff", "'periods[0].vat' is a fraction from 0 to 1 (0.06 is 6 %); got -0.06"),
        (one(vat=6), "InvalidTariff", "got 6.0"),
        (one(vat="6%"), "InvalidTariff", "'periods[0].vat' must be a finite number; got a string"),
        (encode({"periods": [{"from": "2025-01-01T00:00Z"}, {"from": "2024-01-01T00:00Z"}]}), "InvalidTariff",
         "periods[1].from must be after periods[0].from"),
        (encode({"periods": [{"from": "2025-01-01T00:00Z"}, {"from": "2025-01-01T01:00+01:00"}]}), "InvalidTariff",
         "periods[1].from must be after periods[0].from"),  # the same instant
        (encode({"currency": "GBP", "periods": [{"from": FROM, "import": {"prices": "x"}}]}), "InvalidTariff",
         "price series are in EUR: a tariff in GBP cannot use 'prices'"),
        (encode({"periods": [{"from": FROM}, {"from": "2025-01-01", "export": {"t9": 1}}]}), "InvalidTariff",
         "'periods[1].export': unknown tier 't9'"),
    ],
)
def test_invalid_bodies(raw: bytes, code: str, fragment: str) -> None:
    with pytest.raises(DomainError) as error:
        parse_tariff(raw, None)
    assert error.value.code == code
    assert fragment in error.value.message, error.value.message


def test_too_many_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tariffs, "MAX_PERIODS", 1)
    with pytest.raises(DomainError, match="'periods' holds 2 periods; at most 1"):
        parse_tariff(encode({"periods": [{"from": "2024-01-01"}, {"from": "2025-01-01"}]}), None)


def test_the_wire_form_in_a_zone() -> None:
    document = tariff_document(EXAMPLE_TARIFF, BRUSSELS)
    assert document == {"currency": "EUR", "periods": [
        {"from": "2024-01-01T00:00:00+01:00", "import": {"t1": 0.32, "t2": 0.25}, "export": {"total": 0.04},
         "gas": {"perM3": 1.1}, "capacity": {"perKwYear": 48.0}, "fixed": {"perYear": 120.0}, "vat": 0.06},
        {"from": "2025-01-01T00:00:00+01:00", "import": {"prices": "be-dayahead", "factor": 1.0, "adder": 0.14},
         "export": {"prices": "be-dayahead", "factor": 0.9, "adder": -0.01},
         "gas": {"perKwh": 0.07, "kwhPerM3": 10.35}, "capacity": {"perKwYear": 52.0}, "fixed": {"perYear": 110.0},
         "vat": 0.06}]}
    assert document == EXAMPLE  # the design doc's body is already the wire form
    assert tariff_document(EXAMPLE_TARIFF, None)["periods"][0]["from"] == "2023-12-31T23:00:00Z"
    assert tariff_document(Tariff("EUR", (Period(0),)), None) == {
        "currency": "EUR", "periods": [{"from": "1970-01-01T00:00:00Z", "vat": 0.0}]}


@pytest.mark.parametrize("zone", [None, BRUSSELS, ZoneInfo("America/New_York")])
@pytest.mark.parametrize(
    "document",
    [
        EXAMPLE,
        {"periods": []},
        {"currency": "CHF", "periods": [{"from": "2024-06-01T00:00:00.5Z", "export": {"t2": 0.1, "t4": 0.2}}]},
        {"periods": [{"from": "2024-01-01", "import": {"prices": "p", "adder": 1e-9}}, {"from": "2024-10-27T02:30"}]},
    ],
)
def test_round_trip(document: dict[str, Any], zone: ZoneInfo | None) -> None:
    tariff = parse_tariff(encode(document), zone)
    wire = orjson.dumps(tariff_document(tariff, zone))
    assert parse_tariff(wire, zone) == tariff
    assert parse_tariff(wire, None) == tariff  # the wire form carries its offsets


def test_period_at() -> None:
    first, second = (p.start for p in EXAMPLE_TARIFF.periods)
    assert EXAMPLE_TARIFF.period_at(first - 1) is None  # before the first period nothing is priced
    assert EXAMPLE_TARIFF.period_at(first) is EXAMPLE_TARIFF.periods[0]
    assert EXAMPLE_TARIFF.period_at(second - 1) is EXAMPLE_TARIFF.periods[0]
    assert EXAMPLE_TARIFF.period_at(second) is EXAMPLE_TARIFF.periods[1]
    assert EXAMPLE_TARIFF.period_at(second + 10**15) is EXAMPLE_TARIFF.periods[1]  # the last is open
    assert Tariff("EUR", ()).period_at(0) is None


def test_series_ids() -> None:
    tariff = parse_tariff(encode({"periods": [
        {"from": "2024-01-01", "import": {"prices": "a"}, "export": {"prices": "b"}},
        {"from": "2025-01-01", "import": {"prices": "a"}, "export": {"total": 0.1}},
    ]}), None)
    assert tariff.series_ids() == {"a", "b"}
    assert Tariff("EUR", (Period(0, Pricing(total=1.0)),)).series_ids() == set()


@pytest.mark.parametrize(
    ("gas", "per_volume"),
    [(GasPricing(per_m3=1.1), 1.1), (GasPricing(per_kwh=0.07, kwh_per_m3=10.35), 0.7245),
     (GasPricing(per_kwh=0.1, kwh_per_m3=3.0), 0.3), (GasPricing(per_kwh=-0.01, kwh_per_m3=11), -0.11)],
)
def test_gas_per_volume(gas: GasPricing, per_volume: float) -> None:
    assert gas.per_volume == per_volume  # the decimals as written, multiplied exactly, rounded once


def test_docstring_examples() -> None:
    import doctest

    assert doctest.testmod(tariffs).failed == 0
