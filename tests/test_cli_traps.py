"""Issue 20 items 4–6: one default database for every command, imports that fail say so, `entities set`, and a
default time zone for entities without one."""

from __future__ import annotations

import uuid
from pathlib import Path

import jwt
import orjson
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from connect_readings.api.app import create_app
from connect_readings.cli import main
from connect_readings.config import DEFAULT_DATABASE, Settings
from connect_readings.demo import GAS_METER, HOUSEHOLD
from connect_readings.domain.entities import EntityRecord
from connect_readings.storage.sqlite import SQLiteStore

ENTITY = "8667fb97-68f2-485a-87c7-f3bdfa9482e1"
OTHER = uuid.UUID("0b0e0e0e-1111-4222-8333-444455556666")
P1_CAPTURE = Path(__file__).parent / "fixtures" / "p1" / "capture.p1"
NO_DATABASE_VARIABLE = {"CONNECT_READINGS_DATABASE": None, "CONNECT_READINGS_JWT_SECRET": None,
                        "CONNECT_READINGS_DEFAULT_TIME_ZONE": None}


def run(*args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={**NO_DATABASE_VARIABLE, **(env or {})}, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _token_of(out: str) -> str:
    return out.split("bearer token (7 days, all entities):\n", 1)[1].split("\n", 1)[0]


def test_every_command_uses_the_same_default_database_and_says_which(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run("demo", "--days", "1", "--no-serve")
    assert code == 0, out + err
    assert f"using the database {DEFAULT_DATABASE} (the default" in err
    assert (tmp_path / DEFAULT_DATABASE).exists() and not (tmp_path / "connect-readings-demo.db").exists()
    demo_token = _token_of(out)
    code, out, err = run("token", "--all")  # as the README suggests: a token the demo's server accepts
    assert code == 0 and f"using the database {DEFAULT_DATABASE}" in err
    assert len(err.strip().splitlines()) == 1
    secret = SQLiteStore(DEFAULT_DATABASE).meta_value("jwt_secret", "unused")
    assert jwt.decode(out.strip(), secret, algorithms=["HS256"])["entities"] == "*"
    assert jwt.decode(demo_token, secret, algorithms=["HS256"])["entities"] == "*"
    source = tmp_path / "r.jsonl"
    source.write_bytes(orjson.dumps({"timestamp": "2024-05-27T13:00:00Z",
                                     "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh"}}}) + b"\n")
    code, out, err = run("import", str(source), "--entity", str(OTHER))
    assert code == 0 and f"using the database {DEFAULT_DATABASE}" in err
    assert SQLiteStore(DEFAULT_DATABASE).last_reading(OTHER) is not None  # the file the demo serves
    code, out, err = run("entities")
    assert code == 0 and str(OTHER) in out and f"using the database {DEFAULT_DATABASE}" in err
    code, out, err = run("migrate", env={"CONNECT_READINGS_DATABASE": "env.db"})
    assert code == 0 and "using the database env.db (from CONNECT_READINGS_DATABASE)\n" in err
    code, out, err = run("migrate", "--database", "given.db")  # named on the command line: nothing to add
    assert code == 0 and err == "" and out.startswith("schema version")


def test_demo_refuses_a_database_that_holds_other_entities(tmp_path: Path) -> None:
    db = str(tmp_path / "real.db")
    store = SQLiteStore(db)
    store.put_entity(EntityRecord(OTHER, "Meter", "my real meter", created=1))
    store.close()
    code, _, err = run("demo", "--database", db, "--days", "1", "--no-serve")
    assert code != 0
    assert "holds entities other than the demo's" in err and "--database" in err
    assert SQLiteStore(db).last_reading(HOUSEHOLD) is None


