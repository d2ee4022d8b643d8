"""P1/DSMR telegrams → readings (docs/semantics.md, "P1 telegrams").

A smart meter's P1 port writes a telegram every second (DSMR 5, e-MUCS) or ten (DSMR 4): a header line `/…`,
OBIS lines such as `1-0:1.8.1(001234.567*kWh)` and a closing `!CRC`. dsmr-parser checks the CRC and parses the
lines; this module picks the specification from the version line, maps the values we store through one small
table (`_FIELDS`) and passes the wire dict through `parse_reading`, the validation the HTTP API uses, so units
are normalised the same way (kW → W for power).

Electricity comes at the telegram's own timestamp (`0-0:1.0.0`), gas at the gas meter's capture time (its own
M-Bus line), each as a reading; when the two times coincide they are one reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from decimal import Decimal
from functools import cache
from typing import Any

from dsmr_parser import telegram_specifications
from dsmr_parser.exceptions import InvalidChecksumError, ParseError
from dsmr_parser.parsers import TelegramParser

from ..domain.errors import DomainError, quoted
from ..domain.readings import Reading, parse_reading
from ..domain.timefmt import format_datetime

__all__ = ["TelegramError", "TelegramStream", "telegram_readings", "split_telegrams"]


class TelegramError(DomainError):
    """A telegram that cannot be read: bad CRC, incomplete, unknown version or values that are no reading."""

    def __init__(self, message: str) -> None:
        super().__init__("InvalidTelegram", message)


# dsmr-parser's name of a value → (our metric, field). Registers' `total` is the sum of their tiers.
_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("ELECTRICITY_USED_TARIFF_1", "positiveActiveEnergy", "t1"),  # 1-0:1.8.1
    ("ELECTRICITY_USED_TARIFF_2", "positiveActiveEnergy", "t2"),  # 1-0:1.8.2
    ("ELECTRICITY_DELIVERED_TARIFF_1", "negativeActiveEnergy", "t1"),  # 1-0:2.8.1
    ("ELECTRICITY_DELIVERED_TARIFF_2", "negativeActiveEnergy", "t2"),  # 1-0:2.8.2
    ("CURRENT_ELECTRICITY_USAGE", "positiveActiveInstantaneousPower", "total"),  # 1-0:1.7.0
    ("INSTANTANEOUS_ACTIVE_POWER_L1_POSITIVE", "positiveActiveInstantaneousPower", "l1"),  # 1-0:21.7.0
    ("INSTANTANEOUS_ACTIVE_POWER_L2_POSITIVE", "positiveActiveInstantaneousPower", "l2"),  # 1-0:41.7.0
    ("INSTANTANEOUS_ACTIVE_POWER_L3_POSITIVE", "positiveActiveInstantaneousPower", "l3"),  # 1-0:61.7.0
    ("CURRENT_ELECTRICITY_DELIVERY", "negativeActiveInstantaneousPower", "total"),  # 1-0:2.7.0
    ("INSTANTANEOUS_ACTIVE_POWER_L1_NEGATIVE", "negativeActiveInstantaneousPower", "l1"),  # 1-0:22.7.0
    ("INSTANTANEOUS_ACTIVE_POWER_L2_NEGATIVE", "negativeActiveInstantaneousPower", "l2"),  # 1-0:42.7.0
    ("INSTANTANEOUS_ACTIVE_POWER_L3_NEGATIVE", "negativeActiveInstantaneousPower", "l3"),  # 1-0:62.7.0
    ("INSTANTANEOUS_VOLTAGE_L1", "instantaneousVoltage", "l1"),  # 1-0:32.7.0
    ("INSTANTANEOUS_VOLTAGE_L2", "instantaneousVoltage", "l2"),  # 1-0:52.7.0
    ("INSTANTANEOUS_VOLTAGE_L3", "instantaneousVoltage", "l3"),  # 1-0:72.7.0
    ("INSTANTANEOUS_CURRENT_L1", "instantaneousCurrent", "l1"),  # 1-0:31.7.0
    ("INSTANTANEOUS_CURRENT_L2", "instantaneousCurrent", "l2"),  # 1-0:51.7.0
    ("INSTANTANEOUS_CURRENT_L3", "instantaneousCurrent", "l3"),  # 1-0:71.7.0
    ("BELGIUM_CURRENT_AVERAGE_DEMAND", "currentAverageDemand", "value"),  # 1-0:1.4.0, kW
    ("BELGIUM_MAXIMUM_DEMAND_MONTH", "maximumDemandMonth", "value"),  # 1-0:1.6.0, kW (its time is left out)
)
_TIERED = ("positiveActiveEnergy", "negativeActiveEnergy")
_GAS_DEVICE_TYPE = 3  # M-Bus device type of a gas meter (`0-n:24.1.0(003)`); water is 7
_GAS = "positiveGasVolume"


def telegram_readings(telegram: str | bytes) -> list[Reading]:
    """One raw telegram (from `/` through `!CRC`) → its readings, validated and normalised.

    Electricity at the telegram's timestamp; gas, if the meter has one, at the gas value's own timestamp (one
    reading when both coincide). Raises TelegramError for a bad CRC, an incomplete, unknown or unreadable
    telegram.
    """
    return _readings(_parse(_text(telegram)))


def _readings(parsed: Any) -> list[Reading]:
    """The readings of a telegram dsmr-parser has parsed (the mapping alone, as bench.p1 measures it)."""
    stamp = getattr(parsed, "P1_MESSAGE_TIMESTAMP", None)
    when = None if stamp is None else stamp.value
    if not isinstance(when, datetime):
        raise TelegramError("the telegram has no readable timestamp (line 0-0:1.0.0)")
    data = _electricity(parsed)
    readings: list[dict[str, Any]] = []
    at = _utc_text(when)
    gas = _gas(parsed)
    if gas is not None:
        gas_at, volume = gas
        if gas_at == at:
            data[_GAS] = volume
        else:
            readings.append({"timestamp": gas_at, "data": {_GAS: volume}})
    if data:
        readings.insert(0, {"timestamp": at, "data": data})
    if not readings:
        raise TelegramError("the telegram holds no meter values (energy, power, voltage, current or gas)")
    try:
        return [parse_reading(item) for item in readings]
    except DomainError as exc:
        raise TelegramError(f"the telegram's values are no valid reading: {exc.message}") from None


def split_telegrams(stream: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Lines of a P1 capture (a binary file iterates by lines) → (line number of its `/`, telegram bytes).

    Telegrams may follow each other directly or with blank lines between them; lines before the first `/`
    (a logger started mid-telegram) are skipped. A telegram cut short (a new `/`, even mid-line, or the end of
    the stream before its `!` line) is still yielded, so that `telegram_readings` reports it as incomplete.
    """
    start = 0
    lines: list[bytes] = []
    for number, line in enumerate(stream, start=1):
        head = line[:1]
        if head != b"/" and (cut := line.find(b"/")) > 0:  # a telegram cut mid-line by the next one's start
            if lines:
                lines.append(line[:cut])
            line, head = line[cut:], b"/"
        if head == b"/":
            if lines:
                yield start, b"".join(lines)
            start, lines = number, [line]
        elif lines:
            lines.append(line)
            if head == b"!":
                yield start, b"".join(lines)
                lines = []
    if lines:
        yield start, b"".join(lines)


