"""Limits: body size, batch size, pageSize, header size, and the request deadline (semantics.md §7).

Every refusal carries the ConnectApiErrorResult body, writes nothing and leaves the server serving. The
deadline tests run real SQLite statements that would never end (a recursive CTE, a trigger doing a huge
cross join) and check the statement is interrupted, the request answered 504 in time, and the connection
left without an open transaction. A watchdog interrupts a statement after 20 s should the deadline ever fail,
so a regression fails the test instead of hanging it.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.storage import sqlite as sqlite_module
from connect_readings.storage.sqlite import SQLiteStore

from ..openapi_check import check_response
from ..conftest import ENTITY, SECRET, ApiClient, energy, make_token
from ..test_crash_safety import Server
from ..test_crash_safety import token as server_token

BASE = f"/v1/entities/{ENTITY}/readings"
AUTH = {"Authorization": f"Bearer {make_token()}"}
NEVER_ENDS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def _client(tmp_path: Path, **settings: Any) -> ApiClient:
    db = str(tmp_path / f"limits-{uuid.uuid4().hex[:8]}.db")
    return ApiClient(create_app(Settings(database=db, jwt_secret=SECRET, **settings), SQLiteStore(db)))


def _plain(client: TestClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request with explicit headers only; the response is still checked against the document."""
    headers = {**AUTH, **kwargs.pop("headers", {})}
    response = TestClient.request(client, method, url, headers=headers, **kwargs)
    if response.status_code == 500:  # an induced bug: undocumented on purpose, but still the error body
        assert response.json()["errors"][0]["code"] == "InternalError", response.text
    else:
        check_response(response)
    return response


def _batch_bytes(n: int) -> bytes:
    import orjson

    return orjson.dumps({"data": [energy(f"2024-05-27T13:{i // 60:02d}:{i % 60:02d}Z", i) for i in range(n)]})


# -- request body ---------------------------------------------------------------------------------------
def test_body_over_the_limit_with_content_length(tmp_path: Path) -> None:
    with _client(tmp_path, max_body_bytes=4096) as client:
        body = _batch_bytes(200)
        assert len(body) > 4096
        response = client.post(BASE, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.json()["errors"][0]["code"] == "PayloadTooLarge"
        assert response.headers["connection"] == "close"
        assert client.get(f"{BASE}/last").status_code == 404  # nothing written


def test_chunked_body_over_the_limit(tmp_path: Path) -> None:
    """No Content-Length: the limit is enforced while streaming."""
    with _client(tmp_path, max_body_bytes=4096) as client:
        body = _batch_bytes(200)

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(body), 512):
                yield body[i:i + 512]

        response = client.post(BASE, content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert response.status_code == 413
        assert response.json()["errors"][0]["code"] == "PayloadTooLarge"
        assert client.get(f"{BASE}/last").status_code == 404


def test_body_at_the_limit_is_accepted(tmp_path: Path) -> None:
    body = _batch_bytes(20)
    with _client(tmp_path, max_body_bytes=len(body)) as client:
        assert client.post(BASE, content=body, headers={"Content-Type": "application/json"}).status_code == 200
        chunked = client.post(BASE, content=iter([body[:100], body[100:]]), headers={"Content-Type": "application/json"})
        assert chunked.status_code == 200
        one_more = client.post(BASE, content=body + b" ", headers={"Content-Type": "application/json"})
        assert one_more.status_code == 413


def test_readings_per_batch(tmp_path: Path) -> None:
    with _client(tmp_path, max_batch=5) as client:
        response = client.ingest(ENTITY, [energy(f"2024-05-27T13:0{i}:00Z", i) for i in range(6)])
        assert response.status_code == 400 and response.json()["errors"][0]["code"] == "BatchTooLarge"
        assert client.get(f"{BASE}/last").status_code == 404
        assert client.ingest(ENTITY, [energy(f"2024-05-27T13:0{i}:00Z", i) for i in range(5)]).status_code == 200


def test_default_batch_limit_is_the_documented_10000(client: ApiClient) -> None:
    assert client.ingest(ENTITY, [energy("2024-01-01T00:00:00Z", 1)] * 10_000).status_code == 200
    assert client.ingest(ENTITY, [energy("2024-01-01T00:00:00Z", 1)] * 10_001).status_code == 400


# -- pageSize -------------------------------------------------------------------------------------------
PAGED = [
    (BASE, {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z"}),
    (f"/v1/entities/{ENTITY}/aggregations",
     {"start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z", "resolution": "1 hour"}),
]


@pytest.mark.parametrize("size", [
    "0", "-1", "10001", "99999999999999999999", "1e3", "1.0", "", "ten", "0x10", "+5", "1 0", "%",
    "\u00b2", "\u0661\u0660", "\uff11",  # '²', Arabic-Indic and full-width digits
])
@pytest.mark.parametrize(("url", "params"), PAGED)
def test_page_size_out_of_range(client: ApiClient, url: str, params: dict[str, str], size: str) -> None:
    client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1), energy("2024-05-27T14:00:00Z", 2)])
    response = client.get(url, params={**params, "pageSize": size})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "InvalidPageSize"


