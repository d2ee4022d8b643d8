"""An entity's tariff (the design doc on costs, §2): `PUT /v1/entities/{id}/tariff`, parsed and written back.

A tariff is a currency and a list of periods. A period runs from its `from` (inclusive) to the next period's
`from`; the last is open; before the first nothing is priced. Each period has optional components:

- `import`, `export`: energy prices in the currency per kWh: per tier (`t1`…`t4`; a tier left out is not
  priced), or one `total`, or dynamic (`prices`: a price series id, `factor` default 1, `adder` default 0;
  price = factor × the series' price + adder);
- `gas`: `perM3`, or `perKwh` with `kwhPerM3` (the calorific conversion, > 0);
- `capacity`: `perKwYear`; `fixed`: `perYear`;
- `vat`: a fraction 0…1 (0.06 is 6 %; default 0), applied to import, gas, capacity and fixed, never to export.

Any finite number is a valid price, negative ones too (dynamic prices, rebates); only `vat` and `kwhPerM3` have
ranges. PUT replaces the whole tariff; an empty `periods` list prices nothing. That each referenced price
series exists is the caller's check (it needs storage): `Tariff.series_ids()`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from .documents import json_kind, json_object
from .errors import DomainError, quoted
from .prices import CURRENCY, check_price_id, decimal_of, is_number
from .timefmt import format_datetime, parse_datetime

TIERS = ("t1", "t2", "t3", "t4")
COMPONENTS = ("from", "import", "export", "gas", "capacity", "fixed", "vat")
FIELDS = ("currency", "periods")
MAX_PERIODS = 1_000
_CURRENCY = re.compile(r"[A-Z]{3}")
_TIER_LIKE = re.compile(r"[tT]\d+")


@dataclass(frozen=True, slots=True)
class Pricing:
    """An energy price (import or export), in the currency per kWh: exactly one of `tiers`, `total`, `prices`."""

    tiers: dict[str, float] | None = None
    """Tier name (t1…t4) → price; a tier not in it is not priced."""
    total: float | None = None
    prices: str | None = None
    """A price series id: the price is factor × the series' price + adder."""
    factor: float = 1.0
    adder: float = 0.0

    @property
    def dynamic(self) -> bool:
        return self.prices is not None


@dataclass(frozen=True, slots=True)
class GasPricing:
    per_m3: float | None = None
    per_kwh: float | None = None
    kwh_per_m3: float | None = None

    @property
    def per_volume(self) -> float:
        """The price per m³ either way (perKwh × kwhPerM3, multiplied as the decimals written, rounded once).

        >>> GasPricing(per_m3=1.1).per_volume, GasPricing(per_kwh=0.07, kwh_per_m3=10.35).per_volume
        (1.1, 0.7245)
        """
        if self.per_m3 is not None:
            return self.per_m3
        assert self.per_kwh is not None and self.kwh_per_m3 is not None
        return float(decimal_of(self.per_kwh) * decimal_of(self.kwh_per_m3))


@dataclass(frozen=True, slots=True)
class Period:
    start: int
    """µs UTC: the period's `from`; it runs to the next period's start."""
    import_: Pricing | None = None
    export: Pricing | None = None
    gas: GasPricing | None = None
    capacity_per_kw_year: float | None = None
    fixed_per_year: float | None = None
    vat: float = 0.0


@dataclass(frozen=True, slots=True)
class Tariff:
    currency: str
    periods: tuple[Period, ...]
    """Sorted by start, starts strictly increasing."""

    def period_at(self, t: int) -> Period | None:
        """The period in force at `t` (µs UTC); None before the first.

        >>> tariff = Tariff("EUR", (Period(100), Period(200, vat=0.06)))
        >>> tariff.period_at(99), tariff.period_at(100).start, tariff.period_at(199).start, tariff.period_at(10**9).vat
        (None, 100, 100, 0.06)
        """
        i = bisect_right(self.periods, t, key=_start) - 1
        return self.periods[i] if i >= 0 else None

    def series_ids(self) -> set[str]:
        """The ids of the price series the tariff's dynamic prices name."""
        return {
            pricing.prices
            for period in self.periods
            for pricing in (period.import_, period.export)
            if pricing is not None and pricing.prices is not None
        }


def _start(period: Period) -> int:
    return period.start


def _invalid(message: str) -> DomainError:
    return DomainError("InvalidTariff", message)


