"""The HTTP server itself, as a real `connect-readings serve` process on 127.0.0.1, seen through raw sockets:
idle and slow connections, the request-head deadline and size bound, the server's own refusals (with the
error body), overload, a 500 on a keep-alive connection, the open-files limit, and SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from .hostile import Attack
from .test_crash_safety import Server, serve_command, token

ENTITY = uuid.UUID("5e4e4000-0000-4000-8000-000000000001")
READINGS = f"/v1/entities/{ENTITY}/readings"
FAST = {"CONNECT_READINGS_REQUEST_HEAD_TIMEOUT_S": "1", "CONNECT_READINGS_IDLE_TIMEOUT_S": "2",
        "CONNECT_READINGS_MAX_HEADER_BYTES": "4096"}


class Conn:
    """One raw keep-alive connection: whole requests in, whole responses (by Content-Length) out."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """The next response; raises ConnectionError if the server closes first."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            self._fill()
            rest = self.buffer.partition(b"\r\n\r\n")[2]
        self.buffer = rest[length:]
        return int(lines[0].split(" ", 2)[1]), headers, rest[:length]

    def get(self, path: str, headers: str = "") -> tuple[int, dict[str, str], bytes]:
        self.send(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
        return self.response()

    def closed_within(self, seconds: float) -> float | None:
        """Seconds until the server closed the connection (reading what it sends), or None if it did not."""
        began = time.monotonic()
        self.sock.settimeout(seconds)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return time.monotonic() - began
                self.buffer += chunk
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - began
        except socket.timeout:
            return None

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed by the server; received {self.buffer[:200]!r}")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def _error(body: bytes) -> str:
    return orjson.loads(body)["errors"][0]["code"]


def _batch(n: int, day: str = "2024-06-01") -> bytes:
    return orjson.dumps({"data": [
        {"timestamp": f"{day}T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
         "data": {"positiveActiveEnergy": {"total": float(i), "unit": "kWh"}}} for i in range(n)]})


def _post_head(length: int) -> bytes:
    return (f"POST {READINGS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("server") / "server.db", env=FAST) as srv:
        yield srv


# -- idle and slow connections --------------------------------------------------------------------------
def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(server: Server) -> None:
    conn = Conn(server.port)
    closed = conn.closed_within(5)
    assert closed is not None and 0.8 < closed < 3, closed
    assert conn.buffer == b""  # nothing was asked, so nothing is answered


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(server: Server) -> None:
    conn = Conn(server.port)
    assert conn.get("/healthz")[0] == 200
    closed = conn.closed_within(6)
    assert closed is not None and 1.8 < closed < 4, closed  # the idle timeout (2 s), not the head's (1 s)


def test_on_a_kept_alive_connection_the_head_deadline_runs_from_the_first_byte(server: Server) -> None:
    conn = Conn(server.port)
    assert conn.get("/healthz")[0] == 200
    time.sleep(1.4)  # idle longer than the head deadline, within the idle timeout
    conn.send(b"GET /healthz HTTP/1.1\r\n")
    began = time.monotonic()
    closed = conn.closed_within(5)
    assert closed is not None and 0.8 < time.monotonic() - began < 3
    status, _, body = conn.response()
    assert status == 408 and _error(body) == "RequestHeadTimeout"


def test_a_busy_keep_alive_connection_outlives_both_timeouts(server: Server) -> None:
    """The head deadline runs per request, not per connection: 4 requests 0.6 s apart take 2.4 s, more than
    either timeout."""
    conn = Conn(server.port)
    for _ in range(4):
        status, headers, _ = conn.get("/healthz")
        assert status == 200 and headers.get("connection") != "close"
        time.sleep(0.6)
    assert conn.get("/healthz")[0] == 200


def test_a_trickled_head_is_cut_off_at_the_head_timeout_with_408(server: Server) -> None:
    conn = Conn(server.port)
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    began = time.monotonic()
    sent = 0
    try:
        while sent < len(head) and time.monotonic() - began < 6:
            conn.send(head[sent:sent + 1])  # a byte every 50 ms: always busy, never done
            sent += 1
            time.sleep(0.05)
            if b"\r\n\r\n" in conn.buffer or conn.closed_within(0.001) is not None:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    conn.closed_within(2)
    elapsed = time.monotonic() - began
    assert 0.8 < elapsed < 3, elapsed
    status, headers, body = conn.response()
    assert status == 408 and _error(body) == "RequestHeadTimeout" and headers["connection"] == "close"


def test_a_head_arriving_in_pieces_beyond_the_limit_is_431_with_the_error_body(server: Server) -> None:
    conn = Conn(server.port)
    conn.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    try:
        for i in range(20):  # 20 KiB of headers, 1 KiB at a time, never terminated
            conn.send(b"X-Pad-%02d: " % i + b"p" * 1010 + b"\r\n")
            time.sleep(0.01)
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, headers, body = conn.response()
    assert status == 431 and _error(body) == "RequestHeaderFieldsTooLarge"
    assert headers["connection"] == "close" and headers["content-type"] == "application/json"


def test_a_head_just_below_the_limit_in_pieces_is_served(server: Server) -> None:
    conn = Conn(server.port)
    conn.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    for i in range(3):
        conn.send(b"X-Pad-%d: " % i + b"p" * 1000 + b"\r\n")
        time.sleep(0.01)
    conn.send(b"\r\n")
    assert conn.response()[0] == 200


def test_large_bodies_on_a_kept_alive_connection_are_not_mistaken_for_a_head(server: Server) -> None:
    """Body bytes never count towards the head limit (4 KiB here), in whatever reads they arrive."""
    conn = Conn(server.port)
    for n in (3000, 10, 3000):
        body = _batch(n)
        conn.send(_post_head(len(body)) + body)
        status, _, answer = conn.response()
        assert status == 200 and orjson.loads(answer)["received"] == n


def test_a_malformed_request_head_is_400_with_the_error_body(server: Server) -> None:
    for junk in (b"GET /hea\x00lthz HTTP/1.1\r\nHost: a\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                 b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n"):
        conn = Conn(server.port)
        conn.send(junk)
        status, headers, body = conn.response()
        assert status == 400 and _error(body) == "BadRequest" and headers["connection"] == "close", junk
        assert conn.closed_within(2) is not None


def test_idle_and_slow_connections_do_not_starve_a_normal_client(server: Server) -> None:
    """1,024 connections that send nothing and 200 that trickle a head, all held open (reopened as the
    server drops them), while a normal client keeps asking: at least 99 % of its requests succeed."""
    with Attack(server.port, idle=1024, slow=200, tick_s=0.2) as attack:
        ok = failed = 0
        began = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {token()}"}) as client:
            while time.monotonic() - began < 4:
                for path in ("/healthz", f"{READINGS}/last"):
                    try:
                        response = client.get(path)
                        ok += response.status_code in (200, 404) and response.json() is not None
                        failed += response.status_code not in (200, 404)
                    except httpx.HTTPError:
                        failed += 1
        held = attack.open_connections
    stats = attack.stats
    assert ok >= 100 and failed <= ok / 100, (ok, failed)
    assert held >= 1100, held  # the attack really was holding its connections while the client ran
    assert stats.closed_by_server >= 1024  # the server dropped them at the head deadline (and they came back)
    assert stats.answers.get(408, 0) >= 100, stats.answers  # the trickled heads were answered 408


# -- the server's other refusals ------------------------------------------------------------------------
def test_too_many_requests_in_flight_is_503_with_the_error_body(tmp_path: Path) -> None:
    """Two ingests in progress (whole bodies, waiting for the database's write lock, which the test holds) take
    both slots. (Requests still receiving their bodies do not count: tests/test_slow_clients.py.)"""
    env = {"CONNECT_READINGS_MAX_CONCURRENT_REQUESTS": "2"}
    with Server(tmp_path / "busy.db", env=env) as server:
        body = _batch(10)
        lock = sqlite3.connect(server.database, isolation_level=None, timeout=10)
        lock.execute("BEGIN IMMEDIATE")
        held = [Conn(server.port, timeout=20) for _ in range(2)]
        try:
            for conn in held:
                conn.send(_post_head(len(body)) + body)
            time.sleep(0.3)
            with httpx.Client(base_url=server.url, timeout=10) as client:
                refused = client.get("/healthz")
                assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
                assert refused.json()["errors"][0]["code"] == "ServiceUnavailable"
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        for conn in held:
            assert conn.response()[0] == 200
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_after_a_500_the_keep_alive_connection_still_serves(tmp_path: Path) -> None:
    """A bug's 500 carries the error body, and the same connection serves the next request."""
    command = [sys.executable, "-m", "tests.apps"]
    with Server(tmp_path / "bug.db", command=command) as server:
        conn = Conn(server.port)
        for _ in range(2):
            status, headers, body = conn.get("/test/bug")
            assert status == 500 and _error(body) == "InternalError"
            assert headers.get("connection") != "close"
            assert conn.get("/healthz")[0] == 200


def test_the_open_files_limit_is_raised_to_the_hard_limit(tmp_path: Path) -> None:
    soft_start = 256
    command = ["prlimit", f"--nofile={soft_start}:", *serve_command()]
    with Server(tmp_path / "fd.db", command=command) as server:
        assert server.process is not None
        limits = Path(f"/proc/{server.process.pid}/limits").read_text()
        line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        soft, hard = line.split()[3:5]
        assert int(soft) == int(hard) > soft_start, line


# -- SIGTERM ----------------------------------------------------------------------------------------------
def _sigterm_and_wait(server: Server, timeout: float) -> int:
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=timeout)
    server.process = None
    return code


def _count(url: str) -> int:
    response = httpx.get(f"{url}{READINGS}", params={"start": "2024-01-01T00:00:00Z", "pageSize": 10_000},
                         headers={"Authorization": f"Bearer {token()}"}, timeout=30)
    return 0 if response.status_code == 404 else len(response.json()["data"])


def test_sigterm_finishes_the_ingest_in_flight_then_exits_0(tmp_path: Path) -> None:
    server = Server(tmp_path / "term.db", env={"CONNECT_READINGS_SHUTDOWN_TIMEOUT_S": "10"}).start()
    try:
        body = _batch(5000)
        conn = Conn(server.port)
        conn.send(_post_head(len(body)) + body[:-100])  # in flight: the body is not complete yet
        time.sleep(0.3)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.process.poll() is None  # still finishing the request
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{server.url}/healthz", timeout=2)  # but no longer taking new connections
        conn.send(body[-100:])
        status, headers, answer = conn.response()
        assert status == 200 and orjson.loads(answer)["written"] == 5000
        assert headers["connection"] == "close"
        assert server.process.wait(timeout=10) == 0
        server.process = None
        server.start()
        assert _count(server.url) == 5000  # the whole batch, committed
    finally:
        server.stop()


def test_sigterm_with_a_request_that_never_finishes_exits_0_within_the_timeout(tmp_path: Path) -> None:
    server = Server(tmp_path / "stuck.db", env={"CONNECT_READINGS_SHUTDOWN_TIMEOUT_S": "1"}).start()
    try:
        body = _batch(100)
        conn = Conn(server.port)
        conn.send(_post_head(len(body)) + body[:-10])  # and never the rest
        idle = Conn(server.port)
        assert idle.get("/healthz")[0] == 200
        time.sleep(0.3)
        began = time.monotonic()
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        status, headers, answer = conn.response()
        assert status == 503 and _error(answer) == "ServiceUnavailable" and headers["connection"] == "close"
        assert idle.closed_within(2) is not None  # idle keep-alive connections are closed at once
        assert server.process.wait(timeout=10) == 0
        assert time.monotonic() - began < 4
        server.process = None
        server.start()
        assert _count(server.url) == 0  # nothing of the unfinished batch
    finally:
        server.stop()


def test_sigterm_waits_for_a_store_call_that_outlives_the_shutdown_timeout(tmp_path: Path) -> None:
    """An ingest waiting for the database lock when SIGTERM's time runs out: its request is answered 503,
    and the process waits for the store call to end (here it commits, whole) before it exits 0."""
    import sqlite3

    database = tmp_path / "locked.db"
    server = Server(database, env={"CONNECT_READINGS_SHUTDOWN_TIMEOUT_S": "1.5"}).start()
    lock = sqlite3.connect(database, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        answers: list[httpx.Response] = []
        poster = threading.Thread(target=lambda: answers.append(httpx.post(
            f"{server.url}{READINGS}", content=_batch(500), timeout=30,
            headers={"Authorization": f"Bearer {token()}", "Content-Type": "application/json"})))
        poster.start()
        time.sleep(0.5)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        poster.join(timeout=10)
        assert answers and answers[0].status_code == 503
        assert answers[0].json()["errors"][0]["code"] == "ServiceUnavailable"
        time.sleep(0.5)
        assert server.process.poll() is None  # still waiting for the store call
        lock.execute("ROLLBACK")
        assert server.process.wait(timeout=10) == 0
        server.process = None
        server.start()
        assert _count(server.url) == 500
    finally:
        lock.close()
        server.stop()


def test_sigterm_with_two_workers_exits_0(tmp_path: Path) -> None:
    with Server(tmp_path / "two.db", workers=2) as server:
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGTERM)  # what a service manager does
        assert server.process.wait(timeout=20) == 0
        server.process = None


def test_ingest_during_sigterm_is_whole_or_absent(tmp_path: Path) -> None:
    """Batches posted back to back while SIGTERM lands: each acknowledged batch is there whole, and an
    unacknowledged one is either whole or absent, never partial."""
    server = Server(tmp_path / "race.db").start()
    acknowledged: list[int] = []
    attempted: list[int] = []

    def writer() -> None:
        with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token()}"}) as http:
            for day in range(1, 29):
                attempted.append(day)
                try:
                    response = http.post(READINGS, content=_batch(3000, f"2024-02-{day:02d}"),
                                         headers={"Content-Type": "application/json"})
                except httpx.HTTPError:
                    return
                if response.status_code != 200:
                    return
                acknowledged.append(day)

    try:
        thread = threading.Thread(target=writer)
        thread.start()
        deadline = time.monotonic() + 15
        while not acknowledged and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)  # the signal lands once the writer is under way (a fixed sleep raced a slow start)
        time.sleep(0.1)
        assert _sigterm_and_wait(server, timeout=20) == 0
        thread.join(timeout=30)
        server.start()
        headers = {"Authorization": f"Bearer {token()}"}
        for day in attempted:
            response = httpx.get(f"{server.url}{READINGS}", headers=headers, timeout=30, params={
                "start": f"2024-02-{day:02d}T00:00:00Z", "end": f"2024-02-{day:02d}T23:59:59Z", "pageSize": 10_000})
            found = 0 if response.status_code == 404 else len(response.json()["data"])
            assert found in ((3000,) if day in acknowledged else (0, 3000)), (day, found, acknowledged)
        assert acknowledged  # the writer got somewhere before the signal
    finally:
        server.stop()
