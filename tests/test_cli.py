"""The command line: token, import, demo (serve is exercised by the crash-safety tests)."""

from __future__ import annotations

import uuid
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
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


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
    code, out = run("demo", "--database", db, "--days", "1", "--no-serve")
    assert code == 0, out
    assert f"created {db} with {8640 + 24 + 1440:,} readings" in out
    assert "curl -H" in out and str(HOUSEHOLD) in out
    token = out.split("bearer token (7 days, all entities):\n", 1)[1].split("\n", 1)[0]
    secret = SQLiteStore(db).meta_value("jwt_secret", "unused")
    assert jwt.decode(token, secret, algorithms=["HS256"])["entities"] == "*"
    store = SQLiteStore(db)
    for entity in (HOUSEHOLD, GAS_METER, EV_CHARGER):
        assert store.last_reading(entity) is not None
    code, out = run("demo", "--database", db, "--no-serve")
    assert "using the existing demo database" in out

    # the printed curl commands return data from the real app on that database
    urls = [line.split('"')[3] for line in out.splitlines() if line.strip().startswith("curl")]
    assert len(urls) == 3
    with TestClient(create_app(Settings(database=db)), base_url="http://127.0.0.1:8080") as client:
        for url in urls:
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body.get("data"), body


def test_every_setting_is_documented_and_read_from_its_variable(tmp_path: Path) -> None:
    """The README's table lists every setting; `migrate` reads the database from the variable or the flag."""
    from dataclasses import fields

    from connect_readings.config import env_name

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for f in fields(Settings):
        assert f"| `{env_name(f.name)}` | `--{f.name.replace('_', '-')}` |" in readme, f.name
    code, out = run("migrate", env={"CONNECT_READINGS_DATABASE": str(tmp_path / "env.db")})
    assert code == 0 and out.startswith("schema version") and (tmp_path / "env.db").exists()
    code, out = run("migrate", "--database", str(tmp_path / "flag.db"), env={"CONNECT_READINGS_DATABASE": "x"})
    assert code == 0 and (tmp_path / "flag.db").exists() and not Path("x").exists()


def test_a_list_setting_from_a_flag_is_split_like_its_variable() -> None:
    assert Settings.from_env({}, jwt_algorithms="RS256, ES256").jwt_algorithms == ("RS256", "ES256")
    assert Settings.from_env({"CONNECT_READINGS_JWT_ALGORITHMS": "RS256, ES256"}).jwt_algorithms == ("RS256", "ES256")
