#!/usr/bin/env python3
"""The long crash-safety run: SIGKILL the real server at random moments during ingest, N times.

    python scripts/crash_loop.py --cycles 200 [--windows 24 --size 300 --writers 3 --max-run 1.5 --seed 7]

Same loop and checks as tests/test_crash_safety.py (every acknowledged batch whole after restart, no partial
or mixed batch visible, `PRAGMA integrity_check` ok after every kill). Exits non-zero on the first violation.
Only talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_crash_safety import crash_loop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--windows", type=int, default=24, help="windows (batches rewrite one whole window)")
    parser.add_argument("--size", type=int, default=300, help="readings per batch")
    parser.add_argument("--writers", type=int, default=3, help="concurrent writer connections")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--max-run", type=float, default=1.5, help="longest time between start and kill, s")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the database and log here")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="crash-loop-"))
    workdir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    log = None if args.quiet else (lambda line: print(line, flush=True))
    report = crash_loop(workdir, cycles=args.cycles, windows=args.windows, size=args.size, writers=args.writers,
                        max_run_s=args.max_run, seed=args.seed, log=log, workers=args.workers)
    print(f"survived {report.cycles} SIGKILL cycles in {time.monotonic() - began:.0f} s: "
          f"{report.acked_batches} batches acknowledged ({report.acked_batches * args.size} readings), "
          f"{report.kills_mid_request} kills with a batch in flight, {report.windows_whole}/{args.windows} "
          f"windows whole at the end, integrity_check ok after every kill (workdir {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
