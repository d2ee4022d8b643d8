"""Capacity-tariff micro-benchmark: `usecases.statistics.capacity_tariff` on SQLite, in one process.

    python -m bench.capacity                 # 15-minute, 1-minute and 10-second data, 7 runs each
    python -m bench.capacity --repeat 11

Data: one entity per data set, the bench's household meter (`datagen.Household`, with a meter reset), from
2023-01-01 to 2025-03-01 (26 months: a 12-month request looks back 11 more months), written by
`datagen.write_single` into bench/data/capacity-<step>.db (cached). The request: 2024-02-01 .. 2025-02-01
in Europe/Brussels, 12 months, 23 months of quarter-hours read (~67k windows).

Figures, each the median of `--repeat` runs (milliseconds, wall time):
- new: `capacity_tariff` as shipped (per chunk of edges: read the samples, or seek when they are dense);
- new, seeks only / new, samples only: the same with the choice forced (SCAN_RATIO 0 / huge), which is what
  the threshold SCAN_RATIO is chosen from.
Absolute times drift with the machine's load; `python -m bench.versus` compares two commits over HTTP.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from connect_readings.usecases import statistics as statistics_service
from connect_readings.storage.sqlite import SQLiteStore

from .common import ensure_tools

ensure_tools(need_wrk=False)  # numpy, before the modules below import it

from .common import DATA, log
from .datagen import SECOND, Household, write_single

ENTITY = uuid.UUID("5d1e4c3b-2a19-4f08-8e7d-6c5b4a392817")
BRUSSELS = ZoneInfo("Europe/Brussels")
FIRST = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp()) * SECOND
LAST = int(datetime(2025, 3, 1, tzinfo=UTC).timestamp()) * SECOND
START = int(datetime(2024, 2, 1, 12, tzinfo=UTC).timestamp()) * SECOND
END = int(datetime(2025, 1, 20, tzinfo=UTC).timestamp()) * SECOND  # widened to 2025-02-01 local


def database(step: int) -> Path:
    path = DATA / f"capacity-{step // SECOND}s.db"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        total = (LAST - FIRST) // step
        log(f"writing {total:,} readings every {step // SECOND} s to {path}")
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        write_single(partial, ENTITY, Household(FIRST, step, seed=7, reset_at=total // 3), total)
        partial.rename(path)
    return path


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--steps", default="900,60,10", help="reading steps in seconds, comma-separated")
    args = parser.parse_args(argv)
    print(f"{'data':>12} {'readings':>11} {'new ms':>8} {'seeks ms':>9} {'samples ms':>11}")
    for step in (int(s) * SECOND for s in args.steps.split(",")):
        path = database(step)
        store = SQLiteStore(str(path))
        try:
            count = store.reading_count()

            def new() -> list:
                with store.snapshot():
                    return statistics_service.capacity_tariff(store, ENTITY, START, END, BRUSSELS)

            new()  # warm: page cache, zone model
            new_ms, result = timed(new, args.repeat)
            ratio = statistics_service.SCAN_RATIO
            statistics_service.SCAN_RATIO = 0
            seek_ms, seek_result = timed(new, max(3, args.repeat // 2))
            statistics_service.SCAN_RATIO = 10**9
            scan_ms, scan_result = timed(new, max(3, args.repeat // 2)) if step >= 10 * SECOND else (float("nan"), result)
            statistics_service.SCAN_RATIO = ratio
            assert seek_result == result and scan_result == result
            assert len(result) == 12  # type: ignore[arg-type]
            print(f"{step // SECOND:>10} s {count:>11,} {new_ms:>8.1f} {seek_ms:>9.1f} {scan_ms:>11.1f}", flush=True)
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
