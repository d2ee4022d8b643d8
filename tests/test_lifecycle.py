"""Data lifecycle (issue 20): DELETE /v1/entities/{id} on both backends, and `backup` / `restore` of SQLite.

DELETE: every table keyed by the entity (storage.base.ENTITY_TABLES, read straight from the database) has no
row of it afterwards, other entities answer exactly as before, 404/403 as every write, the children rule
(409 EntityHasChildren), pages never served after a delete (also by another worker process's cache, once the
id is registered again), and a failure inside the delete's transaction leaves everything in place.
backup/restore: the real CLI on real SQLite files, a backup taken while a writer thread ingests.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connect_readings.api.app import create_app
from connect_readings.cli import main
from connect_readings.config import Settings
from connect_readings.domain.entities import EntityRecord
from connect_readings.domain.errors import DomainError
from connect_readings.domain.readings import parse_reading
from connect_readings.storage.base import ENTITY_TABLES, Store
from connect_readings.storage.sqlite import SQLiteStore

from .conftest import ENTITY, OTHER, SECRET, ApiClient, make_token

ALL = "readings:read readings:write entities:write tariffs:write"
TARIFF = {"currency": "EUR", "periods": [{"from": "2024-01-01T00:00:00Z", "import": {"total": 0.3}, "vat": 0.06}]}
CHILD = uuid.UUID("22222222-3333-4444-8555-666666666666")
URL = f"/v1/entities/{ENTITY}"
WINDOW = {"start": "2024-05-27T00:00:00Z", "end": "2024-05-29T00:00:00Z"}


@pytest.fixture
def admin(client: ApiClient) -> ApiClient:
    client.token = make_token(scope=ALL)
    return client


def meter_readings(scale: float = 1.0, days: int = 2) -> list[dict[str, Any]]:
    """Every 15 minutes: energy registers on two tiers and injection, gas, power, voltage and state of charge,
    with a meter reset of the import register half-way (so `resets` has a row)."""
    out = []
    t0 = 1716768000  # 2024-05-27T00:00:00Z
    n = days * 96
    for i in range(n):
        total = (i if i < n // 2 else i - n // 2) * 0.25 * scale  # the reset: back to 0 half-way
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 900 * i))
        out.append({"timestamp": stamp, "data": {
            "positiveActiveEnergy": {"t1": total / 2, "t2": total / 2, "total": total, "unit": "kWh"},
            "negativeActiveEnergy": {"total": i * 0.01 * scale, "unit": "kWh"},
            "positiveGasVolume": {"value": 100 + i * 0.1 * scale, "unit": "m3"},
            "positiveActiveInstantaneousPower": {"l1": 100.0 * scale + i % 7, "total": 300.0 + i % 5, "unit": "W"},
            "instantaneousVoltage": {"l1": 230.0 + i % 3, "unit": "V"},
            "stateOfCharge": {"value": float(i % 100), "unit": "%"},
        }})
    return out


def rows_of(store: Store, table: str, entity: uuid.UUID) -> int:
    """Rows of `table` keyed by the entity, counted in the database itself."""
    if isinstance(store, SQLiteStore):
        return store.db.execute(f"SELECT count(*) FROM {table} WHERE entity_id = ?", (entity.bytes,)).fetchone()[0]
    with store.connection() as conn:  # type: ignore[attr-defined]
        return conn.execute(f"SELECT count(*) FROM {table} WHERE entity_id = %s", (entity,)).fetchone()[0]


def table_counts(store: Store, entity: uuid.UUID) -> dict[str, int]:
    return {table: rows_of(store, table, entity) for table in ENTITY_TABLES}


def answers(client: ApiClient, entity: uuid.UUID) -> list[Any]:
    """Everything a reader sees of an entity: its aggregations, total, statistics, readings, entity record."""
    base = f"/v1/entities/{entity}"
    found = []
    for path, params in ((f"{base}/aggregations", {**WINDOW, "resolution": "1 hour", "pageSize": 100}),
                         (f"{base}/aggregations/total", WINDOW),
                         (f"{base}/statistics", {**WINDOW, "resolution": "1 day"}),
                         (f"{base}/readings", {**WINDOW, "pageSize": 1000}),
                         (f"{base}/tariff", {}),
                         (base, {})):
        response = client.get(path, params=params)
        found.append((response.status_code, response.json()))
    return found


def seed(admin: ApiClient, entity: uuid.UUID, scale: float = 1.0) -> None:
    response = admin.ingest(entity, meter_readings(scale))
    assert response.status_code == 200, response.text


# -- DELETE over HTTP, both backends ---------------------------------------------------------------------
def test_delete_removes_every_row_of_the_entity_and_nothing_else(admin: ApiClient, store: Store) -> None:
    seed(admin, ENTITY)
    seed(admin, OTHER, scale=2.0)
    for entity in (ENTITY, OTHER):
        assert admin.put(f"/v1/entities/{entity}/tariff", json=TARIFF).status_code == 201
    before = table_counts(store, ENTITY)
    assert all(before[table] > 0 for table in ENTITY_TABLES), before  # readings, a reset, bounds, gauge blocks, tariff
    other_tables = table_counts(store, OTHER)
    other_answers = answers(admin, OTHER)
    assert all(status == 200 for status, _ in other_answers)

    response = admin.delete(URL)
    assert response.status_code == 204 and response.content == b""
    assert table_counts(store, ENTITY) == {table: 0 for table in ENTITY_TABLES}
    assert table_counts(store, OTHER) == other_tables
    assert answers(admin, OTHER) == other_answers  # byte for byte the same JSON
    for status, body in answers(admin, ENTITY):
        assert status == 404 and body["errors"][0]["code"] == "EntityNotFound"
    assert [e["id"] for e in admin.get("/v1/entities").json()["data"]] == [str(OTHER)]
    again = admin.delete(URL)  # gone: a second DELETE finds nothing
    assert again.status_code == 404 and again.json()["errors"][0]["code"] == "EntityNotFound"


def test_a_registered_entity_without_readings_is_deleted(admin: ApiClient, store: Store) -> None:
    assert admin.put(URL, json={"name": "empty"}).status_code == 201
    assert admin.delete(URL).status_code == 204
    assert admin.get(URL).status_code == 404 and rows_of(store, "entities", ENTITY) == 0


def test_unknown_hidden_and_malformed_entities_are_the_same_404(admin: ApiClient, store: Store) -> None:
    seed(admin, ENTITY)
    bodies = []
    for token, path in ((make_token(scope=ALL), f"/v1/entities/{uuid.uuid4()}"),   # unknown
                        (make_token([str(OTHER)], scope=ALL), URL),              # outside the token
                        (make_token(scope=ALL), "/v1/entities/not-a-uuid")):     # malformed
        admin.token = token
        response = admin.delete(path)
        assert response.status_code == 404, response.text
        bodies.append(response.json())
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["errors"][0]["code"] == "EntityNotFound"
    assert rows_of(store, "readings", ENTITY) == 192  # untouched


def test_delete_needs_the_entities_write_scope(client: ApiClient, store: Store) -> None:
    client.ingest(ENTITY, meter_readings())
    for scope in ("readings:read readings:write", "readings:read"):
        client.token = make_token(scope=scope)
        response = client.delete(URL)
        assert response.status_code == 403, response.text
        error = response.json()["errors"][0]
        assert error["code"] == "Forbidden" and "'entities:write'" in error["message"]
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    client.token = ""
    assert client.delete(URL).status_code == 401
    assert rows_of(store, "readings", ENTITY) == 192


def test_an_entity_that_is_a_parent_is_not_deleted(admin: ApiClient, store: Store) -> None:
    seed(admin, ENTITY)
    assert admin.put(f"/v1/entities/{CHILD}", json={"name": "child", "parentId": str(ENTITY)}).status_code == 201
    before = table_counts(store, ENTITY)
    response = admin.delete(URL)
    assert response.status_code == 409, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "EntityHasChildren"
    assert str(CHILD) in error["message"] and "1 entity names this entity as its parent" in error["message"]
    assert table_counts(store, ENTITY) == before  # nothing deleted
    # A token that may not see the child is not told its id.
    admin.token = make_token([str(ENTITY)], scope=ALL)
    response = admin.delete(URL)
    assert response.status_code == 409 and str(CHILD) not in response.json()["errors"][0]["message"]
    # Once the child names another parent (here: none), the parent goes.
    admin.token = make_token(scope=ALL)
    assert admin.put(f"/v1/entities/{CHILD}", json={"name": "child"}).status_code == 200
    assert admin.delete(URL).status_code == 204
    assert admin.get(f"/v1/entities/{CHILD}").json()["parentId"] is None


def test_a_put_naming_a_deleted_parent_is_refused_in_its_transaction(admin: ApiClient, store: Store) -> None:
    """The request checks the parent before the write; a DELETE between the two is caught by the store's own
    check inside the write's transaction (the PUT does not leave a child of a deleted entity)."""
    seed(admin, ENTITY)
    assert admin.delete(URL).status_code == 204
    with pytest.raises(DomainError) as caught:
        store.put_entity(EntityRecord(CHILD, name="late child", parent_id=ENTITY, created=1))
    assert caught.value.code == "InvalidEntity" and "'parentId'" in caught.value.message
    assert store.entity(CHILD) is None


