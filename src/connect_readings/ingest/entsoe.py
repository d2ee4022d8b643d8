"""Price files → price intervals (the design doc on costs, §1): ENTSO-E day-ahead XML, and `start,end,price` CSV.

ENTSO-E: the transparency platform's Publication_MarketDocument of type A44 (day-ahead prices), any version of
the iec62325-451-3 schema (elements are matched by local name, whatever the namespace). Each TimeSeries has
Periods, each with a `timeInterval` (UTC), a `resolution` (PT15M, PT30M or PT60M) and Points (`position`, from 1,
and `price.amount` in EUR/MWh). With curveType A01 (the default) every point is its own interval and a missing
position is a gap; with A03 a missing position repeats the previous price, up to the Period's end. Each
position gives one interval of the resolution, priced per kWh exactly (`prices.per_kwh`).

A document may hold several TimeSeries for the same time: some zones publish two auctions (EPEX and EXAA), or
the same hours at two resolutions, told apart only by `classificationSequence_AttributeInstanceComponent
.position`. Series that repeat the very same intervals and prices are merged; any other overlap is refused,
and `sequence=N` keeps only the TimeSeries of that classification position (absent counts as 1).

CSV: a header `start,end,price`, then one interval a line. Either the comma dialect (RFC 3339 date-times as the
API reads them: without an offset, wall time in the zone; a decimal point) or the `;` dialect of European
spreadsheets, as the register CSV has it (docs/semantics.md §14: `dd/mm/yyyy hh:mm` wall times, the second of
an autumn night's repeated hour told by the order of lines, decimal comma). Prices are EUR/kWh unless
`unit="EUR/MWh"`.

Every error is a DomainError("InvalidPriceFile") whose message names the TimeSeries and Period, or the line.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from zoneinfo import ZoneInfo

from ..domain.errors import DomainError, quoted
from ..domain.prices import MAX_INTERVALS, UNITS, PriceInterval, per_kwh
from ..domain.timefmt import format_datetime, parse_datetime
from .intervals import _local, interval_instants, number

MINUTE = 60_000_000
RESOLUTIONS = {"PT15M": 15 * MINUTE, "PT30M": 30 * MINUTE, "PT60M": 60 * MINUTE}
CURVE_TYPES = ("A01", "A03")
_UTC_MINUTE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?Z", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?", re.ASCII)
_POSITION = re.compile(r"\d{1,9}", re.ASCII)
_SEQUENCE = "classificationSequence_AttributeInstanceComponent.position"


def _invalid(message: str) -> DomainError:
    return DomainError("InvalidPriceFile", message)


def _name(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    return (child for child in element if _name(child) == name)


def _text(element: ET.Element, name: str) -> str | None:
    child = next(_children(element, name), None)
    return None if child is None or child.text is None else child.text.strip()


def parse_entsoe(data: bytes, sequence: int | None = None) -> list[PriceInterval]:
    """An ENTSO-E A44 document → its price intervals (per kWh), sorted by start. `sequence`: keep only the
    TimeSeries of that classification sequence position (a TimeSeries without one is position 1)."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _invalid("the XML must not declare a DOCTYPE or entities (an ENTSO-E document has none)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = exc.position
        raise _invalid(f"the file is not well-formed XML (line {line}, column {column + 1})") from None
    kind = _name(root)
    if kind == "Acknowledgement_MarketDocument":
        reason = next((_text(r, "text") for r in root.iter() if _name(r) == "Reason" and _text(r, "text")), None)
        raise _invalid("the file is an ENTSO-E acknowledgement, not prices"
                       + (f": {quoted(reason, 160)}" if reason else ""))
    if kind != "Publication_MarketDocument":
        raise _invalid(f"the file is not an ENTSO-E Publication_MarketDocument (its root is {quoted(kind, 60)})")
    document_type = _text(root, "type")
    if document_type != "A44":
        shown = "none" if document_type is None else quoted(document_type, 20)
        raise _invalid(f"the document type must be A44 (day-ahead prices); got {shown}")
    found: list[tuple[PriceInterval, int]] = []  # (interval, its TimeSeries' number from 1)
    kept = 0
    for number_, series in enumerate(_children(root, "TimeSeries"), start=1):
        where = f"TimeSeries {number_}"
        position = _integer(_text(series, _SEQUENCE), f"{where}: {_SEQUENCE}")
        if sequence is not None and (position or 1) != sequence:
            continue
        kept += 1
        curve = _text(series, "curveType") or "A01"
        if curve not in CURVE_TYPES:
            raise _invalid(f"{where}: curveType must be A01 or A03; got {quoted(curve, 20)}")
        currency = _text(series, "currency_Unit.name")
        if currency is not None and currency != "EUR":
            raise _invalid(f"{where}: prices must be in EUR; got {quoted(currency, 20)}")
        measure = _text(series, "price_Measure_Unit.name")
        if measure is not None and measure.upper() != "MWH":
            raise _invalid(f"{where}: prices must be per MWH; got {quoted(measure, 20)}")
        for period_number, period in enumerate(_children(series, "Period"), start=1):
            for interval in _period(period, f"{where}, Period {period_number}", curve == "A03"):
                found.append((interval, number_))
                if len(found) > MAX_INTERVALS:
                    raise _invalid(f"the document holds more than {MAX_INTERVALS} intervals; split it")
    if sequence is not None and not kept:
        raise _invalid(f"no TimeSeries has classification sequence position {sequence}")
    found.sort(key=lambda pair: (pair[0].start, pair[0].end))
    result: list[PriceInterval] = []
    origin = 0
    for interval, number_ in found:
        if result and interval.start < result[-1].end:
            if interval == result[-1]:
                continue  # the same interval and price again (a repeated series)
            raise _invalid(
                f"TimeSeries {origin} and TimeSeries {number_} give different prices for "
                f"{format_datetime(interval.start)}: the document holds more than one price for the same time "
                "(two auctions, or two resolutions); choose one classification sequence position")
        result.append(interval)
        origin = number_
    return result