@pytest.mark.parametrize(("url", "params"), PAGED)
def test_page_size_bounds_are_accepted(client: ApiClient, url: str, params: dict[str, str]) -> None:
    client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1), energy("2024-05-27T14:00:00Z", 2)])
    for size in ("1", "10000"):
        response = client.get(url, params={**params, "pageSize": size})
        assert response.status_code == 200 and response.json()["meta"]["pageSize"] == int(size)


# -- request deadline -----------------------------------------------------------------------------------
class Watchdog:
    """Interrupts the statements of connections it was given after `after_s`, in case the deadline fails."""

    def __init__(self, after_s: float = 20.0) -> None:
        self.connections: list[Any] = []
        self.timer = threading.Timer(after_s, self.fire)
        self.timer.daemon = True
        self.timer.start()

    def watch(self, conn: Any) -> Any:
        self.connections.append(conn)
        return conn

    def fire(self) -> None:
        for conn in self.connections:
            conn.interrupt()

    def cancel(self) -> None:
        self.timer.cancel()


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    dog = Watchdog()
    yield dog
    dog.cancel()


@pytest.fixture
def slow_client(tmp_path: Path) -> Iterator[ApiClient]:
    with _client(tmp_path, request_timeout_s=0.3) as client:
        assert client.ingest(ENTITY, [energy("2024-05-27T13:00:00Z", 1), energy("2024-05-27T14:00:00Z", 2)]).status_code == 200
        yield client


def _store(client: TestClient) -> SQLiteStore:
    return client.app.state.api.store  # type: ignore[attr-defined,no-any-return]


def _assert_timeout(response: httpx.Response, began: float) -> None:
    elapsed = time.monotonic() - began
    assert response.status_code == 504, response.text
    assert response.json()["errors"][0]["code"] == "RequestTimeout"
    assert elapsed < 5, f"the deadline of 0.3 s took {elapsed:.1f} s to act"


def _still_serving(client: ApiClient, store: SQLiteStore) -> None:
    """Reads, aggregations and a write all work after a timeout; no transaction was left open."""
    assert not store.db.in_transaction
    assert client.get(f"{BASE}/last").status_code == 200
    aggregations = client.get(f"/v1/entities/{ENTITY}/aggregations", params={
        "start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z", "resolution": "1 hour"})
    assert aggregations.status_code == 200 and aggregations.json()["data"]
    began = time.monotonic()
    assert client.ingest(ENTITY, [energy("2024-05-27T15:00:00Z", 3)]).status_code == 200
    assert time.monotonic() - began < 2  # the write lock was not left held


