"""Crash safety: SIGKILL the real server mid-ingest, restart, and find every acknowledged batch whole.

The server is `connect-readings serve` in a subprocess on a free port of 127.0.0.1. Writers stream batches
over HTTP; each batch rewrites one whole *window* (a fixed run of timestamps) with readings that all carry
the batch's *generation*. After each kill the database must pass `PRAGMA integrity_check`, and every window
must hold either nothing or exactly its full set of readings, all of one generation (a partial batch would
show as a short window or as two generations), no older than the last acknowledged batch for that window.

`scripts/crash_loop.py --cycles N` runs the same loop for longer. `Server` is also used by the limits,
concurrency and soak code.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

SECRET = "crash-test-secret-of-at-least-32-bytes!!"
ENTITY = uuid.UUID("c0ffee00-0000-4000-8000-000000000001")
EPOCH_S = 1_704_067_200  # 2024-01-01T00:00:00Z
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token(secret: str = SECRET, scope: str = "readings:read readings:write", ttl: int = 86_400) -> str:
    now = int(time.time())
    return jwt.encode({"scope": scope, "entities": "*", "iat": now, "exp": now + ttl}, secret, algorithm="HS256")


def serve_command() -> list[str]:
    script = Path(sys.executable).with_name("connect-readings")
    if script.exists():
        return [str(script), "serve"]
    found = shutil.which("connect-readings")
    return [found, "serve"] if found else [sys.executable, "-m", "connect_readings.cli", "serve"]


class Server:
    """`connect-readings serve` as a subprocess (its own process group, so workers die with it)."""

    def __init__(self, database: str | Path, env: dict[str, str] | None = None, workers: int = 1,
                 log_path: str | Path | None = None, command: list[str] | None = None) -> None:
        self.database = str(database)
        self.command = command or serve_command()  # what takes --host --port --database --workers
        self.env = {"CONNECT_READINGS_JWT_SECRET": SECRET, **(env or {})}
        self.workers = workers
        self.log_path = Path(log_path) if log_path else Path(self.database).with_suffix(".server.log")
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "Server":
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_READINGS_")}
        env.update(self.env)
        command = self.command + ["--host", "127.0.0.1", "--port", str(self.port),
                                     "--database", self.database, "--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, cwd=REPO)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"server did not become healthy; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handler, no flush, no goodbye."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def pids(self) -> list[int]:
        """The server process and its worker processes (same process group)."""
        if self.process is None:
            return []
        pgid = self.process.pid
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == pgid:
                        found.append(int(entry))
                except (ProcessLookupError, PermissionError):
                    continue
        return sorted(found)

    def rss_kib(self) -> int:
        """Resident set size of the server and its workers, KiB."""
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                continue
        return total

    def __enter__(self) -> "Server":
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the crash loop -------------------------------------------------------------------------------------
@dataclass
class Ledger:
    """What the writers know: per window, the last acknowledged generation and those still in flight."""

    windows: int
    size: int
    acked: dict[int, int] = field(default_factory=dict)
    in_flight: dict[int, set[int]] = field(default_factory=dict)
    next_generation: int = 1
    acked_batches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def window_start_s(self, window: int) -> int:
        return EPOCH_S + window * self.size * 60

    def batch(self, window: int, generation: int) -> dict[str, Any]:
        """A whole window: `size` readings one minute apart, all marked with the generation."""
        start = self.window_start_s(window)
        return {"data": [
            {"timestamp": _iso(start + 60 * i), "data": {
                "positiveActiveEnergy": {"total": generation * 1000.0 + i, "unit": "kWh"},
                "generation": {"value": generation},
            }} for i in range(self.size)
        ]}


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _writer(url: str, ledger: Ledger, windows: list[int], stop: threading.Event, seed: int) -> None:
    """Rewrite this writer's windows, one batch at a time, until the server goes away."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token()}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
        while not stop.is_set():
            window = rng.choice(windows)
            with ledger.lock:
                generation = ledger.next_generation
                ledger.next_generation += 1
                ledger.in_flight.setdefault(window, set()).add(generation)
            try:
                response = http.post(f"/v1/entities/{ENTITY}/readings", json=ledger.batch(window, generation))
            except httpx.HTTPError:
                return  # killed mid-request: the generation stays "in flight" (it may or may not be in)
            if response.status_code != 200:
                raise AssertionError(f"ingest answered {response.status_code}: {response.text[:300]}")
            with ledger.lock:
                ledger.in_flight[window].discard(generation)
                ledger.acked[window] = max(ledger.acked.get(window, 0), generation)
                ledger.acked_batches += 1


