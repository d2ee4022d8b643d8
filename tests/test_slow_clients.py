"""Slow clients against a real `connect-readings serve` on 127.0.0.1 (issue 19, items 3, 4 and 10):

- bodies that trickle in (Content-Length: 10 MB, a byte a second) neither starve readers nor live for ever:
  they do not count as requests in progress, and `REQUEST_BODY_TIMEOUT_S` ends them with 408;
- CSV downloads whose client stops reading neither hold request slots nor live for ever:
  `IDLE_WRITE_TIMEOUT_S` ends them;
- every response, the server's own refusals included, carries Cache-Control: no-store,
  X-Content-Type-Options: nosniff and X-Request-ID.

Attack traffic goes only to 127.0.0.1, bounded in count and in time.
"""

from __future__ import annotations

import datetime as dt
import selectors
import socket
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from .test_crash_safety import Server, token

ENTITY = uuid.UUID("5e4e4000-0000-4000-8000-0000000000c5")
READINGS = f"/v1/entities/{ENTITY}/readings"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


# -- helpers ----------------------------------------------------------------------------------------------
def _head(method: str, path: str, *lines: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *lines, "", ""]).encode()


def _post_head(length: int, path: str = READINGS) -> bytes:
    return _head("POST", path, f"Authorization: Bearer {token()}", "Content-Type: application/json",
                 f"Content-Length: {length}")


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ", 2)[1]), headers, body


