"""`.to_pandas()`: the CSV export's columns (domain/csv_rows.py), a tz-aware index, the results' values."""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta

import pandas as pd
import pytest

from connect_readings import demo
from connect_readings.client import Client
from connect_readings.wire import csv_rows
from connect_readings.domain.timefmt import from_micros

from .conftest import NOW_US, YEAR_START_US

START = from_micros(NOW_US - 2 * demo.DAY)
END = from_micros(NOW_US)


def test_aggregations_frame(client: Client):
    pages = client.aggregations(demo.HOUSEHOLD, START, END, resolution="1 hour", time_zone="Europe/Brussels",
                                page_size=10)
    buckets = list(pages)
    df = pages.to_pandas()
    assert df.shape[0] == len(buckets) == 48
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "Europe/Brussels"
    assert df.index.name == "timeframe.start" and list(df.index) == [b.timeframe.start for b in buckets]
    # the CSV's columns, in its order, less the index and the metrics nobody has (t3, t4, gas)
    kept = [name for name in csv_rows.AGGREGATION_COLUMNS if name in df.columns]
    assert list(df.columns) == kept and "positiveActiveEnergy.t3" not in df.columns
    assert {"entityId", "id", "timeframe.end", "positiveActiveEnergy.t1", "positiveActiveEnergy.unit",
            "negativeActiveEnergy.total"} <= set(df.columns)
    assert df["timeframe.end"].dt.tz is not None
    assert (df["timeframe.end"] - df.index == pd.Timedelta(hours=1)).all()
    assert df["positiveActiveEnergy.total"].tolist() == [b.data["positiveActiveEnergy"].total for b in buckets]
    assert df["positiveActiveEnergy.total"].dtype == "float64"
    assert (df["entityId"] == str(demo.HOUSEHOLD)).all()


def test_readings_frame(client: Client):
    readings = client.readings(demo.HOUSEHOLD, START, END)
    df = readings.to_pandas(tz="UTC")
    assert df.index.name == "timestamp" and len(df) == 48 and str(df.index.tz) == "UTC"
    assert df.index[0] == START and "extra" not in df.columns  # the demo sends known metrics only
    assert {"instantaneousVoltage.l1", "positiveActiveInstantaneousPower.total"} <= set(df.columns)
    assert df["instantaneousVoltage.l1"].between(225, 240).all()


def test_statistics_frame(client: Client):
    df = client.statistics(demo.HOUSEHOLD, START, END, resolution="1 day", metrics=["instantaneousVoltage"],
                           time_zone="Europe/Brussels").to_pandas()
    assert str(df.index.tz) == "Europe/Brussels"
    assert "instantaneousVoltage.l1.mean" in df.columns and "instantaneousVoltage.unit" in df.columns
    assert df["instantaneousVoltage.l1.minAt"].dt.tz is not None  # date-times inside the data too


def test_capacity_and_entities_and_single_results(client: Client):
    months = client.capacity_tariff(demo.HOUSEHOLD, from_micros(YEAR_START_US), END).to_pandas(tz="Europe/Brussels")
    assert isinstance(months.index, pd.DatetimeIndex) and months.index.name == "timeframe.start"
    assert {"month", "billedPeak", "rollingMean", "peak.value", "peak.start"} <= set(months.columns)
    entities = client.entities().to_pandas()
    assert entities.index.name == "id" and str(demo.HOUSEHOLD) in entities.index
    assert entities.loc[str(demo.HOUSEHOLD), "timeZone"] == "Europe/Brussels"
    total = client.aggregation_total(demo.HOUSEHOLD, START, END).to_pandas()
    assert len(total) == 1 and total.index[0] == START
    last = client.last_reading(demo.HOUSEHOLD).to_pandas()
    assert list(last.index) == [END]


def test_an_empty_list_is_an_empty_frame(client: Client):
    entity = uuid.uuid4()
    client.put_entity(entity, type="Meter")
    assert client.readings(entity, START, END).to_pandas().empty


def test_without_pandas_the_error_says_what_to_install(client: Client, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # (an import of it then fails, as when it is absent)
    with pytest.raises(ImportError, match=r"connect-readings\[pandas\]"):
        client.aggregation_total(demo.HOUSEHOLD, START, END).to_pandas()
    assert client.aggregation_total(demo.HOUSEHOLD, START, START + timedelta(hours=1)).data  # the rest works