def test_demo_days_rebuilds_the_demo_when_it_differs(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    code, out, err = run("demo", "--database", db, "--days", "1", "--no-serve")
    assert code == 0 and f"created {db} with {8640 + 24 + 1440:,} readings (1 day)" in out
    code, out, err = run("demo", "--database", db, "--no-serve")  # no --days: whatever it holds
    assert code == 0 and f"using the existing demo database {db} (1 day" in out
    code, out, err = run("demo", "--database", db, "--days", "1", "--no-serve")
    assert code == 0 and "using the existing demo database" in out
    code, out, err = run("demo", "--database", db, "--days", "2", "--no-serve")
    assert code == 0, out + err
    assert f"rebuilding {db}: it holds 1 day, --days asks for 2" in err
    assert f"created {db} with {2 * (8640 + 24 + 1440):,} readings (2 days)" in out
    store = SQLiteStore(db)
    first = store.readings(HOUSEHOLD, 0, 2**62, 1)[0].ts
    assert store.last_reading(HOUSEHOLD).ts - first == 2 * 86_400_000_000 - 10_000_000
    secret = store.meta_value("jwt_secret", "unused")
    assert jwt.decode(_token_of(out), secret, algorithms=["HS256"])  # the rebuilt database's secret


def test_demo_help_is_consistent_about_its_database() -> None:
    code, out, _ = run("demo", "--help")
    assert code == 0
    assert "connect-readings-demo.db" not in out and "not the server's" not in out
    assert DEFAULT_DATABASE in out  # the --database default, the same as every command's
    assert "rebuilds" in out  # what --days does to an existing demo database


def test_an_import_whose_every_line_is_rejected_fails_and_names_the_format(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    capture = tmp_path / "capture.txt"
    capture.write_bytes(P1_CAPTURE.read_bytes())
    lines = sum(1 for line in P1_CAPTURE.read_bytes().splitlines() if line.strip())
    code, out, err = run("import", str(capture), "--entity", ENTITY, "--database", db)
    assert code != 0
    assert f"read {lines}, written 0, replaced 0, rejected {lines}" in out
    assert out.count("not a JSON object") <= 5 and f"… and {lines - 5} more" in out
    assert "every line was rejected (as jsonl)" in err and "--format p1" in err
    code, out, err = run("import", str(capture), "--entity", ENTITY, "--database", db, "--format", "p1")
    assert code == 0, out + err

    csv_file = tmp_path / "meter.txt"  # a CSV file without .csv: read as JSON Lines
    csv_file.write_text("timestamp,positiveActiveEnergy.total,positiveActiveEnergy.unit\n"
                        "2024-05-27T13:00:00Z,1000,Wh\n2024-05-27T13:15:00Z,1100,Wh\n")
    code, out, err = run("import", str(csv_file), "--entity", ENTITY, "--database", db)
    assert code != 0 and "--format csv" in err

    jsonl = tmp_path / "readings.csv"  # JSON Lines named .csv
    jsonl.write_bytes(orjson.dumps({"timestamp": "2024-05-27T13:00:00Z",
                                    "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh"}}}) + b"\n")
    code, out, err = run("import", str(jsonl), "--entity", ENTITY, "--database", db)
    assert code != 0 and "--format jsonl" in err

    junk = tmp_path / "junk.jsonl"  # no format fits: no hint, still a failure
    junk.write_text("hello\nworld\n")
    code, out, err = run("import", str(junk), "--entity", ENTITY, "--database", db)
    assert code != 0 and "every line was rejected (as jsonl)" in err and "--format" not in err


