"""Head against base, in one run on one machine: is the refactor at least as fast as the commit before it?

    python -m bench.versus --base c025a50                      # head = this checkout, with this interpreter
    python -m bench.versus --base c025a50 --head /path/to/tree # a tree with its own .venv
    python -m bench.versus --base c025a50 --head HEAD~3 --rounds 5

Each side is an install: the base commit is cloned under bench/data/versus/ (git-ignored) with its own
venv (`pip install -e .`); the head is the checkout holding this file and `sys.executable`, a tree with a
`.venv`, or another revision prepared like the base. The driver only talks to an install through its CLI
(`connect-readings import | serve | token`) and the HTTP API, so it survives any refactor of `src/` and
`bench/` that keeps those. Synthetic JSONL files are written once (wire format, shared); each install builds
its own databases from them with its own `connect-readings import`, so each reads its own schema.

Figures (≈ 90 s per round, 4–5 minutes in all with cached installs). Base and head take turns within every
round, A B B A (which side is A flips every round), so machine noise lands on both: for 1–4 both
servers are up at once, wrk runs in slices of half --wrk-seconds, the latencies (2–4) alternate request by
request. The year data are 366 days from 2022-12-31T00:00Z (a meter every minute, another every 15 minutes),
so they cover 2023 in any European zone.
  1. hot page: the seed's 25 × 15-minute page over 30 days of 10-second data, `wrk -t2 -c32`, req/s,
     against `connect-readings serve --workers 1`, default settings (page cache on);
  2. 365 × 1 day page, timeZone=Europe/Berlin, over a year of 1-minute and of 15-minute data: median
     latency of keep-alive HTTP requests (the same page every time: with the page cache on it is computed
     once per server and round, then answered from the cache; --no-page-cache computes every one);
  3. the capacity tariff of 2023's 12 calendar months in Europe/Brussels (`/statistics/capacity-tariff`,
     monthly quarter-hour peaks and their rolling mean; never cached), over the same two meters: median
     latency;
  4. a 25 × 15-minute page in Europe/Brussels over the 1-minute meter, computed (each request's `end`
     differs by a minute, so no page cache answers it): from 2023-10-29T00:00+02:00 across the autumn
     clock change, and from 2023-06-14T00:00+02:00, an ordinary day: median latency;
  5. HTTP ingest: 4 senders, batches of 5,000 readings, one worker, fresh database, readings/s;
  6. `connect-readings import` of a 1M-reading JSONL file into a fresh database, readings/s (wall clock).

Prints figure, base, head, head/base (median of the per-round ratios, with their range) and whether head is
within 10 % of base or better; writes bench/results/versus.json. Exit status 1 if a figure is worse by more
than 10 %.
"""

from __future__ import annotations

import argparse
import calendar
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .common import DATA, HOST, REPO, RESULTS, SECRET, free_port, log, remove_db, run_wrk

VERSUS = DATA / "versus"
TOLERANCE = 0.10

HOT_ENTITY = "8667fb97-68f2-485a-87c7-f3bdfa9482e1"  # the seed's household meter id
YEAR_15MIN_ENTITY = "5e125e12-0000-4000-8000-000000000015"
YEAR_1MIN_ENTITY = "5e125e12-0000-4000-8000-000000000001"
IMPORT_ENTITY = "5e125e12-0000-4000-8000-00000000a001"
INGEST_ENTITIES = [f"5e125e12-0000-4000-8000-00000000b00{i}" for i in range(4)]

HOT_PATH = (f"/v1/entities/{HOT_ENTITY}/aggregations"
            "?start=2024-05-27%2013:00:00Z&resolution=15%20minutes&end=2024-05-28%2013:00:00Z")
# 2023 in Berlin: 2022-12-31T23:00Z to 2023-12-31T23:00Z, 365 local days on one page.
YEAR_QUERY = ("?start=2022-12-31T23:00:00Z&end=2023-12-31T23:00:00Z&resolution=1%20day&pageSize=365"
              "&timeZone=Europe/Berlin")
# 2023's 12 calendar months in Brussels (the window is widened to whole local months anyway).
CAPACITY_QUERY = ("/statistics/capacity-tariff?start=2023-01-01T00:00:00%2B01:00&end=2024-01-01T00:00:00%2B01:00"
                  "&timeZone=Europe/Brussels")