def _guarded(errors: list[BaseException], *args: Any) -> None:
    try:
        _writer(*args)
    except BaseException as exc:  # noqa: BLE001 (re-raised in the main thread)
        errors.append(exc)


def check_database_file(path: str) -> None:
    """With the server dead: the file is a consistent SQLite database."""
    conn = sqlite3.connect(path)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
        assert result == [("ok",)], result
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def verify(url: str, ledger: Ledger) -> int:
    """Through the API: each window is empty or whole, of one generation, at least the acknowledged one.

    Returns the number of windows found whole. Settles the in-flight generations: after this they are
    either in (and become the window's floor) or lost (and can never appear later).
    """
    whole = 0
    headers = {"Authorization": f"Bearer {token()}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
        for window in range(ledger.windows):
            start = ledger.window_start_s(window)
            response = http.get(f"/v1/entities/{ENTITY}/readings", params={
                "start": _iso(start), "end": _iso(start + ledger.size * 60), "pageSize": 10_000})
            if response.status_code == 404:
                items: list[dict[str, Any]] = []
            else:
                assert response.status_code == 200, response.text
                items = response.json()["data"]
            generations = {item["data"]["generation"]["value"] for item in items}
            acked = ledger.acked.get(window, 0)
            possible = {g for g in ledger.in_flight.get(window, set()) if g > acked} | ({acked} if acked else set())
            if not items:
                assert acked == 0, f"window {window}: acknowledged generation {acked} is gone"
                ledger.in_flight.pop(window, None)
                continue
            assert len(items) == ledger.size, f"window {window}: partial batch ({len(items)} of {ledger.size})"
            assert len(generations) == 1, f"window {window}: mixed generations {sorted(generations)}"
            (found,) = generations
            assert found in possible, f"window {window}: generation {found}, expected one of {sorted(possible)}"
            for i, item in enumerate(items):
                assert item["timestamp"] == _iso(start + 60 * i)
                assert item["data"]["positiveActiveEnergy"]["total"] == found * 1000.0 + i
            ledger.acked[window] = found
            ledger.in_flight.pop(window, None)
            whole += 1
    return whole


@dataclass
class CrashReport:
    cycles: int = 0
    acked_batches: int = 0
    windows_whole: int = 0
    kills_mid_request: int = 0


def crash_loop(workdir: Path, cycles: int, windows: int = 24, size: int = 300, writers: int = 3,
               max_run_s: float = 1.2, seed: int | None = None, log: Any = None, workers: int = 1) -> CrashReport:
    """Start, write, SIGKILL at a random moment, check the file, restart and verify; `cycles` times."""
    rng = random.Random(seed)
    database = workdir / "crash.db"
    server = Server(database, workers=workers, log_path=workdir / "crash.server.log")
    ledger = Ledger(windows=windows, size=size)
    report = CrashReport()
    owned = [list(range(w, windows, writers)) for w in range(writers)]
    try:
        for cycle in range(cycles):
            server.start()
            report.windows_whole = verify(server.url, ledger)  # what survived the previous kill
            stop = threading.Event()
            errors: list[BaseException] = []
            threads = [threading.Thread(target=_guarded, args=(errors, server.url, ledger, owned[w], stop, rng.random()),
                                        daemon=True) for w in range(writers)]
            for thread in threads:
                thread.start()
            before = ledger.acked_batches
            run_s = rng.uniform(0.05, max_run_s)
            time.sleep(run_s)
            server.kill()
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            if errors:
                raise errors[0]
            in_flight = sum(len(gens) for gens in ledger.in_flight.values())
            report.kills_mid_request += bool(in_flight)
            check_database_file(str(database))
            report.cycles = cycle + 1
            report.acked_batches = ledger.acked_batches
            if log:
                log(f"cycle {cycle + 1}: killed after {run_s:.2f} s; {ledger.acked_batches - before} batches "
                    f"acknowledged ({ledger.acked_batches} in all), {in_flight} in flight at the kill; "
                    f"{report.windows_whole} windows whole at the restart before")
        server.start()
        report.windows_whole = verify(server.url, ledger)
    finally:
        server.kill()
    check_database_file(str(database))
    return report


@pytest.mark.slow
def test_sigkill_never_loses_or_tears_a_batch(tmp_path: Path) -> None:
    cycles = int(os.environ.get("CRASH_CYCLES", "12"))
    report = crash_loop(tmp_path, cycles=cycles, seed=int(os.environ.get("CRASH_SEED", "0")) or None)
    assert report.cycles == cycles
    assert report.acked_batches >= cycles  # the writers made real progress between kills
    assert report.windows_whole > 0