def test_no_page_of_a_deleted_entity_is_served_again(admin: ApiClient) -> None:
    params = {**WINDOW, "resolution": "1 day"}
    seed(admin, ENTITY)
    first = admin.get(f"{URL}/aggregations", params=params)
    assert first.status_code == 200 and admin.get(f"{URL}/aggregations", params=params).json() == first.json()
    stats = admin.get(f"{URL}/statistics", params=params)
    assert stats.status_code == 200
    assert admin.delete(URL).status_code == 204
    for path in ("aggregations", "statistics"):
        gone = admin.get(f"{URL}/{path}", params=params)
        assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "EntityNotFound"
    # Registered again by an ingest of other values: its pages are the new data's, not the remembered ones.
    seed(admin, ENTITY, scale=3.0)
    again = admin.get(f"{URL}/aggregations", params=params).json()
    assert again != first.json()
    total = again["data"][0]["data"]["positiveActiveEnergy"]["total"]
    assert total == pytest.approx(3 * first.json()["data"][0]["data"]["positiveActiveEnergy"]["total"])
    assert admin.get(f"{URL}/statistics", params=params).json() != stats.json()


def test_another_workers_cache_never_serves_a_deleted_entitys_pages(settings: Settings, store: Store) -> None:
    """Two worker processes' caches (two apps on one database): a page remembered by one is not served by it
    after the other deleted the entity and it was registered again at the same data version (one batch each)."""
    params = {**WINDOW, "resolution": "1 day"}
    token = make_token(scope=ALL)
    with ApiClient(create_app(settings, store), token) as one, ApiClient(create_app(settings, store), token) as two:
        seed(one, ENTITY)
        old = one.get(f"{URL}/aggregations", params=params).json()
        assert one.get(f"{URL}/aggregations", params=params).json() == old  # remembered by `one`
        assert two.delete(URL).status_code == 204
        assert one.get(f"{URL}/aggregations", params=params).status_code == 404
        seed(two, ENTITY, scale=5.0)
        assert store.entity_version(ENTITY) == 0  # the same data version as the remembered page's
        new = one.get(f"{URL}/aggregations", params=params).json()
        assert new == two.get(f"{URL}/aggregations", params=params).json() != old


