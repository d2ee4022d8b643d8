"""The API's answers as typed objects: msgspec Structs with the wire's camelCase names, tz-aware datetimes.

Every date-time the server sends carries its offset ('Z' or the query's zone), so each decodes to an aware
`datetime`. The metrics of a reading stay a dict (an entity may send any metric); aggregations and statistics
have the fixed shapes of openapi.yaml.

>>> import msgspec
>>> msgspec.json.decode(b'{"start":"2024-01-01T00:00:00+01:00","end":"2024-01-02T00:00:00+01:00"}',
...                     type=Timeframe).start.utcoffset()
datetime.timedelta(seconds=3600)
"""

from __future__ import annotations

import uuid
from datetime import datetime, tzinfo
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from . import frames


class Result(msgspec.Struct, rename="camel", kw_only=True):
    """An answer of the API; `.to_pandas()` gives it as a one-row DataFrame (frames.py)."""

    layout: ClassVar[str | None] = None
    """The CSV export's layout its rows follow (frames.table), None: the generic one (every leaf)."""

    def to_pandas(self, tz: str | tzinfo | None = None) -> Any:
        """This result as a one-row DataFrame (see `frames.frame`)."""
        return frames.frame([self], tz)


T = TypeVar("T", bound=Result)


class Results(list[T], Generic[T]):
    """A list of results that turns into one DataFrame (the capacity tariff's months, a drained iterator)."""

    def to_pandas(self, tz: str | tzinfo | None = None) -> Any:
        return frames.frame(self, tz)


class Timeframe(msgspec.Struct, kw_only=True):
    start: datetime
    end: datetime


class Register(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A register's consumption in a bucket: per tariff tier and total (energy), or `value` (volume)."""

    t1: float | None = None
    t2: float | None = None
    t3: float | None = None
    t4: float | None = None
    total: float | None = None
    value: float | None = None
    unit: str | None = None


class Aggregation(Result):
    """One bucket of `/aggregations` (and the window of `/aggregations/total`): consumption per register."""

    layout: ClassVar[str | None] = "aggregation"

    entity_id: uuid.UUID
    id: str
    timeframe: Timeframe
    data: dict[str, Register]


class EnergyCost(msgspec.Struct, rename="camel", kw_only=True):
    """Import or export in a bucket of `/costs`: its energy (kWh, as `/aggregations`), its cost (export's is
    negative: a credit) and the energy no price covered."""

    energy: float
    cost: float
    unpriced_energy: float


class GasCost(msgspec.Struct, rename="camel", kw_only=True):
    """Gas in a bucket of `/costs`: its volume (m3), its cost and the volume no price covered."""

    volume: float
    cost: float
    unpriced_volume: float


class CostAmount(msgspec.Struct, kw_only=True):
    """Capacity or fixed costs of a bucket (pro rata of its local months)."""

    cost: float


class CostData(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a bucket costs, per component of the tariff (a component the tariff lacks is None), with the VAT
    and the total (None too for an entity without a tariff: its data is empty)."""

    import_: EnergyCost | None = msgspec.field(default=None, name="import")
    export: EnergyCost | None = None
    gas: GasCost | None = None
    capacity: CostAmount | None = None
    fixed: CostAmount | None = None
    vat: float | None = None
    total: float | None = None


class Cost(Result):
    """One bucket of `/costs` (and the window of `/costs/total`): its currency (None without a tariff) and costs."""

    layout: ClassVar[str | None] = "cost"

    entity_id: uuid.UUID
    id: str
    timeframe: Timeframe
    currency: str | None
    data: CostData


class Reading(Result):
    """A stored reading: its metrics as sent (energy in kWh, volumes in m3)."""

    layout: ClassVar[str | None] = "reading"

    id: str
    entity_id: uuid.UUID
    timestamp: datetime
    data: dict[str, Any]


class IngestResult(Result):
    received: int
    written: int
    replaced: int


class GaugeStatistics(msgspec.Struct, rename="camel", kw_only=True):
    """A gauge field (a phase, or `value`) in a bucket: time-weighted mean, extremes and when they were."""

    mean: float | None = None
    min: float | None = None
    min_at: datetime | None = None
    max: float | None = None
    max_at: datetime | None = None
    count: int = 0
    covered_seconds: float = 0.0


class PeakDemand(msgspec.Struct, kw_only=True):
    """The largest demand-window average power (kW) and the window it was in."""

    value: float
    start: datetime
    end: datetime
    energy: float


class StatisticsMetric(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A metric of a statistics bucket: a gauge's fields, a register's peak demand, or the quality marks
    (`quality`, `gasQuality`: flagged intervals, readings, and readings per status)."""

    unit: str | None = None
    l1: GaugeStatistics | None = None
    l2: GaugeStatistics | None = None
    l3: GaugeStatistics | None = None
    total: GaugeStatistics | None = None
    value: GaugeStatistics | None = None
    peak_demand: PeakDemand | None = None
    intervals: float | None = None
    readings: int | None = None
    statuses: dict[str, int] | None = None


class Statistics(Result):
    """A bucket of `/statistics`: per gauge metric its fields' statistics, per register its peak demand."""

    layout: ClassVar[str | None] = "statistics"
    entity_id: uuid.UUID
    id: str
    timeframe: Timeframe
    data: dict[str, StatisticsMetric]


class CapacityMonth(Result):
    """A month of the Flemish capacity tariff: its quarter-hour peak, billed peak and 12-month rolling mean."""

    month: str
    timeframe: Timeframe
    peak: PeakDemand | None
    billed_peak: float
    rolling_mean: float
    months_in_mean: int


class Entity(Result):
    """A registered entity (`created` and `lastSeen` are the server's)."""

    id: uuid.UUID
    created: datetime
    type: str | None = None
    name: str | None = None
    brand: str | None = None
    identifier: str | None = None
    parent_id: uuid.UUID | None = None
    properties: dict[str, Any] | None = None
    time_zone: str | None = None
    last_seen: datetime | None = None


class PriceSeries(Result):
    """A stored price series (GET /v1/prices, PUT /v1/prices/{priceId}): `first` start and `last` end of its
    intervals, None when it holds none."""

    price_id: str
    name: str | None
    unit: str
    currency: str
    intervals: int
    first: datetime | None
    last: datetime | None


class PriceInterval(Result):
    """One price of a series over [start, end), in its currency per kWh."""

    start: datetime
    end: datetime
    price: float


class Health(Result):
    status: str


class Readiness(Result):
    status: str
    schema_version: int | None = None


class Page(msgspec.Struct, Generic[T]):
    """A page of a list: its items and the token of the next page (None on the last)."""

    items: list[T]
    continuation_token: str | None


class _Meta(msgspec.Struct, rename="camel"):
    continuation_token: str | None = None


class Envelope(msgspec.Struct, Generic[T]):
    """The wire shape of a page (`links.next` is the same as the token, on this server's base)."""

    data: list[T]
    meta: _Meta = msgspec.field(default_factory=_Meta)


class ListEnvelope(msgspec.Struct, Generic[T]):
    data: list[T]


class ApiErrorItem(msgspec.Struct):
    code: str | None = None
    message: str | None = None
    description: str | None = None


class ErrorBody(msgspec.Struct):
    """ConnectApiErrorResult: `{"errors": [{"code", "message", "description"}]}`."""

    errors: list[ApiErrorItem] = []
