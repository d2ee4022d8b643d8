"""Which HTTP server: the same app under each candidate, measured in one run on one machine.

    python -m bench.servers                      # 3 rounds of 8 s per server, twice, then the limit probes (~5 min)
    python -m bench.servers --rounds 5 --seconds 10

Candidates, each its own process on 127.0.0.1, all up at once, one worker, the real app (`app_from_env`),
default settings:
  - uvicorn-h11:       uvicorn, h11 protocol, asyncio loop (h11's own head limit set to max_header_bytes);
  - uvicorn-httptools: uvicorn, httptools protocol, uvloop, stock (what `serve` ran before issue 10);
  - ours:              `connect-readings serve` (uvicorn httptools + uvloop + server.Protocol);
  - granian:           granian (Rust, hyper), ASGI, uvloop, header read timeout = request_head_timeout_s,
                       read buffer = max_header_bytes.
Throughput: the seed's hot page (25 × 15 minutes) over the demo's 10-second data (`connect-readings demo
--no-serve`), `wrk -t2 -c32`, servers in turns within every round (the order rotates), after a warm-up;
req/s is the median of the rounds, p99 the worst. Before measuring, every server must return the same bytes.

Each round also runs wrk while 1,024 idle and 200 slow-header connections are held (tests/hostile.py):
throughput under that attack, and how many of wrk's requests failed.

Limits, probed on each server with raw sockets: a connection that sends nothing and one that trickles a head
(closed after how long?), a 40 KiB head in 1 KiB pieces (431 with the error body?), a malformed head (400
with the error body?), a declared body over max_body_bytes (413), and a normal client's success rate while
1,024 idle and 200 slow-header connections are held (tests/hostile.py). Prints a table; writes
bench/results/servers.json.
"""

from __future__ import annotations

import argparse
import calendar
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import DATA, HOST, REPO, RESULTS, Client, Server, cli_executable, free_port, log, run_wrk, token

sys.path.insert(0, str(REPO))
from tests.hostile import Attack  # noqa: E402

HOUSEHOLD = "8667fb97-68f2-485a-87c7-f3bdfa9482e1"
APP = "connect_readings.api.app:app_from_env"
CANDIDATES = ("uvicorn-h11", "uvicorn-httptools", "ours", "granian")
PROBE_WAIT_S = 8.0
BACKPRESSURE = 16384  # granian counts connections against it (1,024 by default): idle ones would starve the rest


def demo_database(days: int) -> Path:
    database = DATA / "servers" / f"demo-{days}d.db"
    if not database.exists():
        database.parent.mkdir(parents=True, exist_ok=True)
        log(f"building {database} (connect-readings demo --no-serve --days {days})")
        subprocess.run([cli_executable(), "demo", "--no-serve", "--days", str(days), "--database", str(database)],
                       check=True, stdout=subprocess.DEVNULL)
    return database


def start(name: str, database: Path) -> Server:
    port = free_port()
    env = {"CONNECT_READINGS_DATABASE": str(database), "CONNECT_READINGS_HOST": HOST,
           "CONNECT_READINGS_PORT": str(port)}
    if name == "ours":
        argv = [cli_executable(), "serve", "--host", HOST, "--port", str(port), "--database", str(database)]
    elif name.startswith("uvicorn-"):
        argv = [sys.executable, "-m", "bench.servers", "--stock", name, "--port", str(port)]
    else:
        from connect_readings.config import Settings

        settings = Settings()
        argv = [str(Path(sys.executable).with_name("granian")), "--interface", "asgi", "--factory", "--loop", "uvloop",
                "--http", "1", "--workers", "1", "--host", HOST, "--port", str(port), "--no-ws",
                "--http1-header-read-timeout", str(int(settings.request_head_timeout_s * 1000)),
                "--http1-buffer-size", str(settings.max_header_bytes), "--backpressure", str(BACKPRESSURE), APP]
    return Server(name, argv, port, env)


