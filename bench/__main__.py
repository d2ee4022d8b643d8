"""`python -m bench`: generate the data sets, run every figure of issue 6, print measured / target / result.

    python -m bench                      # everything, full size (100M-reading scale store: long, ~10 GB)
    python -m bench --quick              # smoke version, a couple of minutes
    python -m bench --only hot,density   # some figures (hot, density, peer, ingest, scale)
    python -m bench --scale-readings 20000000
    python -m bench --profile            # py-spy the servers under load (bench/results/profile-*.txt)

Results: the table on stdout, details in bench/results/results-{quick,full}.json, the chart in
bench/results/latency_vs_density.png. Data sets are cached in bench/data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
import traceback
from pathlib import Path

from .common import RESULTS, Row, ensure_tools, log, render_table

ORDER = ["hot", "density", "peer", "ingest", "scale"]


def machine() -> dict[str, str]:
    cpu = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                cpu = line.split(":", 1)[1].strip()
    except FileNotFoundError:
        pass
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    versions = {}
    for pkg in ("starlette", "uvicorn", "orjson", "uvloop", "httptools"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg)
        except Exception:
            versions[pkg] = "not installed"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem_kb / 2**20:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        **versions,
    }


def source_state() -> dict[str, str]:
    """Which code was measured: the commit, and a fingerprint of src/ as it was (others edit it live)."""
    import hashlib

    repo = Path(__file__).resolve().parent.parent
    digest = hashlib.sha1()
    for path in sorted((repo / "src").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".sql", ".yaml"):
            digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes())
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "src"], capture_output=True, text=True)
    return {"commit": head.stdout.strip(), "src_dirty": str(bool(dirty.stdout.strip())),
            "src_fingerprint": digest.hexdigest()[:12]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data and short runs (~2 minutes)")
    parser.add_argument("--only", action="append", default=[], help=f"comma-separated subset of {ORDER}")
    parser.add_argument("--scale-readings", type=int, default=None,
                        help="readings in the big store of figure 5 (default 100M; 5M with --quick)")
    parser.add_argument("--profile", action="store_true", help="py-spy the server during each figure")
    parser.add_argument("--prepare", action="store_true", help="only build the data sets (cached in bench/data/)")
    parser.add_argument("--no-verify", action="store_true", help="skip the bulk-path equality check")
    args = parser.parse_args(argv)

    selected = [name for item in args.only for name in item.split(",") if name] or ORDER
    unknown = set(selected) - set(ORDER)
    if unknown:
        parser.error(f"unknown figure(s) {sorted(unknown)}; choose from {ORDER}")
    ensure_tools(need_wrk=bool({"hot", "scale"} & set(selected)))
    if args.profile and shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "py-spy"], check=False)

    from .figures import FIGURES, Config, prepare, verify_rows

    scale = args.scale_readings or (5_000_000 if args.quick else 100_000_000)
    cfg = Config(quick=args.quick, scale_readings=scale, profile=args.profile)
    mode = "quick" if args.quick else "full"
    if args.prepare:
        prepare(cfg, selected)
        log("data sets ready")
        return 0
    details: dict = {"mode": mode, "machine": machine(), "source": source_state(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                     "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])}
    rows: list[Row] = []
    began = time.perf_counter()
    if not args.no_verify and {"density", "peer", "scale"} & set(selected):
        rows += verify_rows(details)
    for name in ORDER:
        if name not in selected:
            continue
        load = os.getloadavg()
        details.setdefault("loadavg_at_start", {})[name] = [round(x, 2) for x in load]
        log(f"=== figure: {name} === (load average {load[0]:.2f}; other processes on this machine skew timings)")
        t0 = time.perf_counter()
        try:
            rows += FIGURES[name](cfg, details)
        except Exception as exc:  # one broken figure must not hide the others
            traceback.print_exc()
            rows.append(Row({"hot": "1", "density": "2", "peer": "3", "ingest": "4", "scale": "5"}[name], name,
                            None, "", "", False, f"error: {exc}"[:200]))
        details.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 1)
    details["total_seconds"] = round(time.perf_counter() - began, 1)
    details["rows"] = [r.__dict__ for r in rows]
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = mode if set(selected) == set(ORDER) else mode + "-" + "-".join(selected)
    out = RESULTS / f"results-{suffix}.json"
    out.write_text(json.dumps(details, indent=1, default=str))
    m = details["machine"]
    print()
    src = details["source"]
    print(f"connect-readings benchmarks ({mode}) — {m['nproc']} × {m['cpu']}, {m['memory']}, Python {m['python']}, "
          f"SQLite {m['sqlite']}; commit {src['commit']}{' + uncommitted src' if src['src_dirty'] == 'True' else ''} "
          f"(src {src['src_fingerprint']})")
    print(render_table(rows))
    busy = {k: v[0] for k, v in details.get("loadavg_at_start", {}).items() if v[0] > 1.5}
    if busy:
        print("\nnote: the machine was busy when these figures started (1-min load average): "
              + ", ".join(f"{k} {v:.1f}" for k, v in busy.items()))
    print(f"\n{sum(r.passed is True for r in rows)} pass, {sum(r.passed is False for r in rows)} fail; "
          f"{details['total_seconds']:.0f} s; details in {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