def test_entities_set_describes_an_entity_with_the_put_rules(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    store = SQLiteStore(db)
    store.put_entity(EntityRecord(OTHER, None, None, brand="Acme", identifier="SN-1", created=1))
    store.close()
    code, out, err = run("entities", "set", str(OTHER), "--name", "Kitchen meter", "--type", "Meter",
                         "--time-zone", "Europe/Amsterdam", "--database", db)
    assert code == 0, out + err
    record = SQLiteStore(db).entity(OTHER)
    assert (record.type, record.name, record.time_zone) == ("Meter", "Kitchen meter", "Europe/Amsterdam")
    assert (record.brand, record.identifier, record.created) == ("Acme", "SN-1", 1)  # the rest is kept
    code, out, err = run("entities", "set", str(OTHER), "--name", "Cellar meter", "--database", db)
    record = SQLiteStore(db).entity(OTHER)
    assert code == 0 and (record.name, record.type, record.time_zone) == ("Cellar meter", "Meter", "Europe/Amsterdam")
    code, out, err = run("entities", "set", str(OTHER), "--time-zone", "", "--database", db)  # empty: none
    assert code == 0 and SQLiteStore(db).entity(OTHER).time_zone is None

    code, out, err = run("entities", "set", str(OTHER), "--type", "Toaster", "--database", db)
    assert code != 0 and "'type' must be one of Battery" in err
    code, out, err = run("entities", "set", str(OTHER), "--time-zone", "Mars/Olympus", "--database", db)
    assert code != 0 and "not a known IANA time zone" in err
    code, out, err = run("entities", "set", str(OTHER), "--name", "x" * 201, "--database", db)
    assert code != 0 and "at most 200 characters" in err
    assert SQLiteStore(db).entity(OTHER).name == "Cellar meter"  # refusals change nothing
    code, out, err = run("entities", "set", str(OTHER), "--database", db)
    assert code != 0 and "--name" in err

    code, out, err = run("entities", "set", str(GAS_METER), "--type", "Meter", "--database", db)  # registers it
    assert code == 0 and SQLiteStore(db).entity(GAS_METER).type == "Meter"
    code, out, err = run("entities", "--database", db)
    assert code == 0 and "Cellar meter" in out and str(GAS_METER) in out


def test_the_default_time_zone_applies_to_entities_without_one(tmp_path: Path) -> None:
    from connect_readings.domain.readings import parse_reading

    db = str(tmp_path / "x.db")
    store = SQLiteStore(db)
    for entity, zone in ((OTHER, None), (HOUSEHOLD, "Asia/Tokyo")):
        store.put_entity(EntityRecord(entity, time_zone=zone, created=1))
        store.ingest(entity, [parse_reading({"timestamp": f"2024-05-27T{h:02d}:00:00Z",
                                             "data": {"positiveActiveEnergy": {"total": h, "unit": "kWh"}}})
                              for h in range(24)])
    store.close()
    secret = "s3cret-s3cret-s3cret-s3cret-s3cret!"
    token = jwt.encode({"entities": "*", "scope": "readings:read", "exp": 2**32}, secret, algorithm="HS256")

    def first_bucket(settings: Settings, entity: uuid.UUID, query: str = "") -> str:
        with TestClient(create_app(settings), base_url="http://127.0.0.1:8080") as client:
            response = client.get(f"/v1/entities/{entity}/aggregations?start=2024-05-27T00:00:00Z&"
                                  f"end=2024-05-28T00:00:00Z&resolution=1%20day{query}",
                                  headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            return response.json()["data"][0]["timeframe"]["start"]

    assert first_bucket(Settings(database=db, jwt_secret=secret), OTHER) .endswith("Z")  # UTC as before
    berlin = Settings.from_env({"CONNECT_READINGS_DEFAULT_TIME_ZONE": "Europe/Berlin"}, database=db, jwt_secret=secret)
    assert first_bucket(berlin, OTHER).endswith("+02:00")
    assert first_bucket(berlin, HOUSEHOLD).endswith("+09:00")  # an entity's own zone wins
    assert first_bucket(berlin, OTHER, "&timeZone=UTC").endswith("Z")  # and the request's
    assert Settings.from_env({"CONNECT_READINGS_DEFAULT_TIME_ZONE": ""}).default_time_zone is None
    with pytest.raises(ValueError, match="CONNECT_READINGS_DEFAULT_TIME_ZONE='Mars/Olympus'"):
        Settings.from_env({"CONNECT_READINGS_DEFAULT_TIME_ZONE": "Mars/Olympus"})


def test_demo_prints_the_default_time_zone(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    code, out, _ = run("demo", "--database", db, "--days", "1", "--no-serve")
    assert code == 0 and "default time zone of entities without one: UTC" in out
    code, out, _ = run("demo", "--database", db, "--no-serve", env={"CONNECT_READINGS_DEFAULT_TIME_ZONE": "Europe/Paris"})
    assert code == 0 and "default time zone of entities without one: Europe/Paris" in out


def test_a_bad_default_time_zone_stops_a_command_with_a_message(tmp_path: Path) -> None:
    code, out, err = run("entities", "--database", str(tmp_path / "x.db"),
                         env={"CONNECT_READINGS_DEFAULT_TIME_ZONE": "Mars/Olympus"})
    assert code != 0 and "Traceback" not in out + err
    assert "CONNECT_READINGS_DEFAULT_TIME_ZONE='Mars/Olympus' is not a known IANA time zone" in err