def stock_uvicorn(name: str, port: int) -> None:
    """uvicorn as `serve` ran it before issue 10, with the protocol and loop of `name`."""
    import uvicorn

    from connect_readings.config import Settings

    settings = Settings.from_env()
    options: dict[str, Any] = {"http": "h11", "loop": "asyncio", "h11_max_incomplete_event_size": settings.max_header_bytes}
    if name == "uvicorn-httptools":
        options = {"http": "httptools", "loop": "uvloop"}
    uvicorn.run(APP, factory=True, host=HOST, port=port, workers=1, log_level="warning", access_log=False,
                server_header=False, limit_concurrency=1024, timeout_keep_alive=int(settings.idle_timeout_s), **options)


def hot_path(server: Server) -> str:
    client = Client(server.port, token())
    last = client.get_json(f"/v1/entities/{HOUSEHOLD}/readings/last")["timestamp"]
    client.close()
    day = time.strftime("%Y-%m-%d", time.gmtime(calendar.timegm(time.strptime(last[:10], "%Y-%m-%d")) - 2 * 86400))
    return (f"/v1/entities/{HOUSEHOLD}/aggregations?start={day}T00:00:00Z&end={day}T06:15:00Z"
            "&resolution=15%20minutes")


# -- limit probes ---------------------------------------------------------------------------------------
def _closed_after(port: int, trickle: bool) -> str:
    with socket.create_connection((HOST, port), timeout=1) as sock:
        began = time.monotonic()
        head = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 1000
        sent = 0
        received = b""
        sock.settimeout(0.2)
        while time.monotonic() - began < PROBE_WAIT_S:
            try:
                if trickle:
                    sock.send(head[sent:sent + 1])
                    sent += 1
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
            except socket.timeout:
                continue
            except OSError:
                break
        else:
            return f"open after {PROBE_WAIT_S:g} s"
        answer = received.split(b"\r\n", 1)[0].decode("latin-1")[9:12] or "no answer"
        return f"{time.monotonic() - began:.1f} s ({answer})"


def _answer(port: int, pieces: list[bytes]) -> str:
    with socket.create_connection((HOST, port), timeout=5) as sock:
        received = b""
        try:
            for piece in pieces:
                sock.sendall(piece)
                time.sleep(0.005)
        except OSError:
            pass
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
                head, sep, body = received.partition(b"\r\n\r\n")
                if sep and b"content-length: " in head.lower():
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    if len(body) >= length:
                        break
        except OSError:
            pass
    if not received:
        return "closed, no answer"
    status = received[9:12].decode()
    body = received.partition(b"\r\n\r\n")[2]
    return f"{status} " + ("error body" if body.startswith(b'{"errors"') else f"plain ({len(body)} B body)")


def _attack(port: int) -> str:
    import httpx

    ok = total = 0
    with Attack(port, idle=1024, slow=200, tick_s=0.5) as attack:
        began = time.monotonic()
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10) as client:
            while time.monotonic() - began < 6:
                total += 1
                try:
                    ok += client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    pass
        held = attack.open_connections
    return f"{100 * ok / max(total, 1):.1f} % of {total} ({held} held)"


def probe(server: Server) -> dict[str, str]:
    from connect_readings.config import Settings

    settings = Settings()
    port = server.port
    big_head = [b"GET /healthz HTTP/1.1\r\nHost: a\r\n"] + [b"X-Pad-%02d: %s\r\n" % (i, b"p" * 1010) for i in range(40)]
    body_head = (f"POST /v1/entities/{HOUSEHOLD}/readings HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token()}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {settings.max_body_bytes + 1}\r\n\r\n").encode()
    return {
        "idle connection closed after": _closed_after(port, trickle=False),
        "trickled head closed after": _closed_after(port, trickle=True),
        "40 KiB head in 1 KiB pieces": _answer(port, big_head),
        "malformed head": _answer(port, [b"GET /hea\x00lthz HTTP/1.1\r\nHost: a\r\n\r\n"]),
        "body over max_body_bytes": _answer(port, [body_head]),
        "normal client under 1,024 idle + 200 slow": _attack(port),
    }