def _read_answer(sock: socket.socket, timeout: float) -> bytes:
    """What the server sends until it closes the connection or `timeout` passes (one answer: Content-Length)."""
    sock.settimeout(timeout)
    received = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            _, sep, body = received.partition(b"\r\n\r\n")
            if sep:
                length = _parse(received)[1].get("content-length")
                if length is not None and len(body) >= int(length) or body.endswith(b"\r\n0\r\n\r\n"):
                    break
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return received


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection within `seconds` (what it sends meanwhile is discarded)."""
    sock.settimeout(0.5)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 20):
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def _error_code(body: bytes) -> str:
    return orjson.loads(body)["errors"][0]["code"]


def _normal_client(server: Server, seconds: float) -> tuple[int, int]:
    """A well-behaved client making GETs for `seconds`: (answered 200, not answered 200)."""
    ok = failed = 0
    began = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=5, headers={"Authorization": f"Bearer {token()}"}) as client:
        while time.monotonic() - began < seconds:
            for path in ("/healthz", f"{READINGS}/last"):
                try:
                    if client.get(path).status_code == 200:
                        ok += 1
                    else:
                        failed += 1
                except httpx.HTTPError:
                    failed += 1
    return ok, failed


def _when_idle(server: Server, within: float) -> float:
    """The moment three store reads in a row take under 50 ms (whatever their status): the server has stopped
    working for the downloads (under 10 s on this 2-core machine)."""
    deadline = time.monotonic() + within
    fast = 0
    with httpx.Client(base_url=server.url, timeout=5, headers={"Authorization": f"Bearer {token()}"}) as client:
        while time.monotonic() < deadline and fast < 3:
            began = time.monotonic()
            client.get(f"{READINGS}/last")
            fast = fast + 1 if time.monotonic() - began < 0.05 else 0
            time.sleep(0.05)
    return time.monotonic()


def _seed(server: Server, count: int) -> None:
    """`count` readings a minute apart from T0, in batches of 10,000."""
    auth = {"Authorization": f"Bearer {token()}"}
    for first in range(0, count, 10_000):
        data = [{"timestamp": (T0 + dt.timedelta(minutes=i)).isoformat(), "data": {
            "positiveActiveEnergy": {"t1": i / 3, "t2": i / 7, "total": i / 3 + i / 7, "unit": "kWh"}}}
            for i in range(first, min(count, first + 10_000))]
        response = httpx.post(f"{server.url}{READINGS}", json={"data": data}, headers=auth, timeout=60)
        assert response.status_code == 200, response.text


class SlowBodies:
    """`count` connections, each POSTing an ingest that announces `length` bytes and sends one a `tick_s`;
    a connection the server closes is opened again, so the attack holds its number until `stop()`."""

    def __init__(self, port: int, count: int, length: int = 10_000_000, tick_s: float = 1.0) -> None:
        self.address = ("127.0.0.1", port)
        self.count, self.tick_s = count, tick_s
        self.head = _post_head(length)
        self.answers: Counter[int] = Counter()
        self.samples: list[bytes] = []
        self.opened = self.closed_by_server = 0
        self._selector = selectors.DefaultSelector()
        self._received: dict[socket.socket, bytes] = {}
        self._stop = threading.Event()
        self._up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-bodies", daemon=True)

    def __enter__(self) -> "SlowBodies":
        self._thread.start()
        assert self._up.wait(30), "the attack could not open its connections"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def open_connections(self) -> int:
        return len(self._selector.get_map())

    def _open(self) -> None:
        try:
            sock = socket.create_connection(self.address, timeout=5)
            sock.sendall(self.head)
        except OSError:
            time.sleep(0.01)
            return
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ)
        self._received[sock] = b""
        self.opened += 1

    def _close(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        answer = self._received.pop(sock, b"")
        if answer.startswith(b"HTTP/1.1 "):
            self.answers[int(answer.split(b" ", 2)[1])] += 1
            if len(self.samples) < 5:
                self.samples.append(answer)
        sock.close()

    def _run(self) -> None:
        try:
            for _ in range(self.count):
                self._open()
            self._up.set()
            next_tick = time.monotonic() + self.tick_s
            while not self._stop.is_set():
                for key, _ in self._selector.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    try:
                        data = sock.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    if data:
                        self._received[sock] += data
                        continue
                    self.closed_by_server += 1
                    self._close(sock)
                    self._open()
                if time.monotonic() >= next_tick:
                    next_tick += self.tick_s
                    for key in list(self._selector.get_map().values()):
                        try:
                            key.fileobj.send(b" ")  # type: ignore[union-attr]  # (JSON whitespace)
                        except OSError:
                            pass  # full or closed: the selector reports a close
        finally:
            for key in list(self._selector.get_map().values()):
                self._close(key.fileobj)  # type: ignore[arg-type]
            self._selector.close()


# -- item 3: slow bodies ----------------------------------------------------------------------------------
def test_slow_bodies_do_not_starve_readers(tmp_path: Path) -> None:
    """300 ingests announcing 10 MB and sending a byte a second, against 100 request slots, held (reopened when
    the server drops them) while a normal client makes GETs: at least 95 % of its requests succeed, and the
    slow bodies are ended at the body deadline with 408 RequestBodyTimeout."""
    env = {"CONNECT_READINGS_MAX_CONCURRENT_REQUESTS": "100", "CONNECT_READINGS_REQUEST_BODY_TIMEOUT_S": "2"}
    with Server(tmp_path / "slow-bodies.db", env=env) as server:
        _seed(server, 1)
        with SlowBodies(server.port, count=300) as attack:
            time.sleep(1.0)  # every slow body is in the app, waiting for its bytes
            ok, failed = _normal_client(server, seconds=5)
            held = attack.open_connections
        print(f"\nslow bodies: normal client {ok}/{ok + failed} answered 200 "
              f"({100 * ok / max(1, ok + failed):.1f} %); attack answers {dict(attack.answers)}")
        assert held >= 290, held  # the attack was holding its connections while the client ran
        assert ok + failed >= 20 and ok >= 0.95 * (ok + failed), (ok, failed, dict(attack.answers))
        assert attack.answers.get(408, 0) >= 250, attack.answers  # cut at the 2 s body deadline, not at 30 s
        status, headers, body = _parse(attack.samples[0])
        assert status == 408 and _error_code(body) == "RequestBodyTimeout" and headers["connection"] == "close"


def test_a_slow_body_is_408_with_the_error_body_and_the_connection_closed(tmp_path: Path) -> None:
    env = {"CONNECT_READINGS_REQUEST_BODY_TIMEOUT_S": "1"}
    with Server(tmp_path / "slow-body.db", env=env) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        began = time.monotonic()
        sock.sendall(_post_head(1000) + b'{"data": [')
        raw = _read_answer(sock, timeout=10)
        elapsed = time.monotonic() - began
        status, headers, body = _parse(raw)
        assert status == 408 and _error_code(body) == "RequestBodyTimeout", raw[:300]
        assert headers["connection"] == "close" and headers["content-type"] == "application/json"
        assert 0.8 < elapsed < 3, elapsed  # the body deadline (1 s), not the request deadline (30 s)
        assert _closed_within(sock, 2)


def test_an_upload_answered_early_is_closed_at_the_body_deadline(tmp_path: Path) -> None:
    """A 401 before the body was read (no token), and the body keeps trickling: the connection is closed at the
    body deadline (it was read for ever: every byte put off uvicorn's keep-alive timer)."""
    env = {"CONNECT_READINGS_REQUEST_BODY_TIMEOUT_S": "1"}
    with Server(tmp_path / "early.db", env=env) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(_head("POST", READINGS, "Content-Type: application/json", "Content-Length: 10000000"))
        began = time.monotonic()
        status, headers, _ = _parse(_read_answer(sock, timeout=5))
        assert status == 401 and headers.get("connection") != "close"
        closed = False
        try:
            while time.monotonic() - began < 5:
                sock.sendall(b" ")
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        closed = closed or _closed_within(sock, 0.5)
        assert closed and time.monotonic() - began < 3, time.monotonic() - began


def test_requests_receiving_a_body_do_not_count_against_the_in_progress_limit(tmp_path: Path) -> None:
    """Two request slots, five ingests still receiving their bodies: a GET is answered; the ingests are too,
    once their bodies are complete."""
    env = {"CONNECT_READINGS_MAX_CONCURRENT_REQUESTS": "2"}
    with Server(tmp_path / "receiving.db", env=env) as server:
        body = orjson.dumps({"data": [{"timestamp": "2024-06-01T00:00:00Z",
                                       "data": {"positiveActiveEnergy": {"total": 1.0, "unit": "kWh"}}}]})
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(5)]
        for sock in held:
            sock.sendall(_post_head(len(body)) + body[:-5])
        time.sleep(0.3)
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        for sock in held:
            sock.sendall(body[-5:])
            status, _, answer = _parse(_read_answer(sock, timeout=10))
            assert status == 200 and orjson.loads(answer)["received"] == 1
            sock.close()


