"""Ingest micro-benchmark: validation and SQLite ingest in one process, and `connect-readings import`.

    python -m bench.ingest_micro                      # 500k readings, best of 3
    python -m bench.ingest_micro --n 200000 --repeat 5
    PYTHONPATH=/path/to/other/src python -m bench.ingest_micro   # measure another source tree

The figures, each as readings/s over wall time and over process CPU time (the machine is shared and noisy,
so CPU time is the steadier figure; the best of `--repeat` runs is reported):

- parse_reading: `parse_reading` over already-decoded JSON items (the validation alone);
- parse_batch:   the HTTP handler's body parser over request bodies of 5,000 readings (decoding + validation;
                 `api.body.parse_batch`, or `api.app._parse_batch` in trees from before it);
- parse_batch + SQLite ingest: the body parser then `SQLiteStore.ingest` per body, into a fresh database (what
                 one worker does for `POST /readings`, without HTTP);
- import jsonl / import csv: `connect-readings import` of the same readings as a file, in a child process
                 (CPU time of the child).

The data are the bench's household meter (10-second steps, integer Wh registers in two tiered metrics, as a
real meter sends them), the shape `bench.ingest_client` posts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from .datagen import SECOND, Household, wire_readings

BATCH = 5_000
ENTITY = uuid.UUID("3f2c1f4e-2b8a-4d55-9a0c-0e1d2c3b4a59")


def readings(n: int) -> list[dict[str, Any]]:
    meter = Household(1_704_067_200 * SECOND, 10 * SECOND, seed=4242)
    items: list[dict[str, Any]] = []
    for block in meter.blocks(n, 100_000):
        items.extend(wire_readings(block))
    return items


def write_files(items: list[dict[str, Any]], folder: Path) -> tuple[Path, Path]:
    jsonl, csv_path = folder / f"micro-{len(items)}.jsonl", folder / f"micro-{len(items)}.csv"
    if not jsonl.exists():
        jsonl.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
    if not csv_path.exists():
        lines = ["timestamp,positiveActiveEnergy.t1,positiveActiveEnergy.t2,positiveActiveEnergy.total,"
                 "positiveActiveEnergy.unit,negativeActiveEnergy.t1,negativeActiveEnergy.total,negativeActiveEnergy.unit"]
        for item in items:
            pos, neg = item["data"]["positiveActiveEnergy"], item["data"]["negativeActiveEnergy"]
            lines.append(f"{item['timestamp']},{pos['t1']},{pos['t2']},{pos['total']},{pos['unit']},"
                         f"{neg['t1']},{neg['total']},{neg['unit']}")
        csv_path.write_text("\n".join(lines) + "\n")
    return jsonl, csv_path


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall s, CPU s of this process) of one call."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - wall0, time.process_time() - cpu0


def timed_child(argv: list[str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, its stdout) of one command."""
    wall0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stdout = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - wall0
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed: {stdout.decode()[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, stdout.decode().strip()


def best(runs: list[tuple[float, ...]]) -> tuple[float, float]:
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500_000, help="readings (default 500,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is reported")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "connect-readings-micro")
    figures = ["parse_reading", "parse_batch", "ingest", "import_jsonl", "import_csv"]
    parser.add_argument("--only", nargs="*", default=None, choices=figures)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    only = set(args.only or figures)

    import connect_readings
    from connect_readings.domain.readings import parse_reading
    from connect_readings.storage.sqlite import SQLiteStore

    try:
        from connect_readings.ingest.batch import parse_batch as _parse_batch
    except ImportError:  # a tree from before api/body.py
        from connect_readings.api.app import _parse_batch  # type: ignore[attr-defined,no-redef]

    args.workdir.mkdir(parents=True, exist_ok=True)
    items = readings(args.n)
    bodies = [orjson.dumps({"data": items[i:i + BATCH]}) for i in range(0, len(items), BATCH)]
    decoded = [orjson.loads(item) for item in (orjson.dumps(item) for item in items)]  # fresh, as from orjson
    gc.collect()
    gc.freeze()  # the bench's own data is not the collector's work in a server: keep it out of every pass
    results: dict[str, tuple[float, float]] = {}

    chunks = [decoded[i:i + BATCH] for i in range(0, len(decoded), BATCH)]

    def parse_chunks() -> None:  # each batch's readings are dropped before the next, as in the server
        for chunk in chunks:
            [parse_reading(item) for item in chunk]

    def parse_bodies() -> None:
        for body in bodies:
            _parse_batch(body, 10_000)

    if "parse_reading" in only:
        results["parse_reading"] = best([timed(parse_chunks) for _ in range(args.repeat)])
    if "parse_batch" in only:
        results["parse_batch (decode + validate)"] = best([timed(parse_bodies) for _ in range(args.repeat)])

    def ingest_figure(parse: Callable[[bytes], Any]) -> tuple[float, float]:
        runs = []
        for r in range(args.repeat):
            path = args.workdir / f"micro-ingest-{os.getpid()}-{r}.db"
            store = SQLiteStore(str(path))

            def ingest_bodies() -> None:
                for body in bodies:
                    store.ingest(ENTITY, parse(body))

            runs.append(timed(ingest_bodies))
            count = store.db.execute("SELECT count(*) FROM readings").fetchone()[0]
            store.close()
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            assert count == args.n, count
        return best(runs)

    if "ingest" in only:
        results[f"parse_batch + SQLite ingest ({BATCH:,}/call)"] = ingest_figure(lambda body: _parse_batch(body, 10_000))

    jsonl, csv_path = write_files(items, args.workdir) if only & {"import_jsonl", "import_csv"} else (None, None)
    cli = [sys.executable, "-c", "from connect_readings.cli import main; main()", "import"]
    for key, source in (("import_jsonl", jsonl), ("import_csv", csv_path)):
        if key not in only or source is None:
            continue
        runs = []
        for r in range(args.repeat):
            path = args.workdir / f"micro-import-{os.getpid()}-{r}.db"
            wall, cpu, out = timed_child([*cli, str(source), "--entity", str(ENTITY), "--database", str(path)])
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            if f"written {args.n}," not in out:
                raise RuntimeError(f"import did not write {args.n} readings: {out[:300]}")
            runs.append((wall, cpu))
        results[f"connect-readings import ({key.split('_')[1]})"] = best(runs)

    source_tree = str(Path(connect_readings.__file__).parent)
    if args.json:
        print(json.dumps({"n": args.n, "source": source_tree, "results": {
            k: {"wall_s": w, "cpu_s": c, "per_s_wall": args.n / w, "per_s_cpu": args.n / c} for k, (w, c) in results.items()
        }}))
        return
    print(f"{args.n:,} readings, best of {args.repeat}; source: {source_tree}")
    print(f"{'figure':45} {'wall s':>8} {'cpu s':>8} {'readings/s (wall)':>18} {'readings/s (cpu)':>17} {'µs/reading (cpu)':>17}")
    for name, (wall, cpu) in results.items():
        print(f"{name:45} {wall:8.2f} {cpu:8.2f} {args.n / wall:18,.0f} {args.n / cpu:17,.0f} {1e6 * cpu / args.n:17.2f}")


if __name__ == "__main__":
    main()