def test_delete_drops_the_entitys_pages_from_the_cache(admin: ApiClient) -> None:
    seed(admin, ENTITY)
    seed(admin, OTHER)
    pages = admin.app.state.api.pages  # type: ignore[attr-defined]
    for entity in (ENTITY, OTHER):
        assert admin.get(f"/v1/entities/{entity}/aggregations", params={**WINDOW, "resolution": "1 hour"}).status_code == 200
    held = len(pages)
    assert admin.delete(URL).status_code == 204
    assert len(pages) == held - 1 and pages.bytes > 0  # OTHER's page stays


def test_deletes_are_counted_in_the_metrics(settings: Settings, store: Store) -> None:
    import dataclasses

    from prometheus_client import REGISTRY

    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name, {}) or 0.0

    with ApiClient(create_app(dataclasses.replace(settings, metrics_port=9999), store), make_token(scope=ALL)) as client:
        seed(client, ENTITY)
        assert client.get(f"{URL}/aggregations", params={**WINDOW, "resolution": "1 hour"}).status_code == 200
        entities, readings = value("connect_readings_entities_deleted_total"), value("connect_readings_readings_deleted_total")
        assert client.delete(URL).status_code == 204
        assert value("connect_readings_entities_deleted_total") == entities + 1
        assert value("connect_readings_readings_deleted_total") == readings + 192
        assert value("connect_readings_page_cache_pages") == 0 and value("connect_readings_page_cache_bytes") == 0
        assert REGISTRY.get_sample_value("connect_readings_requests_total", {
            "method": "DELETE", "route": "/v1/entities/{entityId}", "status": "204"}) >= 1