def test_a_body_completed_while_every_slot_is_taken_is_503(tmp_path: Path) -> None:
    """A request enters the count of requests in progress when its body is complete: two ingests held on a
    database lock fill both slots, so a third, whose body then arrives, is 503 (and the held two finish)."""
    database = tmp_path / "locked.db"
    env = {"CONNECT_READINGS_MAX_CONCURRENT_REQUESTS": "2"}
    with Server(database, env=env) as server:
        _seed(server, 1)
        lock = sqlite3.connect(database, isolation_level=None, timeout=10)
        try:
            lock.execute("BEGIN IMMEDIATE")  # ingests now wait for the write lock (up to the 30 s deadline)
            body = orjson.dumps({"data": [{"timestamp": "2024-06-01T00:00:00Z",
                                           "data": {"positiveActiveEnergy": {"total": 1.0, "unit": "kWh"}}}]})
            held = [socket.create_connection(("127.0.0.1", server.port), timeout=20) for _ in range(2)]
            for sock in held:
                sock.sendall(_post_head(len(body)) + body)
            time.sleep(0.5)
            refused = httpx.get(f"{server.url}/healthz", timeout=5)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert refused.json()["errors"][0]["code"] == "ServiceUnavailable"
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as third:
                third.sendall(_post_head(len(body)) + body[:-5])
                time.sleep(0.3)
                third.sendall(body[-5:])
                status, headers, answer = _parse(_read_answer(third, timeout=10))
                assert status == 503 and _error_code(answer) == "ServiceUnavailable"
                assert headers["retry-after"] == "1"
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        for sock in held:
            status, _, answer = _parse(_read_answer(sock, timeout=20))
            assert status == 200, answer
            sock.close()