class TelegramStream:
    """The readings of one meter's telegrams, in order: each gas value once, merged into its second's reading.

    A meter repeats its last gas value in every telegram until the next one (every 5 minutes to an hour), and
    a reading replaces the whole reading stored at its timestamp. So a gas-only reading at the time of an
    earlier telegram would wipe that telegram's electricity: instead it is merged into it (the merged reading
    replaces the stored one), and a repeat of the gas value last given is dropped. The telegram is looked for
    among the last KEEP, then through `stored` (the reading already in the database at that time, e.g. written
    before a restart or by another process of a shared subscription).
    """

    KEEP = 4096  # electricity readings remembered for merging (over an hour of telegrams a second apart)

    def __init__(self, stored: Callable[[int], Reading | None] | None = None, keep: int = KEEP) -> None:
        self._keep = keep
        self._electricity: dict[int, Reading] = {}
        self._gas: tuple[int, Any] | None = None  # (ts, measurement) of the gas value last given
        self._stored = stored

    def readings(self, telegram: str | bytes) -> list[Reading]:
        """`telegram_readings` of the next telegram, repeats dropped and gas merged (raises TelegramError)."""
        out = []
        for reading in telegram_readings(telegram):
            gas = reading.data.get(_GAS)
            if gas is not None:
                if self._gas == (reading.ts, gas):
                    continue
                self._gas = (reading.ts, gas)
            if len(reading.data) == 1 and gas is not None:
                earlier = self._electricity.get(reading.ts)
                if earlier is None and self._stored is not None:
                    earlier = self._stored(reading.ts)
                if earlier is not None:
                    reading = parse_reading({"timestamp": format_datetime(reading.ts),
                                             "data": {**earlier.data, _GAS: gas}})
            else:
                self._remember(reading)
            out.append(reading)
        return out

    def _remember(self, reading: Reading) -> None:
        electricity = self._electricity
        electricity[reading.ts] = reading
        if len(electricity) > self._keep:
            del electricity[next(iter(electricity))]  # (dicts keep insertion order: the oldest)


# -- parsing -------------------------------------------------------------------------------------------------
def _text(telegram: str | bytes) -> str:
    """The telegram as text with CRLF line ends (the CRC covers them; a capture may have lost the CRs)."""
    if isinstance(telegram, (bytes, bytearray, memoryview)):
        try:
            text = bytes(telegram).decode("ascii")
        except UnicodeDecodeError:
            raise TelegramError("not a P1 telegram: it holds bytes that are not ASCII") from None
    else:
        text = telegram
    if "\r\n" not in text and "\n" in text:
        text = text.replace("\n", "\r\n")
    return text