def test_a_failure_inside_the_delete_rolls_all_of_it_back(admin: ApiClient, store: Store) -> None:
    """An error at the last statement of the delete (the registry row, after the readings, resets, bounds and
    gauge blocks were deleted) leaves every row in place: one transaction. The error is injected by a trigger."""
    seed(admin, ENTITY)
    before = table_counts(store, ENTITY)
    if isinstance(store, SQLiteStore):
        store.db.execute("CREATE TRIGGER refuse BEFORE DELETE ON entities BEGIN SELECT RAISE(ABORT, 'injected'); END")
        drop = "DROP TRIGGER refuse"
        expected: Any = sqlite3.IntegrityError
    else:
        import psycopg

        with store.connection() as conn:  # type: ignore[attr-defined]
            conn.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN RAISE EXCEPTION 'injected'; END $$")
            conn.execute("CREATE TRIGGER refuse BEFORE DELETE ON entities FOR EACH ROW EXECUTE FUNCTION refuse()")
        drop = "DROP TRIGGER refuse ON entities; DROP FUNCTION refuse()"
        expected = psycopg.Error
    try:
        with pytest.raises(expected):
            store.delete_entity(ENTITY)
        assert table_counts(store, ENTITY) == before
        assert admin.get(f"{URL}/aggregations", params={**WINDOW, "resolution": "1 day"}).status_code == 200
    finally:
        if isinstance(store, SQLiteStore):
            store.db.execute(drop)
        else:
            with store.connection() as conn:  # type: ignore[attr-defined]
                for statement in drop.split("; "):
                    conn.execute(statement)
    assert admin.delete(URL).status_code == 204 and table_counts(store, ENTITY) == {t: 0 for t in ENTITY_TABLES}


def test_an_ingest_after_the_delete_registers_the_entity_anew(admin: ApiClient) -> None:
    assert admin.put(URL, json={"name": "old", "timeZone": "Europe/Brussels"}).status_code == 201
    seed(admin, ENTITY)
    created = admin.get(URL).json()["created"]
    assert admin.delete(URL).status_code == 204
    time.sleep(0.002)
    seed(admin, ENTITY)
    entity = admin.get(URL).json()
    assert entity["name"] is None and entity["timeZone"] is None and entity["created"] != created


# -- backup and restore (SQLite, the real CLI) -------------------------------------------------------------
def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def reading(ts: int, total: float) -> Any:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    return parse_reading({"timestamp": stamp, "data": {"positiveActiveEnergy": {"total": total, "unit": "kWh"},
                                                       "instantaneousVoltage": {"l1": 230.0, "unit": "V"}}})


