"""A Python client generated from the served /openapi.json decodes real pages (issue 18).

openapi-python-client, at its default settings, generates a client from the document the app serves; the
test fails when generation fails or warns (an endpoint or schema it had to skip). The generated models then
decode real pages of the real app (SQLite, Starlette's test client): readings, the last reading,
aggregations and their total, statistics, the capacity tariff and the entity registry. Each page is
decoded with `from_dict`, a few values are checked field by field, and `to_dict` must give back the page's
JSON (date-times compared as instants), so a field the models drop or mistype fails. Last, the generated
client's own operations are called through the test client.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.storage.sqlite import SQLiteStore

from ..conftest import ENTITY, SECRET, ApiClient, make_token

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "connect_readings_api_client"  # from the document's title, "Connect Readings API"
URL = f"/v1/entities/{ENTITY}"
UTC = dt.timezone.utc
BRUSSELS_SUMMER = dt.timedelta(hours=2)


def _readings() -> list[dict[str, Any]]:
    """Every 5 minutes on 2024-05-27 from 10:00 UTC for 3 hours: registers in Wh and l (normalised to kWh
    and m3), power and voltage per phase, state of charge, and a metric of the client's own."""
    t0 = dt.datetime(2024, 5, 27, 10, tzinfo=UTC)
    out = []
    for i in range(37):
        wh = 1_000_000 + 250 * i * i  # accelerating consumption: a peak late in the window
        out.append({"timestamp": (t0 + dt.timedelta(minutes=5 * i)).isoformat(), "data": {
            "positiveActiveEnergy": {"t1": wh * 0.25, "t2": wh * 0.75, "total": wh, "unit": "Wh"},
            "negativeActiveEnergy": {"total": 10.0 + 0.01 * i, "unit": "kwh"},
            "positiveGasVolume": {"value": 500.0 + 20 * i, "unit": "l"},
            "positiveActiveInstantaneousPower": {"l1": 1.0 + i % 3, "l2": 0.5, "l3": 0.25, "unit": "kW"},
            "instantaneousVoltage": {"l1": 230.0, "l2": 231.0, "l3": 229.5, "unit": "V"},
            "stateOfCharge": {"value": float(20 + i), "unit": "%"},
            "boilerTemperature": {"value": 55.5, "unit": "°C"},
        }})
    return out


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The package openapi-python-client generates from the served document, imported."""
    work = tmp_path_factory.mktemp("generated-client")
    app = create_app(Settings(database=str(work / "unused.db"), jwt_secret=SECRET),
                     SQLiteStore(str(work / "document.db")))
    with ApiClient(app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document = work / "openapi.json"
    document.write_bytes(response.content)
    out = work / "client"
    # Its default post-hooks run `ruff` (a dependency of the generator, beside it in the venv): on PATH.
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(GENERATOR), "generate", "--path", str(document), "--output-path", str(out)],
                            capture_output=True, text=True, timeout=120, env=env, cwd=work)
    output = (result.stdout + result.stderr).replace(str(out), "<out>").replace(str(document), "<document>")
    assert result.returncode == 0, output
    # Skipped endpoints or schemas, and failed post-hooks, are reported as warnings or errors.
    assert not re.search(r"warning|error|skipp|unable|not in path|failed", output, re.IGNORECASE), output
    package_dir = out / PACKAGE
    assert (package_dir / "__init__.py").is_file(), sorted(p.name for p in out.iterdir())
    # Every operation of the document has its module.
    operations = {op["operationId"] for path in response.json()["paths"].values() for op in path.values()}
    modules = {p.stem for p in (package_dir / "api").rglob("*.py") if p.stem != "__init__"}
    assert {op.replace("-", "_") for op in operations} == modules

    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[ApiClient]:
    """The real app on SQLite with a registered meter in Europe/Brussels and 3 hours of readings."""
    app = create_app(Settings(database=str(tmp_path / "unused.db"), jwt_secret=SECRET),
                     SQLiteStore(str(tmp_path / "readings.db")))
    with ApiClient(app, make_token(scope="readings:read readings:write entities:write")) as client:
        entity = {"type": "Meter", "name": "Household meter", "timeZone": "Europe/Brussels",
                  "properties": {"ean": "541448800000000000"}}
        assert client.put(URL, json=entity).status_code == 201
        response = client.ingest(ENTITY, _readings())
        assert response.status_code == 200, response.text
        yield client


def model(generated: ModuleType, name: str) -> Any:
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


def _instants(value: Any) -> Any:
    """The JSON with every date-time string as an aware datetime ('Z' and '+00:00' are the same instant)."""
    if isinstance(value, dict):
        return {k: _instants(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_instants(v) for v in value]
    if isinstance(value, str) and _DATETIME.match(value):
        return dt.datetime.fromisoformat(value)
    return value


def decode(generated: ModuleType, name: str, body: Any) -> Any:
    """`body` decoded by the generated model `name`, which must give it back unchanged."""
    decoded = model(generated, name).from_dict(body)
    assert _instants(decoded.to_dict()) == _instants(body)
    return decoded


def test_generated_client_decodes_readings(generated: ModuleType, seeded: ApiClient) -> None:
    body = seeded.get(f"{URL}/readings", params={"start": "2024-05-27T10:00:00Z", "pageSize": 10}).json()
    page = decode(generated, "ConnectReadingsPagedReadings", body)
    assert len(page.data) == 10 and page.meta.page_size == 10
    assert page.meta.continuation_token == body["meta"]["continuationToken"] and page.links.next_
    first = page.data[0]
    assert first.timestamp == dt.datetime(2024, 5, 27, 10, tzinfo=UTC)
    assert first.entity_id == ENTITY and first.id == uuid.UUID(body["data"][0]["id"])
    energy = first.data.positive_active_energy
    assert (energy.t1, energy.t2, energy.total) == (250.0, 750.0, 1000.0)  # Wh → kWh
    assert energy.unit == model(generated, "ConnectReadingsStoredTieredRegisterUnit").KWH
    assert first.data.negative_active_energy.total == body["data"][0]["data"]["negativeActiveEnergy"]["total"]
    assert first.data.positive_gas_volume.value == 0.5 and first.data.positive_gas_volume.unit.value == "m3"
    power = first.data["positiveActiveInstantaneousPower"]  # a metric of the open part: additional_properties
    assert (power.l1, power.l2, power.l3, power.unit) == (1000.0, 500.0, 250.0, "W")
    assert first.data["boilerTemperature"].value == 55.5 and first.data["boilerTemperature"].unit == "°C"

    last = decode(generated, "ConnectReadingsReading", seeded.get(f"{URL}/readings/last").json())
    assert last.timestamp == dt.datetime(2024, 5, 27, 13, tzinfo=UTC)
    assert last.data["stateOfCharge"].value == 56.0


def test_generated_client_decodes_aggregations(generated: ModuleType, seeded: ApiClient) -> None:
    # No timeZone: the entity's own, Europe/Brussels (+02:00 in May).
    body = seeded.get(f"{URL}/aggregations", params={
        "start": "2024-05-27T10:00:00Z", "end": "2024-05-27T13:00:00Z", "resolution": "1 hour"}).json()
    page = decode(generated, "ConnectServiceReadingApiModelsV1PagedAggregations", body)
    assert len(page.data) == 3 == len(body["data"])
    for aggregation, raw in zip(page.data, body["data"]):
        assert aggregation.data.positive_active_energy.total == raw["data"]["positiveActiveEnergy"]["total"]
        assert aggregation.data.positive_active_energy.t1 == raw["data"]["positiveActiveEnergy"]["t1"]
        assert aggregation.data.positive_active_energy.unit == "kWh"
        assert aggregation.data.positive_gas_volume.value == raw["data"]["positiveGasVolume"]["value"]
        assert aggregation.entity_id == ENTITY and aggregation.id == uuid.UUID(raw["id"])
    first = page.data[0].timeframe
    assert isinstance(first.start, dt.datetime) and first.start.utcoffset() == BRUSSELS_SUMMER
    assert first.start == dt.datetime(2024, 5, 27, 10, tzinfo=UTC)
    assert first.end - first.start == dt.timedelta(hours=1)
    assert page.data[0].data.positive_active_energy.total > 0

    total = decode(generated, "ConnectServiceReadingApiModelsV1Aggregation", seeded.get(
        f"{URL}/aggregations/total", params={"start": "2024-05-27T10:00:00Z", "end": "2024-05-27T13:00:00Z"}).json())
    assert total.data.positive_active_energy.total == pytest.approx(
        sum(a.data.positive_active_energy.total for a in page.data))
    assert total.timeframe.end.utcoffset() == BRUSSELS_SUMMER


def test_generated_client_decodes_statistics(generated: ModuleType, seeded: ApiClient) -> None:
    body = seeded.get(f"{URL}/statistics", params={
        "start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z", "resolution": "1 day",
        "timeZone": "UTC"}).json()
    page = decode(generated, "ConnectReadingsPagedStatistics", body)
    assert len(page.data) == 1
    day = page.data[0]
    assert day.timeframe.start == dt.datetime(2024, 5, 27, tzinfo=UTC)
    raw = body["data"][0]["data"]
    power = day.data.positive_active_instantaneous_power
    assert power.unit.value == "W"
    assert power.l1.mean == raw["positiveActiveInstantaneousPower"]["l1"]["mean"]
    assert (power.l1.min_, power.l1.max_, power.l1.count) == (1000.0, 3000.0, 37)
    assert power.l1.max_at == dt.datetime.fromisoformat(raw["positiveActiveInstantaneousPower"]["l1"]["maxAt"])
    assert day.data.instantaneous_voltage.l3.mean == pytest.approx(229.5)
    assert day.data.state_of_charge.unit.value == "%" and day.data.state_of_charge.value.max_ == 56.0
    peak = day.data.positive_active_energy.peak_demand
    assert peak.value == raw["positiveActiveEnergy"]["peakDemand"]["value"] > 0
    assert peak.end - peak.start == dt.timedelta(minutes=15)

    tariff = decode(generated, "ConnectReadingsCapacityTariff", seeded.get(f"{URL}/statistics/capacity-tariff", params={
        "start": "2024-05-01T00:00:00Z", "end": "2024-06-01T00:00:00Z"}).json())
    assert [m.month for m in tariff.data] == ["2024-05"]
    may = tariff.data[0]
    assert may.peak.value > 0 and may.billed_peak == max(may.peak.value, 2.5) and may.months_in_mean == 1
    assert may.timeframe.start == dt.datetime(2024, 5, 1, tzinfo=dt.timezone(BRUSSELS_SUMMER))


def test_generated_client_decodes_entities(generated: ModuleType, seeded: ApiClient) -> None:
    page = decode(generated, "ConnectReadingsPagedEntities", seeded.get("/v1/entities").json())
    assert len(page.data) == 1
    entity = page.data[0]
    assert entity.id == ENTITY and entity.type_ == "Meter" and entity.name == "Household meter"
    assert entity.time_zone == "Europe/Brussels" and entity.properties["ean"] == "541448800000000000"
    assert entity.last_seen == dt.datetime(2024, 5, 27, 13, tzinfo=UTC)
    assert isinstance(entity.created, dt.datetime) and entity.parent_id is None


def test_generated_client_decodes_costs(generated: ModuleType, seeded: ApiClient) -> None:
    seeded.token = make_token(scope="readings:read tariffs:write")
    tariff = {"currency": "EUR", "periods": [{
        "from": "2024-01-01T00:00:00Z", "import": {"t1": 0.3, "t2": 0.2}, "export": {"total": 0.04},
        "gas": {"perM3": 1.1}, "capacity": {"perKwYear": 50.0}, "fixed": {"perYear": 120.0}, "vat": 0.06}]}
    assert seeded.put(f"{URL}/tariff", json=tariff).status_code in (200, 201)
    window = {"start": "2024-05-27T10:00:00Z", "end": "2024-05-27T13:00:00Z"}
    body = seeded.get(f"{URL}/costs", params={**window, "resolution": "1 hour"}).json()
    page = decode(generated, "ConnectReadingsPagedCosts", body)
    assert len(page.data) == 3
    for cost, raw in zip(page.data, body["data"]):
        assert cost.currency == "EUR" and cost.entity_id == ENTITY and cost.id == uuid.UUID(raw["id"])
        assert cost.data.import_.cost == raw["data"]["import"]["cost"] > 0
        assert cost.data.import_.unpriced_energy == 0.0 and cost.data.export.cost <= 0
        assert cost.data.gas.volume == raw["data"]["gas"]["volume"] and cost.data.fixed.cost > 0
        assert cost.data.total == raw["data"]["total"]
    assert page.data[0].timeframe.start.utcoffset() == BRUSSELS_SUMMER
    total = decode(generated, "ConnectReadingsCostItem", seeded.get(f"{URL}/costs/total", params=window).json())
    assert total.data.total == pytest.approx(sum(c.data.total for c in page.data))


def test_generated_request_models_encode_what_the_server_takes(generated: ModuleType, seeded: ApiClient) -> None:
    batch = {"data": [{"timestamp": "2024-05-27T14:00:00Z", "data": {
        "positiveActiveEnergy": {"total": 1_500_000.0, "unit": "wH"},  # any case: a pattern, not an enum
        "positiveGasVolume": {"value": 2.0, "unit": "m³"},
        "instantaneousVoltage": {"l1": 230.0, "unit": "kV"},
    }}]}
    encoded = decode(generated, "ConnectReadingsReadingBatch", batch).to_dict()
    response = seeded.ingest(ENTITY, encoded["data"])
    assert response.status_code == 200, response.text
    assert decode(generated, "ConnectReadingsIngestResult", response.json()).written == 1


def test_generated_operations_call_the_server(generated: ModuleType, seeded: ApiClient) -> None:
    """The generated operations themselves, over the test client (an httpx.Client)."""
    api = generated.AuthenticatedClient(base_url=str(seeded.base_url), token=seeded.token)
    api.set_httpx_client(seeded)
    aggregations = importlib.import_module(f"{PACKAGE}.api.aggregations.get_getaggregationsasync")
    page = aggregations.sync(ENTITY, client=api, start=dt.datetime(2024, 5, 27, 12, tzinfo=UTC),
                             end=dt.datetime(2024, 5, 27, 13, tzinfo=UTC), resolution="15 minutes")
    assert [a.timeframe.start.astimezone(UTC).minute for a in page.data] == [0, 15, 30, 45]
    assert all(a.timeframe.start.utcoffset() == BRUSSELS_SUMMER for a in page.data)
    entities = importlib.import_module(f"{PACKAGE}.api.entities.get_entity")
    assert entities.sync(ENTITY, client=api).time_zone == "Europe/Brussels"
    missing = entities.sync_detailed(uuid.UUID(int=1), client=api)
    assert missing.status_code == 404 and missing.parsed.errors[0].code == "EntityNotFound"