def test_a_declared_length_over_the_endpoint_limit_is_413_before_any_byte(tmp_path: Path) -> None:
    """(Pins what was already so.) 10 MB announced to a server taking 1 MiB, and to the entity endpoint (64 KiB):
    413 at once, without waiting for a byte of the body."""
    env = {"CONNECT_READINGS_MAX_BODY_BYTES": str(1 << 20)}
    with Server(tmp_path / "declared.db", env=env) as server:
        scope = "readings:read readings:write entities:write"
        for head in (_post_head(10_000_000),
                     _head("PUT", f"/v1/entities/{ENTITY}", f"Authorization: Bearer {token(scope=scope)}",
                           "Content-Type: application/json", "Content-Length: 100000")):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                began = time.monotonic()
                sock.sendall(head)
                status, headers, body = _parse(_read_answer(sock, timeout=5))
                assert status == 413 and _error_code(body) == "PayloadTooLarge" and headers["connection"] == "close"
                assert time.monotonic() - began < 1


# -- item 4: CSV downloads that stop reading ----------------------------------------------------------------
def test_csv_downloads_that_stop_reading_neither_hold_slots_nor_live_for_ever(tmp_path: Path) -> None:
    """6 request slots, 8 CSV downloads (3.7 MB each, far past the socket buffers) whose client reads the status
    line and then nothing: once they stall, a normal client keeps ≥ 95 % success (measured before the idle-write
    timeout, so what it shows is that downloads do not hold slots), and each stalled download is cut off (no
    closing chunk) once nothing could be written for IDLE_WRITE_TIMEOUT_S (15 s)."""
    env = {"CONNECT_READINGS_MAX_CONCURRENT_REQUESTS": "6", "CONNECT_READINGS_IDLE_WRITE_TIMEOUT_S": "15"}
    with Server(tmp_path / "csv.db", env=env) as server:
        _seed(server, 20_000)
        query = "start=2024-01-01T00:00:00Z&end=2025-01-01T00:00:00Z&format=csv"
        downloads: list[socket.socket] = []
        statuses: Counter[int] = Counter()
        try:
            for _ in range(8):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(20)
                sock.connect(("127.0.0.1", server.port))
                sock.sendall(_head("GET", f"{READINGS}?{query}", f"Authorization: Bearer {token()}"))
                first = sock.recv(12)
                statuses[int(first.split(b" ")[1])] += 1
                downloads.append(sock)
            stalled = _when_idle(server, within=15)  # the files have filled the buffers: the server waits
            ok, failed = _normal_client(server, seconds=2)
            print(f"\nstalled CSV downloads {dict(statuses)}: normal client {ok}/{ok + failed} answered 200 "
                  f"({100 * ok / max(1, ok + failed):.1f} %)")
            assert "cut off a response" not in server.log_path.read_text(), "measured after the idle-write timeout"
            assert statuses[200] >= 6, statuses
            assert ok + failed >= 10 and ok >= 0.95 * (ok + failed), (ok, failed)
            time.sleep(max(0.0, stalled + 17 - time.monotonic()))  # the idle-write timeout has passed
            for sock in downloads:  # reset by the server: the file is cut off
                sock.settimeout(5)
                tail = b""
                try:
                    while chunk := sock.recv(1 << 20):
                        tail = (tail + chunk)[-16:]
                except ConnectionResetError:
                    continue
                assert not tail.endswith(b"\r\n0\r\n\r\n"), "a stalled download was served whole"
        finally:
            for sock in downloads:
                sock.close()
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        log = server.log_path.read_text()
        assert log.count("cut off a response: its client took nothing for 15 s") >= 6, log[-2000:]


# -- item 10: the three headers on every response ----------------------------------------------------------
SENT_ID = "issue-19.item-10"


