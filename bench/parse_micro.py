"""The ingest body parser alone, µs per reading: `ingest.batch.parse_batch` of this tree against another tree's
(`--base-src`), in one run. Each round times both trees, each in a child process of its own (alternating which
goes first), over the bodies `bench.ingest_client` posts (the household meter: two tiered registers in Wh).

    python -m bench.parse_micro --base-src /tmp/parse-base/src [--rounds 7] [--bodies 40] [--batch-size 1000]

A child decodes every body once (so every hour is remembered, as in a server that has run for a moment), then
parses all of them `--loops` times, the collector on as in a server; its figure is the median loop, in process
CPU time (the machine is shared: CPU time is the steadier figure). Prints one JSON line per child, then the
medians and the per-round ratios after / before.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from .common import REPO

CHILD = """
import json, statistics, sys, time
from bench.ingest_client import bodies
try:
    from connect_readings.ingest.batch import parse_batch
except ImportError:
    from connect_readings.api.body import parse_batch
import connect_readings
count, size, loops = map(int, sys.argv[1:4])
payloads = bodies(0, count, size)
for body in payloads:
    assert len(parse_batch(body, size)) == size
samples = []
for _ in range(loops):
    t0 = time.process_time()
    for body in payloads:
        parse_batch(body, size)
    samples.append(time.process_time() - t0)
print(json.dumps({"source": connect_readings.__file__, "us_per_reading": 1e6 * statistics.median(samples) / (count * size)}))
"""


def run_child(src: str, args: argparse.Namespace) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(args.bodies), str(args.batch_size), str(args.loops)],
                         cwd=REPO, env={"PYTHONPATH": f"{src}:{REPO}", "PATH": "/usr/bin:/bin"}, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out)
    assert result["source"].startswith(src), (result["source"], src)
    return result["us_per_reading"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-src", required=True, help="the 'before' tree's src folder")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--bodies", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--loops", type=int, default=5, help="per child; its median is its figure")
    args = parser.parse_args()
    trees = [("after", str(REPO / "src")), ("before", str(args.base_src).rstrip("/"))]
    results: dict[str, list[float]] = {tree: [] for tree, _ in trees}
    for n in range(args.rounds):
        for tree, src in (trees if n % 2 == 0 else trees[::-1]):
            results[tree].append(run_child(src, args))
            print(json.dumps({"round": n, "tree": tree, "us_per_reading": round(results[tree][-1], 3)}), flush=True)
    print(f"\nparse_batch, {args.bodies} bodies of {args.batch_size:,} readings, {args.rounds} rounds "
          f"(median of {args.loops} loops each)\n")
    for tree, figures in results.items():
        print(f"{tree:7} median {statistics.median(figures):6.3f} µs/reading   rounds "
              + ", ".join(f"{x:.3f}" for x in figures))
    ratios = [a / b for a, b in zip(results["after"], results["before"])]
    print(f"after / before: median {statistics.median(ratios):.2f} (rounds " + ", ".join(f"{r:.2f}" for r in ratios)
          + ")")


if __name__ == "__main__":
    main()