CAPACITY_MONTHS = [f"2023-{m:02}" for m in range(1, 13)]
# 25 quarter-hours in Brussels from local midnight. On 2023-10-29 the clocks go back (03:00+02:00 is
# 02:00+01:00), so that page spans the change; 2023-06-14 is an ordinary day. Each request's `end` is a
# minute later than the one before (same 25 buckets, another query), so every page is computed.
QUARTER_PAGES = {"dst_page": ("2023-10-29T00:00:00+02:00", calendar.timegm((2023, 10, 31, 0, 0, 0))),
                 "day_page": ("2023-06-14T00:00:00+02:00", calendar.timegm((2023, 6, 16, 0, 0, 0)))}
BATCH = 5_000
INGEST_BATCHES = 25  # per sender: 4 × 25 × 5,000 = 500,000 readings


# -- synthetic data: JSONL in the wire format, written once -----------------------------------------------
@dataclass(frozen=True)
class Feed:
    """One household meter (two tariffs, solar injection; registers in Wh) at a fixed step."""

    name: str
    start: int  # epoch seconds
    step: int  # seconds
    count: int
    seed: int

    @property
    def path(self) -> Path:
        return VERSUS / "jsonl" / f"{self.name}-{self.start}-{self.step}-{self.count}-{self.seed}.jsonl"

    def write(self) -> Path:
        if self.path.exists():
            return self.path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        log(f"writing {self.path.name} ({self.count:,} readings)")
        rng = random.Random(self.seed)
        t1, t2, inj = 12_345_000.0 + self.seed, 8_765_000.0, 1_234_000.0
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            for i in range(self.count):
                ts = self.start + i * self.step
                hour = ts % 86_400 / 3600
                load_kw = 0.25 + 0.15 * rng.random() + (1.8 * rng.random() if 18 <= hour < 21 else 0.0)
                solar_kw = 4.0 * math.sin(math.pi * (hour - 6) / 14) if 6 <= hour <= 20 else 0.0
                net_wh = (load_kw - solar_kw * (0.7 + 0.3 * rng.random())) * self.step / 3.6
                if net_wh < 0:
                    inj -= net_wh
                elif 7 <= hour < 23:
                    t1 += net_wh
                else:
                    t2 += net_wh
                a, b, c = round(t1), round(t2), round(inj)
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
                fh.write(f'{{"timestamp":"{stamp}","data":{{"positiveActiveEnergy":{{"t1":{a},"t2":{b},'
                         f'"total":{a + b},"unit":"Wh"}},"negativeActiveEnergy":{{"t1":{c},"total":{c},'
                         f'"unit":"Wh"}}}}}}\n')
        tmp.rename(self.path)
        return self.path


HOT_FEED = Feed("hot-10s", 1_714_521_600, 10, 30 * 8_640, 1)  # 2024-05-01, 30 days
YEAR_15MIN = Feed("year-15min", 1_672_444_800, 900, 366 * 96, 2)  # 2022-12-31, 366 days
YEAR_1MIN = Feed("year-1min", 1_672_444_800, 60, 366 * 1_440, 3)
IMPORT_FEED = Feed("import-10s", 1_704_067_200, 10, 1_000_000, 4)  # 2024-01-01


# -- installs -------------------------------------------------------------------------------------------
@dataclass
class Install:
    label: str
    tree: Path
    python: Path
    describe: str

    @property
    def cli(self) -> str:
        return str(self.python.parent / "connect-readings")

    @property
    def work(self) -> Path:
        return VERSUS / "run" / self.label

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.cli, *args], cwd=self.tree, env=child_env(), capture_output=True, text=True,
                              check=check)


NO_PAGE_CACHE = {"CONNECT_READINGS_PAGE_CACHE": "0", "CONNECT_READINGS_PAGE_CACHE_MIB": "0"}
"""Turns the page cache off in either generation of the settings (each install ignores the other's)."""
EXTRA_ENV: dict[str, str] = {}


