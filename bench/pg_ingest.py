"""PostgreSQL and Citus ingest over HTTP, in one run: `connect-readings serve` on a PostgreSQL URL, loaded by
`bench.ingest_client` (N senders, one entity each, batches in time order), rounds alternating the configurations.

    python -m bench.pg_ingest [--senders 20] [--batches 10] [--batch-size 1000] [--workers 2] [--rounds 3]
                              [--base-src DIR] [--citus [--pin]] [--server URL]

Configurations (each a fresh, migrated database whose tables are truncated before every run):
  pg        the server at --server (default postgresql://postgres@127.0.0.1:5432/postgres, the machine's own);
  --citus   also starts throwaway servers under $TMPDIR as scripts/scaleout.sh does (fsync off, synchronous_commit
            off): `plain` (PostgreSQL, no extension) and a 3-node Citus cluster (coordinator + 2 workers), so
            Citus / plain compares servers with the same settings; stopped at exit;
  --base-src  a second tree's `src` folder (e.g. `git archive <commit> src | tar -x -C /tmp/base`): every
            configuration runs with that tree's code as well ("before") beside this one's ("after");
  --pin     (with --citus --only plain,citus) the throwaway servers on the last core, the application and the
            senders on the others: the database on a machine of its own, as a Citus deployment has it.
Prints one JSON line per run and a table of medians with the per-round ratios, and the CPU per 1,000 readings of
the server's processes and of the PostgreSQL backends of the run (/proc: a server on this machine), steadier
than readings/s on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from .common import HOST, REPO, SECRET, Server, cli_executable, free_port, log, token

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
TABLES = ("entities", "readings", "resets", "series", "gauge_blocks", "register_edge_blocks")


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


class Cluster:
    """Throwaway servers (initdb'd under one temporary folder), stopped and removed by `stop`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="connect-readings-pg-ingest."))
        os.chmod(self.root, 0o755)
        self.dirs: list[Path] = []
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_pg:
            shutil.chown(self.root, "postgres")

    def node(self, name: str, preload: str) -> int:
        port = free_port()
        path = self.root / name
        subprocess.run([*self.as_pg, str(PG_BIN / "initdb"), "-D", str(path), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
        conf = (f"listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{path}'\n"
                f"shared_preload_libraries = '{preload}'\nmax_connections = 300\nmax_prepared_transactions = 300\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        if preload == "citus":
            conf += "citus.enable_create_database_propagation = on\n"
        subprocess.run([*self.as_pg, "tee", "-a", str(path / "postgresql.conf")], input=conf.encode(), check=True,
                       stdout=subprocess.DEVNULL)
        self.dirs.append(path)
        subprocess.run([*self.as_pg, str(PG_BIN / "pg_ctl"), "-D", str(path), "-l", str(self.root / f"{name}.log"),
                        "-w", "-t", "60", "start"], check=True, stdout=subprocess.DEVNULL)
        log(f"{name} up on {HOST}:{port} ({preload or 'no extension'})")
        return port

    def citus(self) -> int:
        """A coordinator and 2 workers; the extension and node list in template1, as scripts/scaleout.sh does."""
        ports = [self.node(name, "citus") for name in ("citus-coordinator", "citus-worker1", "citus-worker2")]
        for port in ports:
            for db in ("template1", "postgres"):
                with psycopg.connect(f"postgresql://postgres@{HOST}:{port}/{db}", autocommit=True) as conn:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
        for db in ("template1", "postgres"):
            with psycopg.connect(f"postgresql://postgres@{HOST}:{ports[0]}/{db}", autocommit=True) as conn:
                conn.execute("SELECT citus_set_coordinator_host(%s, %s)", (HOST, ports[0]))
                for port in ports[1:]:
                    conn.execute("SELECT citus_add_node(%s, %s)", (HOST, port))
        for port in ports:
            with psycopg.connect(f"postgresql://postgres@{HOST}:{port}/postgres", autocommit=True) as conn:
                conn.execute("ALTER DATABASE template1 ALLOW_CONNECTIONS false")
                for _ in range(50):
                    if conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = 'template1' AND pid <> pg_backend_pid()").fetchone()[0] == 0:
                        break
                    time.sleep(0.2)
        return ports[0]

    def stop(self) -> None:
        for path in self.dirs:
            subprocess.run([*self.as_pg, str(PG_BIN / "pg_ctl"), "-D", str(path), "-m", "immediate", "-w", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def create_database(server: str) -> str:
    name = f"connect_readings_pg_ingest_{os.getpid()}_{int(time.time() * 1000) % 1_000_000}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_db(server, name)


def drop_database(server: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run_once(url: str, src: str | None, args: argparse.Namespace) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(TABLES))
        conn.execute("CHECKPOINT")
    port = free_port()
    env = {"CONNECT_READINGS_DATABASE": url, "CONNECT_READINGS_WORKERS": str(args.workers),
           "CONNECT_READINGS_REQUEST_LOG": "false", "CONNECT_READINGS_MAX_BATCH": str(max(10_000, args.batch_size))}
    if args.store_threads:
        env["CONNECT_READINGS_STORE_THREADS"] = str(args.store_threads)
    if src:
        env["PYTHONPATH"] = src
        argv = [sys.executable, "-c", "from connect_readings.cli import main; main()"]
    else:
        argv = [cli_executable()]
    server = Server("pg-ingest", [*argv, "serve", "--host", HOST, "--port", str(port)], port, env)
    try:
        cpu0, backends0 = tree_cpu(server.pid), backend_cpu(url)
        if args.profile:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.pid),
                                    "--subprocesses", "--rate", "200", "--format", "raw", "--output", args.profile,
                                    "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = subprocess.run([sys.executable, "-m", "bench.ingest_client", "--port", str(port), "--token", token(),
                              "--senders", str(args.senders), "--batches", str(args.batches),
                              "--batch-size", str(args.batch_size)], cwd=REPO, check=True, capture_output=True,
                             text=True).stdout
        server_cpu = tree_cpu(server.pid) - cpu0
        backends = backend_cpu(url)
        if args.profile:
            spy.send_signal(2)
            spy.wait()
    finally:
        server.stop()
    result = json.loads(out.strip().splitlines()[-1])
    if result["errors"]:
        raise SystemExit(f"ingest errors: {result['errors']}")
    thousands = result["readings"] / 1000
    result["server_cpu_ms"] = 1000 * server_cpu / thousands  # per 1,000 readings
    result["backend_cpu_ms"] = 1000 * sum(t - backends0.get(p, 0.0) for p, t in backends.items()) / thousands
    return result


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def process_tree(root: int) -> list[int]:
    """A process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_proc_stat(entry.name)[1]), []).append(int(entry.name))
            except OSError:
                continue
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def process_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each of these processes still running, from /proc."""
    found = {}
    for pid in pids:
        try:
            fields = _proc_stat(pid)
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants (the server and its workers), from /proc."""
    return sum(process_cpu(process_tree(root)).values())


def pin(cluster: Cluster) -> str:
    """The throwaway PostgreSQL servers (every process, and the backends they fork later) on the last core, this
    bench and what it starts next (the application, the senders) on the others: as if the database had a machine
    of its own. Returns a description for the table."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("--pin needs at least 2 cores")
    database, application = {cores[-1]}, set(cores[:-1])
    os.sched_setaffinity(0, application)
    for path in cluster.dirs:
        for pid in process_tree(int((path / "postmaster.pid").read_text().split()[0])):
            try:
                os.sched_setaffinity(pid, database)
            except ProcessLookupError:
                continue
    return f"PostgreSQL servers on core {cores[-1]}, application and senders on {sorted(application)}"


def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the database of `url` (a server on this machine)."""
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    return process_cpu(pids)


def explain_ingest(url: str) -> None:
    """EXPLAIN of every statement of an ingest (Citus: where each runs), inside an ingest-like transaction (so with
    its SET LOCALs on Citus), on a database holding two batches of one entity."""
    from connect_readings.domain.ingest import prepare
    from connect_readings.domain.readings import REGISTER_COUNT, parse_reading
    from connect_readings.storage import postgres as pg

    from .datagen import SECOND, Household, entity_uuid, wire_readings

    store = pg.PostgresStore(url)
    entity = entity_uuid("explain", 1)
    meter = Household(1_704_067_200 * SECOND, 10 * SECOND, seed=901)
    batches = [[parse_reading(x) for x in wire_readings(meter.block(1000))] for _ in range(3)]
    store.ingest(entity, batches[0])
    store.ingest(entity, batches[1])
    batch = prepare(batches[2], REGISTER_COUNT)
    assert batch is not None

    def values(statement: tuple[str, str, str], row: tuple) -> tuple[str, list]:
        return pg._values_sql(*statement, 1), [entity, *row]

    statements = {
        "entity lock": (pg._LOCK_ENTITY, (entity, 1, batch.hi)),
        "append read": (pg._append_read_sql(tuple(batch.present), False), pg._append_read_params(entity, batch)),
        "delete replaced readings": (pg._DELETE_READINGS, (entity, batch.lo, batch.hi, batch.stamps)),
        "delete resets": (pg._DELETE_RESETS, {"e": entity, "regs": ["positive_t1"], "lo": [1], "hi": [2]}),
        "insert resets": values(pg._INSERT_RESETS, ("positive_t1", 1, 2.0)),
        "widen series": values(pg._INSERT_SERIES, ("positive_t1", 1, 2)),
        "upsert edges": values(pg._INSERT_EDGES, ("positive_t1", 1, b"x")),
        "delete edges": (pg._DELETE_EDGES, {"e": entity, "r": ["positive_t1"], "d": [1]}),
        "upsert gauge blocks": values(pg._INSERT_BLOCKS, (900_000_000, 1, b"x")),
        "delete gauge blocks": (pg._DELETE_BLOCKS, {"e": entity, "w": [1], "b": [1]}),
    }
    with store.connection() as conn:
        for label, (statement, params) in statements.items():
            conn.execute("BEGIN")
            if store._citus:
                for setting in pg._WORKER_SETTINGS:
                    conn.execute(setting)
            rows = conn.execute("EXPLAIN (COSTS OFF) " + statement, params).fetchall()
            conn.execute("ROLLBACK")
            print(f"--- {label}\n" + "\n".join(row[0] for row in rows))
    store.close()


def breakdown(url: str, entities: int = 20, batches: int = 10, size: int = 1000) -> None:
    """Where a batch's time goes, in-process, one thread, appending (the HTTP client's bodies, parsed first): wall
    and Python CPU per batch, the backend's CPU (the coordinator's on Citus), and wall ms in each phase."""
    import psycopg.cursor

    from connect_readings.ingest.batch import parse_batch
    from connect_readings.storage import postgres as pg

    from .ingest_client import bodies

    parsed = [[parse_batch(body, 10_000) for body in bodies(i, batches, size)] for i in range(entities)]
    spent: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - began
        return call

    patches = [(pg, "plan", "plan (the planner)"), (pg, "_copy_payload", "COPY buffer built"),
               (psycopg.Copy, "finish", "COPY sent and inserted"),
               (psycopg.cursor.Cursor, "fetchall", "lock + read (1st round trip)"),
               (pg.PostgresStore, "_ingest_batch", "whole transaction")]
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in patches]
    execute = pg.PostgresStore.__dict__["_execute"]
    store = pg.PostgresStore(url, min_size=1, max_size=1)
    try:
        for owner, attr, name in patches:
            setattr(owner, attr, timed(name, getattr(owner, attr)))
        pg.PostgresStore._execute = staticmethod(timed("writes: COPY, pipeline, COMMIT", execute.__func__))
        tick = os.sysconf("SC_CLK_TCK")

        def stat(pid: int) -> list[str]:
            return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()

        with store.connection() as conn:
            pid = conn.info.backend_pid
            local = conn.info.host in ("127.0.0.1", "localhost", "::1") and Path(f"/proc/{pid}/stat").exists()
            postmasters = {int(stat(pid)[1])} if local else set()
            if local and store._citus:  # the workers' servers too (same machine)
                for host, port in conn.execute("SELECT nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary' "
                                               "AND groupid > 0").fetchall():
                    with psycopg.connect(with_db(url, "postgres").replace(f":{conn.info.port}/", f":{port}/")) as node:
                        postmasters.add(int(stat(node.info.backend_pid)[1]))

        def backend_cpu() -> float:
            if not local:
                return float("nan")
            fields = stat(pid)
            return (int(fields[11]) + int(fields[12])) / tick

        def servers_cpu() -> float:  # every process of the server(s): backends, workers' backends, WAL writer, …
            total = 0
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        fields = stat(int(entry.name))
                    except OSError:
                        continue
                    if int(entry.name) in postmasters or int(fields[1]) in postmasters:
                        total += int(fields[11]) + int(fields[12])
            return total / tick

        store.ingest(uuid.UUID(int=10**6), parsed[0][0])  # (warm: connection, first plans)
        spent.clear()
        cpu, every, py, wall = backend_cpu(), servers_cpu(), time.process_time(), time.perf_counter()
        for b in range(batches):
            for i in range(entities):
                store.ingest(uuid.UUID(int=i + 1), parsed[i][b], time.monotonic() + 30)
        n = entities * batches
        wall, py, cpu = (time.perf_counter() - wall) / n, (time.process_time() - py) / n, (backend_cpu() - cpu) / n
        every = (servers_cpu() - every) / n
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)
        pg.PostgresStore._execute = execute
        store.close()
    print(f"per batch of {size:,} ({n} batches, one thread): wall {wall * 1e3:.2f} ms, Python CPU {py * 1e3:.2f} ms "
          f"(incl. prepare and plan), backend CPU {cpu * 1e3:.2f} ms, all server processes' CPU {every * 1e3:.2f} ms")
    for name, seconds in spent.items():
        print(f"  {name:34} {seconds / n * 1e3:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--batches", type=int, default=10, help="per sender")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--store-threads", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base-src", help="the 'before' tree's src folder")
    parser.add_argument("--citus", action="store_true", help="also throwaway plain and Citus servers")
    parser.add_argument("--only", help="comma-separated engines among pg, plain, citus")
    parser.add_argument("--profile", help="py-spy raw output of the last run (one configuration)")
    parser.add_argument("--explain", action="store_true", help="print the EXPLAIN of the ingest statements instead")
    parser.add_argument("--breakdown", action="store_true", help="in-process per-batch phases instead (`breakdown`)")
    parser.add_argument("--pin", action="store_true", help="with --citus --only plain,citus: the servers on a core "
                        "of their own (`pin`)")
    args = parser.parse_args()
    assert SECRET

    cluster = Cluster() if args.citus else None
    servers: dict[str, str] = {"pg": args.server}
    databases: dict[str, str] = {}
    try:
        if cluster is not None:
            servers["plain"] = f"postgresql://postgres@{HOST}:{cluster.node('plain', '')}/postgres"
            servers["citus"] = f"postgresql://postgres@{HOST}:{cluster.citus()}/postgres"
        if args.only:
            servers = {k: v for k, v in servers.items() if k in args.only.split(",")}
        pinned = ""
        if args.pin:
            if cluster is None or "pg" in servers:
                raise SystemExit("--pin pins only the servers this bench starts: use it with --citus --only plain,citus")
            pinned = pin(cluster)
        for engine, server in servers.items():
            databases[engine] = create_database(server)
            migrate = "import sys; from connect_readings.storage.postgres import migrate_database; migrate_database(sys.argv[1])"
            subprocess.run([sys.executable, "-c", migrate, databases[engine]], check=True)
        if args.explain or args.breakdown:
            for n in range(args.rounds if args.breakdown else 1):
                for engine, url in databases.items():
                    print(f"===== {engine}" + (f", round {n}" if args.breakdown else ""), flush=True)
                    if args.explain:
                        explain_ingest(url)
                    else:
                        with psycopg.connect(url, autocommit=True) as conn:
                            conn.execute("TRUNCATE " + ", ".join(TABLES))
                        breakdown(url)
            return
        trees = [("after", None)] + ([("before", args.base_src)] if args.base_src else [])
        configs = [(engine, tree, src) for engine in databases for tree, src in trees]
        results: dict[tuple[str, str], list[float]] = {(e, t): [] for e, t, _ in configs}
        cpu: dict[tuple[str, str], list[tuple[float, float]]] = {(e, t): [] for e, t, _ in configs}
        for n in range(args.rounds):
            order = configs if n % 2 == 0 else configs[::-1]
            for engine, tree, src in order:
                result = run_once(databases[engine], src, args)
                results[(engine, tree)].append(result["readings_per_s"])
                cpu[(engine, tree)].append((result["server_cpu_ms"], result["backend_cpu_ms"]))
                print(json.dumps({"round": n, "engine": engine, "tree": tree, **{
                    k: result[k] for k in ("readings", "seconds", "readings_per_s", "batch_ms_p50", "batch_ms_max",
                                           "server_cpu_ms", "backend_cpu_ms")}}),
                    flush=True)
        print(f"\n{args.senders} senders x {args.batches} batches of {args.batch_size:,} readings, "
              f"{args.workers} server workers, {args.rounds} rounds" + (f"; {pinned}" if pinned else "") + "\n")
        for (engine, tree), rates in results.items():
            print(f"{engine:6} {tree:7} median {statistics.median(rates):>10,.0f} readings/s   rounds "
                  + ", ".join(f"{r:,.0f}" for r in rates))
        print("CPU ms per 1,000 readings (server processes; PostgreSQL backends of the run), medians:")
        for (engine, tree), pairs in cpu.items():
            print(f"{engine:6} {tree:7} server {statistics.median(p[0] for p in pairs):6.2f}   backends "
                  f"{statistics.median(p[1] for p in pairs):6.2f}   rounds (server) "
                  + ", ".join(f"{p[0]:.2f}" for p in pairs))

        def ratio(a: tuple[str, str], b: tuple[str, str]) -> None:
            if a in results and b in results:
                rs = [x / y for x, y in zip(results[a], results[b])]
                print(f"{a[0]} {a[1]} / {b[0]} {b[1]}: median {statistics.median(rs):.2f} (rounds "
                      + ", ".join(f"{r:.2f}" for r in rs) + ")")
        for engine in databases:
            ratio((engine, "after"), (engine, "before"))
        for tree, _ in trees:
            ratio(("citus", tree), ("plain", tree))
    finally:
        for engine, url in databases.items():
            try:
                drop_database(servers[engine], url)
            except psycopg.Error as exc:
                log(f"could not drop {url}: {exc}")
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
