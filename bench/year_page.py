"""A year of daily buckets over HTTP, uncached, head against base in one run (issue 22, item 7).

    python -m bench.year_page --base c53b0a2                 # head = this checkout
    python -m bench.year_page --base c53b0a2 --rounds 7 --one-second

Each side is an install as in `bench.versus` (the base cloned with its own venv under bench/data/versus/), each
server `connect-readings serve --workers 1` with its page cache off, so every request computes the page. The
data are `bench.versus`' synthetic meters (2022-12-31 + 366 days, every 15 minutes and every minute), imported by
each install's own `connect-readings import`. Requests: 2023 as 365 daily buckets on one page, in Europe/Berlin
(whole-hour offsets) and Asia/Kolkata (+05:30), over both meters; per round 15 requests of each page per server,
the servers taking turns request by request; a round's figure is the median; printed: the median of the rounds'
medians and of the per-round head/base ratios (with their range). Target: head ≤ 3 ms and ≤ 0.4 × base.

--wrk also times the pages over the 15-minute meter (Berlin, Kolkata) with wrk (one thread, one connection, 4 s per server
and round, in turns): the same ratio without the Python client's share of every request (reading 137 KB with
http.client is part of each latency above, the same on both sides).

--one-second also builds a year of 1-second readings (31.6 M readings, ~4.5 GB of JSONL and a database of a few
GB, written once into bench/data/versus/ and reused: see `build`) for the head only, and gives the ratio of its year page to the
15-minute meter's in the same rounds (target ≤ 1.5: the page's cost does not follow the density).
Results in bench/results/year_page.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from .common import RESULTS, ensure_tools, log, run_wrk
from .versus import (
    SECRET,
    YEAR_15MIN,
    YEAR_15MIN_ENTITY,
    YEAR_1MIN,
    YEAR_1MIN_ENTITY,
    Client,
    Feed,
    Install,
    Server,
    install_head,
    install_revision,
    NO_PAGE_CACHE,
    EXTRA_ENV,
)

YEAR_1S = Feed("year-1s", 1_672_444_800, 1, 366 * 86_400, 5)
YEAR_1S_ENTITY = "5e125e12-0000-4000-8000-0000000001a1"
ZONES = {"Berlin": ("Europe/Berlin", "2022-12-31T23:00:00Z", "2023-12-31T23:00:00Z"),
         "Kolkata": ("Asia/Kolkata", "2022-12-31T18:30:00Z", "2023-12-31T18:30:00Z")}
METERS = {"15min": (YEAR_15MIN, YEAR_15MIN_ENTITY), "1min": (YEAR_1MIN, YEAR_1MIN_ENTITY)}
PER_ROUND = 15


def year_path(entity: str, zone: str) -> str:
    name, start, end = ZONES[zone]
    return (f"/v1/entities/{entity}/aggregations?start={start}&end={end}&resolution=1%20day&pageSize=365"
            f"&timeZone={name}")


def build(install: Install, meters: dict[str, tuple[Feed, str]], keep: bool = False) -> str:
    """The install's database with the meters, by its own `connect-readings import`; built anew each run, or with
    `keep` reused once complete (the 1-second year: delete bench/data/versus/run/head/year-1s.* after a change
    of what ingest stores)."""
    install.work.mkdir(parents=True, exist_ok=True)
    db = install.work / f"year-{'-'.join(sorted(meters))}.db"
    done = db.with_suffix(".done")
    if not (keep and done.exists()):
        done.unlink(missing_ok=True)
        db.unlink(missing_ok=True)
        began = time.perf_counter()
        for feed, entity in meters.values():
            feed.write()
            install.run("import", str(feed.path), "--entity", entity, "--format", "jsonl", "--database", str(db))
        log(f"{install.label}: built {db.name} in {time.perf_counter() - began:.0f} s")
        done.touch()
    return str(db)


def check(client: Client, path: str) -> None:
    doc = client.json(path)
    if len(doc["data"]) != 365 or any(b["data"].get("positiveActiveEnergy") is None for b in doc["data"]):
        raise RuntimeError(f"{path}: {len(doc['data'])} buckets, or some without energy")


def measure(servers: dict[str, tuple[Server, Client]], pages: dict[str, tuple[str, list[str]]],
            rounds: int) -> dict[str, dict[str, list[float]]]:
    """{page: {label: [median ms of each round]}}: per round PER_ROUND requests per page and server, in turns."""
    out: dict[str, dict[str, list[float]]] = {page: {} for page in pages}
    for rnd in range(rounds):
        for page, (path, labels) in pages.items():
            samples: dict[str, list[float]] = {label: [] for label in labels}
            for i in range(PER_ROUND + 2):
                order = labels if (i + rnd) % 2 == 0 else labels[::-1]
                for label in order:
                    status, body, seconds = servers[label][1].get(path)
                    if status != 200:
                        raise RuntimeError(f"{label} {page}: {status} {body[:200]!r}")
                    if i >= 2:
                        samples[label].append(seconds * 1000)
            for label, values in samples.items():
                out[page].setdefault(label, []).append(statistics.median(values))
        log(f"round {rnd + 1}/{rounds}: " + "; ".join(
            f"{page} " + " / ".join(f"{label} {v[-1]:.2f}" for label, v in per.items()) for page, per in out.items()))
    return out


def wrk_rounds(servers: dict[str, tuple[Server, Client]], tokens: dict[str, str], path: str, rounds: int
               ) -> dict[str, list[float]]:
    """Per round and server, wrk's median latency (ms) at one connection, the servers in turns."""
    out: dict[str, list[float]] = {"base": [], "head": []}
    for rnd in range(rounds):
        for label in ("base", "head") if rnd % 2 == 0 else ("head", "base"):
            result = run_wrk(servers[label][0].url(path), tokens[label], 4, threads=1, connections=1)
            if result.non_2xx or result.socket_errors:
                raise RuntimeError(f"wrk on {label}: {result.non_2xx} non-2xx, socket errors {result.socket_errors}")
            out[label].append(result.latency_ms["p50"])
        log(f"wrk round {rnd + 1}/{rounds}: base {out['base'][-1]:.2f} / head {out['head'][-1]:.2f} ms (p50)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.year_page", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="base revision (cloned under bench/data/versus/)")
    parser.add_argument("--head", default=None, help="a tree with .venv, or a revision (default: this checkout)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--one-second", action="store_true", help="also a year of 1-second data (head only)")
    parser.add_argument("--wrk", action="store_true", help="also wrk -t1 -c1 on the 15-minute pages (Berlin, Kolkata)")
    args = parser.parse_args(argv)
    EXTRA_ENV.update(NO_PAGE_CACHE)
    if args.wrk:
        ensure_tools(need_wrk=True)
    began = time.perf_counter()
    base, head = install_revision("base", args.base), install_head(args.head)
    dbs = {install.label: build(install, METERS) for install in (base, head)}
    dense = build(head, {"1s": (YEAR_1S, YEAR_1S_ENTITY)}, keep=True) if args.one_second else None
    tokens = {i.label: i.run("token", "--all", "--scope", "readings:read", "--ttl", "1 day", "--jwt-secret",
                             SECRET).stdout.strip() for i in (base, head)}
    started = [Server(base, dbs["base"]), Server(head, dbs["head"])]
    if dense is not None:
        started.append(Server(head, dense))
    try:
        servers = {"base": (started[0], Client(started[0].port, tokens["base"])),
                   "head": (started[1], Client(started[1].port, tokens["head"]))}
        pages = {f"{meter} {zone}": (year_path(entity, zone), ["base", "head"])
                 for meter, (_, entity) in METERS.items() for zone in ZONES}
        if dense is not None:
            servers["head 1s"] = (started[2], Client(started[2].port, tokens["head"]))
            pages["15min Berlin (head vs 1 s)"] = (year_path(YEAR_15MIN_ENTITY, "Berlin"), ["head"])
            pages["1s Berlin"] = (year_path(YEAR_1S_ENTITY, "Berlin"), ["head 1s"])
        for page, (path, labels) in pages.items():
            for label in labels:
                check(servers[label][1], path)
        loads = [os.getloadavg()[0]]
        results = measure(servers, pages, args.rounds)
        if args.wrk:
            for zone in ZONES:
                results[f"wrk: 15min {zone}"] = wrk_rounds(servers, tokens, year_path(YEAR_15MIN_ENTITY, zone), args.rounds)
        loads.append(os.getloadavg()[0])
    finally:
        for server in started:
            server.stop()
    lines, figures = [], {}
    for page, per in results.items():
        if "base" in per:
            ratios = [h / b for h, b in zip(per["head"], per["base"])]
            figures[page] = {"base_ms": statistics.median(per["base"]), "head_ms": statistics.median(per["head"]),
                             "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)]}
            lines.append(f"{page:28} base {figures[page]['base_ms']:6.2f} ms  head {figures[page]['head_ms']:6.2f} ms  "
                         f"head/base {figures[page]['ratio']:.2f} ({min(ratios):.2f}–{max(ratios):.2f})")
    if dense is not None:
        ratios = [d / q for d, q in zip(results["1s Berlin"]["head 1s"], results["15min Berlin (head vs 1 s)"]["head"])]
        figures["density"] = {"one_second_ms": statistics.median(results["1s Berlin"]["head 1s"]),
                              "quarter_hour_ms": statistics.median(results["15min Berlin (head vs 1 s)"]["head"]),
                              "ratio": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)]}
        lines.append(f"{'density (head)':28} 1 s {figures['density']['one_second_ms']:6.2f} ms  15 min "
                     f"{figures['density']['quarter_hour_ms']:6.2f} ms  ratio {figures['density']['ratio']:.2f} "
                     f"({min(ratios):.2f}–{max(ratios):.2f})")
    seconds = time.perf_counter() - began
    print(f"\nbase {base.describe} vs head {head.describe}; {args.rounds} rounds × {PER_ROUND}; "
          f"load {loads[0]:.1f} → {loads[1]:.1f}; {seconds:.0f} s")
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "year_page.json"
    out.write_text(json.dumps({"command": "python -m bench.year_page " + " ".join(argv or sys.argv[1:]),
                               "base": base.describe, "head": head.describe, "rounds": args.rounds,
                               "load": loads, "seconds": round(seconds), "figures": figures, "raw": results},
                              indent=1))
    print(f"details in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
