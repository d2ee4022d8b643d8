#!/usr/bin/env bash
# The PostgreSQL backend on the scale-out engines: builds Citus and TimescaleDB from the source archives when
# they are not installed, starts a 3-node Citus cluster (coordinator + 2 workers) and a TimescaleDB server on
# spare ports in throwaway clusters, and runs the storage and API suites (their PostgreSQL tests) on each.
#
#   scripts/scaleout.sh [pytest args]      default args: tests/storage tests/api -k "postgres or scaleout"
#
# Settings (environment):
#   ENGINES            folder of the source archives (citus-13.2.2.tar.gz, timescaledb-2.25.0.tar.gz, unmodified
#                      `git archive` exports of the release tags), relative to the repository root or absolute;
#                      needed only when an extension is to be built; unset, the folder holding the Citus
#                      archive within three levels of the checkout's parent, if any
#   SCALEOUT_ENGINES   which engines to test: "citus timescaledb" (default), "citus" or "timescaledb"
#   SCALEOUT_BUILD     "auto" (build when the extension is missing, default), "never", or "force" (rebuild)
#   SCALEOUT_KEEP      set to keep the clusters' folder (logs) after the run; they are stopped anyway
#   VENV               the project's virtualenv (default .venv; created and installed as scripts/test.sh does)
#   TMPDIR             where the clusters and the builds live (a fresh folder, removed at exit)
#
# Needs root for the builds (apt-get, make install into PostgreSQL's folders); the servers themselves run as
# the `postgres` OS user when run as root. The machine's own PostgreSQL (127.0.0.1:5432) is not touched.
# Exits non-zero when a build, a cluster or a suite fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENGINES=${ENGINES:-}
case "$ENGINES" in /* | "") ;; *) ENGINES="$ROOT/$ENGINES" ;; esac
CITUS_VERSION=13.2.2
TIMESCALEDB_VERSION=2.25.0
if [ -z "$ENGINES" ]; then
    # Unset: the folder near the checkout that holds the Citus archive, if there is one (CI lays the archives
    # beside its clone); searched only by the file's name, three levels below the checkout's parent.
    found=$(find "$(dirname "$ROOT")" -maxdepth 3 -name "citus-$CITUS_VERSION.tar.gz" -not -path "$ROOT/*" \
        -print -quit 2>/dev/null || true)
    [ -n "$found" ] && ENGINES=$(dirname "$found")
fi
CITUS_ARCHIVE="$ENGINES/citus-$CITUS_VERSION.tar.gz"
TIMESCALEDB_ARCHIVE="$ENGINES/timescaledb-$TIMESCALEDB_VERSION.tar.gz"
SCALEOUT_ENGINES=${SCALEOUT_ENGINES:-citus timescaledb}
SCALEOUT_BUILD=${SCALEOUT_BUILD:-auto}
VENV=${VENV:-.venv}
PG_MAJOR=${PG_MAJOR:-15}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
BUILD_DEPS="postgresql-server-dev-$PG_MAJOR libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libssl-dev
            autoconf flex bison cmake make gcc"
if [ "$#" -gt 0 ]; then PYTEST_ARGS=("$@"); else PYTEST_ARGS=(tests/storage tests/api -k "postgres or scaleout"); fi

START=$SECONDS
PHASE_START=$SECONDS
SUMMARY=()
say() { printf '[scaleout %4ss] %s\n' "$((SECONDS - START))" "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }
phase() { PHASE_START=$SECONDS; PHASE_NAME=$1; say "== $1"; }
phase_done() {
    local line
    line=$(printf '%-40s %5ss  %s' "$PHASE_NAME" "$((SECONDS - PHASE_START))" "${1:-ok}")
    SUMMARY+=("$line")
    say "== $PHASE_NAME: ${1:-ok} ($((SECONDS - PHASE_START))s)"
}

[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] || die "no PostgreSQL $PG_MAJOR server binaries in $PG_BIN (set PG_BIN)"
for engine in $SCALEOUT_ENGINES; do
    case "$engine" in citus | timescaledb) ;; *) die "unknown engine '$engine' in SCALEOUT_ENGINES" ;; esac
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/connect-readings-scaleout.XXXXXX")
DATADIRS=()
cleanup() {
    local rc=$?
    set +e
    for dir in "${DATADIRS[@]}"; do
        [ -f "$dir/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir" -m immediate -w -t 30 stop >/dev/null 2>&1
    done
    if [ -n "${SCALEOUT_KEEP:-}" ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
    if [ "${#SUMMARY[@]}" -gt 0 ]; then
        say "== summary (total $((SECONDS - START))s)"
        printf '  %s\n' "${SUMMARY[@]}"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' OS user to run the servers"
    as_pg() { runuser -u postgres -- "$@"; }
    chown postgres: "$WORK"
else
    as_pg() { "$@"; }
fi
chmod 755 "$WORK"

# -- 1. build and install the extensions that are missing ---------------------------------------------------
need_pg_config() {
    command -v pg_config >/dev/null 2>&1 && pg_config --pgxs >/dev/null 2>&1 && [ -f "$(pg_config --pgxs)" ] && return
    install_build_deps
}
install_build_deps() {
    local missing=() pkg
    for pkg in $BUILD_DEPS; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return
    [ "$(id -u)" = 0 ] || die "build dependencies missing (${missing[*]}); run as root or install them"
    say "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}
installed() { # extension name: its library and control file are in this PostgreSQL's folders
    [ -f "$(pg_config --pkglibdir)/$1.so" ] && [ -f "$(pg_config --sharedir)/extension/$1.control" ]
}
build_citus() {
    [ -f "$CITUS_ARCHIVE" ] || die "Citus source archive missing: $CITUS_ARCHIVE (set ENGINES to the folder holding citus-$CITUS_VERSION.tar.gz)"
    local src="$WORK/build/citus-$CITUS_VERSION"
    mkdir -p "$WORK/build" && tar -xzf "$CITUS_ARCHIVE" -C "$WORK/build"
    # PostgreSQL 15.20 exports have_createdb_privilege; Citus 13.2.2 defines its own static inline copy.
    perl -0pi -e 's/static inline bool\nhave_createdb_privilege\(void\)\n\{.*?\n\}\n//s' \
        "$src/src/include/pg_version_compat.h"
    (cd "$src" && ./configure -q --without-libcurl >"$WORK/build/citus.log" 2>&1 \
        && make -j"$(nproc)" >>"$WORK/build/citus.log" 2>&1 && make install >>"$WORK/build/citus.log" 2>&1) \
        || { tail -n 40 "$WORK/build/citus.log" >&2; die "the Citus build failed (log above)"; }
    rm -rf "$src"
}
build_timescaledb() {
    [ -f "$TIMESCALEDB_ARCHIVE" ] || die "TimescaleDB source archive missing: $TIMESCALEDB_ARCHIVE (set ENGINES to the folder holding timescaledb-$TIMESCALEDB_VERSION.tar.gz)"
    local src="$WORK/build/timescaledb-$TIMESCALEDB_VERSION"
    mkdir -p "$WORK/build" && tar -xzf "$TIMESCALEDB_ARCHIVE" -C "$WORK/build"
    (cd "$src" && ./bootstrap -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
        -DCMAKE_BUILD_TYPE=Release >"$WORK/build/timescaledb.log" 2>&1 \
        && cd build && make -j"$(nproc)" >>"$WORK/build/timescaledb.log" 2>&1 \
        && make install >>"$WORK/build/timescaledb.log" 2>&1) \
        || { tail -n 40 "$WORK/build/timescaledb.log" >&2; die "the TimescaleDB build failed (log above)"; }
    rm -rf "$src"
}
for engine in $SCALEOUT_ENGINES; do
    phase "build $engine"
    need_pg_config
    if installed "$engine" && [ "$SCALEOUT_BUILD" != force ]; then
        phase_done "skipped: $(pg_config --pkglibdir)/$engine.so is installed"
        continue
    fi
    [ "$SCALEOUT_BUILD" = never ] && die "$engine is not installed and SCALEOUT_BUILD=never"
    archive=$CITUS_ARCHIVE
    [ "$engine" = timescaledb ] && archive=$TIMESCALEDB_ARCHIVE
    [ -f "$archive" ] || die "$engine is not installed and its source archive is missing: $archive (set ENGINES to the folder holding $(basename "$archive"))"
    [ "$(id -u)" = 0 ] || die "$engine is not installed; building it needs root (make install into $(pg_config --pkglibdir))"
    install_build_deps
    "build_$engine"
    installed "$engine" || die "$engine built but $(pg_config --pkglibdir)/$engine.so is still missing"
    phase_done "built and installed"
done

# -- 2. the project's virtualenv ------------------------------------------------------------------------------
phase "virtualenv"
if ! "$VENV/bin/python" -c 'import connect_readings, pytest, psycopg' >/dev/null 2>&1; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q -e '.[test]'
fi
phase_done

# -- 3. throwaway clusters -------------------------------------------------------------------------------------
free_ports() { # n distinct ports free on 127.0.0.1 (held open together while picked)
    "$VENV/bin/python" - "$1" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}
psql_at() { # port database sql...
    local port=$1 db=$2
    shift 2
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}
start_node() { # name port preload [extra postgresql.conf lines]
    local name=$1 port=$2 preload=$3 extra=${4:-}
    local dir="$WORK/$name"
    as_pg "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$WORK/$name.initdb.log" 2>&1 \
        || { cat "$WORK/$name.initdb.log" >&2; die "initdb of $name failed"; }
    as_pg tee -a "$dir/postgresql.conf" >/dev/null <<EOF
# connect-readings scaleout.sh: a throwaway test server
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
shared_preload_libraries = '$preload'
max_connections = 300
max_prepared_transactions = 300
fsync = off
synchronous_commit = off
full_page_writes = off
$extra
EOF
    DATADIRS+=("$dir")
    as_pg "$PG_BIN/pg_ctl" -D "$dir" -l "$WORK/$name.log" -w -t 60 start >/dev/null \
        || { tail -n 30 "$WORK/$name.log" >&2; die "$name did not start (log above)"; }
    say "$name up on 127.0.0.1:$port ($preload)"
}

setup_citus() { # coordinator worker1 worker2 ports
    local coordinator=$1 w1=$2 w2=$3 port
    # Every database has its own Citus metadata, and the tests create a database per session: so the extension
    # and the node list go into template1 (coordinator and workers), which CREATE DATABASE copies, and the
    # coordinator propagates CREATE/DROP DATABASE to the workers (citus.enable_create_database_propagation).
    local conf="citus.enable_create_database_propagation = on
citus.log_remote_commands = off"
    start_node citus-coordinator "$coordinator" citus "$conf"
    start_node citus-worker1 "$w1" citus "$conf"
    start_node citus-worker2 "$w2" citus "$conf"
    for port in "$coordinator" "$w1" "$w2"; do
        for db in template1 postgres; do psql_at "$port" "$db" -c "CREATE EXTENSION IF NOT EXISTS citus"; done
    done
    for db in template1 postgres; do
        psql_at "$coordinator" "$db" -o /dev/null <<EOF
SELECT citus_set_coordinator_host('127.0.0.1', $coordinator);
SELECT citus_add_node('127.0.0.1', $w1);
SELECT citus_add_node('127.0.0.1', $w2);
EOF
    done
    psql_at "$coordinator" postgres -At -c "SELECT count(*) FROM citus_get_active_worker_nodes()" | grep -qx 2 \
        || die "the Citus coordinator does not see its 2 workers"
    # CREATE DATABASE needs template1 unused, but Citus keeps a maintenance daemon connected to every database
    # it is loaded in: template1 accepts no more connections (copies of it do), and its daemons are ended.
    for port in "$coordinator" "$w1" "$w2"; do
        psql_at "$port" postgres -c "ALTER DATABASE template1 ALLOW_CONNECTIONS false"
        for _ in $(seq 1 50); do
            [ "$(PGOPTIONS='-c client_min_messages=error' psql_at "$port" postgres -At -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = 'template1' AND pid <> pg_backend_pid()")" = 0 ] && break
            sleep 0.2
        done
    done
}
setup_timescaledb() {
    # No CREATE EXTENSION here: the store's migration creates it (and makes readings a hypertable).
    start_node timescaledb "$1" timescaledb "timescaledb.telemetry_level = off"
}

# -- 4. the suites on each engine ------------------------------------------------------------------------------
FAILED=()
run_suites() { # engine port
    local engine=$1 port=$2 rc=0
    phase "tests on $engine (127.0.0.1:$port)"
    CI=${CI:-true} CONNECT_READINGS_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres" \
        "$VENV/bin/python" -m pytest -p no:xdist -p no:cacheprovider -q "${PYTEST_ARGS[@]}" \
        2>&1 | tee "$WORK/pytest-$engine.log" || rc=$?
    if [ "$engine" = citus ]; then  # the tests' databases are dropped on the workers too (DROP propagated)
        local left
        for port in "${CITUS_WORKERS[@]}"; do
            left=$(psql_at "$port" postgres -At -c "SELECT string_agg(datname, ' ') FROM pg_database WHERE datname LIKE 'connect\_readings\_%'")
            [ -z "$left" ] || say "WARNING: databases left on the worker at :$port: $left"
        done
    fi
    local result
    result=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|skipped|deselected)' "$WORK/pytest-$engine.log" | tail -n 1 | tr -d '=' | xargs || true)
    if [ "$rc" -ne 0 ]; then FAILED+=("$engine"); phase_done "FAILED: ${result:-exit $rc}"; else phase_done "$result"; fi
}

for engine in $SCALEOUT_ENGINES; do
    phase "start $engine"
    if [ "$engine" = citus ]; then
        read -r coordinator w1 w2 <<<"$(free_ports 3)"
        setup_citus "$coordinator" "$w1" "$w2"
        CITUS_WORKERS=("$w1" "$w2")
        phase_done "coordinator :$coordinator, workers :$w1 :$w2"
        run_suites citus "$coordinator"
    else
        read -r port <<<"$(free_ports 1)"
        setup_timescaledb "$port"
        phase_done "server :$port"
        run_suites timescaledb "$port"
    fi
done

if [ "${#FAILED[@]}" -gt 0 ]; then
    say "suites failed on: ${FAILED[*]}"
    exit 1
fi
say "all suites passed on: $SCALEOUT_ENGINES"