def parse_tariff(body: bytes, zone: ZoneInfo | None) -> Tariff:
    """A `PUT /v1/entities/{id}/tariff` body → Tariff. A `from` without an offset is wall time in `zone` (UTC
    when None). Raises InvalidJson, DuplicateKey or InvalidTariff; the message names the place, e.g.
    `periods[1].import`."""
    document = json_object(body, FIELDS, "a tariff", _invalid)
    currency = document.get("currency")
    if currency is None:
        currency = CURRENCY
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        shown = quoted(currency, 40) if isinstance(currency, str) else json_kind(currency)
        raise _invalid(f"'currency' must be an ISO 4217 code of 3 upper-case letters (e.g. EUR); got {shown}")
    items = document.get("periods")
    if not isinstance(items, list):
        got = "nothing" if items is None else json_kind(items)
        raise _invalid(f"'periods' must be an array of periods {{from, import, export, …}}; got {got}")
    if len(items) > MAX_PERIODS:
        raise _invalid(f"'periods' holds {len(items)} periods; at most {MAX_PERIODS}")
    periods = tuple(_period(item, f"periods[{i}]", zone) for i, item in enumerate(items))
    for i in range(1, len(periods)):
        if periods[i].start <= periods[i - 1].start:
            raise _invalid(f"periods[{i}].from must be after periods[{i - 1}].from: periods are listed in order, "
                           "each from a different instant")
    tariff = Tariff(currency, periods)
    if currency != CURRENCY and tariff.series_ids():
        raise _invalid(f"price series are in {CURRENCY}: a tariff in {currency} cannot use 'prices'")
    return tariff


def _object(value: Any, where: str, fields: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"'{where}' must be an object {{{fields}}}; got {json_kind(value)}")
    return value


def _number(value: Any, where: str) -> float:
    if not is_number(value):
        raise _invalid(f"'{where}' must be a finite number; got {json_kind(value)}")
    return float(value)


def _period(item: Any, where: str, zone: ZoneInfo | None) -> Period:
    fields = _object(item, where, ", ".join(COMPONENTS))
    unknown = [key for key in fields if key not in COMPONENTS]
    if unknown:
        raise _invalid(f"'{where}': unknown component {quoted(unknown[0], 40)}; a period has {', '.join(COMPONENTS)}")
    start_text = fields.get("from")
    if not isinstance(start_text, str):
        got = "nothing" if start_text is None else json_kind(start_text)
        raise _invalid(f"'{where}.from' is required: an RFC 3339 date-time string; got {got}")
    try:
        start = parse_datetime(start_text, f"{where}.from", zone)
    except DomainError as exc:
        raise _invalid(exc.message) from None
    vat = fields.get("vat")
    if vat is None:
        vat = 0.0
    vat = _number(vat, f"{where}.vat")
    if not 0.0 <= vat <= 1.0:
        raise _invalid(f"'{where}.vat' is a fraction from 0 to 1 (0.06 is 6 %); got {vat!r}")
    return Period(
        start,
        _pricing(fields.get("import"), f"{where}.import"),
        _pricing(fields.get("export"), f"{where}.export"),
        _gas(fields.get("gas"), f"{where}.gas"),
        _single(fields.get("capacity"), f"{where}.capacity", "perKwYear"),
        _single(fields.get("fixed"), f"{where}.fixed", "perYear"),
        vat,
    )


_PRICING_FIELDS = (*TIERS, "total", "prices", "factor", "adder")


def _pricing(value: Any, where: str) -> Pricing | None:
    if value is None:
        return None
    fields = _object(value, where, "t1…t4 | total | prices, factor, adder")
    for key in fields:
        if key not in _PRICING_FIELDS:
            if _TIER_LIKE.fullmatch(key):
                raise _invalid(f"'{where}': unknown tier {quoted(key, 40)}; the tiers are {', '.join(TIERS)}")
            raise _invalid(f"'{where}': unknown field {quoted(key, 40)}; an energy price has t1…t4, total, "
                           "or prices with factor and adder")
    present = {key: value for key, value in fields.items() if value is not None}
    tiers = {tier: _number(present[tier], f"{where}.{tier}") for tier in TIERS if tier in present}
    has_total = "total" in present
    if tiers and has_total:
        raise _invalid(f"'{where}': give tiers (t1…t4) or a total, not both")
    if "prices" in present:
        if tiers or has_total:
            raise _invalid(f"'{where}': a dynamic price ('prices') takes no tiers or total; use factor and adder")
        series = present["prices"]
        if not isinstance(series, str):
            raise _invalid(f"'{where}.prices' must be a price series id; got {json_kind(series)}")
        try:
            check_price_id(series)
        except DomainError as exc:
            raise _invalid(f"'{where}.prices': {exc.message}") from None
        factor = _number(present.get("factor", 1.0), f"{where}.factor")
        adder = _number(present.get("adder", 0.0), f"{where}.adder")
        return Pricing(prices=series, factor=factor, adder=adder)
    for key in ("factor", "adder"):
        if key in present:
            raise _invalid(f"'{where}.{key}' applies to a dynamic price only: give 'prices' (a price series id)")
    if has_total:
        return Pricing(total=_number(present["total"], f"{where}.total"))
    if tiers:
        return Pricing(tiers=tiers)
    raise _invalid(f"'{where}' needs tier prices (t1…t4), a total, or a price series ('prices')")