def served(database: str, entities: list[uuid.UUID]) -> list[Any]:
    """What the API answers of each entity on `database`: aggregations, statistics, readings, the entity."""
    store = SQLiteStore(database)
    try:
        with ApiClient(create_app(Settings(database=database, jwt_secret=SECRET), store)) as client:
            client.token = make_token()
            return [answers(client, entity) for entity in entities]
    finally:
        store.close()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "live.db")
    store = SQLiteStore(path)
    store.put_entity(EntityRecord(ENTITY, "Meter", "Household", time_zone="Europe/Brussels", created=1))
    store.ingest(ENTITY, [reading(1716768000 + 900 * i, i * 0.5) for i in range(192)])
    store.close()
    yield path


def test_backup_while_a_writer_ingests_restores_to_the_state_at_backup(database: str, tmp_path: Path) -> None:
    stop = threading.Event()
    written = []

    def writer() -> None:  # a new entity per batch, and more readings of ENTITY, until told to stop
        store = SQLiteStore(database)
        n = 0
        while not stop.is_set():
            store.ingest(uuid.uuid4(), [reading(1716768000 + 60 * i, float(i)) for i in range(50)])
            store.ingest(ENTITY, [reading(1716940800 + 900 * (n * 4 + i), 100.0 + n * 4 + i) for i in range(4)])
            n += 1
            written.append(n)
        store.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:
            time.sleep(0.01)
        code, out = cli("backup", str(tmp_path / "copy.db"), "--database", database)
        after = len(written)
        while len(written) < after + 2:  # (the writer goes on after the backup)
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    assert code == 0, out
    copy = tmp_path / "copy.db"
    assert out.startswith(f"wrote {copy}: ") and f"{copy.stat().st_size:,} bytes" in out
    raw = sqlite3.connect(copy)
    entities, readings = raw.execute("SELECT (SELECT count(*) FROM entities), (SELECT count(*) FROM readings)").fetchone()
    ids = [uuid.UUID(bytes=row[0]) for row in raw.execute("SELECT entity_id FROM entities ORDER BY entity_id")]
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    assert f"{entities:,} entities, {readings:,} readings" in out  # (more than one of each)
    live = sqlite3.connect(database)
    assert live.execute("SELECT count(*) FROM readings").fetchone()[0] > readings  # the writer went on
    live.close()
    # Each batch is whole in the copy or absent: 50 readings per new entity, then 4 more of ENTITY, so after
    # k rounds the copy holds k or k + 1 new entities and 4·k readings more of ENTITY.
    extra = readings - 192 - 50 * (entities - 1)
    assert extra in (4 * (entities - 1), 4 * (entities - 2)), (entities, readings)

    target = str(tmp_path / "restored.db")
    code, out = cli("restore", str(copy), "--database", target)
    assert code == 0, out
    assert f"{entities:,} entities, {readings:,} readings" in out  # (more than one of each)
    assert served(target, ids) == served(str(copy), ids)  # the restored database answers as the backup
    assert sorted(SQLiteStore(target).entity_ids()) == sorted(ids)


def test_restored_data_answers_as_the_original_did(database: str, tmp_path: Path) -> None:
    at_backup = served(database, [ENTITY, OTHER])
    assert cli("backup", str(tmp_path / "b.db"), "--database", database)[0] == 0
    store = SQLiteStore(database)  # the original changes after the backup
    store.ingest(ENTITY, [reading(1716940800 + 900 * i, 1000.0 + i) for i in range(10)])
    store.close()
    assert served(database, [ENTITY]) != at_backup[:1]
    code, out = cli("restore", str(tmp_path / "b.db"), "--database", str(tmp_path / "new.db"))
    assert code == 0, out
    assert served(str(tmp_path / "new.db"), [ENTITY, OTHER]) == at_backup


def test_backup_refuses_to_overwrite_unless_forced(database: str, tmp_path: Path) -> None:
    target = tmp_path / "b.db"
    target.write_bytes(b"precious")
    code, out = cli("backup", str(target), "--database", database)
    assert code != 0 and "exists" in out and "--force" in out and target.read_bytes() == b"precious"
    code, out = cli("backup", str(target), "--force", "--database", database)
    assert code == 0, out
    assert sqlite3.connect(target).execute("SELECT count(*) FROM readings").fetchone()[0] == 192
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_backup_of_a_missing_database_fails(tmp_path: Path) -> None:
    code, out = cli("backup", str(tmp_path / "b.db"), "--database", str(tmp_path / "missing.db"))
    assert code != 0 and "no such database file" in out and not (tmp_path / "b.db").exists()