def child_env() -> dict[str, str]:
    """No CONNECT_READINGS_* or PYTHONPATH from outside: default settings, each install's own code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_READINGS_") and k != "PYTHONPATH"}
    env["CONNECT_READINGS_JWT_SECRET"] = SECRET
    env.update(EXTRA_ENV)
    return env


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout.strip()


def install_revision(label: str, rev: str) -> Install:
    """A clone of REPO at `rev` under bench/data/versus/ with its own venv (reused once complete)."""
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    tree = VERSUS / f"tree-{sha[:12]}"
    ready = tree / ".versus-ready"
    if not (ready.exists() and ready.read_text() == sha):
        shutil.rmtree(tree, ignore_errors=True)
        VERSUS.mkdir(parents=True, exist_ok=True)
        log(f"{label}: cloning {sha[:12]} into {tree} and installing it into its own venv")
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(REPO), str(tree)], check=True)
        git("checkout", "-q", "--detach", sha, cwd=tree)
        subprocess.run([sys.executable, "-m", "venv", str(tree / ".venv")], check=True)
        subprocess.run([str(tree / ".venv/bin/pip"), "install", "-q", "-e", str(tree)], check=True)
        ready.write_text(sha)
    return Install(label, tree, tree / ".venv/bin/python", f"{rev} ({sha[:12]})")


def install_head(head: str | None) -> Install:
    if head is None:
        dirty = " + uncommitted src" if git("status", "--porcelain", "src") else ""
        return Install("head", REPO, Path(sys.executable), f"checkout {git('rev-parse', '--short', 'HEAD')}{dirty}")
    tree = Path(head).resolve()
    if tree.is_dir():
        python = tree / ".venv/bin/python"
        if not python.exists():
            raise SystemExit(f"{tree} has no .venv (python3 -m venv .venv && .venv/bin/pip install -e .)")
        return Install("head", tree, python, f"tree {tree}")
    return install_revision("head", head)


def imported_from(install: Install) -> str:
    """Where the install's interpreter finds connect_readings (a guard against running the wrong code)."""
    return subprocess.run([str(install.python), "-c", "import connect_readings; print(connect_readings.__file__)"],
                          cwd=install.tree, env=child_env(), capture_output=True, text=True, check=True).stdout.strip()


# -- one server, one client ------------------------------------------------------------------------------
class Server:
    """`connect-readings serve --workers 1` of one install, in its own process group."""

    def __init__(self, install: Install, database: Path) -> None:
        self.port = free_port()
        self.log_path = install.work / "server.log"
        with self.log_path.open("ab") as log_file:
            self.proc = subprocess.Popen(
                [install.cli, "serve", "--host", HOST, "--port", str(self.port), "--database", str(database),
                 "--workers", "1"], cwd=install.tree, env=child_env(), stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log_path}")
            try:
                if Client(self.port, "").get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not start; see {self.log_path}")

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int, bearer: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=300)
        self.headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}

    def get(self, path: str) -> tuple[int, bytes, float]:
        return self.request("GET", path)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
        try:
            return self._request(method, path, body)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # the server closed the connection while it sat idle (idle_timeout_s); every request here is
            # idempotent, so send it again on a new one
            self.conn.close()
            return self._request(method, path, body)

    def _request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes, float]:
        began = time.perf_counter()
        self.conn.request(method, path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - began

    def json(self, path: str) -> dict:
        status, body, _ = self.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} -> {status}: {body[:300]!r}")
        return json.loads(body)


# -- the figures ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    unit: str
    higher_is_better: bool


FIGURES = [
    Figure("hot", "hot page, 25 × 15 min over 10-s data (wrk -c32)", "req/s", True),
    Figure("year_1min", "365 × 1 day page (Berlin), 1-min data, HTTP", "ms", False),
    Figure("year_15min", "365 × 1 day page (Berlin), 15-min data, HTTP", "ms", False),
    Figure("capacity_1min", "capacity tariff, 12 months (Brussels), 1-min data, HTTP", "ms", False),
    Figure("capacity_15min", "capacity tariff, 12 months (Brussels), 15-min data, HTTP", "ms", False),
    Figure("dst_page", "25 × 15 min page (Brussels) over the autumn change, 1-min data, computed", "ms", False),
    Figure("day_page", "25 × 15 min page (Brussels) over a June day, 1-min data, computed", "ms", False),
    Figure("ingest", "HTTP ingest, 5,000/batch, 1 worker", "readings/s", True),
    Figure("import", "connect-readings import (JSONL, 1M)", "readings/s", True),
]


