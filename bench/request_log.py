"""The request log's cost on the hot page: the same server with `CONNECT_READINGS_REQUEST_LOG` on and off.

    python -m bench.request_log                  # 5 rounds of 8 s each way, wrk -t2 -c32
    python -m bench.request_log --rounds 3 --seconds 5 --log-format json
    python -m bench.request_log --lines          # µs per access line, in-process: direct vs through `logging`

Two `connect-readings serve --workers 1` on the demo household database (`datasets.household_db`), page cache
on (the hot page is a cache hit: what is left is HTTP, the middleware and the log line), one with the request
log, one without, each writing its log to a file; per round both are loaded in turn (order flipped every
round) with `wrk` on the hot page (`datasets.HOT_QUERY`: a day of quarter-hours, 25 per page). Printed: req/s
of each round and the median of the rounds' ratios on ÷ off (target, issue 22: ≥ 0.95).
"""

from __future__ import annotations

import argparse
import os
import statistics

from .common import HOST, Server, cli_executable, ensure_tools, free_port, log, run_wrk, token
from .datasets import HOT_QUERY, household_db


def serve(name: str, db: object, request_log: bool, log_format: str) -> Server:
    port = free_port()
    return Server(name, [cli_executable(), "serve", "--host", HOST, "--port", str(port), "--database", str(db),
                         "--workers", "1"], port,
                  env={"CONNECT_READINGS_REQUEST_LOG": "true" if request_log else "false",
                       "CONNECT_READINGS_LOG_FORMAT": log_format})


def lines(n: int = 20_000) -> None:
    """µs to log one request's line (observe._log into /dev/null), as the server writes it (`AccessLines`) and
    through Python `logging` (a record, the formatter, the handler), for both formats; best of 3."""
    import asyncio
    import logging
    import os
    import time

    from connect_readings import logs
    from connect_readings.api import observe

    scope = {"method": "GET", "path": "/v1/entities/2b9a1f0e-3c4d-4e5f-8a9b-0c1d2e3f4a5b/aggregations",
             "path_params": {"entityId": "2b9a1f0e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"}}
    app_log = logging.getLogger("connect_readings")
    for log_format in ("text", "json"):
        handler = logs.LineHandler(open(os.devnull, "w"))  # noqa: SIM115 (closed with the process)
        handler.setFormatter(logs.formatter(log_format))
        app_log.handlers[:], app_log.propagate = [handler], False
        app_log.setLevel(logging.INFO)
        for label, direct in (("logging", None), ("direct", logs.AccessLines(handler, log_format))):
            logs.direct_access = direct

            async def per_line() -> float:  # on a loop, as in the server (where the handler holds the lines)
                began = time.perf_counter()
                for _ in range(n):
                    observe._log(scope, "0123456789abcdef0123456789abcdef", "/v1/entities/{entityId}/aggregations",
                                 200, 0.0012)
                handler.flush()
                return (time.perf_counter() - began) / n * 1e6

            best = min(asyncio.run(per_line()) for _ in range(3))
            print(f"{log_format:4} {label:7} {best:5.1f} µs per request line")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--log-format", default="text", choices=("text", "json"))
    parser.add_argument("--lines", action="store_true", help="only the in-process cost of a line")
    args = parser.parse_args()
    if args.lines:
        lines()
        return
    ensure_tools(need_wrk=True)
    from connect_readings.demo import HOUSEHOLD

    db = household_db()
    path = f"/v1/entities/{HOUSEHOLD}/aggregations?{HOT_QUERY}"
    bearer = token()
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    rates: dict[bool, list[float]] = {True: [], False: []}
    with serve("log-on", db, True, args.log_format) as on, serve("log-off", db, False, args.log_format) as off:
        servers = {True: on, False: off}
        for rnd in range(args.rounds):
            order = (True, False) if rnd % 2 == 0 else (False, True)
            got: dict[bool, float] = {}
            cpu: dict[bool, float] = {}
            for logged in order:
                run_wrk(servers[logged].url(path), bearer, 2)  # warm
                began = cpu_seconds(servers[logged].pid)
                result = run_wrk(servers[logged].url(path), bearer, args.seconds)
                cpu[logged] = (cpu_seconds(servers[logged].pid) - began) / result.requests * 1e6
                if result.non_2xx or result.socket_errors:
                    raise RuntimeError(f"{result.non_2xx} non-2xx, socket errors {result.socket_errors}")
                got[logged] = result.requests_per_s
                rates[logged].append(result.requests_per_s)
            ratios.append(got[True] / got[False])
            cpu_ratios.append(cpu[False] / cpu[True])
            log(f"round {rnd + 1}: log on {got[True]:,.0f} req/s, off {got[False]:,.0f} req/s, "
                f"ratio {ratios[-1]:.3f}; server CPU per request on {cpu[True]:.0f} µs, off {cpu[False]:.0f} µs, "
                f"off / on {cpu_ratios[-1]:.3f}")
    print(f"request log ({args.log_format}) on / off: median ratio {statistics.median(ratios):.3f} "
          f"(rounds {min(ratios):.3f}–{max(ratios):.3f}); median req/s on {statistics.median(rates[True]):,.0f}, "
          f"off {statistics.median(rates[False]):,.0f} (target ≥ 0.95)")
    print(f"server CPU per request, off / on (the throughput ratio of a server that has its core): median "
          f"{statistics.median(cpu_ratios):.3f} (rounds {min(cpu_ratios):.3f}–{max(cpu_ratios):.3f})")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