def test_restore_refuses_a_target_with_data_unless_forced(database: str, tmp_path: Path) -> None:
    assert cli("backup", str(tmp_path / "b.db"), "--database", database)[0] == 0
    other = str(tmp_path / "other.db")
    store = SQLiteStore(other)
    store.ingest(OTHER, [reading(1716768000, 1.0)])
    store.close()
    code, out = cli("restore", str(tmp_path / "b.db"), "--database", other)
    assert code != 0 and "holds 1 entity and 1 reading;" in out and "--force" in out
    assert SQLiteStore(other).entity_ids() == [OTHER]
    code, out = cli("restore", str(tmp_path / "b.db"), "--database", other, "--force")
    assert code == 0, out
    assert SQLiteStore(other).entity_ids() == [ENTITY]
    # An existing empty database (migrated, no entity) is restored into without --force.
    empty = str(tmp_path / "empty.db")
    SQLiteStore(empty).close()
    assert cli("restore", str(tmp_path / "b.db"), "--database", empty)[0] == 0


@pytest.mark.parametrize("content, message", [
    (b"hello, not a database\n" * 100, "is not a SQLite database"),
    (None, "not a connect-readings one"),  # a SQLite database of something else
])
def test_restore_refuses_what_is_not_a_connect_readings_database(tmp_path: Path, content: bytes | None,
                                                                 message: str) -> None:
    source = tmp_path / "in.db"
    if content is None:
        other = sqlite3.connect(source)
        other.execute("CREATE TABLE notes (text TEXT)")
        other.commit()
        other.close()
    else:
        source.write_bytes(content)
    target = tmp_path / "target.db"
    code, out = cli("restore", str(source), "--database", str(target))
    assert code != 0 and message in out, out
    assert not target.exists() or SQLiteStore(str(target)).entity_ids() == []


def test_restore_migrates_an_older_backup(tmp_path: Path) -> None:
    """A backup of schema version 5 (before the registry) is upgraded: its entity is then registered."""
    from connect_readings.storage.base import latest_migration, migrations
    from connect_readings.storage.sqlite import _statements

    old = tmp_path / "v5.db"
    conn = sqlite3.connect(old, isolation_level=None)
    for number, text in migrations("sqlite"):
        if number <= 5:
            for statement in _statements(text):
                conn.execute(statement)
    conn.execute("PRAGMA user_version = 5")
    conn.execute("INSERT INTO entities(entity_id) VALUES (?)", (ENTITY.bytes,))
    conn.execute("INSERT INTO readings(entity_id, ts, positive_total) VALUES (?, ?, ?)",
                 (ENTITY.bytes, 1716768000_000000, 1.0))
    conn.close()
    target = tmp_path / "new.db"
    code, out = cli("restore", str(old), "--database", str(target))
    assert code == 0, out
    assert f"schema version 5 → {latest_migration('sqlite')}" in out
    store = SQLiteStore(str(target))
    record = store.entity(ENTITY)
    assert record is not None and record.created == 1716768000_000000 and store.reading_count() == 1


def test_restore_refuses_a_missing_file(tmp_path: Path) -> None:
    code, out = cli("restore", str(tmp_path / "nope.db"), "--database", str(tmp_path / "t.db"))
    assert code != 0 and "no such backup file" in out


@pytest.mark.parametrize("command, tool", [("backup", "pg_dump"), ("restore", "pg_restore")])
def test_postgresql_is_pointed_at_its_own_tools_without_the_password(command: str, tool: str, tmp_path: Path) -> None:
    url = "postgresql://reader:s3cr3t@db.example.com:5432/readings"
    code, out = cli(command, str(tmp_path / "dump"), "--database", url)
    assert code != 0
    assert f"{tool} " in out and "postgresql://reader@db.example.com:5432/readings" in out
    assert "s3cr3t" not in out and not (tmp_path / "dump").exists()
