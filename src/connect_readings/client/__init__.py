"""A Python client of the Connect Readings API: `Client` (blocking) and `AsyncClient` (asyncio), on httpx.

>>> from connect_readings.client import Client                                        # doctest: +SKIP
>>> with Client("http://127.0.0.1:8080", token) as client:                            # doctest: +SKIP
...     df = client.aggregations(entity, start=date(2024, 1, 1), end=date(2025, 1, 1), resolution="1 day",
...                              time_zone="Europe/Brussels").to_pandas()

base.py holds all that does no I/O (requests, decoding, errors, retries, paging); sync.py and aio.py only
send and sleep. Results are msgspec Structs (models.py); `.to_pandas()` needs `connect-readings[pandas]`.
"""

from .aio import AsyncClient, AsyncPages
from .base import ConnectReadingsError, RetryPolicy
from ..wire.models import (Aggregation, CapacityMonth, Cost, CostAmount, CostData, EnergyCost, Entity, GasCost,
                     GaugeStatistics, Health, IngestResult, PeakDemand, Readiness, Reading, Register, Results,
                     Statistics, StatisticsMetric, Timeframe)
from .sync import Client, Pages

__all__ = [
    "Aggregation", "AsyncClient", "AsyncPages", "CapacityMonth", "Client", "ConnectReadingsError", "Cost",
    "CostAmount", "CostData", "EnergyCost", "Entity", "GasCost", "GaugeStatistics", "Health", "IngestResult",
    "Pages", "PeakDemand", "Readiness", "Reading", "Register", "Results", "RetryPolicy", "Statistics",
    "StatisticsMetric", "Timeframe",
]
