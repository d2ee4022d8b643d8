"""The year page's steps in-process, ms of thread CPU: this tree against another tree's (`--base-src`), in one run.
Each round times both trees, each in a child process of its own (alternating which goes first), over the 15-minute
meter of `bench.year_page` (2023 as 365 daily buckets, Berlin and Kolkata), imported by each tree's own code.

    python -m bench.year_split --base-src /tmp/year-base/src [--rounds 7] [--loops 300]

The steps are those of `aggregation_page` and the page's encoding: the grid's edges, the store's edge values, the
rounded deltas, AggregationData, the buckets with their ids, the wire items, orjson; `page` is the whole of it as
`Api` computes it (`aggregation_page` + `encode.aggregations` + orjson, in a snapshot). A child's figure per step
is its median over `--loops` pages. Prints each child's figures, then per step the medians of the rounds and the
median per-round ratio after / before. (The HTTP server's share is `bench.year_page --wrk`'s.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

from .common import REPO
from .versus import YEAR_15MIN, YEAR_15MIN_ENTITY

CHILD = """
import json, statistics, sys, time, uuid
from datetime import datetime
from zoneinfo import ZoneInfo
import orjson
import connect_readings
from connect_readings.cli import main as cli
from connect_readings.domain.interval import parse_resolution
from connect_readings.domain.registers import aggregate_columns, edge_deltas
from connect_readings.storage import open_store
from connect_readings.usecases import aggregations as A
from connect_readings.wire import encode
feed, entity, db, loops = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
try:
    cli(["import", feed, "--entity", entity, "--format", "jsonl", "--database", db])
except SystemExit as done:
    assert not done.code, done.code
store = open_store(db)
eid = uuid.UUID(entity)
us = lambda text: int(datetime.fromisoformat(text).timestamp()) * 1_000_000
out = {"source": connect_readings.__file__}
for zone, first, last in (("Europe/Berlin", "2022-12-31T23:00:00+00:00", "2023-12-31T23:00:00+00:00"),
                          ("Asia/Kolkata", "2022-12-31T18:30:00+00:00", "2023-12-31T18:30:00+00:00")):
    tz, start, end = ZoneInfo(zone), us(first), us(last)
    q = A.AggregationQuery(eid, start, end, parse_resolution("1 day"), tz)
    prefix = A.aggregation_id_prefix(q)
    steps = {}
    def timed(name, fn, *args):
        t = time.thread_time()
        value = fn(*args)
        steps.setdefault(name, []).append(time.thread_time() - t)
        return value
    def buckets(edges, values):
        return [A.Bucket(id=A.bucket_id(A.AGGREGATION_NAMESPACE, prefix, b0, b1), start=b0, end=b1, data=data)
                if data else None for b0, b1, data in zip(edges, edges[1:], values)]
    def page():
        with store.snapshot():
            items = A.aggregation_page(store, q, start, 365).items
        return orjson.dumps(encode.aggregations(entity, items, tz))
    for _ in range(loops):
        with store.snapshot():
            edges = timed("grid", q.grid.page_edges, start, start, end, 366)
            registers, columns = timed("store", store.register_edges, eid, edges)
            deltas, _ = timed("deltas", edge_deltas, edges, registers, columns, None)
            values = timed("data", aggregate_columns, deltas, len(edges) - 1)
            items = timed("buckets", buckets, edges, values)
        wire = timed("wire", encode.aggregations, entity, items, tz)
        body = timed("orjson", orjson.dumps, wire)
        assert len(orjson.loads(timed("page", page))) == 365 and body
    out[zone] = {name: 1e3 * statistics.median(values) for name, values in steps.items()}
print(json.dumps(out))
"""


def run_child(src: str, feed: str, loops: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as work:
        out = subprocess.run([sys.executable, "-c", CHILD, feed, YEAR_15MIN_ENTITY, f"{work}/year.db", str(loops)],
                             cwd=REPO, env={"PYTHONPATH": f"{src}:{REPO}", "PATH": "/usr/bin:/bin"}, check=True,
                             stdout=subprocess.PIPE, text=True).stdout
    result = json.loads(out.splitlines()[-1])
    assert result.pop("source").startswith(src), src
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-src", required=True, help="the 'before' tree's src folder")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--loops", type=int, default=300, help="pages per child; its median is its figure")
    args = parser.parse_args()
    feed = str(YEAR_15MIN.write())
    trees = [("after", str(REPO / "src")), ("before", str(args.base_src).rstrip("/"))]
    results: dict[str, list[dict[str, dict[str, float]]]] = {tree: [] for tree, _ in trees}
    for n in range(args.rounds):
        for tree, src in (trees if n % 2 == 0 else trees[::-1]):
            results[tree].append(run_child(src, feed, args.loops))
            print(json.dumps({"round": n, "tree": tree, **results[tree][-1]}), flush=True)
    print(f"\nthe year page's steps, ms of thread CPU, {args.rounds} rounds (median of {args.loops} pages each)\n")
    for zone in results["after"][0]:
        print(zone)
        for step in results["after"][0][zone]:
            after = [r[zone][step] for r in results["after"]]
            before = [r[zone][step] for r in results["before"]]
            ratios = [a / b for a, b in zip(after, before)]
            print(f"  {step:8} before {statistics.median(before):6.3f}  after {statistics.median(after):6.3f}  "
                  f"after/before {statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})")


if __name__ == "__main__":
    main()
