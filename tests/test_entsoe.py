"""Price files (ingest/entsoe.py): ENTSO-E A44 day-ahead documents and the `start,end,price` CSV."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connect_readings.domain.errors import DomainError
from connect_readings.domain.prices import PriceInterval
from connect_readings.domain.timefmt import parse_datetime
from connect_readings.ingest.entsoe import parse_entsoe, parse_price_csv

FIXTURES = Path(__file__).parent / "fixtures" / "entsoe"
MINUTE = 60_000_000
HOUR = 60 * MINUTE
BRUSSELS = ZoneInfo("Europe/Brussels")


def t(text: str) -> int:
    return parse_datetime(text)


def rows(intervals: list[PriceInterval]) -> list[tuple[int, int, float]]:
    return [(i.start, i.end, i.price) for i in intervals]


# --- ENTSO-E fixtures: hand-computed tables ---------------------------------------------------------------------

# a44_pt60m.xml: Belgium, 2025-10-26, the autumn day of 25 local hours: 25 hourly points from 2025-10-25T22:00Z
# (local midnight, +02:00) to 2025-10-26T23:00Z (local midnight, +01:00). EUR/MWh as written ÷ 1000.
PT60M_PER_KWH = [
    0.0852, 0.07915, 0.07403, 0.07, 0.06847, 0.06999, 0.0721, 0.08055, 0.08812, 0.0753, 0.04001, 0.00512,
    -0.00001, -0.01234, 0.0, 0.01875, 0.0606, 0.09543, 0.12007, 0.1315, 0.11025, 0.0978, 0.0901, 0.08666, 0.08249,
]


def test_pt60m_autumn_day() -> None:
    intervals = parse_entsoe((FIXTURES / "a44_pt60m.xml").read_bytes())
    assert len(intervals) == 25
    start = t("2025-10-25T22:00:00Z")
    assert rows(intervals) == [(start + i * HOUR, start + (i + 1) * HOUR, p) for i, p in enumerate(PT60M_PER_KWH)]
    # the local hour 02:00–03:00 happens twice: positions 3 (CEST) and 4 (CET)
    assert rows(intervals)[2] == (t("2025-10-26T00:00:00Z"), t("2025-10-26T01:00:00Z"), 0.07403)
    assert rows(intervals)[3] == (t("2025-10-26T01:00:00Z"), t("2025-10-26T02:00:00Z"), 0.07)
    assert intervals[12].price == -0.00001 and intervals[13].price == -0.01234  # negative prices
    assert intervals[-1].end == t("2025-10-26T23:00:00Z")


# a44_pt15m_a03.xml: Brussels' spring day 2026-03-29 (23 hours: 92 quarter-hours), curveType A03, positions given:
# 1 90.00, 2 88.50, 5 -3.25, 6 0.00, 40 101.11, 41 99.99, 90 120.00 → runs (first position, last position, EUR/kWh)
PT15M_RUNS = [(1, 1, 0.09), (2, 4, 0.0885), (5, 5, -0.00325), (6, 39, 0.0), (40, 40, 0.10111), (41, 89, 0.09999),
              (90, 92, 0.12)]


def test_pt15m_a03_repeats_missing_positions() -> None:
    intervals = parse_entsoe((FIXTURES / "a44_pt15m_a03.xml").read_bytes())
    start, step = t("2026-03-28T23:00:00Z"), 15 * MINUTE
    expected = [
        (start + (p - 1) * step, start + p * step, price)
        for first, last, price in PT15M_RUNS for p in range(first, last + 1)
    ]
    assert len(expected) == 92
    assert rows(intervals) == expected
    assert intervals[-1].end == t("2026-03-29T22:00:00Z")  # the last given position repeats up to the period's end


def test_two_periods_and_a_repeated_series() -> None:
    # schema 7:0, no curveType (A01): a PT60M period, then a PT30M period without position 3 (a gap); the second
    # TimeSeries repeats the first period exactly, which is merged.
    intervals = parse_entsoe((FIXTURES / "a44_two_periods.xml").read_bytes())
    assert rows(intervals) == [
        (t("2024-01-01T23:00:00Z"), t("2024-01-02T00:00:00Z"), 0.0605),
        (t("2024-01-02T00:00:00Z"), t("2024-01-02T01:00:00Z"), 0.055),
        (t("2024-01-02T01:00:00Z"), t("2024-01-02T02:00:00Z"), -0.0015),
        (t("2024-01-02T02:00:00Z"), t("2024-01-02T03:00:00Z"), 0.049999),
        (t("2024-01-02T03:00:00Z"), t("2024-01-02T03:30:00Z"), 0.0471),
        (t("2024-01-02T03:30:00Z"), t("2024-01-02T04:00:00Z"), 0.0482),
        (t("2024-01-02T04:30:00Z"), t("2024-01-02T05:00:00Z"), 0.0523),
    ]


# --- ENTSO-E: small documents -----------------------------------------------------------------------------------

NS = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3"


def period(points: str, start: str = "2025-10-25T22:00Z", end: str = "2025-10-25T23:00Z",
           resolution: str = "PT15M") -> str:
    return (f"<Period><timeInterval><start>{start}</start><end>{end}</end></timeInterval>"
            f"<resolution>{resolution}</resolution>{points}</Period>")


def pts(*pairs: tuple[int | str, str]) -> str:
    return "".join(f"<Point><position>{p}</position><price.amount>{a}</price.amount></Point>" for p, a in pairs)


def series(body: str, curve: str | None = "A01", sequence: int | None = None, extra: str = "") -> str:
    seq = f"<{SEQ}>{sequence}</{SEQ}>" if sequence is not None else ""
    kind = f"<curveType>{curve}</curveType>" if curve else ""
    return f"<TimeSeries><mRID>1</mRID>{seq}{extra}{kind}{body}</TimeSeries>"


SEQ = "classificationSequence_AttributeInstanceComponent.position"


def doc(*series_: str, kind: str = "A44", ns: str = NS) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Publication_MarketDocument xmlns="{ns}"><type>{kind}</type>'
            + "".join(series_) + "</Publication_MarketDocument>").encode()


FOUR = pts((1, "10"), (2, "20"), (3, "30"), (4, "40"))


def test_a_document_without_namespace_and_with_a_point_out_of_order() -> None:
    data = doc(series(period(pts((2, "20.5"), (1, "10")), end="2025-10-25T22:30Z")), ns="")
    assert rows(parse_entsoe(data)) == [
        (t("2025-10-25T22:00:00Z"), t("2025-10-25T22:15:00Z"), 0.01),
        (t("2025-10-25T22:15:00Z"), t("2025-10-25T22:30:00Z"), 0.0205),
    ]


def test_a01_gap_and_a03_repeat() -> None:
    points = pts((1, "10"), (3, "30"))
    a01 = parse_entsoe(doc(series(period(points), curve="A01")))
    a03 = parse_entsoe(doc(series(period(points), curve="A03")))
    start = t("2025-10-25T22:00:00Z")
    q = 15 * MINUTE
    assert rows(a01) == [(start, start + q, 0.01), (start + 2 * q, start + 3 * q, 0.03)]
    assert rows(a03) == [(start, start + q, 0.01), (start + q, start + 2 * q, 0.01),
                         (start + 2 * q, start + 3 * q, 0.03), (start + 3 * q, start + 4 * q, 0.03)]


def test_pt30m_and_exact_conversion() -> None:
    data = doc(series(period(pts((1, "0.1"), (2, "-499.99")), resolution="PT30M")))
    assert [i.price for i in parse_entsoe(data)] == [0.0001, -0.49999]


def test_two_classification_sequences() -> None:
    # two auctions for the same hour, told apart only by their classification sequence position
    first = series(period(FOUR), sequence=2)
    second = series(period(pts((1, "11"), (2, "21"), (3, "31"), (4, "41"))), sequence=1)
    with pytest.raises(DomainError) as error:
        parse_entsoe(doc(first, second))
    assert error.value.code == "InvalidPriceFile"
    assert "TimeSeries 1 and TimeSeries 2 give different prices for 2025-10-25T22:00:00Z" in error.value.message
    assert [i.price for i in parse_entsoe(doc(first, second), sequence=1)] == [0.011, 0.021, 0.031, 0.041]
    assert [i.price for i in parse_entsoe(doc(first, second), sequence=2)] == [0.01, 0.02, 0.03, 0.04]
    # a TimeSeries without a classification sequence is position 1
    assert len(parse_entsoe(doc(series(period(FOUR))), sequence=1)) == 4


def test_the_same_hours_at_two_resolutions_are_refused() -> None:
    hourly = series(period(pts((1, "25")), resolution="PT60M"))
    quarters = series(period(pts((1, "25"), (2, "25"), (3, "25"), (4, "25"))))
    with pytest.raises(DomainError, match="more than one price for the same time"):
        parse_entsoe(doc(hourly, quarters))


def test_a_document_without_time_series_is_empty() -> None:
    assert parse_entsoe(doc()) == []


ACK = (b'<?xml version="1.0" encoding="UTF-8"?><Acknowledgement_MarketDocument '
       b'xmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0"><mRID>x</mRID><Reason><code>999</code>'
       b"<text>No matching data found for Data item Day-ahead Prices</text></Reason></Acknowledgement_MarketDocument>")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"hello", "not well-formed XML (line 1, column 1)"),
        (b"", "not well-formed XML"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "must not declare a DOCTYPE"),
        (b"<Something/>", "not an ENTSO-E Publication_MarketDocument (its root is 'Something')"),
        (ACK, "an ENTSO-E acknowledgement, not prices: 'No matching data found for Data item Day-ahead Prices'"),
        (doc(kind="A65"), "the document type must be A44 (day-ahead prices); got 'A65'"),
        (doc(series(period(FOUR), curve="A02")), "TimeSeries 1: curveType must be A01 or A03; got 'A02'"),
        (doc(series(period(FOUR), extra="<currency_Unit.name>GBP</currency_Unit.name>")),
         "TimeSeries 1: prices must be in EUR; got 'GBP'"),
        (doc(series(period(FOUR), extra="<price_Measure_Unit.name>KWH</price_Measure_Unit.name>")),
         "prices must be per MWH"),
        (doc(series(period(FOUR, resolution="PT5M"))),
         "TimeSeries 1, Period 1: resolution must be one of PT15M, PT30M, PT60M; got 'PT5M'"),
        (doc(series(period(FOUR, resolution="P1D"))), "resolution must be one of"),
        (doc(series(period(FOUR, resolution=""))), "resolution must be one of PT15M, PT30M, PT60M; got nothing"),
        (doc(series(period(FOUR, end="2025-10-25T22:50Z"))), "not a whole number of PT15M steps"),
        (doc(series(period(FOUR, end="2025-10-25T22:00Z"))), "timeInterval end must be after its start"),
        (doc(series(period(FOUR, start="2025-10-25T22:00+01:00"))),
         "timeInterval start must be a UTC time such as 2025-10-25T22:00Z"),
        (doc(series(period(FOUR, start="2025-02-30T22:00Z", end="2025-03-01T00:00Z"))), "not a date and time"),
        (doc(series("<Period><resolution>PT15M</resolution></Period>")), "Period 1: timeInterval is missing"),
        (doc(series(period(pts((0, "1"))))), "position 0 lies outside the timeInterval (positions 1 to 4)"),
        (doc(series(period(pts((5, "1"))))), "position 5 lies outside"),
        (doc(series(period(pts(("x", "1"))))), "a Point's position must be a whole number; got 'x'"),
        (doc(series(period(pts((1, "1"), (1, "2"))))), "position 1 appears twice"),
        (doc(series(period(pts((1, "abc"))))), "position 1: price.amount must be a number; got 'abc'"),
        (doc(series(period(pts((1, "NaN"))))), "price.amount must be a number; got 'NaN'"),
        (doc(series(period(pts((1, "Infinity"))))), "price.amount must be a number"),
        (doc(series(period(pts((1, "1,5"))))), "price.amount must be a number"),
        (doc(series(period("<Point><position>1</position></Point>"))), "position 1: price.amount is missing"),
        (doc(series(period(pts((2, "1"))), curve="A03")), "a curveType A03 period must give position 1"),
        (doc(series(period(FOUR), sequence="one")), "must be a whole number"),  # type: ignore[arg-type]
    ],
)
def test_entsoe_errors(data: bytes, fragment: str) -> None:
    with pytest.raises(DomainError) as error:
        parse_entsoe(data)
    assert error.value.code == "InvalidPriceFile"
    assert fragment in error.value.message, error.value.message


def test_missing_sequence() -> None:
    with pytest.raises(DomainError, match="no TimeSeries has classification sequence position 3"):
        parse_entsoe(doc(series(period(FOUR), sequence=1)), sequence=3)


# --- CSV --------------------------------------------------------------------------------------------------------


def test_csv_comma_dialect() -> None:
    text = ("start,end,price\r\n"
            "2025-01-01T01:00:00Z,2025-01-01T02:00:00Z,0.25\r\n"
            "\r\n"
            "2025-01-01T00:00:00Z,2025-01-01T01:00:00Z,-0.015\r\n"
            "2025-01-01T02:00,2025-01-01T02:15,1e-2\r\n")
    assert rows(parse_price_csv(text, None)) == [
        (t("2025-01-01T00:00:00Z"), t("2025-01-01T01:00:00Z"), -0.015),
        (t("2025-01-01T01:00:00Z"), t("2025-01-01T02:00:00Z"), 0.25),
        (t("2025-01-01T02:00:00Z"), t("2025-01-01T02:15:00Z"), 0.01),
    ]
    # wall times in the zone; EUR/MWh ÷ 1000 exactly; a BOM and spaces around the header
    local = "\ufeff Start , END ,price\n2025-01-01 00:00,2025-01-01 01:00,85.2\n"
    assert rows(parse_price_csv(local, BRUSSELS, unit="EUR/MWh")) == [
        (t("2024-12-31T23:00:00Z"), t("2025-01-01T00:00:00Z"), 0.0852),
    ]


def test_csv_semicolon_dialect_on_the_autumn_night() -> None:
    # decimal comma, dd/mm/yyyy wall times in Brussels; the second 02:00–03:00 is the later instant
    text = ("start;end;price\n"
            "26/10/2025 01:00;26/10/2025 02:00;0,10\n"
            "26/10/2025 02:00;26/10/2025 03:00;0,20\n"
            "26/10/2025 02:00;26/10/2025 03:00;-0,30\n"
            "26/10/2025 03:00;26/10/2025 04:00;1.234,5\n")
    assert rows(parse_price_csv(text, BRUSSELS)) == [
        (t("2025-10-25T23:00:00Z"), t("2025-10-26T00:00:00Z"), 0.1),
        (t("2025-10-26T00:00:00Z"), t("2025-10-26T01:00:00Z"), 0.2),
        (t("2025-10-26T01:00:00Z"), t("2025-10-26T02:00:00Z"), -0.3),
        (t("2025-10-26T02:00:00Z"), t("2025-10-26T03:00:00Z"), 1234.5),
    ]
    assert [i.price for i in parse_price_csv(text, BRUSSELS, unit="EUR/MWh")] == [0.0001, 0.0002, -0.0003, 1.2345]


def test_csv_header_only() -> None:
    assert parse_price_csv("start,end,price\n", None) == []


@pytest.mark.parametrize(
    ("text", "unit", "fragment"),
    [
        ("", "EUR/kWh", "the file is empty"),
        ("\n  \n", "EUR/kWh", "the file is empty"),
        ("timestamp,price\n", "EUR/kWh", "line 1: the header must be start,end,price"),
        ("start,end,price,extra\n", "EUR/kWh", "line 1: the header must be"),
        ("start,end,price\n2025-01-01T00:00Z,2025-01-01T01:00Z\n", "EUR/kWh",
         "line 2: expected 3 cells (start, end, price), got 2"),
        ("start,end,price\n\n2025-01-01T00:00Z,tomorrow,1\n", "EUR/kWh",
         "line 3: 'end' must be an RFC 3339 date-time"),
        ("start,end,price\n2025-01-01T01:00Z,2025-01-01T01:00Z,1\n", "EUR/kWh", "line 2: end must be after start"),
        ("start,end,price\n2025-01-01T00:00Z,2025-01-01T01:00Z,abc\n", "EUR/kWh",
         "line 2: the price must be a number; got 'abc'"),
        ("start,end,price\n2025-01-01T00:00Z,2025-01-01T01:00Z,nan\n", "EUR/kWh", "the price must be a number"),
        ("start,end,price\n2025-01-01T00:00Z,2025-01-01T01:00Z,inf\n", "EUR/kWh", "the price must be a number"),
        ("start,end,price\n2025-01-01T00:00Z,2025-01-01T01:00Z,\n", "EUR/kWh", "the price must be a number"),
        ("start,end,price\n2025-01-01T00:00Z,2025-01-01T02:00Z,1\n2025-01-01T01:00Z,2025-01-01T03:00Z,1\n",
         "EUR/kWh", "line 3 overlaps line 2"),
        ("start,end,price\n2025-01-01T01:00Z,2025-01-01T03:00Z,1\n2025-01-01T00:00Z,2025-01-01T02:00Z,1\n",
         "EUR/kWh", "line 3 overlaps line 2"),
        ("start;end;price\n31/03/2024 02:30;31/03/2024 03:00;1\n", "EUR/kWh", 
         "line 2: 31-03-2024 02:30 is not a local time in Europe/Brussels"),  # a wall time the clock skips
        ("start;end;price\nyesterday;today;1\n", "EUR/kWh", "line 2: start and end must be dates and times"),
        ("start;end;price\n01/01/2025 00:00;01/01/2025 01:00;1,2,3\n", "EUR/kWh",
         "line 2: the price must be a number"),
        ("start,end,price\n", "USD/kWh", "the price unit must be one of EUR/MWh, EUR/kWh; got 'USD/kWh'"),
    ],
)
def test_csv_errors(text: str, unit: str, fragment: str) -> None:
    with pytest.raises(DomainError) as error:
        parse_price_csv(text, BRUSSELS if ";" in text else None, unit=unit)
    assert error.value.code == "InvalidPriceFile"
    assert fragment in error.value.message, error.value.message
