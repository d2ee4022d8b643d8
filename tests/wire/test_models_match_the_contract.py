"""The Python client's models (`wire/models.py`) name exactly the fields of openapi.yaml's schemas, with the same
required ones: a field added to, renamed in or dropped from the contract fails here before a client misreads it."""

from __future__ import annotations

from importlib import resources
from typing import Any

import msgspec
import pytest
import yaml

from connect_readings.wire import models

SCHEMAS: dict[str, Any] = yaml.safe_load(
    (resources.files("connect_readings") / "openapi.yaml").read_text())["components"]["schemas"]

# model → its schema; a register of a bucket is either shape of the customer's measurements
PAIRS = [
    (models.Aggregation, ["Connect.Service.Reading.Api.Models.V1.Aggregation"]),
    (models.Timeframe, ["Connect.Service.Reading.Core.Models.Timeframe"]),
    (models.Register, ["Connect.Service.Reading.Api.Models.V1.Data.TieredMeasurement",
                       "Connect.Service.Reading.Api.Models.V1.Data.Measurement"]),
    (models.Reading, ["ConnectReadings.Reading"]),
    (models.IngestResult, ["ConnectReadings.IngestResult"]),
    (models.Entity, ["ConnectReadings.Entity"]),
    (models.GaugeStatistics, ["ConnectReadings.GaugeStatistics"]),
    (models.PeakDemand, ["ConnectReadings.PeakDemand"]),
    (models.StatisticsMetric, ["ConnectReadings.PhaseStatistics", "ConnectReadings.ValueStatistics",
                               "ConnectReadings.RegisterStatistics", "ConnectReadings.QualityStatistics"]),
    (models.Statistics, ["ConnectReadings.Statistics"]),
    (models.CapacityMonth, ["ConnectReadings.CapacityMonth"]),
    (models.Cost, ["ConnectReadings.CostItem"]),
    (models.CostData, ["ConnectReadings.CostData"]),
    (models.EnergyCost, ["ConnectReadings.EnergyCost"]),
    (models.GasCost, ["ConnectReadings.GasCost"]),
    (models.CostAmount, ["ConnectReadings.CostAmount"]),
    (models.PriceSeries, ["ConnectReadings.PriceSeries"]),
    (models.PriceInterval, ["ConnectReadings.PriceInterval"]),
]


def wire_fields(model: type[msgspec.Struct]) -> dict[str, bool]:
    """The model's wire names → whether it requires them (no default)."""
    return {f.encode_name: f.required for f in msgspec.structs.fields(model)}


@pytest.mark.parametrize(("model", "schemas"), PAIRS, ids=[m.__name__ for m, _ in PAIRS])
def test_fields_are_the_schemas(model: type[msgspec.Struct], schemas: list[str]) -> None:
    properties = set().union(*(SCHEMAS[s]["properties"] for s in schemas))
    fields = wire_fields(model)
    assert set(fields) == properties, model.__name__
    if len(schemas) == 1 and "required" in SCHEMAS[schemas[0]]:
        # a model of one schema requires no more than it does (a union, or the customer's schemas, which name
        # none required while this server always sends them all, are not held to this)
        required = set(SCHEMAS[schemas[0]]["required"])
        assert {name for name, needed in fields.items() if needed} <= required, model.__name__


def test_every_schema_of_an_answer_has_a_model() -> None:
    """Each answer schema the client decodes is covered above (envelopes and inputs are the client's own)."""
    covered = {s for _, schemas in PAIRS for s in schemas}
    answers = {name for name in SCHEMAS if not name.endswith(("Input", "Batch", "ReadingData", "Paged", "Tariff"))
               and not name.startswith(("Connect.Errors", "Connect.Models", "ConnectReadings.Paged",
                                        "ConnectReadings.Stored", "ConnectReadings.StatisticsData",
                                        "Connect.Service.Reading.Api.Models.V1.Paged",
                                        "Connect.Service.Reading.Api.Models.V1.Data.AggregationData",
                                        "ConnectReadings.InstantaneousMeasurement",
                                        "ConnectReadings.TieredRegister", "ConnectReadings.VolumeRegister",
                                        # a tariff is a document sent and read back as is (a dict), a list an
                                        # envelope
                                        "ConnectReadings.TariffPeriod", "ConnectReadings.EnergyPrice",
                                        "ConnectReadings.GasPrice", "ConnectReadings.PriceSeriesList"))}
    assert answers <= covered, sorted(answers - covered)