def _exchange(port: int, data: bytes, pause_s: float = 0.0, more: bytes = b"", timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if pause_s:
                time.sleep(pause_s)
            if more:
                sock.sendall(more)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _read_answer(sock, timeout)


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"CONNECT_READINGS_REQUEST_HEAD_TIMEOUT_S": "1", "CONNECT_READINGS_REQUEST_BODY_TIMEOUT_S": "1",
           "CONNECT_READINGS_MAX_HEADER_BYTES": "4096", "CONNECT_READINGS_MAX_BODY_BYTES": "65536"}
    with Server(tmp_path_factory.mktemp("headers") / "headers.db", env=env) as server:
        _seed(server, 1)
        yield server


def _pieces(port: int) -> bytes:
    """A head arriving in 1 KiB pieces beyond the 4 KiB limit (431 from the server, not the app)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: {SENT_ID}\r\n".encode())
        try:
            for i in range(8):
                sock.sendall(b"X-Pad-%02d: " % i + b"p" * 1010 + b"\r\n")
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _read_answer(sock, 10)


CASES = {
    # the server's own refusals (server.Protocol)
    "400 malformed head": (lambda port: _exchange(port, b"GET /hea\x00lthz HTTP/1.1\r\nHost: a\r\n\r\n"), 400),
    "400 TLS on the HTTP port": (lambda port: _exchange(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 400),
    "408 head too slow": (lambda port: _exchange(
        port, f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-ID: {SENT_ID}\r\nX-Slow: a".encode()), 408),
    "431 head in pieces": (_pieces, 431),
    # the app's answers
    "200 healthz": (lambda port: _exchange(port, _head("GET", "/healthz", f"X-Request-ID: {SENT_ID}")), 200),
    "200 dashboard": (lambda port: _exchange(port, _head("GET", "/")), 200),
    "200 docs": (lambda port: _exchange(port, _head("GET", "/docs")), 200),
    "200 static (ours)": (lambda port: _exchange(port, _head("GET", "/static/dashboard.js")), 200),
    "200 static (vendored)": (lambda port: _exchange(port, _head("GET", "/static/swagger-ui/swagger-ui.css")), 200),
    "200 csv": (lambda port: _exchange(port, _head(
        "GET", f"{READINGS}?start=2024-01-01T00:00:00Z&end=2024-01-02T00:00:00Z&format=csv",
        f"Authorization: Bearer {token()}")), 200),
    "404": (lambda port: _exchange(port, _head("GET", "/nowhere")), 404),
    "408 body too slow": (lambda port: _exchange(port, _post_head(100) + b'{"data": ['), 408),
    "413 declared": (lambda port: _exchange(port, _post_head(1 << 20)), 413),
    "431 head whole": (lambda port: _exchange(port, _head("GET", "/healthz", "X-Pad: " + "p" * 5000)), 431),
    "400 no Host": (lambda port: _exchange(port, b"GET /healthz HTTP/1.1\r\n\r\n"), 400),
}


ECHOED = ("408 head too slow", "431 head in pieces", "200 healthz")
WEB = ("200 dashboard", "200 docs", "200 static (ours)", "200 static (vendored)")
"""The dashboard's pages and files: no data, so `no-cache` with an ETag (a browser keeps them, revalidating)."""


@pytest.mark.parametrize("case", list(CASES))
def test_every_response_carries_no_store_nosniff_and_a_request_id(fast_server: Server, case: str) -> None:
    ask, expected = CASES[case]
    raw = ask(fast_server.port)
    assert raw.startswith(b"HTTP/1.1 "), (case, raw[:200])
    status, headers, body = _parse(raw)
    assert status == expected, (case, raw[:300])
    if case in WEB:
        assert headers.get("cache-control") == "no-cache" and headers.get("etag"), (case, headers)
    else:
        assert headers.get("cache-control") == "no-store", (case, headers)
    assert headers.get("x-content-type-options") == "nosniff", (case, headers)
    assert headers.get("x-request-id"), (case, headers)
    if case in ECHOED:  # the request's own id, also when the server refuses a head it only partly read
        assert headers["x-request-id"] == SENT_ID, (case, headers)
    if status >= 400:
        assert headers["content-type"] == "application/json" and _error_code(body), (case, body[:200])