def _parse(text: str) -> Any:
    """dsmr-parser's Telegram for `text`, its specification picked from the version line, CRC checked."""
    start = text.find("/")
    if start < 0 or text[:start].strip():
        raise TelegramError("not a P1 telegram: it must start with '/'")
    end = text.find("!", start)
    if end < 0 or not text[end + 1:end + 5].strip():
        raise TelegramError("the telegram is incomplete: it has no closing '!' line with its checksum")
    parser = _parser(_specification(text))
    try:
        return parser.parse(text, throw_ex=True)
    except InvalidChecksumError:
        given = text[end + 1:end + 5].strip()
        raise TelegramError(f"the telegram's checksum {quoted(given, 8)} does not match its content: "
                            "it was damaged on the way") from None
    except ParseError as exc:
        raise TelegramError(_unreadable_line(exc)) from None
    except Exception:  # (dsmr-parser lets e.g. decimal's errors through for a garbled number)
        raise TelegramError("the telegram has a line whose value cannot be read") from None


def _specification(text: str) -> str:
    """The dsmr-parser specification for a telegram, from its version line (cheap: two substring searches)."""
    if "0-0:96.1.4(" in text:  # e-MUCS version (Belgium, Fluvius)
        return "BELGIUM_FLUVIUS"
    at = text.find("1-3:0.2.8(")  # DSMR version: 40, 42 (DSMR 4), 50 (DSMR 5)
    version = text[at + 10:at + 11] if at >= 0 else ""
    if version == "5":
        return "V5"
    if version == "4":
        return "V4"
    raise TelegramError("unknown telegram: only DSMR 4, DSMR 5 and Belgian e-MUCS telegrams are read "
                        "(they have a version line 1-3:0.2.8 or 0-0:96.1.4)")


@cache
def _parser(name: str) -> TelegramParser:
    """One parser per specification: building one compiles its regular expressions."""
    return TelegramParser(getattr(telegram_specifications, name))


# dsmr-parser fills its CRC table on first use by appending to a class-level list: fill it now, on import,
# so that threads parsing their first telegrams at once cannot interleave the appends.
TelegramParser.crc16("")


def _unreadable_line(exc: ParseError) -> str:
    """dsmr-parser's ParseError names the line in its arguments; quote it for the user, never the exception."""
    line = next((arg for arg in exc.args[1:] if isinstance(arg, str) and ":" in arg), None)
    if line is None:
        return "the telegram has a line that cannot be read"
    return f"the telegram's line {quoted(line.strip(), 60)} cannot be read"


# -- mapping -------------------------------------------------------------------------------------------------
def _electricity(parsed: Any) -> dict[str, Any]:
    """The wire `data` of the electricity values of a parsed telegram (`_FIELDS`), in the meter's own units."""
    data: dict[str, dict[str, Any]] = {}
    tiers: dict[str, Decimal] = {}  # register tiers summed exactly (floats would give 1111.1100000000001)
    for name, metric, field in _FIELDS:
        item = getattr(parsed, name, None)
        if item is None:
            continue
        entry = item.values[-1]  # {'value', 'unit'}: the only one, or the last after a timestamp (1-0:1.6.0)
        value, unit = entry["value"], entry["unit"]
        if type(value) is not Decimal:
            continue
        measurement = data.get(metric)
        if measurement is None:
            measurement = data[metric] = {"unit": unit}
        elif measurement["unit"] != unit:
            raise TelegramError(f"the telegram gives '{metric}' in two units, {unit} and {measurement['unit']}")
        measurement[field] = float(value)
        if field[0] == "t":
            tiers[metric] = tiers.get(metric, 0) + value
    for metric, total in tiers.items():
        data[metric]["total"] = float(total)
    return data


def _gas(parsed: Any) -> tuple[str, dict[str, Any]] | None:
    """(timestamp, wire measurement) of the gas meter on any M-Bus channel, or None when there is none.

    The gas meter is the device of type 3; without a type line, a device reading in m3.
    """
    fallback = None
    for device in getattr(parsed, "MBUS_DEVICES", None) or ():
        item = getattr(device, "MBUS_METER_READING", None) or getattr(device, "HOURLY_GAS_METER_READING", None)
        if item is None:
            continue
        kind = getattr(device, "MBUS_DEVICE_TYPE", None) or getattr(device, "DEVICE_TYPE", None)
        if kind is not None:
            if _number(kind.value) == _GAS_DEVICE_TYPE:
                return _gas_reading(item)
        elif fallback is None and str(item.unit).lower() in ("m3", "m³"):
            fallback = item
    return None if fallback is None else _gas_reading(fallback)


def _gas_reading(item: Any) -> tuple[str, dict[str, Any]]:
    when, value = item.datetime, item.value
    if not isinstance(when, datetime) or not isinstance(value, Decimal):
        raise TelegramError("the telegram's gas reading (line 0-n:24.2.x) has no readable time or value")
    return _utc_text(when), {"value": float(value), "unit": item.unit}


def _number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _utc_text(when: datetime) -> str:
    """dsmr-parser's aware datetime (the S/W suffix applied) → RFC 3339 in UTC."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
