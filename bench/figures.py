"""The figures of issue 6 (and issue 3, item 4). Each returns table rows and stores its details."""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .common import (
    DATA, REPO, RESULTS, Client, Row, Server, cli_executable, log, median_ms, remove_db, run_wrk, token,
    wrk_paths_script,
)
from .datasets import HOT_QUERY, fleet_db, household_db, import_jsonl, series_db


@dataclass
class Config:
    quick: bool
    scale_readings: int
    profile: bool

    @property
    def wrk_seconds(self) -> float:
        return 5 if self.quick else 10

    @property
    def warm_seconds(self) -> float:
        return 2 if self.quick else 3

    @property
    def rounds(self) -> int:
        return 1 if self.quick else 2


# -- profiling ------------------------------------------------------------------------------------------
def profile_during(pid: int, name: str, seconds: float, load: Any) -> dict[str, Any] | None:
    """py-spy (sampling, native-free) on a server PID while `load()` runs; summary of the collapsed stacks."""
    out = RESULTS / f"profile-{name}.txt"
    try:
        local = Path(sys.executable).parent / "py-spy"
        spy = subprocess.Popen([str(local) if local.exists() else "py-spy", "record", "-p", str(pid), "-d", str(int(seconds) + 1), "-r", "200",
                                "--format", "raw", "-o", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except FileNotFoundError:
        log("py-spy not installed (pip install py-spy); skipping the profile")
        return None
    time.sleep(0.5)
    load()
    _, err = spy.communicate()
    if spy.returncode != 0 or not out.exists():
        log(f"py-spy failed: {err.decode()[-300:]}")
        return None
    summary = summarize_collapsed(out)
    (RESULTS / f"profile-{name}-summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def summarize_collapsed(path: Path, top: int = 25) -> dict[str, Any]:
    self_time: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")" if " (" in f else f
                  for f in stack.split(";")]
        self_time[frames[-1]] = self_time.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    pct = lambda n: round(100.0 * n / max(total, 1), 1)  # noqa: E731
    return {
        "samples": total,
        "self": [(f, pct(n)) for f, n in sorted(self_time.items(), key=lambda kv: -kv[1])[:top]],
        "inclusive": [(f, pct(n)) for f, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top * 2]],
    }


# -- figure 1 -------------------------------------------------------------------------------------------
def fig_hot(cfg: Config, details: dict[str, Any]) -> list[Row]:
    from connect_readings.demo import HOUSEHOLD

    db = household_db()
    path = f"/v1/entities/{HOUSEHOLD}/aggregations?{HOT_QUERY}"
    bearer = token()
    info: dict[str, Any] = {"path": path, "rounds": []}
    with Server.ours("hot-ours", db) as ours, Server.control("hot-control", db, [path]) as control:
        c_ours, c_ctl = Client(ours.port, bearer), Client(control.port, bearer)
        s1, body_ours, _ = c_ours.get(path)
        s2, body_ctl, _ = c_ctl.get(path)
        c_ours.close(), c_ctl.close()
        doc = orjson.loads(body_ours)
        if s1 != 200 or len(doc["data"]) != 25 or not doc["links"]["next"]:
            raise RuntimeError(f"unexpected hot page: {s1} {body_ours[:300]!r}")
        same = body_ours == body_ctl.replace(f":{control.port}/".encode(), f":{ours.port}/".encode())
        info["identical_bodies"] = same  # links.next differs only in the port
        if not same:
            raise RuntimeError(f"control body differs from ours: {s2} {body_ctl[:200]!r}")
        results: dict[str, list] = {"ours": [], "control": []}
        for rnd in range(cfg.rounds):
            for label, server in (("ours", ours), ("control", control)):
                run_wrk(server.url(path), bearer, cfg.warm_seconds)
                res = run_wrk(server.url(path), bearer, cfg.wrk_seconds)
                if res.non_2xx or res.socket_errors:
                    raise RuntimeError(f"{label}: {res.non_2xx} non-2xx, socket errors {res.socket_errors}")
                results[label].append(res)
                log(f"hot page {label} round {rnd + 1}: {res.requests_per_s:,.0f} req/s, "
                    f"p50 {res.latency_ms.get('p50')} ms, p99 {res.latency_ms.get('p99')} ms")
        if cfg.profile:
            info["profile_ours"] = profile_during(ours.pid, "hot-ours", cfg.wrk_seconds,
                                                  lambda: run_wrk(ours.url(path), bearer, cfg.wrk_seconds))
            info["profile_control"] = profile_during(control.pid, "hot-control", cfg.wrk_seconds,
                                                     lambda: run_wrk(control.url(path), bearer, cfg.wrk_seconds))
    if cfg.profile:  # the app alone, without sockets or HTTP server (separate process: it patches the service)
        diag = subprocess.run([sys.executable, "-m", "bench.asgi_profile", "--requests", "3000"], cwd=str(REPO),
                              env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True)
        info["app_only"] = diag.stdout.strip().splitlines()
        log("app alone: " + " | ".join(info["app_only"]))
    rps = {k: statistics.mean(r.requests_per_s for r in v) for k, v in results.items()}
    p99 = {k: max(r.latency_ms["p99"] for r in v) for k, v in results.items()}
    ratio = rps["ours"] / rps["control"]
    info.update({k: [r.as_dict() for r in v] for k, v in results.items()})
    info.update({"req_s": rps, "p99_ms": p99, "ratio": ratio})
    details["hot"] = info
    note = f"wrk -t2 -c32 -d{cfg.wrk_seconds:.0f}s ×{cfg.rounds}; control {rps['control']:,.0f} req/s, p99 {p99['control']:.1f} ms"
    return [
        Row("1", "hot page throughput (ours)", rps["ours"], "req/s", "≥ 5,000", rps["ours"] >= 5000, note),
        Row("1", "hot page p99 (ours, 32 conns)", p99["ours"], "ms", "≤ 10", p99["ours"] <= 10),
        Row("1", "hot page ours / control", ratio, "×", "≥ 0.6", ratio >= 0.6,
            "control = same app, pages from memory"),
    ]


# -- figure 2 -------------------------------------------------------------------------------------------
def fig_density(cfg: Config, details: dict[str, Any]) -> list[Row]:
    from connect_readings.usecases import aggregations as service
    from connect_readings.domain.interval import parse_resolution
    from connect_readings.storage.sqlite import SQLiteStore

    db, specs = series_db(cfg.quick)
    days = 30 if cfg.quick else 365
    dense = next(s for s in specs if s.label == "1s" and s.days == days)
    sparse = next(s for s in specs if s.label == "15min" and s.days == days)
    runs = 7 if cfg.quick else 25
    info: dict[str, Any] = {"days": days, "dense": dense.count, "sparse": sparse.count}

    # (a) the service function, in process (no HTTP)
    store = SQLiteStore(str(db))
    width = parse_resolution("1 day")
    queries = {s.label: service.AggregationQuery(s.entity, s.start, s.end, width, None) for s in (dense, sparse)}
    samples: dict[str, list[float]] = {k: [] for k in queries}
    for label, q in queries.items():
        page = service.aggregation_page(store, q, q.start, days)
        if len(page.items) != days:
            raise RuntimeError(f"{label}: {len(page.items)} buckets, expected {days}")
    for _ in range(runs):
        for label, q in queries.items():
            t0 = time.perf_counter()
            service.aggregation_page(store, q, q.start, days)
            samples[label].append(time.perf_counter() - t0)
    store.close()
    direct = {k: median_ms(v) for k, v in samples.items()}
    direct_ratio = direct["1s"] / direct["15min"]

    # (b) over HTTP, a real server
    bearer = token()
    http_samples: dict[str, list[float]] = {"1s": [], "15min": []}
    with Server.ours("density", db) as server:
        client = Client(server.port, bearer)
        for spec in (dense, sparse):
            doc = client.get_json(spec.page_path())
            if len(doc["data"]) != days:
                raise RuntimeError(f"HTTP {spec.label}: {len(doc['data'])} buckets")
        for _ in range(max(5, runs // 2)):
            for spec in (dense, sparse):
                status, _, seconds = client.get(spec.page_path())
                http_samples[spec.label].append(seconds)
        client.close()
        if cfg.profile:
            def load() -> None:
                c = Client(server.port, bearer)
                end = time.time() + cfg.wrk_seconds
                while time.time() < end:
                    c.get(dense.page_path())
                c.close()
            info["profile"] = profile_during(server.pid, "density-1s", cfg.wrk_seconds, load)
    over_http = {k: median_ms(v) for k, v in http_samples.items()}
    http_ratio = over_http["1s"] / over_http["15min"]
    info.update({"direct_ms": direct, "http_ms": over_http, "direct_ratio": direct_ratio, "http_ratio": http_ratio})
    details["density"] = info
    log(f"density: direct {direct}, http {over_http}")
    label = f"{days} × 1 day page"
    return [
        Row("2", f"density: {label}, 1 s / 15 min data (service)", direct_ratio, "×", "≤ 1.5", direct_ratio <= 1.5,
            f"{direct['1s']:.1f} ms ({dense.count / 1e6:.1f}M readings) vs {direct['15min']:.1f} ms ({sparse.count:,})"),
        Row("2", f"density: {label}, 1 s / 15 min data (HTTP)", http_ratio, "×", "≤ 1.5", http_ratio <= 1.5,
            f"{over_http['1s']:.1f} ms vs {over_http['15min']:.1f} ms per page"),
    ]


# -- figure 3 and the chart -----------------------------------------------------------------------------
def fig_peer(cfg: Config, details: dict[str, Any]) -> list[Row]:
    from .peer import Peer

    db, specs = series_db(cfg.quick)
    chart_specs = sorted((s for s in specs if s.days == 365), key=lambda s: s.per_bucket)
    year_1min = next(s for s in chart_specs if s.label == "1min")
    info: dict[str, Any] = {"points": []}
    peer = Peer()
    try:
        info["pg_load_s"] = peer.load(chart_specs)
        if not peer.check_same_data(year_1min, str(db)):
            raise RuntimeError("PostgreSQL and SQLite copies of the 1-minute meter differ")
        bearer = token()
        with Server.ours("peer", db) as server:
            client = Client(server.port, bearer)
            for spec in chart_specs:
                doc = client.get_json(spec.page_path())  # warm-up + check
                if len(doc["data"]) != 365:
                    raise RuntimeError(f"{spec.label}: {len(doc['data'])} buckets")
                runs = 15 if not cfg.quick else 5
                ours = median_ms([client.get(spec.page_path())[2] for _ in range(runs)])
                peer_runs = 5 if spec.count <= 600_000 else (3 if spec.count <= 5_000_000 else 2)
                if cfg.quick:
                    peer_runs = min(peer_runs, 3)
                peer_s, winner, timings, nrows = peer.best(spec, peer_runs)
                point = {"label": spec.label, "readings": spec.count, "per_bucket": spec.per_bucket, "ours_ms": ours,
                         "peer_ms": peer_s * 1000, "peer_query": winner,
                         "peer_variants_ms": {k: v * 1000 for k, v in timings.items()}, "peer_rows": nrows,
                         "ratio": peer_s * 1000 / ours}
                point["info_lateral_seek_ms"] = peer.time_query("lateral_seek", spec, 5)[0] * 1000
                info["points"].append(point)
                log(f"peer {spec.label}: ours {ours:.1f} ms, peer {peer_s * 1000:.0f} ms ({winner}) → {point['ratio']:.1f}×; "
                    f"reference LATERAL seeks {point['info_lateral_seek_ms']:.1f} ms")
            client.close()
    finally:
        peer.close(drop=True)
    details["peer"] = info
    chart = draw_chart(info["points"], cfg.quick)
    details["chart"] = str(chart.relative_to(REPO))
    p = next(p for p in info["points"] if p["label"] == "1min")
    return [Row("3", "365 × 1 day over 1-min data: peer SQL / our HTTP", p["ratio"], "×", "≥ 20", p["ratio"] >= 20,
                f"ours {p['ours_ms']:.1f} ms (HTTP) vs PostgreSQL {p['peer_ms']:.0f} ms ({p['peer_query']}); "
                f"[ref: LATERAL seeks in SQL {p['info_lateral_seek_ms']:.1f} ms]; chart {chart.name}")]


def draw_chart(points: list[dict[str, Any]], quick: bool) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [p["per_bucket"] for p in points]
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    ax.plot(x, [p["ours_ms"] for p in points], "o-", label="connect-readings: GET …/aggregations over HTTP")
    ax.plot(x, [p["peer_ms"] for p in points], "s--", label="peer: PostgreSQL 15, date_bin + first/last + lag()")
    if all("info_lateral_seek_ms" in p for p in points):
        ax.plot(x, [p["info_lateral_seek_ms"] for p in points], "^:", color="grey",
                label="for reference: PostgreSQL, one LATERAL index seek per day edge\n"
                      "(our idea in SQL; no interpolation, no resets, no HTTP)")
    for p in points:
        ax.annotate(p["label"], (p["per_bucket"], p["ours_ms"]), textcoords="offset points", xytext=(0, -14),
                    ha="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("readings per bucket (365 × 1 day page; one meter, data step as labelled)")
    ax.set_ylabel("latency per page (ms, median)")
    ax.set_title("Latency vs readings per bucket" + (" (quick run)" if quick else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("latency_vs_density-quick.png" if quick else "latency_vs_density.png")
    fig.savefig(out)
    plt.close(fig)
    return out


# -- figure 4 -------------------------------------------------------------------------------------------
def fig_ingest(cfg: Config, details: dict[str, Any]) -> list[Row]:
    from .datagen import entity_uuid

    info: dict[str, Any] = {}
    senders = 4
    batches = 10 if cfg.quick else 50  # per sender
    db = DATA / "ingest-http.db"
    remove_db(db)
    bearer = token()
    with Server.ours("ingest", db) as server:
        argv = [sys.executable, "-m", "bench.ingest_client", "--port", str(server.port), "--token", bearer,
                "--senders", str(senders), "--batches", str(batches), "--batch-size", "5000"]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        if cfg.profile:
            proc = subprocess.Popen(argv, env=env, cwd=str(REPO), stdout=subprocess.PIPE, text=True)
            info["profile"] = profile_during(server.pid, "ingest-http", 8, lambda: time.sleep(9))
            out = proc.communicate()[0]
        else:
            out = subprocess.run(argv, env=env, cwd=str(REPO), capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if result["errors"]:
        raise RuntimeError(f"ingest errors: {result['errors']}")
    rows_in_db = sqlite3.connect(str(db)).execute("SELECT count(*) FROM readings").fetchone()[0]
    if rows_in_db != result["readings"]:
        raise RuntimeError(f"{rows_in_db} rows in the database, {result['readings']} reported written")
    info["http"] = result
    log(f"ingest over HTTP: {result['readings_per_s']:,.0f} readings/s")

    # connect-readings import of a JSONL file
    n = 300_000 if cfg.quick else 2_000_000
    jsonl = import_jsonl(n)
    target_db = DATA / "import.db"
    remove_db(target_db)
    entity = entity_uuid("import")
    argv = [cli_executable(), "import", str(jsonl), "--entity", str(entity), "--database", str(target_db)]
    env = dict(os.environ, CONNECT_READINGS_JWT_SECRET="x" * 32)
    began = time.perf_counter()
    if cfg.profile:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        info["profile_import"] = profile_during(proc.pid, "import", 8, lambda: time.sleep(0.1))
        stdout = proc.communicate()[0]
    else:
        stdout = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - began
    count = sqlite3.connect(str(target_db)).execute("SELECT count(*) FROM readings").fetchone()[0]
    if count != n:
        raise RuntimeError(f"import wrote {count} of {n} readings: {stdout[-300:]}")
    rate = n / wall
    info["import"] = {"readings": n, "wall_s": wall, "readings_per_s": rate, "cli_output": stdout.strip()}
    log(f"import: {rate:,.0f} readings/s (wall, {n:,} readings)")
    details["ingest"] = info
    remove_db(db)
    remove_db(target_db)
    http_rate = result["readings_per_s"]
    return [
        Row("4", "ingest over HTTP (POST 5,000/batch, 1 worker)", http_rate, "readings/s", "≥ 100,000",
            http_rate >= 100_000, f"{senders} senders, {result['readings']:,} readings, batch p50 {result['batch_ms_p50']:.0f} ms"),
        Row("4", "connect-readings import (JSONL)", rate, "readings/s", "≥ 300,000", rate >= 300_000,
            f"{n:,} readings, wall clock of the command"),
    ]


# -- figure 5 -------------------------------------------------------------------------------------------
def fig_scale(cfg: Config, details: dict[str, Any]) -> list[Row]:
    import random

    from connect_readings.usecases import aggregations as service
    from connect_readings.domain.interval import parse_resolution
    from connect_readings.domain.timefmt import parse_datetime
    from connect_readings.storage.sqlite import SQLiteStore

    from .datasets import HOT_END, HOT_START, build_info

    small_db, small_entities = fleet_db(1_000_000)
    big_db, big_entities = fleet_db(cfg.scale_readings)
    small_n, big_n = build_info(small_db)["readings"], build_info(big_db)["readings"]
    info: dict[str, Any] = {"small": {"readings": small_n, "entities": len(small_entities),
                                      "bytes": small_db.stat().st_size, "build": build_info(small_db)},
                            "big": {"readings": big_n, "entities": len(big_entities), "bytes": big_db.stat().st_size,
                                    "build": build_info(big_db)}}

    # (a) the service function in process, random meters
    width = parse_resolution("15 minutes")
    start, end = parse_datetime(HOT_START), parse_datetime(HOT_END)
    direct: dict[str, float] = {}
    for label, db, entities in (("small", small_db, small_entities), ("big", big_db, big_entities)):
        store = SQLiteStore(str(db))
        rng = random.Random(5)
        for e in entities:  # warm every meter once
            service.aggregation_page(store, service.AggregationQuery(e, start, end, width, None), start, 25)
        samples = []
        for _ in range(2000 if not cfg.quick else 500):
            q = service.AggregationQuery(rng.choice(entities), start, end, width, None)
            t0 = time.perf_counter()
            page = service.aggregation_page(store, q, start, 25)
            samples.append(time.perf_counter() - t0)
            assert len(page.items) == 25
        store.close()
        direct[label] = median_ms(samples)

    # (b) over HTTP with wrk, a random meter per request
    bearer = token()
    res: dict[str, dict[str, list]] = {"small": {"c1": [], "c32": []}, "big": {"c1": [], "c32": []}}
    with Server.ours("scale-small", small_db) as s_small, Server.ours("scale-big", big_db) as s_big:
        servers = {"small": (s_small, small_entities), "big": (s_big, big_entities)}
        scripts = {k: wrk_paths_script([f"/v1/entities/{e}/aggregations?{HOT_QUERY}" for e in ents], f"scale-{k}")
                   for k, (_, ents) in servers.items()}
        for k, (server, _) in servers.items():
            run_wrk(server.url("/"), bearer, cfg.warm_seconds * 2, script=scripts[k])
        for _ in range(cfg.rounds):
            for k, (server, _) in servers.items():
                for conns, threads, key in ((1, 1, "c1"), (32, 2, "c32")):
                    r = run_wrk(server.url("/"), bearer, cfg.wrk_seconds, threads=threads, connections=conns,
                                script=scripts[k])
                    if r.non_2xx or r.socket_errors:
                        raise RuntimeError(f"scale {k}: {r.non_2xx} non-2xx, {r.socket_errors}")
                    res[k][key].append(r)
                    log(f"scale {k} {key}: {r.requests_per_s:,.0f} req/s, p50 {r.latency_ms['p50']} ms, "
                        f"p99 {r.latency_ms['p99']} ms")
    p50 = {k: statistics.median(r.latency_ms["p50"] for r in v["c1"]) for k, v in res.items()}
    rps = {k: statistics.mean(r.requests_per_s for r in v["c32"]) for k, v in res.items()}
    ratio = p50["big"] / p50["small"]
    direct_ratio = direct["big"] / direct["small"]
    info.update({"direct_ms": direct, "http_p50_c1_ms": p50, "http_req_s_c32": rps,
                 "runs": {k: {c: [r.as_dict() for r in rs] for c, rs in v.items()} for k, v in res.items()}})
    details["scale"] = info
    big_label = f"{big_n / 1e6:,.0f}M"
    return [
        Row("5", f"hot page latency, {big_label} / 1M-reading store (HTTP p50, 1 conn)", ratio, "×", "≤ 1.5",
            ratio <= 1.5, f"{p50['big']:.2f} vs {p50['small']:.2f} ms; {len(big_entities):,} vs {len(small_entities)} "
            f"meters, random meter per request; 32 conns: {rps['big']:,.0f} vs {rps['small']:,.0f} req/s"),
        Row("5", f"hot page latency, {big_label} / 1M-reading store (service)", direct_ratio, "×", "≤ 1.5",
            direct_ratio <= 1.5, f"{direct['big']:.2f} vs {direct['small']:.2f} ms median, in process"),
    ]


def verify_rows(details: dict[str, Any]) -> list[Row]:
    from .datagen import verify_bulk_path

    ok, message = verify_bulk_path(DATA / "verify")
    details["bulk_path_check"] = message
    return [Row("0", "bulk data path == SQLiteStore.ingest (sample)", None, "", "identical tables", ok, message)]


FIGURES = {"hot": fig_hot, "density": fig_density, "peer": fig_peer, "ingest": fig_ingest, "scale": fig_scale}


def prepare(cfg: Config, selected: list[str]) -> None:
    """Build (or find cached) every data set the selected figures need, without measuring."""
    if "hot" in selected:
        household_db()
    if {"density", "peer"} & set(selected):
        series_db(cfg.quick)
    if "ingest" in selected:
        import_jsonl(300_000 if cfg.quick else 2_000_000)
    if "scale" in selected:
        fleet_db(1_000_000)
        fleet_db(cfg.scale_readings)
