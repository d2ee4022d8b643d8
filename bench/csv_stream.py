"""`python -m bench.csv_stream`: one streamed CSV download of 200,000 readings from a real server.

Prints the time to the first byte, to the whole file, and the server's peak resident memory (VmHWM). With
`--src DIR` the server runs another checkout's `src` (e.g. a worktree of an older commit) for a before/after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import httpx
import orjson

from .common import REPO, Server, cli_executable, free_port, remove_db, token

ENTITY = "8667fb97-68f2-485a-87c7-f3bdfa9482e1"
DATA = REPO / "bench" / "data"


def database(rows: int) -> Path:
    """A SQLite file of `rows` readings, one a minute (energy t1/t2/total, power per phase); made once."""
    import subprocess

    path = DATA / f"csv-stream-{rows}.db"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    lines = DATA / f"csv-stream-{rows}.jsonl"
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    with lines.open("wb") as out:
        for i in range(rows):
            out.write(orjson.dumps({"timestamp": (t0 + dt.timedelta(minutes=i)).isoformat(), "data": {
                "positiveActiveEnergy": {"t1": i / 3, "t2": i / 7, "total": i / 3 + i / 7, "unit": "kWh"},
                "positiveActiveInstantaneousPower": {"l1": 1000.5, "l2": 20.25, "l3": 3.0, "total": 1023.75,
                                                     "unit": "W"}}}) + b"\n")
    remove_db(path)
    subprocess.run([cli_executable(), "import", str(lines), "--entity", ENTITY, "--database", str(path)], check=True)
    lines.unlink()
    return path


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--src", help="a checkout's src folder to run the server from")
    args = parser.parse_args()
    path = database(args.rows)
    port = free_port()
    env = {"PYTHONPATH": f"{args.src}:{REPO}"} if args.src else None
    argv = [cli_executable(), "serve", "--host", "127.0.0.1", "--port", str(port), "--database", str(path),
            "--workers", "1", "--csv-max-rows", str(args.rows)]
    with Server("csv-stream", argv, port, env) as server:
        before = peak_kib(server.pid)
        end = (dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=args.rows)).isoformat()
        url = server.url(f"/v1/entities/{ENTITY}/readings")
        began = time.perf_counter()
        first = None
        size = 0
        with httpx.stream("GET", url, params={"start": "2024-01-01T00:00:00Z", "end": end, "format": "csv"},
                          headers={"Authorization": f"Bearer {token()}"}, timeout=600) as response:
            for piece in response.iter_raw():
                first = first if first is not None else time.perf_counter() - began
                size += len(piece)
        whole = time.perf_counter() - began
        print(f"status {response.status_code}, {size:,} bytes; first byte {first or 0:.2f} s, whole file "
              f"{whole:.2f} s; server peak resident {peak_kib(server.pid) / 1024:.0f} MB (before: {before / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