def build_read_db(install: Install) -> Path:
    """The install's own database for figures 1 and 2, written by its own `connect-readings import`."""
    shutil.rmtree(install.work, ignore_errors=True)
    install.work.mkdir(parents=True)
    db = install.work / "read.db"
    began = time.perf_counter()
    for feed, entity in ((HOT_FEED, HOT_ENTITY), (YEAR_15MIN, YEAR_15MIN_ENTITY), (YEAR_1MIN, YEAR_1MIN_ENTITY)):
        install.run("import", str(feed.path), "--entity", entity, "--format", "jsonl", "--database", str(db))
    log(f"{install.label}: built {db} in {time.perf_counter() - began:.1f} s")
    return db


def quarter_page(key: str, i: int) -> str:
    """Request i of a 25 × 15-minute Brussels page of QUARTER_PAGES over the 1-minute meter."""
    start, end = QUARTER_PAGES[key]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end + 60 * i))
    return (f"/v1/entities/{YEAR_1MIN_ENTITY}/aggregations?start={start.replace('+', '%2B')}&end={stamp}"
            "&resolution=15%20minutes&pageSize=25&timeZone=Europe/Brussels")


def latency_paths(i: int) -> dict[str, str]:
    """The requests of figures 2–4, for request i of each server (the same paths for both)."""
    return {"year_1min": f"/v1/entities/{YEAR_1MIN_ENTITY}/aggregations{YEAR_QUERY}",
            "year_15min": f"/v1/entities/{YEAR_15MIN_ENTITY}/aggregations{YEAR_QUERY}",
            "capacity_1min": f"/v1/entities/{YEAR_1MIN_ENTITY}{CAPACITY_QUERY}",
            "capacity_15min": f"/v1/entities/{YEAR_15MIN_ENTITY}{CAPACITY_QUERY}",
            **{key: quarter_page(key, i) for key in QUARTER_PAGES}}


def check_pages(client: Client) -> None:
    """Every measured request answers what it should, from data (a window outside the synthetic year would
    give empty buckets and months, which are cheap)."""
    doc = client.json(HOT_PATH)
    if len(doc["data"]) != 25 or not doc["links"]["next"]:
        raise RuntimeError(f"hot page: {len(doc['data'])} buckets, next {doc['links'].get('next')!r}")
    for entity in (YEAR_1MIN_ENTITY, YEAR_15MIN_ENTITY):
        buckets = len(client.json(f"/v1/entities/{entity}/aggregations{YEAR_QUERY}")["data"])
        if buckets != 365:
            raise RuntimeError(f"year page of {entity}: {buckets} buckets, expected 365")
        months = client.json(f"/v1/entities/{entity}{CAPACITY_QUERY}")["data"]
        if [m["month"] for m in months] != CAPACITY_MONTHS or any(m["peak"] is None for m in months):
            raise RuntimeError(f"capacity tariff of {entity}: {[(m['month'], m['peak']) for m in months]}")
    for key, (start, _) in QUARTER_PAGES.items():
        doc = client.json(quarter_page(key, -1))  # a path of no measured request: not a warm page cache
        starts = [b["timeframe"]["start"] for b in doc["data"]]
        totals = [b["data"]["positiveActiveEnergy"]["total"] for b in doc["data"]]
        if len(starts) != 25 or starts[0] != start or None in totals or not doc["links"]["next"]:
            raise RuntimeError(f"{key}: {len(starts)} buckets from {starts[:1]}, totals {totals}")
        # across the change: the page begins in summer time (+02:00) and ends in winter time (+01:00)
        if key == "dst_page" and not starts[-1].endswith("+01:00"):
            raise RuntimeError(f"{key}: the page does not reach the autumn change: {starts}")