def _integer(text: str | None, where: str) -> int | None:
    if text is None:
        return None
    if not _POSITION.fullmatch(text):
        raise _invalid(f"{where} must be a whole number; got {quoted(text, 20)}")
    return int(text)


def _instant(text: str | None, where: str) -> int:
    if text is None or not _UTC_MINUTE.fullmatch(text):
        shown = "nothing" if text is None else quoted(text, 30)
        raise _invalid(f"{where} must be a UTC time such as 2025-10-25T22:00Z; got {shown}")
    try:
        return parse_datetime(text, where)
    except DomainError:
        raise _invalid(f"{where} is not a date and time of the calendar in 1900–2199; got {quoted(text, 30)}") from None


def _period(period: ET.Element, where: str, repeats: bool) -> list[PriceInterval]:
    interval = next(_children(period, "timeInterval"), None)
    if interval is None:
        raise _invalid(f"{where}: timeInterval is missing")
    start = _instant(_text(interval, "start"), f"{where}: timeInterval start")
    end = _instant(_text(interval, "end"), f"{where}: timeInterval end")
    if end <= start:
        raise _invalid(f"{where}: timeInterval end must be after its start")
    resolution = _text(period, "resolution")
    step = RESOLUTIONS.get(resolution or "")
    if step is None:
        shown = "nothing" if resolution is None else quoted(resolution, 20)
        raise _invalid(f"{where}: resolution must be one of {', '.join(RESOLUTIONS)}; got {shown}")
    count, rest = divmod(end - start, step)
    if rest:
        raise _invalid(f"{where}: the timeInterval is not a whole number of {resolution} steps")
    prices: dict[int, float] = {}
    for point in _children(period, "Point"):
        position = _integer(_text(point, "position"), f"{where}: a Point's position")
        if position is None:
            raise _invalid(f"{where}: a Point has no position")
        if not 1 <= position <= count:
            raise _invalid(f"{where}: position {position} lies outside the timeInterval (positions 1 to {count})")
        if position in prices:
            raise _invalid(f"{where}: position {position} appears twice")
        prices[position] = per_kwh(_amount(_text(point, "price.amount"), f"{where}, position {position}"), "EUR/MWh")
    if repeats and prices and 1 not in prices:
        raise _invalid(f"{where}: a curveType A03 period must give position 1 (later positions repeat it)")
    result = []
    price: float | None = None
    for position in range(1, count + 1):
        if position in prices:
            price = prices[position]
        elif not repeats:
            continue
        if price is not None:
            result.append(PriceInterval(start + (position - 1) * step, start + position * step, price))
    return result


