#!/usr/bin/env python3
"""Soak: mixed load at saturation against a locally started server, under attack; errors must be 0.

    python scripts/soak.py [--seconds 60] [--workers 1] [--generators 1] [--concurrency 64]
                           [--idle 1024] [--slow 200] [--max-rss-growth 0.10]

Starts `connect-readings serve` on a free port of 127.0.0.1 with a fresh database, loads 30 days of
15-minute readings for a few entities, then runs the load generator in separate processes for --seconds:
ingest of small batches (appending to the same entities), aggregations (15 minutes over a day, with and
without a time zone; 1 day over 30 days), totals, raw pages, last readings, and a share of requests that
must be refused (expired token → 401, other entity → 404, bad resolution → 400). Every request has an
expected status; anything else, or a transport error, is an error.

All the while, --idle connections that send nothing and --slow ones that trickle a request head one byte
every 0.5 s are held open (tests/hostile.py: each one the server drops is opened again), and the attacks of
issue 19 run beside them (`HeavyTraffic`): --slow-bodies POSTs that announce a 10 MB body and send a byte a
second, --stalled-csv CSV downloads whose client never reads, and --heavy clients asking for three centuries of
month buckets (aggregations and statistics with peak demand, in six zones) with a read-only token. Their answers
are reported, not counted as errors: the errors are the normal load's.

Reports requests, throughput, latency percentiles, errors, the server's CPU use (saturation shows as ≈100 %
per worker), its RSS (server plus workers) after start, before the load, after a warm-up (the page cache
and SQLite's caches fill; default a quarter of the run) and after the load, and what the attack held. Exit
status 1 if there was any error, or if RSS grew by more than --max-rss-growth after the warm-up (a leak, e.g.
of connections the attack left behind).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile import Attack  # noqa: E402
from tests.test_crash_safety import Server, token  # noqa: E402

ENTITIES = [f"50a50a50-0000-4000-8000-{i:012d}" for i in range(1, 9)]
HIDDEN = "50a50a50-ffff-4000-8000-000000000000"
DAYS = 30
STEP_S = 900
START = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
START_S = int(START.timestamp())
END_S = START_S + DAYS * 86400


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reading(ts: int) -> dict[str, Any]:
    kwh = (ts - START_S) / 3600 * 0.4  # a steady 400 W: grows with time, whatever order writes arrive in
    return {"timestamp": _iso(ts), "data": {
        "positiveActiveEnergy": {"total": round(kwh, 4), "t1": round(kwh * 0.6, 4), "t2": round(kwh * 0.4, 4),
                                 "unit": "kWh"},
        "positiveGasVolume": {"value": round(kwh / 10, 4), "unit": "m3"},
        "positiveActiveInstantaneousPower": {"total": 400.0, "unit": "W"},
    }}


def preload(url: str) -> int:
    import httpx

    written = 0
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token()}"}) as http:
        for entity in ENTITIES:
            stamps = list(range(START_S, END_S, STEP_S))
            for i in range(0, len(stamps), 5000):
                response = http.post(f"/v1/entities/{entity}/readings",
                                     json={"data": [_reading(ts) for ts in stamps[i:i + 5000]]})
                response.raise_for_status()
                written += response.json()["written"]
    return written


# -- the load generator (runs in its own processes) -------------------------------------------------------
def _plan(rng: random.Random, state: dict[str, Any]) -> tuple[str, str, str, dict[str, Any] | None, dict[str, str], int]:
    """(kind, method, path, json, headers, expected status) of one request."""
    entity = rng.choice(ENTITIES)
    base = f"/v1/entities/{entity}"
    auth = state["auth"]
    roll = rng.random()
    day = START_S + rng.randrange(DAYS - 1) * 86400
    if roll < 0.12:
        ts = state["next_ts"]
        state["next_ts"] += STEP_S * 4
        batch = [_reading(ts + k * STEP_S) for k in range(4)]
        return "ingest", "POST", f"{base}/readings", {"data": batch}, auth, 200
    if roll < 0.37:
        params = f"start={_iso(day)}&end={_iso(day + 86400)}&resolution=15%20minutes"
        return "agg-15min-day", "GET", f"{base}/aggregations?{params}&pageSize=100", None, auth, 200
    if roll < 0.47:
        params = f"start={_iso(day)}&end={_iso(day + 86400)}&resolution=1%20hour&timeZone=Europe/Berlin"
        return "agg-1h-berlin", "GET", f"{base}/aggregations?{params}", None, auth, 200
    if roll < 0.55:
        params = f"start={_iso(START_S)}&end={_iso(END_S)}&resolution=1%20day&pageSize=31"
        return "agg-1d-month", "GET", f"{base}/aggregations?{params}", None, auth, 200
    if roll < 0.67:
        params = f"start={_iso(day)}&end={_iso(day + rng.randrange(1, 20) * 86400)}"
        return "total", "GET", f"{base}/aggregations/total?{params}", None, auth, 200
    if roll < 0.79:
        params = f"start={_iso(day)}&pageSize={rng.choice([25, 100, 500])}"
        return "readings-page", "GET", f"{base}/readings?{params}", None, auth, 200
    if roll < 0.91:
        return "last", "GET", f"{base}/readings/last", None, auth, 200
    if roll < 0.94:
        return "refused-expired", "GET", f"{base}/readings/last", None, state["expired"], 401
    if roll < 0.97:
        return "refused-hidden", "GET", f"/v1/entities/{HIDDEN}/readings/last", None, auth, 404
    return "refused-resolution", "GET", f"{base}/aggregations?start={_iso(day)}&resolution=1%20quarter", None, auth, 400


class _Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: the generator must not be the bottleneck
    (httpx's pool costs more CPU per request than the server spends answering it)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length, close = 0, False
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


async def _load(url: str, seconds: float, concurrency: int, seed: int) -> dict[str, Any]:
    import orjson

    host, port = url.removeprefix("http://").rsplit(":", 1)
    rng = random.Random(seed)
    state = {
        "auth": {"Authorization": f"Bearer {token()}"},
        "expired": {"Authorization": f"Bearer {token(ttl=-3600)}"},
        "next_ts": END_S + seed * 10_000_000,  # each generator appends to its own stretch of time
    }
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    samples: list[str] = []
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    cpu_began, wall_began = time.process_time(), time.monotonic()

    async def user() -> None:
        connection = _Connection(host, int(port))
        try:
            while time.monotonic() < stop_at:
                kind, method, path, body, headers, expected = _plan(rng, state)
                began = time.perf_counter()
                try:
                    status, payload = await connection.request(
                        method, path, orjson.dumps(body) if body is not None else None, headers)
                    document = orjson.loads(payload)
                    ok = status == expected and (status < 400 or bool(document["errors"][0]["code"]))
                    detail = f"{status} {payload[:160]!r}"
                except Exception as exc:  # noqa: BLE001 (counted as an error)
                    ok, detail = False, repr(exc)
                    await connection.close()
                latencies.append(time.perf_counter() - began)
                counts[kind] += 1
                if not ok:
                    errors[kind] += 1
                    if len(samples) < 10:
                        samples.append(f"{kind} {method} {path[:120]}: {detail}")
        finally:
            await connection.close()

    await asyncio.gather(*(user() for _ in range(concurrency)))
    cpu = (time.process_time() - cpu_began) / (time.monotonic() - wall_began)
    return {"counts": counts, "errors": errors, "samples": samples, "latencies": latencies, "cpu": cpu}


def _generator(url: str, seconds: float, concurrency: int, seed: int, results: Any) -> None:
    results.put(asyncio.run(_load(url, seconds, concurrency, seed)))


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (FileNotFoundError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


class HeavyTraffic:
    """The attacks of issue 19 beside the normal load, each in a thread of its own, until `stop()`."""

    ZONES = ["America/Toronto", "America/Vancouver", "America/Mexico_City", "Asia/Singapore", "Asia/Hong_Kong",
             "Europe/Rome"]

    def __init__(self, port: int, slow_bodies: int, stalled_csv: int, heavy: int) -> None:
        import threading

        self.port = port
        self.counts = {"slow_bodies": slow_bodies, "stalled_csv": stalled_csv, "heavy": heavy}
        self.answers: dict[str, Counter[str]] = {k: Counter() for k in self.counts}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=target, daemon=True) for target, n in
                         ((self._slow_bodies, slow_bodies), (self._stalled_csv, stalled_csv)) if n]
        self._threads += [threading.Thread(target=self._heavy, args=(i,), daemon=True) for i in range(heavy)]

    def start(self) -> "HeavyTraffic":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> dict[str, dict[str, int]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return {k: dict(sorted(v.items())) for k, v in self.answers.items()}

    def _connect(self, head: bytes, rcvbuf: int | None = None) -> Any:
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", self.port))
        sock.sendall(head)
        sock.setblocking(False)
        return sock

    def _held(self, kind: str, n: int, head: bytes, trickle: bytes | None, rcvbuf: int | None) -> None:
        """Hold n connections open; a connection the server answers or closes is counted and opened again."""
        sockets: list[Any] = []
        while not self._stop.is_set():
            while len(sockets) < n and not self._stop.is_set():
                try:
                    sockets.append(self._connect(head, rcvbuf))
                except OSError:
                    self.answers[kind]["connect error"] += 1
                    break
            for sock in list(sockets):
                try:
                    if trickle is not None:
                        sock.send(trickle)
                    if kind == "slow_bodies":  # an answer (408, 413, …) or a close: count it, open another
                        data = sock.recv(4096)
                        self.answers[kind][data[9:12].decode() if data else "closed"] += 1
                        sock.close()
                        sockets.remove(sock)
                    elif sock.recv(1, 0x2) == b"":  # MSG_PEEK: a stalled download the server ended
                        self.answers[kind]["closed"] += 1
                        sock.close()
                        sockets.remove(sock)
                except BlockingIOError:
                    pass
                except OSError:
                    self.answers[kind]["reset"] += 1
                    sock.close()
                    sockets.remove(sock)
            self._stop.wait(1.0)
        for sock in sockets:
            sock.close()

    def _slow_bodies(self) -> None:
        head = (f"POST /v1/entities/{ENTITIES[0]}/readings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token()}\r\nContent-Type: application/json\r\n"
                "Content-Length: 10000000\r\n\r\n{").encode()
        self._held("slow_bodies", self.counts["slow_bodies"], head, b" ", None)

    def _stalled_csv(self) -> None:
        query = (f"start={_iso(START_S)}&end={_iso(END_S)}&resolution=1%20minute&format=csv"
                 "&metrics=positiveActiveInstantaneousPower")
        head = (f"GET /v1/entities/{ENTITIES[1]}/statistics?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {token(scope='readings:read')}\r\n\r\n").encode()
        self._held("stalled_csv", self.counts["stalled_csv"], head, None, 4096)

    def _heavy(self, i: int) -> None:
        import httpx

        zone = self.ZONES[i % len(self.ZONES)]
        path = "statistics" if i % 2 else "aggregations"
        params = {"start": "1900-01-02" if i % 2 else "1990-01-01", "end": "2199-12-31", "resolution": "1 mon",
                  "pageSize": "10000", "timeZone": zone}
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60,
                          headers={"Authorization": f"Bearer {token(scope='readings:read')}"}) as http:
            while not self._stop.is_set():
                try:
                    self.answers["heavy"][str(http.get(f"/v1/entities/{ENTITIES[2]}/{path}", params=params).status_code)] += 1
                except httpx.HTTPError as exc:
                    self.answers["heavy"][type(exc).__name__] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--generators", type=int, default=1, help="load generator processes")
    parser.add_argument("--concurrency", type=int, default=64, help="connections per generator")
    parser.add_argument("--idle", type=int, default=1024, help="connections held open that send nothing")
    parser.add_argument("--slow", type=int, default=200, help="connections held open that trickle a request head")
    parser.add_argument("--slow-bodies", type=int, default=200,
                        help="POSTs held open that announce a 10 MB body and send a byte a second")
    parser.add_argument("--stalled-csv", type=int, default=25, help="CSV downloads held open that are never read")
    parser.add_argument("--heavy", type=int, default=6,
                        help="clients asking for three centuries of month buckets in six zones, in a loop")
    parser.add_argument("--max-rss-growth", type=float, default=0.10,
                        help="fail if the server's RSS grows more than this fraction after the warm-up")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of the load that fill the caches before RSS growth is measured "
                             "(default: a quarter of --seconds)")
    parser.add_argument("--page-cache-mib", type=int, default=None,
                        help="the server's page cache (CONNECT_READINGS_PAGE_CACHE_MIB; default: the server's own). "
                             "A small one fills within the warm-up, so growth after it is not the cache filling")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = args.seconds / 4
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "soak.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)

    env = {} if args.page_cache_mib is None else {"CONNECT_READINGS_PAGE_CACHE_MIB": str(args.page_cache_mib)}
    with Server(database, env=env, workers=args.workers, log_path=workdir / "soak.server.log") as server:
        rss_start = server.rss_kib()
        began = time.monotonic()
        written = preload(server.url)
        print(f"server on {server.url} ({args.workers} worker(s)), preloaded {written:,} readings for "
              f"{len(ENTITIES)} entities in {time.monotonic() - began:.1f} s", flush=True)
        attack = Attack(server.port, idle=args.idle, slow=args.slow).start()
        heavy = HeavyTraffic(server.port, args.slow_bodies, args.stalled_csv, args.heavy).start()
        rss_before = server.rss_kib()
        pids = server.pids()
        cpu_before, wall_before = _cpu_seconds(pids), time.monotonic()
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        generators = [context.Process(target=_generator, args=(server.url, args.seconds, args.concurrency, i, results))
                      for i in range(args.generators)]
        for process in generators:
            process.start()
        peak_rss = rss_before
        rss_warm: int | None = None
        timeline: list[tuple[float, int]] = []
        outcome = []
        while len(outcome) < len(generators):
            try:
                outcome.append(results.get(timeout=1))
            except Exception:  # queue.Empty
                rss = server.rss_kib()
                peak_rss = max(peak_rss, rss)
                elapsed = time.monotonic() - wall_before
                if rss_warm is None and elapsed >= args.warmup:
                    rss_warm = rss
                if not timeline or elapsed - timeline[-1][0] >= 5:
                    timeline.append((elapsed, rss))
                if not any(p.is_alive() for p in generators) and results.empty():
                    break
        for process in generators:
            process.join(timeout=30)
        cpu = (_cpu_seconds(pids) - cpu_before) / (time.monotonic() - wall_before)
        held = attack.open_connections
        attacked = attack.stop()
        heavy_answers = heavy.stop()
        rss_after = server.rss_kib()
        alive = server.process is not None and server.process.poll() is None

    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    samples: list[str] = []
    for part in outcome:
        counts.update(part["counts"])
        errors.update(part["errors"])
        latencies.extend(part["latencies"])
        samples.extend(part["samples"])
    total = sum(counts.values())
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    print(f"load: {args.generators} generator process(es) x {args.concurrency} connections for {args.seconds:g} s")
    print(f"requests: {total:,} ({total / args.seconds:,.0f}/s); errors: {sum(errors.values())}")
    print(f"latency ms: p50 {pct(0.50):.1f}  p90 {pct(0.90):.1f}  p99 {pct(0.99):.1f}  max {pct(1.0):.1f}")
    print("by kind: " + ", ".join(f"{k} {v:,}" + (f" ({errors[k]} errors)" if errors[k] else "")
                                   for k, v in sorted(counts.items())))
    generator_cpu = ", ".join(f"{part['cpu'] * 100:.0f} %" for part in outcome)
    print(f"CPU during the load: server {cpu * 100:.0f} % of one core ({args.workers} worker(s)); "
          f"load generator(s) {generator_cpu} (a generator well below 100 % while latency queues up means "
          f"the server is the bottleneck); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rss_warm = rss_warm or rss_before
    growth = rss_after / rss_warm - 1
    print(f"server RSS: {rss_start / 1024:.1f} MiB after start, {rss_before / 1024:.1f} MiB before the load, "
          f"{rss_warm / 1024:.1f} MiB after {args.warmup:g} s of it (warm: caches filled), {rss_after / 1024:.1f} MiB "
          f"after it: {growth * 100:+.1f} % since warm (peak {peak_rss / 1024:.1f} MiB); server alive at the end: {alive}")
    print("RSS during the load (s: MiB): " + ", ".join(f"{t:.0f}: {kib / 1024:.1f}" for t, kib in timeline))
    print(f"attack: {args.idle} idle + {args.slow} slow-header connections; {held} open at the end, at least "
          f"{min(attacked.held_min, held)} at any tick; the server closed {attacked.closed_by_server:,} (all "
          f"reopened); its answers on them: {dict(sorted(attacked.answers.items())) or 'none'}; connect errors "
          f"{attacked.connect_errors}")
    print(f"issue 19's attacks ({args.slow_bodies} slow bodies, {args.stalled_csv} stalled CSV readers, "
          f"{args.heavy} heavy clients), what the server answered them: {heavy_answers}")
    db_bytes = sum(Path(f"{database}{s}").stat().st_size for s in ("", "-wal") if Path(f"{database}{s}").exists())
    print(f"database: {db_bytes / 2**20:.1f} MiB in {workdir}")
    for sample in samples[:10]:
        print("  error:", sample)
    rss_ok = growth <= args.max_rss_growth
    if not rss_ok:
        print(f"RSS grew by {growth * 100:.1f} % > {args.max_rss_growth * 100:.0f} % after the warm-up")
    return 0 if not errors and total and alive and len(outcome) == len(generators) and rss_ok else 1


if __name__ == "__main__":
    sys.exit(main())