# -- the run --------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--only", default=",".join(CANDIDATES))
    parser.add_argument("--no-probes", action="store_true")
    parser.add_argument("--no-attack", dest="attack", action="store_false",
                        help="skip the wrk runs under 1,024 idle + 200 slow-header connections")
    parser.add_argument("--stock", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stock:
        stock_uvicorn(args.stock, args.port)
        return 0
    names = [n for n in args.only.split(",") if n]
    if "granian" in names and not Path(sys.executable).with_name("granian").exists():
        log(f"installing granian into {sys.prefix} (a candidate only: the project does not depend on it)")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "granian"], check=True)
    database = demo_database(args.days)
    servers = {name: start(name, database) for name in names}
    results: dict[str, dict[str, Any]] = {
        name: {"req_s": [], "p50_ms": [], "p99_ms": [], "attacked_req_s": [], "attacked_p99_ms": [], "attacked_errors": []}
        for name in names}
    try:
        path = hot_path(servers[names[0]])
        bodies = {}
        for name, server in servers.items():
            client = Client(server.port, token())
            status, body, _ = client.get(path)
            client.close()
            if status != 200:
                raise RuntimeError(f"{name}: {status} {body[:200]!r}")
            bodies[name] = body
        if len(set(bodies.values())) != 1:
            raise RuntimeError("the servers answer the hot page with different bytes")
        log(f"hot page {path}: {len(json.loads(bodies[names[0]])['data'])} buckets, identical on every server")
        for name, server in servers.items():
            run_wrk(server.url(path), token(), 3)  # warm-up
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                res = run_wrk(servers[name].url(path), token(), args.seconds)
                if res.non_2xx or res.socket_errors:
                    raise RuntimeError(f"{name}: {res.non_2xx} non-2xx, socket errors {res.socket_errors}")
                results[name]["req_s"].append(res.requests_per_s)
                results[name]["p50_ms"].append(res.latency_ms["p50"])
                results[name]["p99_ms"].append(res.latency_ms["p99"])
                log(f"round {r + 1} {name}: {res.requests_per_s:,.0f} req/s, p99 {res.latency_ms['p99']:.1f} ms")
                if args.attack:
                    with Attack(servers[name].port, idle=1024, slow=200) as attack:
                        res = run_wrk(servers[name].url(path), token(), args.seconds)
                        held = attack.open_connections
                    results[name]["attacked_req_s"].append(res.requests_per_s)
                    results[name]["attacked_p99_ms"].append(res.latency_ms.get("p99", float("nan")))
                    results[name]["attacked_errors"].append(res.non_2xx)
                    log(f"round {r + 1} {name} under attack ({held} held): {res.requests_per_s:,.0f} req/s, "
                        f"{res.non_2xx} non-2xx, socket errors {res.socket_errors}")
        if not args.no_probes:
            for name, server in servers.items():
                log(f"probing {name}")
                results[name]["probes"] = probe(server)
    finally:
        for server in servers.values():
            server.stop()
    print(f"\nhot page, wrk -t2 -c32, {args.rounds} × {args.seconds:g} s per server, in turns; load average "
          f"{open('/proc/loadavg').read().split()[0]}")
    print(f"{'server':<20} {'req/s (median)':>15} {'p50 ms':>8} {'p99 ms (worst)':>15}"
          + (f" {'attacked req/s':>15} {'non-2xx':>8} {'p99 ms':>8}" if args.attack else ""))
    for name in names:
        r = results[name]
        line = (f"{name:<20} {statistics.median(r['req_s']):>15,.0f} {statistics.median(r['p50_ms']):>8.2f} "
                f"{max(r['p99_ms']):>15.1f}")
        if args.attack:
            line += (f" {statistics.median(r['attacked_req_s']):>15,.0f} {sum(r['attacked_errors']):>8} "
                     f"{max(r['attacked_p99_ms']):>8.1f}")
        print(line)
    if not args.no_probes:
        for probe_name in results[names[0]]["probes"]:
            print(f"\n{probe_name}:")
            for name in names:
                print(f"  {name:<20} {results[name]['probes'][probe_name]}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "servers.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