def measure_reads(installs: list[Install], dbs: dict[str, Path], tokens: dict[str, str],
                  wrk_seconds: float) -> dict[str, dict[str, float]]:
    """Figures 1–4 with both servers up at once, measured in turns: wrk in A B B A slices of half the
    time each, the latencies request by request, alternating servers."""
    a, b = installs
    with Server(a, dbs[a.label]) as sa, Server(b, dbs[b.label]) as sb:
        servers = {a.label: sa, b.label: sb}
        clients = {label: Client(server.port, tokens[label]) for label, server in servers.items()}
        for client in clients.values():
            check_pages(client)
        hot: dict[str, list[float]] = {a.label: [], b.label: []}
        p99: dict[str, list[float]] = {a.label: [], b.label: []}
        for label in (a.label, b.label):
            run_wrk(servers[label].url(HOT_PATH), tokens[label], 3)  # warm-up
        for label in (a.label, b.label, b.label, a.label):
            res = run_wrk(servers[label].url(HOT_PATH), tokens[label], wrk_seconds / 2)
            if res.non_2xx or res.socket_errors:
                raise RuntimeError(f"{label} hot page: {res.non_2xx} non-2xx, socket errors {res.socket_errors}")
            hot[label].append(res.requests_per_s)
            p99[label].append(res.latency_ms.get("p99", float("nan")))
        samples: dict[str, dict[str, list[float]]] = {label: {key: [] for key in latency_paths(0)}
                                                      for label in servers}
        for i in range(2 + 40):  # two warm-up requests per server and page
            paths = latency_paths(i)
            for label in (a.label, b.label) if i % 2 == 0 else (b.label, a.label):
                for key, path in paths.items():
                    status, body, seconds = clients[label].get(path)
                    if status != 200:
                        raise RuntimeError(f"{label} {key}: {status} {body[:200]!r}")
                    if i >= 2:
                        samples[label][key].append(seconds)
        for client in clients.values():
            client.conn.close()
    return {label: {"hot": statistics.mean(hot[label]), "hot_p99_ms": max(p99[label]),
                    **{key: 1000 * statistics.median(v) for key, v in samples[label].items()}} for label in servers}


def ingest_bodies() -> list[list[bytes]]:
    """Per sender (one entity each), its batches, in time order: slices of the import feed."""
    with IMPORT_FEED.path.open("rb") as fh:
        lines = [fh.readline().rstrip(b"\n") for _ in range(len(INGEST_ENTITIES) * INGEST_BATCHES * BATCH)]
    per_sender = INGEST_BATCHES * BATCH
    return [[b'{"data":[' + b",".join(lines[s * per_sender + k * BATCH:s * per_sender + (k + 1) * BATCH]) + b"]}"
             for k in range(INGEST_BATCHES)] for s in range(len(INGEST_ENTITIES))]


def measure_ingest(install: Install, bodies: list[list[bytes]], bearer: str) -> float:
    db = install.work / "ingest.db"
    remove_db(db)
    written = [0] * len(bodies)
    errors: list[str] = []
    go = threading.Event()

    def send(sender: int, port: int) -> None:
        client = Client(port, bearer)
        go.wait()
        for body in bodies[sender]:
            status, data, _ = client.request("POST", f"/v1/entities/{INGEST_ENTITIES[sender]}/readings", body)
            if status != 200:
                errors.append(f"{status}: {data[:200]!r}")
                return
            written[sender] += json.loads(data)["written"]
        client.conn.close()

    with Server(install, db) as server:
        threads = [threading.Thread(target=send, args=(i, server.port)) for i in range(len(bodies))]
        for t in threads:
            t.start()
        began = time.perf_counter()
        go.set()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - began
    expected = sum(len(b) for b in bodies) * BATCH
    if errors or sum(written) != expected:
        raise RuntimeError(f"ingest: written {sum(written)} of {expected}; errors {errors[:3]}")
    remove_db(db)
    return expected / seconds


def measure_import(install: Install) -> float:
    db = install.work / "import.db"
    remove_db(db)
    began = time.perf_counter()
    done = install.run("import", str(IMPORT_FEED.path), "--entity", IMPORT_ENTITY, "--format", "jsonl",
                       "--database", str(db))
    seconds = time.perf_counter() - began
    found = re.search(r"written ([\d,]+)", done.stdout)  # the CLI's report, when it keeps that wording
    if found and int(found.group(1).replace(",", "")) != IMPORT_FEED.count:
        raise RuntimeError(f"import: {done.stdout.strip()[:300]}")
    remove_db(db)
    return IMPORT_FEED.count / seconds


# -- the run --------------------------------------------------------------------------------------------
def ensure_wrk() -> None:
    if shutil.which("wrk") is None:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        log("installing wrk (apt-get install -y wrk)")
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "wrk"], check=True)


