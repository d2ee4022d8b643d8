#!/usr/bin/env python3
"""HTTP ingest throughput per SQLite `synchronous` level: what FULL (every acknowledged batch survives a
power loss) costs against NORMAL (it survives a crash of the process only).

    python scripts/ingest_durability.py [--rounds 3] [--levels NORMAL,FULL] [--workdir DIR]

Runs in the project's venv (it uses `bench.ingest_client`, the load generator of the bench's ingest
figure). For each workload and round, each level in turn (the order flips every round, so drift of the
shared machine lands on both): a fresh database in --workdir (default: a temporary directory; it must be on
the disk you want to measure, since FULL's cost is one fsync of the WAL per commit), `connect-readings serve
--workers 1` with CONNECT_READINGS_SQLITE_SYNCHRONOUS set to the level (every other setting at its default),
then `python -m bench.ingest_client` against it. The server is started and stopped by the tests' `Server`
(tests/test_crash_safety.py), as scripts/soak.py does. Workloads:

  bulk:   4 senders × 10 batches of 5,000 readings (the bench's figure)
  small:  4 senders × 500 batches of 20 readings
  single: 1 sender × 2,000 batches of 1 reading (one acknowledgement per reading)

Prints, per workload and level, readings/s (median over the rounds, with every round's figure) and the
median batch latency, and the ratio of each level to the first one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.test_crash_safety import Server, token  # noqa: E402

WORKLOADS = {"bulk": (4, 10, 5_000), "small": (4, 500, 20), "single": (1, 2_000, 1)}


def measure(level: str, workload: str, workdir: Path, bearer: str) -> dict[str, float]:
    senders, batches, size = WORKLOADS[workload]
    database = workdir / f"ingest-{level.lower()}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    try:
        with Server(database, env={"CONNECT_READINGS_SQLITE_SYNCHRONOUS": level},
                    log_path=workdir / "server.log") as server:
            out = subprocess.run([sys.executable, "-m", "bench.ingest_client", "--port", str(server.port),
                                  "--token", bearer, "--senders", str(senders), "--batches", str(batches),
                                  "--batch-size", str(size)], cwd=REPO, capture_output=True, text=True,
                                 check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        if result["errors"] or result["readings"] != senders * batches * size:
            raise SystemExit(f"{level} {workload}: {result}")
        return {"readings_per_s": result["readings_per_s"], "batch_ms_p50": result["batch_ms_p50"]}
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levels", default="NORMAL,FULL", help="comma-separated, the first is the reference")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"a subset of {', '.join(WORKLOADS)}")
    parser.add_argument("--workdir", type=Path, default=None, help="where the databases go (default: a temp dir)")
    args = parser.parse_args()
    levels = [level.strip().upper() for level in args.levels.split(",") if level.strip()]
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ingest-durability-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bearer = token(scope="readings:write")  # (signed with the secret Server gives every server it starts)
    figures: dict[tuple[str, str], list[dict[str, float]]] = {}
    for workload in workloads:
        for round_no in range(args.rounds):
            order = levels if round_no % 2 == 0 else levels[::-1]
            for level in order:
                figures.setdefault((workload, level), []).append(measure(level, workload, workdir, bearer))
            print(f"  {workload} round {round_no + 1}: " + ", ".join(
                f"{level} {figures[(workload, level)][-1]['readings_per_s']:,.0f}/s" for level in levels), flush=True)
    senders_note = {w: f"{s} sender{'s' if s > 1 else ''} × {b} batches of {n:,}" for w, (s, b, n) in WORKLOADS.items()}
    print(f"\n| workload | level | readings/s (median; rounds) | batch p50 ms | vs {levels[0]} |")
    print("|---|---|---|---|---|")
    for workload in workloads:
        reference = statistics.median(f["readings_per_s"] for f in figures[(workload, levels[0])])
        for level in levels:
            rates = [f["readings_per_s"] for f in figures[(workload, level)]]
            p50 = statistics.median(f["batch_ms_p50"] for f in figures[(workload, level)])
            print(f"| {workload} ({senders_note[workload]}) | {level} | {statistics.median(rates):,.0f} "
                  f"({', '.join(f'{r:,.0f}' for r in rates)}) | {p50:.2f} | {statistics.median(rates) / reference:.2f} × |")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