_GAS_FIELDS = ("perM3", "perKwh", "kwhPerM3")


def _gas(value: Any, where: str) -> GasPricing | None:
    if value is None:
        return None
    fields = _object(value, where, "perM3 | perKwh, kwhPerM3")
    for key in fields:
        if key not in _GAS_FIELDS:
            raise _invalid(f"'{where}': unknown field {quoted(key, 40)}; a gas price has perM3, or perKwh with "
                           "kwhPerM3")
    present = {key: _number(value, f"{where}.{key}") for key, value in fields.items() if value is not None}
    if "perM3" in present:
        if len(present) > 1:
            raise _invalid(f"'{where}': give perM3, or perKwh with kwhPerM3, not both")
        return GasPricing(per_m3=present["perM3"])
    if "perKwh" not in present:
        raise _invalid(f"'{where}' needs perM3, or perKwh with kwhPerM3")
    if "kwhPerM3" not in present:
        raise _invalid(f"'{where}.perKwh' needs 'kwhPerM3' (the kWh in one m³ of gas, e.g. 10.35)")
    if present["kwhPerM3"] <= 0:
        raise _invalid(f"'{where}.kwhPerM3' must be greater than 0; got {present['kwhPerM3']!r}")
    return GasPricing(per_kwh=present["perKwh"], kwh_per_m3=present["kwhPerM3"])


def _single(value: Any, where: str, name: str) -> float | None:
    if value is None:
        return None
    fields = _object(value, where, name)
    unknown = [key for key in fields if key != name]
    if unknown:
        raise _invalid(f"'{where}': unknown field {quoted(unknown[0], 40)}; it has {name}")
    if fields.get(name) is None:
        raise _invalid(f"'{where}.{name}' is required")
    return _number(fields[name], f"{where}.{name}")


def tariff_document(tariff: Tariff, zone: ZoneInfo | None) -> dict[str, Any]:
    """The wire form of a tariff, as a PUT body has it (`from` in `zone`'s offset, 'Z' when None): PUT then GET
    gives back an equal tariff. A component that is absent is left out; `vat` is always written.

    >>> tariff_document(Tariff("EUR", (Period(0, export=Pricing(total=0.04), vat=0.06),)), None)
    {'currency': 'EUR', 'periods': [{'from': '1970-01-01T00:00:00Z', 'export': {'total': 0.04}, 'vat': 0.06}]}
    """
    periods = []
    for period in tariff.periods:
        item: dict[str, Any] = {"from": format_datetime(period.start, zone)}
        if period.import_ is not None:
            item["import"] = _pricing_document(period.import_)
        if period.export is not None:
            item["export"] = _pricing_document(period.export)
        if period.gas is not None:
            gas = period.gas
            item["gas"] = ({"perM3": gas.per_m3} if gas.per_m3 is not None
                           else {"perKwh": gas.per_kwh, "kwhPerM3": gas.kwh_per_m3})
        if period.capacity_per_kw_year is not None:
            item["capacity"] = {"perKwYear": period.capacity_per_kw_year}
        if period.fixed_per_year is not None:
            item["fixed"] = {"perYear": period.fixed_per_year}
        item["vat"] = period.vat
        periods.append(item)
    return {"currency": tariff.currency, "periods": periods}


def _pricing_document(pricing: Pricing) -> dict[str, Any]:
    if pricing.prices is not None:
        return {"prices": pricing.prices, "factor": pricing.factor, "adder": pricing.adder}
    if pricing.total is not None:
        return {"total": pricing.total}
    return dict(pricing.tiers or {})