def _amount(text: str | None, where: str) -> Decimal:
    if text is None:
        raise _invalid(f"{where}: price.amount is missing")
    if not _DECIMAL.fullmatch(text):
        raise _invalid(f"{where}: price.amount must be a number; got {quoted(text, 30)}")
    return Decimal(text)


def parse_price_csv(text: str, zone: ZoneInfo | None, unit: str = "EUR/kWh") -> list[PriceInterval]:
    """A `start,end,price` CSV → its price intervals (per kWh), sorted by start; `zone` names wall times (UTC
    when None). Lines must not overlap; an empty line is skipped."""
    if unit not in UNITS:
        raise _invalid(f"the price unit must be one of {', '.join(UNITS)}; got {quoted(unit, 20)}")
    text = text.removeprefix("\ufeff")
    first = next((line for line in text.splitlines() if line.strip()), None)
    if first is None:
        raise _invalid("the file is empty; a price CSV starts with the header start,end,price")
    local = first.count(";") > first.count(",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";" if local else ",")
    header: list[str] | None = None
    lines: list[int] = []
    intervals: list[PriceInterval] = []
    latest: int | None = None
    tz = zone or UTC
    for row in reader:
        line = reader.line_num
        if not "".join(row).strip():
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            if header != ["start", "end", "price"]:
                raise _invalid(f"line {line}: the header must be start,end,price (or start;end;price)")
            continue
        if len(row) != 3:
            raise _invalid(f"line {line}: expected 3 cells (start, end, price), got {len(row)}")
        try:
            if local:
                walls = _local(row[0], None), _local(row[1], None)
                try:
                    start, end = interval_instants(*walls, tz, latest)
                except ValueError as exc:  # (a wall time the clock skips: the message is ours, intervals.py's)
                    raise DomainError("InvalidPriceFile", str(exc)) from None
            else:
                start = parse_datetime(row[0], "start", zone)
                end = parse_datetime(row[1], "end", zone)
        except DomainError as exc:
            raise _invalid(f"line {line}: {exc.message}") from None
        except ValueError:
            raise _invalid(f"line {line}: start and end must be dates and times such as 25/10/2025 22:00; got "
                           f"{quoted(row[0].strip(), 30)} and {quoted(row[1].strip(), 30)}") from None
        try:
            amount = number(row[2]) if local else _csv_decimal(row[2])
        except (ValueError, InvalidOperation):
            raise _invalid(f"line {line}: the price must be a number; got {quoted(row[2].strip(), 30)}") from None
        if end <= start:
            raise _invalid(f"line {line}: end must be after start")
        latest = start if latest is None else max(latest, start)
        intervals.append(PriceInterval(start, end, per_kwh(amount, unit)))
        lines.append(line)
        if len(intervals) > MAX_INTERVALS:
            raise _invalid(f"the file holds more than {MAX_INTERVALS} intervals; split it")
    order = sorted(range(len(intervals)), key=lambda i: intervals[i].start)
    for before, after in pairwise(order):
        if intervals[after].start < intervals[before].end:
            first_line, second_line = sorted((lines[before], lines[after]))
            raise _invalid(f"line {second_line} overlaps line {first_line}; the intervals must not overlap")
    return [intervals[i] for i in order]


def _csv_decimal(text: str) -> Decimal:
    cell = text.strip()
    if not _DECIMAL.fullmatch(cell):
        raise ValueError(cell)
    return Decimal(cell)