def test_slow_statement_is_interrupted(slow_client: ApiClient, watchdog: Watchdog,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(slow_client)
    original = store.last_reading
    monkeypatch.setattr(store, "last_reading", sqlite_module._mapped(
        lambda entity_id: watchdog.watch(store.db).execute(NEVER_ENDS).fetchone()))
    began = time.monotonic()
    _assert_timeout(_plain(slow_client, "GET", f"{BASE}/last"), began)
    monkeypatch.setattr(store, "last_reading", original)
    _still_serving(slow_client, store)


def test_slow_statement_in_a_worker_thread_is_interrupted(slow_client: ApiClient, watchdog: Watchdog,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(slow_client)
    original = store.readings
    threads: list[str] = []

    @sqlite_module._mapped
    def slow(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return watchdog.watch(store.db).execute(NEVER_ENDS).fetchall()

    monkeypatch.setattr(store, "readings", slow)
    began = time.monotonic()
    response = _plain(slow_client, "GET", BASE, params={"start": "2024-05-27T00:00:00Z", "pageSize": 1000})
    _assert_timeout(response, began)
    assert threads and threads[0] != threading.current_thread().name
    monkeypatch.setattr(store, "readings", original)
    _still_serving(slow_client, store)


def test_slow_statement_inside_a_read_snapshot_leaves_no_transaction(slow_client: ApiClient, watchdog: Watchdog,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted inside BEGIN … COMMIT: the COMMIT on the way out must still run (once-per-request)."""
    store = _store(slow_client)
    original = store.register_brackets
    connections: list[Any] = []

    @sqlite_module._mapped
    def slow(entity_id: uuid.UUID, instants: Any) -> Any:
        db = watchdog.watch(store.db)
        connections.append(db)
        with store.snapshot():
            db.execute("SELECT count(*) FROM readings").fetchone()
            db.execute(NEVER_ENDS).fetchone()

    monkeypatch.setattr(store, "register_brackets", slow)
    for page_size in ("5", "1000"):
        began = time.monotonic()
        response = _plain(slow_client, "GET", f"/v1/entities/{ENTITY}/aggregations", params={
            "start": "2024-05-27T00:00:00Z", "end": "2024-05-28T00:00:00Z", "resolution": "1 hour",
            "pageSize": page_size})
        _assert_timeout(response, began)
    # The 504 may be the event loop's (at the same deadline), sent while the store thread is still unwinding
    # from its interrupted statement: its COMMIT must follow, within moments.
    settled = time.monotonic() + 2
    while any(db.in_transaction for db in connections) and time.monotonic() < settled:
        time.sleep(0.01)
    assert connections and not any(db.in_transaction for db in connections)
    monkeypatch.setattr(store, "register_brackets", original)
    _still_serving(slow_client, store)


def test_slow_write_is_rolled_back_whole(slow_client: ApiClient, watchdog: Watchdog,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose insert outlives the deadline is interrupted and rolled back: none of it is written."""
    store = _store(slow_client)
    magic_us = 1_716_940_800_000_000  # 2024-05-29T00:00:00Z
    db = store.db
    db.execute("CREATE TABLE slow_n(x)")
    db.executemany("INSERT INTO slow_n VALUES (?)", [(i,) for i in range(2000)])
    db.execute("CREATE TABLE slow_sink(n)")
    db.execute(f"CREATE TRIGGER slow_insert AFTER INSERT ON readings WHEN NEW.ts = {magic_us} BEGIN "
               "INSERT INTO slow_sink SELECT count(*) FROM slow_n a, slow_n b, slow_n c; END")
    original = store.ingest

    def watched(*args: Any) -> Any:
        watchdog.watch(store.db)
        return original(*args)

    monkeypatch.setattr(store, "ingest", watched)
    batch = [energy(f"2024-05-28T{h:02d}:00:00Z", 10 + h) for h in range(24)] + [energy("2024-05-29T00:00:00Z", 40)]
    began = time.monotonic()
    _assert_timeout(_plain(slow_client, "POST", BASE, json={"data": batch}), began)
    page = slow_client.get(BASE, params={"start": "2024-05-28T00:00:00Z", "end": "2024-05-30T00:00:00Z"})
    assert page.json()["data"] == []  # not one reading of the interrupted batch
    db.execute("DROP TRIGGER slow_insert")
    monkeypatch.setattr(store, "ingest", original)
    _still_serving(slow_client, store)
    assert slow_client.ingest(ENTITY, batch).status_code == 200


def test_locked_database_is_503_with_retry_after(slow_client: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    def locked(*args: Any) -> Any:
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # as the driver sets it
        raise error

    monkeypatch.setattr(_store(slow_client), "last_reading", sqlite_module._mapped(locked))
    response = _plain(slow_client, "GET", f"{BASE}/last")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json()["errors"][0]["code"] == "ServiceUnavailable"


def test_a_bug_is_still_a_500_with_the_error_body(slow_client: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(*args: Any) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr(_store(slow_client), "last_reading", bug)
    response = _plain(slow_client, "GET", f"{BASE}/last")
    assert response.status_code == 500 and response.json()["errors"][0]["code"] == "InternalError"


def test_normal_requests_are_not_affected_by_the_deadline(slow_client: ApiClient) -> None:
    for _ in range(20):
        assert slow_client.get(f"{BASE}/last").status_code == 200


# -- the real server: headers, streamed bodies, slow clients --------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("limits-server")
    with Server(workdir / "limits.db", env={"CONNECT_READINGS_REQUEST_TIMEOUT_S": "1",
                                            "CONNECT_READINGS_MAX_BODY_BYTES": "65536"}) as srv:
        yield srv


def _raw(server: Server, data: bytes, pause_s: float = 0.0, more: bytes = b"", timeout: float = 10) -> bytes:
    """Send raw bytes, read until the server closes or goes quiet; b'' means it just closed."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if pause_s:
                time.sleep(pause_s)
            if more:
                sock.sendall(more)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        try:
            while not _complete(received):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        return received


def _complete(raw: bytes) -> bool:
    """One whole response (we never pipeline), judged by its Content-Length."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def _status(raw: bytes) -> int | None:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else None


def _assert_alive(server: Server) -> None:
    assert server.process is not None and server.process.poll() is None
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("request_head", [
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", id="one-huge-header"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n",
                 id="many-headers"),
    pytest.param(b"GET " + BASE.encode() + b"/last HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + b"A" * 60_000
                 + b"\r\n\r\n", id="huge-authorization"),
    pytest.param(b"GET /healthz?" + b"x=1&" * 30_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", id="huge-url"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Never-Ends: " + b"b" * 40_000, id="unterminated-header"),
])
def test_huge_request_head_is_refused_not_a_crash(server: Server, request_head: bytes) -> None:
    raw = _raw(server, request_head)
    status = _status(raw)
    assert status is None or 400 <= status < 500, raw[:200]  # a 4xx, or the connection is just closed
    _assert_alive(server)


def test_header_below_the_limit_still_gets_the_error_body(server: Server) -> None:
    response = httpx.get(f"{server.url}{BASE}/last", headers={"Authorization": "Bearer " + "A" * 8000}, timeout=10)
    assert response.status_code == 401 and response.json()["errors"][0]["code"] == "Unauthorized"


def test_streamed_body_over_the_limit_on_the_real_server(server: Server) -> None:
    head = (b"POST " + BASE.encode() + b" HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + server_token().encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"[" * 16_384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(16))  # 256 KiB, never terminated
    raw = _raw(server, head + body)
    assert _status(raw) == 413, raw[:300]
    assert b'"code":"PayloadTooLarge"' in raw
    _assert_alive(server)


def test_declared_length_over_the_limit_is_refused_before_reading(server: Server) -> None:
    head = (b"POST " + BASE.encode() + b" HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + server_token().encode() + b"\r\n"
            b"Content-Length: 10000000000\r\n\r\n")
    began = time.monotonic()
    raw = _raw(server, head + b"{")
    assert _status(raw) == 413 and time.monotonic() - began < 5
    _assert_alive(server)


def test_slow_upload_hits_the_deadline(server: Server) -> None:
    head = (b"POST " + BASE.encode() + b" HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + server_token().encode() + b"\r\n"
            b"Content-Length: 1000\r\n\r\n")
    began = time.monotonic()
    raw = _raw(server, head + b'{"data": [', timeout=15)
    assert _status(raw) == 504, raw[:300]
    assert b'"code":"RequestTimeout"' in raw
    assert time.monotonic() - began < 8
    _assert_alive(server)


def test_garbage_is_refused_not_a_crash(server: Server) -> None:
    for junk in (b"\x00\xff" * 1000 + b"\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /healthz HTTP/1.1\r\n\r\n",
                 b"POST " + BASE.encode() + b" HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n",
                 b"POST " + BASE.encode() + b" HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n"):
        status = _status(_raw(server, junk))
        assert status is None or 400 <= status < 500
    _assert_alive(server)


def test_header_limit_in_the_app(tmp_path: Path) -> None:
    """Heads that reach the app whole (h11 only bounds heads arriving in pieces) are a 431 with the body."""
    with _client(tmp_path, max_header_bytes=4096) as client:
        response = _plain(client, "GET", f"{BASE}/last", headers={"X-Padding": "p" * 5000})
        assert response.status_code == 431
        assert response.json()["errors"][0]["code"] == "RequestHeaderFieldsTooLarge"
        response = _plain(client, "GET", f"{BASE}?start=2024-01-01&x={'q' * 5000}")
        assert response.status_code == 431
        assert _plain(client, "GET", f"{BASE}/last", headers={"X-Padding": "p" * 2000}).status_code == 404


_ONE = b'{"timestamp":"2024-01-01T00:00:00Z","data":{"voltage":{"value":1}}}'


@pytest.mark.parametrize("body", [
    pytest.param(b'{"data": [' + b"[" * 200_000 + b"]" * 200_000 + b"]}", id="deeply-nested-arrays"),
    pytest.param(b'{"data": [{"timestamp":"2024-01-01T00:00:00Z","data":{"x":' + b'{"a":' * 5000 + b"1"
                 + b"}" * 5000 + b"}}]}", id="deeply-nested-objects"),
    pytest.param(b'{"data":[{"timestamp":"2024-01-01T00:00:00Z","data":{'
                 + b",".join(b'"m%d":{"value":1}' % i for i in range(50_000)) + b"}}]}", id="50k-metrics"),
    pytest.param(b'{"data":[{"timestamp":"2024-01-01T00:00:00Z","data":{"voltage":{"value":1,"unit":"'
                 + b"V" * 1_000_000 + b'"}}}]}', id="1MB-unit"),
    pytest.param(b'{"data":[{"timestamp":"2024-01-01T00:00:00Z","data":{"' + b"v" * 1_000_000
                 + b'":{"value":1}}}]}', id="1MB-metric-name"),
    pytest.param(_ONE.replace(b"1}", b"NaN}"), id="NaN"),
    pytest.param(_ONE.replace(b"1}", b"9" * 5000 + b"}"), id="5000-digit-number"),
    pytest.param(b"\xef\xbb\xbf" + b'{"data":[' + _ONE + b"]}", id="utf8-bom"),
    pytest.param(('{"data":[' + _ONE.decode() + "]}").encode("utf-16"), id="utf16"),
    pytest.param(b'{"data":[' + _ONE.replace(b'"value":1', b'"value":1,"unit":"\\ud800"') + b"]}", id="lone-surrogate"),
    pytest.param(b'{"data":[' + _ONE + b'], "data": []}', id="duplicate-key"),
    pytest.param(b'{"data":[' + _ONE.replace(b"2024-01-01T00:00:00Z", b"9999-12-31T23:59:59.999999-23:59") + b"]}",
                 id="timestamp-far-future"),
])
def test_hostile_bodies_are_400_and_write_nothing(client: ApiClient, body: bytes) -> None:
    response = client.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert client.get(f"{BASE}/last").status_code == 404
