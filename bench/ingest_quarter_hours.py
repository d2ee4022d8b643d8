"""Store-level ingest of 15-minute data: the worst case of the quarter-hour register edges (one edge per
register per reading), as process CPU time, best of `--repeat`.

    python -m bench.ingest_quarter_hours
    PYTHONPATH=/path/to/other/src python -m bench.ingest_quarter_hours   # another source tree, same data

A year of `datagen.Household` readings every 15 minutes (35,136; t1/t2/total, injection t1/total), parsed once
(`parse_reading`), then written with `SQLiteStore.ingest` in batches of `--batch` into a fresh database.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid

from .common import ensure_tools

ensure_tools(need_wrk=False)  # numpy, before datagen imports it

import connect_readings
from connect_readings.domain.readings import parse_reading
from connect_readings.storage import open_store

from .datagen import SECOND, Household, wire_readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=366)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    meter = Household(1_672_444_800 * SECOND, 900 * SECOND, seed=21)
    blocks = [[parse_reading(item) for item in wire_readings(block)] for block in meter.blocks(96 * args.days, args.batch)]
    n = sum(map(len, blocks))
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(os.path.join(folder, "quarter-hours.db"))
            entity = uuid.uuid4()
            began = time.process_time()
            for block in blocks:
                store.ingest(entity, block)
            runs.append(time.process_time() - began)
            store.close()
    best = min(runs)
    print(f"source: {os.path.dirname(connect_readings.__file__)}")
    print(f"{n:,} readings every 15 minutes, batches of {args.batch:,}: best of {args.repeat} "
          f"{best:.3f} s cpu, {n / best:,.0f} readings/s, {best / n * 1e6:.2f} µs/reading")


if __name__ == "__main__":
    main()
