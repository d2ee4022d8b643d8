#!/usr/bin/env python3
"""A client requesting distinct aggregation pages for 60 s must leave the worker's RSS under 300 MB.

    python scripts/page_rss.py [--seconds 60] [--threads 4] [--limit-mb 300] [--database DB] [--days 30]

Runs in the project's venv (it needs httpx, from the test extras). Creates a demo database
(`connect-readings demo --no-serve --days N`) in a temporary directory unless --database names one,
starts `connect-readings serve --workers 1` on a free port with CONNECT_READINGS_JWT_SECRET set (other
settings from the caller's environment: default caches on; CONNECT_READINGS_PAGE_CACHE_MIB=0 is a control
run without the page cache, CONNECT_READINGS_SQLITE_CACHE_MIB sizes SQLite's), mints a read token with
`connect-readings token`, then keeps --threads client threads requesting pages never asked for before,
cycling through the demo entities and the resolutions 15 minutes and 1 hour, with pageSize 200 and an end
200 buckets later. Each request's start moves a large prime number of seconds further (modulo the entity's
data window, so every start is distinct), which scatters the pages over the whole database: every store
thread's SQLite cache and the page cache fill, as under a real fleet of dashboards (`--step 1` moves it 1 s
per request instead, which keeps the reads in the first hours of data and fills little).

The server's RSS (VmRSS of its process and every process in its process group, i.e. workers if uvicorn
forks) is sampled every second. Prints requests, errors, throughput, RSS at start (before the load), peak
and end (1 s after it) in MiB, and the server process's own peak (VmHWM). Exit status 1 if the peak is ≥
--limit-mb, or if any request failed.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

SECRET = "page-rss-jwt-secret-0123456789abcdef0123456789"
HOST = "127.0.0.1"
PAGE = 200
STEP_S = 1_000_003
RESOLUTIONS = {"15%20minutes": timedelta(minutes=15), "1%20hour": timedelta(hours=1)}
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def cli() -> str:
    local = Path(sys.executable).with_name("connect-readings")
    found = str(local) if local.exists() else shutil.which("connect-readings")
    if not found:
        raise SystemExit("connect-readings is not installed in this environment (pip install -e '.[test]')")
    return found


def env() -> dict[str, str]:
    """The caller's environment (so e.g. CONNECT_READINGS_PAGE_CACHE=0 makes a control run) with our secret."""
    return {**os.environ, "CONNECT_READINGS_JWT_SECRET": SECRET}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_kib(pgid: int) -> int:
    """VmRSS of every process in the server's process group, KiB."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pgid:
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return total


def hwm_kib(pid: int) -> int:
    """VmHWM (peak resident set size) of one process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--limit-mb", type=float, default=300, help="fail when the peak RSS reaches this (MiB)")
    parser.add_argument("--database", type=Path, default=None, help="an existing demo database (default: a new one)")
    parser.add_argument("--days", type=int, default=30, help="days of demo data when creating the database")
    parser.add_argument("--step", type=int, default=STEP_S,
                        help="seconds the start moves per request (default a large prime: scattered pages)")
    args = parser.parse_args()
    try:
        import httpx
    except ImportError:
        raise SystemExit("needs httpx (pip install httpx, or the project's test extras)") from None

    workdir = Path(tempfile.mkdtemp(prefix="page-rss-"))
    database = args.database or workdir / "demo.db"
    began = time.monotonic()
    demo = subprocess.run([cli(), "demo", "--no-serve", "--database", str(database), "--days", str(args.days)],
                          env=env(), capture_output=True, text=True, check=True).stdout
    entities = list(dict.fromkeys(UUID.findall(demo)))
    print(f"demo database {database} ready in {time.monotonic() - began:.1f} s; entities {', '.join(entities)}")
    bearer = subprocess.run([cli(), "token", "--all", "--scope", "readings:read", "--ttl", "1 day",
                             "--jwt-secret", SECRET], env=env(), capture_output=True, text=True,
                            check=True).stdout.strip()

    port = free_port()
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen([cli(), "serve", "--host", HOST, "--port", str(port), "--database", str(database),
                                   "--workers", "1"], env=env(), stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    base = f"http://{HOST}:{port}"
    headers = {"Authorization": f"Bearer {bearer}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {log_path}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)

        # Each entity's data window: its first and last reading.
        windows: list[tuple[str, datetime, datetime]] = []
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            for entity in entities:
                first = http.get(f"/v1/entities/{entity}/readings", params={"start": "2000-01-03T00:00:00Z",
                                                                            "pageSize": 1})
                last = http.get(f"/v1/entities/{entity}/readings/last")
                if first.status_code == 200 and last.status_code == 200 and first.json()["data"]:
                    windows.append((entity, parse_iso(first.json()["data"][0]["timestamp"]),
                                    parse_iso(last.json()["timestamp"])))
        if not windows:
            raise SystemExit("no readable entity in the demo database")

        counter = itertools.count()
        stop = threading.Event()
        counts = {"requests": 0, "errors": 0}
        samples: list[str] = []
        lock = threading.Lock()

        def path(n: int) -> str:
            """The n-th distinct page: entity and resolution cycle, the start moves 1 s per request."""
            entity, first, last = windows[n % len(windows)]
            resolution, width = list(RESOLUTIONS.items())[n // len(windows) % len(RESOLUTIONS)]
            span = max(1, int((last - first - PAGE * width).total_seconds()))
            while span > 1 and math.gcd(span, args.step) != 1:
                span -= 1  # coprime with the step: n * step % span is distinct for every n < span
            start = first + timedelta(seconds=n * args.step % span)
            return (f"/v1/entities/{entity}/aggregations?start={iso(start)}&end={iso(start + PAGE * width)}"
                    f"&resolution={resolution}&pageSize={PAGE}")

        def client() -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
                while not stop.is_set():
                    url = path(next(counter))
                    try:
                        response = http.get(url)
                        ok, detail = response.status_code == 200, f"{response.status_code} {response.text[:160]}"
                    except httpx.HTTPError as exc:
                        ok, detail = False, repr(exc)
                    with lock:
                        counts["requests"] += 1
                        if not ok:
                            counts["errors"] += 1
                            if len(samples) < 5:
                                samples.append(f"{url}: {detail}")

        rss_start = rss_kib(server.pid)
        peak = rss_start
        threads = [threading.Thread(target=client) for _ in range(args.threads)]
        load_began = time.monotonic()
        for thread in threads:
            thread.start()
        for tick in itertools.count(1):
            time.sleep(max(0.0, load_began + tick - time.monotonic()))
            rss = rss_kib(server.pid)
            peak = max(peak, rss)
            if tick % 10 == 0 or tick >= args.seconds:
                print(f"  {tick:4d} s: {counts['requests']:,} requests, RSS {rss / 1024:.0f} MiB", flush=True)
            if tick >= args.seconds:
                break
        stop.set()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - load_began
        time.sleep(1)
        rss_end = rss_kib(server.pid)
        peak = max(peak, rss_end)
        hwm = hwm_kib(server.pid)
        alive = server.poll() is None
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()

    mib = 1024
    print(f"requests: {counts['requests']:,} in {seconds:.0f} s ({counts['requests'] / seconds:,.0f}/s, "
          f"{args.threads} threads); errors: {counts['errors']}; server alive at the end: {alive}")
    print(f"server RSS: start {rss_start / mib:.1f} MiB, peak {peak / mib:.1f} MiB, end {rss_end / mib:.1f} MiB "
          f"(limit {args.limit_mb:g} MiB) -> {'PASS' if peak / mib < args.limit_mb else 'FAIL'}; "
          f"server process VmHWM {hwm / mib:.1f} MiB")
    for sample in samples:
        print("  error:", sample)
    if args.database is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"server log: {log_path}")
    return 0 if peak / mib < args.limit_mb and counts["errors"] == 0 and alive else 1


if __name__ == "__main__":
    sys.exit(main())
