"""Metrics and logs of the real server (`connect-readings serve`) with two worker processes.

/metrics is scraped from its own listener and parsed with prometheus-client's parser: the counts are the sum
over both workers, survive a worker being killed and restarted (whose gauges leave the sum), and start from
zero in every run. JSON logs: one line per request from every worker, with its request id, never the token.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from connect_readings.cli import main

from .test_crash_safety import Server, free_port, serve_command, token

ENTITY = "c0ffee00-0000-4000-8000-0000000000aa"
LAST = f"/v1/entities/{ENTITY}/readings/last"
ROUTE = "/v1/entities/{entityId}/readings/last"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


def served(scraped: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sample(scraped, "connect_readings_requests_total", method="GET", route=ROUTE, status="200")


def _seed(url: str, bearer: str) -> None:
    response = httpx.post(f"{url}/v1/entities/{ENTITY}/readings", headers={"Authorization": f"Bearer {bearer}"},
                          json={"data": [{"timestamp": "2024-05-27T13:00:00Z",
                                          "data": {"positiveActiveEnergy": {"total": 1.0, "unit": "kWh"}}}]})
    assert response.status_code == 200, response.text


def _burst(url: str, bearer: str, count: int, threads: int = 8, headers: dict[str, str] | None = None) -> None:
    """`count` GETs, each on a new connection (so the kernel spreads them over the workers)."""
    errors: list[str] = []
    todo = iter(range(count))
    lock = threading.Lock()

    def run() -> None:
        while True:
            with lock:
                n = next(todo, None)
            if n is None:
                return
            response = httpx.get(f"{url}{LAST}", headers={"Authorization": f"Bearer {bearer}", "Connection": "close",
                                                          **(headers or {})}, timeout=30)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:200]}")

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors[:3]


def _counter_pids(directory: Path) -> set[int]:
    return {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("counter_*.db")}


def _children(server: Server) -> set[int]:
    """The worker processes (multiprocessing's resource tracker is a child too, but serves nothing)."""
    assert server.process is not None
    found = set()
    for pid in set(server.pids()) - {server.process.pid}:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except FileNotFoundError:
            continue
    return found


def test_metrics_sum_every_worker_survive_restarts_and_start_from_zero(tmp_path: Path) -> None:
    metrics_port = free_port()
    directory = tmp_path / "metrics"
    env = {"CONNECT_READINGS_METRICS_PORT": str(metrics_port), "CONNECT_READINGS_METRICS_DIR": str(directory)}
    bearer = token()
    with Server(tmp_path / "ops.db", env=env, workers=2) as server:
        workers = _children(server)
        assert len(workers) == 2
        _seed(server.url, bearer)
        sent = 0
        while len(_counter_pids(directory) & workers) < 2:  # until both workers have answered
            _burst(server.url, bearer, 40)
            sent += 40
            assert sent <= 4000, "every request went to one worker"
        scraped = scrape(metrics_port)
        assert served(scraped) == sent
        assert sample(scraped, "connect_readings_readings_ingested_total") == 1
        assert sample(scraped, "connect_readings_request_duration_seconds_count", method="GET", route=ROUTE) == sent
        assert sample(scraped, "connect_readings_requests_in_progress") == 0

        # a cached page in some worker, then every worker killed: uvicorn starts new ones
        page = httpx.get(f"{server.url}/v1/entities/{ENTITY}/aggregations", headers={
            "Authorization": f"Bearer {bearer}"}, params={"start": "2024-05-27T00:00:00Z", "resolution": "1 hour"})
        assert page.status_code == 200
        assert sample(scrape(metrics_port), "connect_readings_page_cache_bytes") > 0
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        _wait(lambda: len(_children(server) - workers) == 2 and _healthy(server.url), "no new workers")
        scraped = scrape(metrics_port)
        assert served(scraped) == sent  # the dead workers' counts stay
        assert sample(scraped, "connect_readings_page_cache_bytes") == 0  # their caches died with them
        _burst(server.url, bearer, 10)
        assert served(scrape(metrics_port)) == sent + 10

    with Server(tmp_path / "ops.db", env=env, workers=2) as server:  # the same directory, a new run
        _burst(server.url, bearer, 5)
        assert served(scrape(metrics_port)) == 5


def test_the_default_metrics_directory_is_the_runs_own_and_removed_at_exit(tmp_path: Path) -> None:
    metrics_port = free_port()
    with Server(tmp_path / "ops.db", env={"CONNECT_READINGS_METRICS_PORT": str(metrics_port)}, workers=2) as server:
        worker = min(_children(server))  # (a process's environ file shows the environment it started with)
        environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
        directory = Path(next(v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")).split(b"=", 1)[1].decode())
        assert directory.is_dir() and directory.name.startswith("connect-readings-metrics-")
        _seed(server.url, token())
        assert any(directory.glob("counter_*.db"))
    assert not directory.exists()


def test_metrics_listener_is_off_by_default(tmp_path: Path) -> None:
    with Server(tmp_path / "ops.db", workers=2) as server:
        assert server.process is not None
        assert not any(b"PROMETHEUS_MULTIPROC_DIR" in Path(f"/proc/{pid}/environ").read_bytes()
                       for pid in _children(server))
        listening = Path("/proc/net/tcp").read_text() + Path("/proc/net/tcp6").read_text()
        ports = {int(line.split()[1].rsplit(":", 1)[1], 16) for line in listening.splitlines()[1:]
                 if line.split()[3] == "0A" and _inode_of(server.process.pid, line.split()[9])}
        assert ports == {server.port}


def _inode_of(pid: int, inode: str) -> bool:
    """Whether the socket with this inode belongs to the process."""
    fds = Path(f"/proc/{pid}/fd")
    return any(os.readlink(fd) == f"socket:[{inode}]" for fd in fds.iterdir() if _readable_link(fd))


def _readable_link(path: Path) -> bool:
    try:
        os.readlink(path)
        return True
    except OSError:
        return False


def test_json_logs_one_line_per_request_from_every_worker(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    bearer = token()
    subject_token = _token_with_subject("dashboard-7")
    with Server(tmp_path / "ops.db", env={"CONNECT_READINGS_LOG_FORMAT": "json"}, workers=2,
                log_path=log_path) as server:
        _seed(server.url, bearer)
        ids = [f"req-{n}" for n in range(30)]
        for request_id in ids:
            response = httpx.get(f"{server.url}{LAST}", headers={
                "Authorization": f"Bearer {subject_token}", "X-Request-ID": request_id, "Connection": "close"})
            assert response.status_code == 200 and response.headers["x-request-id"] == request_id
    text = log_path.read_text()
    assert bearer not in text and subject_token not in text and subject_token.split(".")[-1] not in text
    lines: list[dict[str, Any]] = []
    for raw in text.splitlines():
        try:
            lines.append(orjson.loads(raw))
        except orjson.JSONDecodeError:
            # only the supervisor's own few lines (it loads no app) stay in uvicorn's text format
            assert raw.startswith("INFO:     ") and any(s in raw for s in (
                "parent process", "child process", "Uvicorn running", "Received SIGTERM")), raw
    access = [line for line in lines if line.get("logger") == "connect_readings.access" and line["route"] != "/healthz"]
    assert len(access) == 31  # the ingest and the 30 reads (besides the start-up's health checks)
    reads = [line for line in access if line["request_id"] in ids]
    assert sorted(line["request_id"] for line in reads) == sorted(ids)
    for line in reads:
        assert line["route"] == ROUTE and line["status"] == 200 and line["method"] == "GET"
        assert line["entity_id"] == ENTITY and line["subject"] == "dashboard-7" and line["duration_ms"] >= 0
    started = [line for line in lines if "Started server process" in line.get("message", "")]
    assert len(started) == 2  # uvicorn's own lines of both workers are JSON too


def _token_with_subject(subject: str) -> str:
    import jwt

    from .test_crash_safety import SECRET

    now = int(time.time())
    return jwt.encode({"scope": "readings:read readings:write", "entities": "*", "sub": subject, "iat": now,
                       "exp": now + 3600}, SECRET, algorithm="HS256")


@pytest.mark.parametrize("flags, message", [
    (["--log-format", "xml"], "log format"),
    (["--metrics-port", "8080", "--port", "8080"], "metrics port must differ"),
    (["--root-path", "connect"], "root path"),
    (["--rate-limit-burst", "0"], "burst"),
])
def test_serve_refuses_operations_settings_that_cannot_work(tmp_path: Path, flags: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--database", str(tmp_path / "x.db"), *flags])
    assert result.exit_code != 0 and message in result.output, result.output


def test_serve_reports_a_metrics_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # (a process of its own: the listener's directory is set in the environment of the serving process)
        result = subprocess.run([*serve_command(), "--database", str(tmp_path / "x.db"), "--port", str(free_port()),
                                 "--metrics-port", str(port)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and f"cannot serve metrics on 127.0.0.1:{port}" in result.stderr, result.stderr


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_last_request_line_is_written_at_a_graceful_stop(tmp_path: Path, workers: int) -> None:
    """Request lines are held up to 0.2 s before they are written (logs.LineHandler); uvicorn ends a stopped
    worker by raising its signal again, so no exit hook runs: the server's shutdown writes them. A request
    answered just before SIGTERM is in the log."""
    log_path = tmp_path / "server.log"
    with Server(tmp_path / "stop.db", workers=workers, log_path=log_path) as server:
        _seed(server.url, token())
        response = httpx.get(f"{server.url}{LAST}", headers={"Authorization": f"Bearer {token()}",
                                                             "X-Request-ID": "the-last-one"})
        assert response.status_code == 200
    lines = [line for line in log_path.read_text().splitlines() if "connect_readings.access" in line]
    assert any("request_id=the-last-one" in line for line in lines), lines[-3:]
