"""A database made by schema version 3 (register columns r0..r11, a register bitmask, numbered registers in the
side tables) migrates to the named schema and then answers every request exactly as version 3's code did.

`fixtures/schema3.db` was written by the code of schema version 3 through its own ingest (meter resets, a late
out-of-order batch, gas, instantaneous metrics, a rare register); `fixtures/schema3_answers.json` holds that
code's answers to `scripts/compare_answers.py`'s requests, byte for byte. On PostgreSQL the same rows are put
into a database at schema version 3 (migrations 0001–0003 only), which the store then migrates.
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from connect_readings.storage.base import migrations, open_store

from ..conftest import BACKENDS

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "schema3_answers.json").read_text())
TABLES = ("meta", "entities", "readings", "resets", "series")


def compare_answers() -> ModuleType:
    path = Path(__file__).parent.parent.parent / "scripts" / "compare_answers.py"
    spec = importlib.util.spec_from_file_location("compare_answers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=BACKENDS)
def schema3_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A copy of the fixture (SQLite), or a PostgreSQL database at version 3 holding the same rows."""
    if request.param == "sqlite":
        path = tmp_path / "schema3.db"
        shutil.copy(FIXTURES / "schema3.db", path)
        yield str(path)
        return
    import psycopg
    from psycopg import sql

    from ..pg import server_url, with_database

    name = f"connect_readings_v3_{secrets.token_hex(4)}"
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server_url(), name)
    try:
        source = sqlite3.connect(FIXTURES / "schema3.db")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, "
                         "applied_at timestamptz NOT NULL DEFAULT now())")
            for number, text in migrations("postgres"):
                if number <= 3:
                    conn.execute(text)
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
            with conn.cursor() as cur:
                for table in TABLES:
                    found = source.execute(f"SELECT * FROM {table}")
                    columns = [d[0] for d in found.description]
                    names = ", ".join(f'"{c}"' for c in columns)
                    cur.executemany(
                        f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})",
                        [tuple(_pg_value(c, v) for c, v in zip(columns, row)) for row in found.fetchall()],
                    )
        source.close()
        yield url
    finally:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _pg_value(column: str, value: Any) -> Any:
    if column == "entity_id":
        return uuid.UUID(bytes=value)
    if column == "extra" and value is not None:
        return bytes(value).decode()
    return value


def test_schema3_database_migrates_and_answers_as_before(schema3_database: str) -> None:
    store = open_store(schema3_database)
    assert store.migrate() == migrations("sqlite")[-1][0] == migrations("postgres")[-1][0]
    store.close()
    window = EXPECTED["window"]
    script = compare_answers()
    answers = script.dump(schema3_database, window["entities"], script.micros(window["start"]),
                          script.micros(window["end"]))
    expected = EXPECTED["answers"]
    assert len(answers) == len(expected)
    for got, want in zip(answers, expected):
        assert (got["path"], got["status"], got["body"]) == (want["path"], want["status"], want["body"])
