"""The command line: token, import, demo (serve is exercised by the crash-safety tests)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import jwt
import orjson
from click.testing import CliRunner
from starlette.testclient import TestClient

from connect_readings.api.app import create_app
from connect_readings.cli import main
from connect_readings.config import Settings
from connect_readings.demo import EV_CHARGER, GAS_METER, HOUSEHOLD
from connect_readings.storage.sqlite import SQLiteStore

ENTITY = "8667fb97-68f2-485a-87c7-f3bdfa9482e1"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """The exit code and stdout (a command says on stderr which database it uses, when not given --database)."""
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout


def test_token_uses_the_secret_from_flag_or_environment() -> None:
    code, out = run("token", "--entity", ENTITY, "--scope", "readings:read readings:write", "--ttl", "15m",
                    "--jwt-secret", "s3cret-s3cret-s3cret-s3cret-s3cret!")
    assert code == 0
    claims = jwt.decode(out.strip(), "s3cret-s3cret-s3cret-s3cret-s3cret!", algorithms=["HS256"])
    assert claims["entities"] == [ENTITY] and claims["scope"] == "readings:read readings:write"
    assert claims["exp"] - claims["iat"] == 900
    code, out = run("token", "--all", env={"CONNECT_READINGS_JWT_SECRET": "env-secret-env-secret-env-secret!!"})
    assert jwt.decode(out.strip(), "env-secret-env-secret-env-secret!!", algorithms=["HS256"])["entities"] == "*"


def test_token_without_secret_uses_the_database_secret(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    code, out = run("token", "--all", "--database", db)
    assert code == 0
    secret = SQLiteStore(db).meta_value("jwt_secret", "unused")
    assert jwt.decode(out.strip(), secret, algorithms=["HS256"])["scope"] == "readings:read"


def test_token_needs_exactly_one_of_entity_or_all() -> None:
    assert run("token")[0] != 0
    assert run("token", "--all", "--entity", ENTITY)[0] != 0
    assert run("token", "--all", "--ttl", "1 month", "--jwt-secret", "x" * 32)[0] != 0


def test_import_jsonl_reports_rejects_and_is_idempotent(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    lines = [orjson.dumps({"timestamp": f"2024-05-27T13:{m:02d}:00Z",
                           "data": {"positiveActiveEnergy": {"total": m, "unit": "kWh"}}}) for m in range(10)]
    lines.insert(3, b"{not json")
    lines.insert(6, orjson.dumps({"timestamp": "2024-05-27T14:00:00Z", "data": {"positiveActiveEnergy": {"total": 1}}}))
    source = tmp_path / "readings.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    code, out = run("import", str(source), "--entity", ENTITY, "--database", db)
    assert code == 0, out
    assert "read 12, written 10, replaced 0, rejected 2" in out
    assert "line 4:" in out and "line 7:" in out
    code, out = run("import", str(source), "--entity", ENTITY, "--database", db)
    assert "read 12, written 10, replaced 10, rejected 2" in out
    store = SQLiteStore(db)
    assert len(store.readings(uuid.UUID(ENTITY), 0, 2**62, 100)) == 10


def test_import_jsonl_refuses_keys_given_twice(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    lines = [orjson.dumps({"timestamp": f"2024-05-27T13:{m:02d}:00Z",
                           "data": {"positiveActiveEnergy": {"total": m, "unit": "kWh"}}}) for m in range(5)]
    lines[2] = lines[2].replace(b'"total":2', b'"total":2,"total":20')
    source = tmp_path / "readings.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    code, out = run("import", str(source), "--entity", ENTITY, "--database", db)
    assert code == 0, out
    assert "read 5, written 4, replaced 0, rejected 1" in out
    assert "line 3: the key 'total' appears twice" in out


def test_import_csv(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    source = tmp_path / "meter.csv"
    source.write_text(
        "timestamp,positiveActiveEnergy.t1,positiveActiveEnergy.total,positiveActiveEnergy.unit,positiveGasVolume.value,positiveGasVolume.unit\n"
        "2024-05-27T13:00:00Z,1000,1500,Wh,,\n"
        "2024-05-27T13:15:00Z,1100,1700,Wh,2.5,m3\n"
        "2024-05-27T13:30:00Z,abc,1700,Wh,,\n"
    )
    code, out = run("import", str(source), "--entity", ENTITY, "--database", db)
    assert code == 0 and "read 3, written 2, replaced 0, rejected 1" in out and "line 4:" in out
    readings = SQLiteStore(db).readings(uuid.UUID(ENTITY), 0, 2**62, 10)
    assert readings[0].data == {"positiveActiveEnergy": {"t1": 1.0, "total": 1.5, "unit": "kWh"}}
    assert readings[1].data["positiveGasVolume"] == {"value": 2.5, "unit": "m3"}


def test_import_csv_needs_a_timestamp_column(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("time,x\n1,2\n")
    result = CliRunner().invoke(main, ["import", str(source), "--entity", ENTITY, "--database", str(tmp_path / "x.db")])
    assert result.exit_code != 0 and "timestamp" in result.output


def test_demo_creates_data_and_prints_a_working_token(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    code, out = run("demo", "--database", db, "--days", "2", "--no-serve")  # (2 days always hold an EV session)
    assert code == 0, out
    assert f"created {db} with {2 * (8640 + 24 + 1440):,} readings" in out
    assert "curl -H" in out and str(HOUSEHOLD) in out
    token = out.split("bearer token (7 days, all entities):\n", 1)[1].split("\n", 1)[0]
    secret = SQLiteStore(db).meta_value("jwt_secret", "unused")
    assert jwt.decode(token, secret, algorithms=["HS256"])["entities"] == "*"
    assert f"  http://127.0.0.1:8080/#token={token}\n" in out  # the dashboard link signs in with the token
    assert "API docs: http://127.0.0.1:8080/docs" in out
    store = SQLiteStore(db)
    for entity in (HOUSEHOLD, GAS_METER, EV_CHARGER):
        assert store.last_reading(entity) is not None
    code, out = run("demo", "--database", db, "--no-serve")
    assert "using the existing demo database" in out

    # the printed curl commands return data from the real app on that database
    urls = [line.split('"')[3] for line in out.splitlines() if line.strip().startswith("curl")]
    assert len(urls) == 8 and sum("/costs?" in url for url in urls) == 1 and urls[-1].endswith("/tariff")
    assert "tariffs:write" in jwt.decode(token, secret, algorithms=["HS256"])["scope"].split()
    assert sum("/statistics?" in url for url in urls) == 2 and sum("/statistics/capacity-tariff?" in url for url in urls) == 1
    bodies = {}
    with TestClient(create_app(Settings(database=db)), base_url="http://127.0.0.1:8080") as client:
        for url in urls:
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            body = response.json()
            if url.endswith("/tariff"):  # the household's dynamic contract, as the demo registered it
                assert body["periods"][0]["import"]["prices"] == "be-dayahead", body
                continue
            assert body.get("data"), body
            bodies[url] = body["data"]

    household_stats, = (d for u, d in bodies.items() if f"{HOUSEHOLD}/statistics?" in u)
    ev_stats, = (d for u, d in bodies.items() if f"{EV_CHARGER}/statistics?" in u)
    tariff, = (d for u, d in bodies.items() if "capacity-tariff" in u)
    # the household: a day's buckets over the week, voltage per phase around 230 V, import and export power
    assert len(household_stats) >= 2
    for n, item in enumerate(household_stats):
        voltage = item["data"]["instantaneousVoltage"]
        assert voltage["unit"] == "V"
        for phase in ("l1", "l2", "l3"):
            assert 225 <= voltage[phase]["min"] <= voltage[phase]["mean"] <= voltage[phase]["max"] <= 240
        assert item["data"]["positiveActiveInstantaneousPower"]["total"]["max"] > 0
        # A peak needs a whole quarter-hour inside the bucket and the data: every day has one, except the last
        # bucket, clipped at now, in the first quarter-hour after midnight (CI at 00:10 in Brussels).
        frame = item["timeframe"]
        if datetime.fromisoformat(frame["end"]) - datetime.fromisoformat(frame["start"]) >= timedelta(minutes=31):
            assert item["data"]["positiveActiveEnergy"]["peakDemand"]["value"] > 0
        else:
            assert n == len(household_stats) - 1, (n, item)  # (with or without a peak, by the minute)
    assert any(item["data"]["negativeActiveInstantaneousPower"]["total"]["max"] > 0 for item in household_stats)
    # the EV charger: a plug-in session, its state of charge within 0–100 % and rising while it charges
    socs = [item["data"]["stateOfCharge"]["value"] for item in ev_stats if "stateOfCharge" in item["data"]]
    assert socs
    assert all(0 <= s["min"] <= s["max"] <= 100 and 0 <= s["mean"] <= 100 for s in socs), socs
    assert socs[-1]["max"] > socs[0]["min"]
    assert all(item["data"]["stateOfCharge"]["unit"] == "%" and item["data"]["range"]["unit"] == "km"
               for item in ev_stats if "stateOfCharge" in item["data"])
    assert any(item["data"]["positiveActiveInstantaneousPower"]["total"]["max"] > 0 for item in ev_stats)
    # the capacity tariff: a month with a quarter-hour peak
    assert any(month["peak"] and month["peak"]["value"] > 0 for month in tariff)


def test_demo_data_is_deterministic_and_consistent() -> None:
    """Seeded; registers never decrease; power follows the registers' direction; SoC rises while charging."""
    from connect_readings.demo import DAY, ev_charger, household
    from connect_readings.domain.readings import parse_reading

    start = 1_717_200_000_000_000 - 1_717_200_000_000_000 % DAY
    assert list(household(start, start + DAY // 8)) == list(household(start, start + DAY // 8))
    previous = None
    for item in household(start, start + DAY):
        parse_reading(item)  # valid, units known
        data = item["data"]
        imported, exported = (data[m]["total"] for m in ("positiveActiveInstantaneousPower",
                                                          "negativeActiveInstantaneousPower"))
        assert imported == 0 or exported == 0
        assert all(225 <= data["instantaneousVoltage"][p] <= 240 for p in ("l1", "l2", "l3"))
        if previous is not None:
            was = previous["data"]
            gained = data["positiveActiveEnergy"]["total"] - was["positiveActiveEnergy"]["total"]
            injected = data["negativeActiveEnergy"]["total"] - was["negativeActiveEnergy"]["total"]
            assert gained >= 0 and injected >= 0
            if exported > 50:
                assert gained == 0
            if imported > 50:
                assert injected == 0
        previous = item
    energy, soc, charging = 0.0, None, 0
    for item in ev_charger(start, start + 4 * DAY):
        parse_reading(item)
        data = item["data"]
        assert data["positiveActiveEnergy"]["total"] >= energy
        energy = data["positiveActiveEnergy"]["total"]
        now = data.get("stateOfCharge", {}).get("value")
        if now is not None:
            assert 20 <= now <= 100 and data["range"]["value"] > 0
            if data["positiveActiveInstantaneousPower"]["total"] > 0:
                charging += 1
                assert soc is None or now >= soc
        else:
            assert data["positiveActiveInstantaneousPower"]["total"] == 0
        soc = now
    assert charging > 60


def test_every_setting_is_documented_and_read_from_its_variable(tmp_path: Path) -> None:
    """docs/operations.md's table lists every setting; `migrate` reads the database from the variable or the flag."""
    from dataclasses import fields

    from connect_readings.config import env_name

    readme = (Path(__file__).parent.parent / "docs" / "operations.md").read_text()
    for f in fields(Settings):
        assert f"| `{env_name(f.name)}` | `--{f.name.replace('_', '-')}` |" in readme, f.name
    code, out = run("migrate", env={"CONNECT_READINGS_DATABASE": str(tmp_path / "env.db")})
    assert code == 0 and out.startswith("schema version") and (tmp_path / "env.db").exists()
    code, out = run("migrate", "--database", str(tmp_path / "flag.db"), env={"CONNECT_READINGS_DATABASE": "x"})
    assert code == 0 and (tmp_path / "flag.db").exists() and not Path("x").exists()


def test_a_list_setting_from_a_flag_is_split_like_its_variable() -> None:
    assert Settings.from_env({}, jwt_algorithms="RS256, ES256").jwt_algorithms == ("RS256", "ES256")
    assert Settings.from_env({"CONNECT_READINGS_JWT_ALGORITHMS": "RS256, ES256"}).jwt_algorithms == ("RS256", "ES256")


def test_entities_lists_the_registry_as_a_table_or_json_lines(tmp_path: Path) -> None:
    from connect_readings.domain.entities import EntityRecord
    from connect_readings.domain.readings import parse_reading

    db = str(tmp_path / "x.db")
    code, out = run("entities", "--database", db)
    assert code == 0 and out.split() == ["id", "type", "name", "last", "seen"]
    store = SQLiteStore(db)
    store.put_entity(EntityRecord(HOUSEHOLD, "Meter", "Household meter", time_zone="Europe/Brussels", created=1))
    store.ingest(uuid.UUID(ENTITY), [parse_reading({"timestamp": "2024-05-27T13:00:00Z",
                                                     "data": {"positiveActiveEnergy": {"total": 1, "unit": "kWh"}}})])
    store.put_entity(EntityRecord(EV_CHARGER, "ChargePoint", "EV charger", created=2))
    store.close()
    code, out = run("entities", "--database", db)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["id", "type", "name", "last", "seen"]
    # by id; unknown fields are '-'; the household (same id as ENTITY) has its reading
    assert [line.split()[0] for line in lines[1:]] == sorted([str(HOUSEHOLD), str(EV_CHARGER)])
    household = next(line for line in lines if line.startswith(str(HOUSEHOLD)))
    assert "Meter" in household and "Household meter" in household and "2024-05-27T13:00:00Z" in household
    charger = next(line for line in lines if line.startswith(str(EV_CHARGER)))
    assert "ChargePoint" in charger and charger.rstrip().endswith("-")
    code, out = run("entities", "--database", db, "--format", "json")
    items = [orjson.loads(line) for line in out.splitlines()]
    assert [item["id"] for item in items] == sorted([str(HOUSEHOLD), str(EV_CHARGER)])
    assert {item["id"]: item["timeZone"] for item in items}[str(HOUSEHOLD)] == "Europe/Brussels"
    assert set(items[0]) == {"id", "type", "name", "brand", "identifier", "parentId", "properties", "timeZone",
                             "created", "lastSeen"}


def test_demo_registers_its_entities() -> None:
    from connect_readings.demo import load_demo

    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(str(Path(folder) / "demo.db"))
        load_demo(store, 1_716_800_000_000_000, days=1)
        described = {e.entity_id: (e.type, e.name, e.time_zone) for e in store.entities(None, 10)}
        store.close()
    assert described == {HOUSEHOLD: ("Meter", "Household meter", "Europe/Brussels"),
                         GAS_METER: ("Meter", "Gas meter", "Europe/Brussels"),
                         EV_CHARGER: ("ChargePoint", "EV charger", "Europe/Brussels")}