@dataclass
class Comparison:
    figure: Figure
    base: list[float]  # per round
    head: list[float]

    @property
    def ratios(self) -> list[float]:
        return [h / b for h, b in zip(self.head, self.base)]

    @property
    def ratio(self) -> float:
        """head / base, the median of the per-round ratios."""
        return statistics.median(self.ratios)

    @property
    def ok(self) -> bool:
        """Head within 10 % of base, or better."""
        return self.ratio >= 1 - TOLERANCE if self.figure.higher_is_better else self.ratio <= 1 + TOLERANCE

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self.figure), "base": statistics.median(self.base), "head": statistics.median(self.head),
                "ratio": self.ratio, "ratios": self.ratios, "within_10pct_or_better": self.ok,
                "base_rounds": self.base, "head_rounds": self.head}

    def cells(self) -> list[str]:
        def num(x: float) -> str:
            return f"{x:,.0f} {self.figure.unit}" if x >= 100 else f"{x:.2f} {self.figure.unit}"

        better = "higher" if self.figure.higher_is_better else "lower"
        return [self.figure.title, num(statistics.median(self.base)), num(statistics.median(self.head)),
                f"{self.ratio:.3f} ({better} is better)", f"{min(self.ratios):.2f}–{max(self.ratios):.2f}",
                "ok" if self.ok else "REGRESSION"]


def render(comparisons: list[Comparison]) -> str:
    table = [["figure", "base", "head", "head/base", "rounds", "verdict"]] + [c.cells() for c in comparisons]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="base revision (cloned under bench/data/versus/)")
    parser.add_argument("--head", default=None, help="a tree with .venv, or a revision (default: this checkout)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wrk-seconds", type=float, default=10)
    parser.add_argument("--no-page-cache", action="store_true",
                        help="both servers with their page cache off: every page computed")
    args = parser.parse_args(argv)
    if args.no_page_cache:
        EXTRA_ENV.update(NO_PAGE_CACHE)

    began, started = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S")
    ensure_wrk()
    installs = [install_revision("base", args.base), install_head(args.head)]
    sources = {i.label: imported_from(i) for i in installs}
    for i in installs:
        log(f"{i.label}: {i.describe}; python {i.python}; connect_readings from {sources[i.label]}")
    for feed in (HOT_FEED, YEAR_15MIN, YEAR_1MIN, IMPORT_FEED):
        feed.write()
    read_dbs = {i.label: build_read_db(i) for i in installs}
    tokens = {i.label: i.run("token", "--all", "--scope", "readings:read readings:write", "--ttl", "1 day",
                             "--jwt-secret", SECRET).stdout.strip() for i in installs}
    bodies = ingest_bodies()

    rounds: list[dict[str, dict[str, float]]] = []
    loads: list[float] = []
    for rnd in range(args.rounds):
        a, b = installs if rnd % 2 == 0 else installs[::-1]
        loads.append(os.getloadavg()[0])
        result = measure_reads([a, b], read_dbs, tokens, args.wrk_seconds)
        for key, measure in (("ingest", lambda i: measure_ingest(i, bodies, tokens[i.label])),
                             ("import", measure_import)):
            runs: dict[str, list[float]] = {a.label: [], b.label: []}
            for install in (a, b, b, a):
                runs[install.label].append(measure(install))
            for label, values in runs.items():
                result[label][key] = statistics.mean(values)
        rounds.append(result)
        log(f"round {rnd + 1}/{args.rounds}: " + "; ".join(
            f"{f.key} {result['base'][f.key]:,.1f} → {result['head'][f.key]:,.1f}" for f in FIGURES))

    comparisons = [Comparison(f, [r["base"][f.key] for r in rounds], [r["head"][f.key] for r in rounds])
                   for f in FIGURES]
    seconds = time.perf_counter() - began
    print(f"\nbase {installs[0].describe}  vs  head {installs[1].describe}; {args.rounds} rounds, "
          f"{os.cpu_count()} CPUs, load average at round starts {', '.join(f'{x:.1f}' for x in loads)}; {seconds:.0f} s")
    print(render(comparisons))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("versus-no-page-cache.json" if args.no_page_cache else "versus.json")
    out.write_text(json.dumps({
        "command": "python -m bench.versus " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started": started, "seconds": round(seconds, 1), "loadavg_at_rounds": loads,
        "installs": {i.label: {"describe": i.describe, "tree": str(i.tree), "python": str(i.python),
                               "connect_readings": sources[i.label]} for i in installs},
        "tolerance": TOLERANCE, "figures": [c.as_dict() for c in comparisons], "rounds": rounds,
    }, indent=1))
    print(f"details in {out}")
    return 0 if all(c.ok for c in comparisons) else 1


if __name__ == "__main__":
    sys.exit(main())
