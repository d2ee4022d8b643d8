"""On Citus, each ingest transaction runs on a connection to the worker holding the entity's shards
(`postgres._WorkerRoutes`): checked on a real cluster (`scripts/scaleout.sh`), skipped elsewhere (see
test_scaleout_engines.py for the fixtures and how to run them).
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from connect_readings.api.app import create_app
from connect_readings.config import Settings
from connect_readings.domain.gauges import TIERS
from connect_readings.storage import postgres
from connect_readings.storage.base import StoreBusy
from connect_readings.storage.postgres import PostgresStore

from .test_scaleout_engines import DAY, MINUTE, T0, citus, energy, mixed, pg  # noqa: F401 (fixtures)

WORKER_BACKENDS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND application_name = 'connect-readings'")
PREPARED = "SELECT count(*) FROM pg_dist_transaction"


@pytest.fixture
def routed(citus: PostgresStore) -> Iterator[PostgresStore]:  # noqa: F811 (the fixture)
    with citus.connection():  # a configured connection: the store knows it is on Citus before the first ingest
        pass
    with citus.connection() as conn:
        workers = conn.execute("SELECT count(*) FROM citus_get_active_worker_nodes()").fetchone()[0]  # type: ignore[index]
    if workers < 2:
        pytest.skip(f"the Citus server has {workers} worker node(s); routing to workers needs a cluster")
    assert citus._routes is not None
    yield citus


def placement(store: PostgresStore, entity: uuid.UUID) -> tuple[str, int]:
    """Where Citus says the entity's readings live (asked of the coordinator, independently of the store)."""
    with store.connection() as conn:
        row = conn.execute("SELECT nodename, nodeport FROM citus_shards WHERE table_name = 'readings'::regclass "
                           "AND shardid = get_shard_id_for_distribution_column('readings', %s)", (entity,)).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


def workers(store: PostgresStore) -> list[tuple[str, int]]:
    with store.connection() as conn:
        return [(str(h), int(p)) for h, p in conn.execute(
            "SELECT nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0").fetchall()]


def on_node(store: PostgresStore, node: tuple[str, int], statement: str) -> int:
    assert store._routes is not None
    with psycopg.connect(store._routes.conninfo(node), autocommit=True) as conn:
        return int(conn.execute(statement).fetchone()[0])  # type: ignore[index]


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_citus_ingest_runs_on_the_entitys_worker_in_one_phase(routed: PostgresStore) -> None:
    """The store's ingest connections are on the worker Citus places the entity on (and only there), and the
    transaction commits in one phase: no PREPARE TRANSACTION recorded on any node."""
    entity = uuid.uuid4()
    node = placement(routed, entity)
    assert routed._routes is not None and routed._routes.node_of(entity) == node
    nodes = workers(routed)
    prepared = {n: on_node(routed, n, PREPARED) for n in nodes}
    with routed.connection() as conn:
        coordinator_prepared = conn.execute(PREPARED).fetchone()[0]  # type: ignore[index]
    for b in range(3):
        routed.ingest(entity, [mixed(T0 + (b * 60 + i) * MINUTE, b * 60 + i) for i in range(60)])
    routed.ingest(entity, [mixed(T0 + (30 + 2 * i) * MINUTE, 1_000 + i) for i in range(40)])  # late data
    assert on_node(routed, node, WORKER_BACKENDS) >= 1  # the store's pool on that worker
    for other in nodes:
        if other != node:
            assert on_node(routed, other, WORKER_BACKENDS) == 0
        assert on_node(routed, other, PREPARED) <= prepared[other]  # (recovery may only remove rows)
    with routed.connection() as conn:
        assert conn.execute(PREPARED).fetchone()[0] <= coordinator_prepared  # type: ignore[index]
    assert len(routed.readings(entity, T0, T0 + DAY, 1_000)) == 180


def test_citus_routed_ingest_stores_what_the_coordinator_stores(routed: PostgresStore) -> None:
    """The same batches, one entity through its worker, its twin through the coordinator (routing off): the
    same answers from every read."""
    direct = PostgresStore(routed.url, min_size=1, max_size=2, route_to_workers=False)
    try:
        assert direct._routes is None
        entity, twin = uuid.uuid4(), uuid.uuid4()
        batches = [[mixed(T0 + (b * 60 + i) * MINUTE, b * 60 + i) for i in range(60)] for b in range(3)]
        late = [mixed(T0 + (30 + 2 * i) * MINUTE, 1_000 + i) for i in range(40)]  # replaces and inserts
        for batch in (*batches, late):
            routed.ingest(entity, batch)
            direct.ingest(twin, batch)
        instants = [T0 + k * 17 * MINUTE for k in range(12)]
        assert routed.register_brackets(entity, instants) == direct.register_brackets(twin, instants)
        assert routed.readings(entity, T0, T0 + DAY, 1_000) == direct.readings(twin, T0, T0 + DAY, 1_000)
        assert routed.register_edges(entity, instants) == direct.register_edges(twin, instants)
        assert routed.gauges_present(entity) == direct.gauges_present(twin)
        for width in TIERS:
            assert routed.gauge_blocks(entity, width, T0, T0 + DAY) == direct.gauge_blocks(twin, width, T0, T0 + DAY)
        assert routed.entity_version(entity) == direct.entity_version(twin) is not None
    finally:
        direct.close()


def test_citus_ingest_falls_back_to_the_coordinator_when_the_worker_is_unreachable(routed: PostgresStore) -> None:
    """A worker that cannot be reached (here: its placement read as a port nobody listens on): the ingest goes
    through the coordinator, the worker is left alone for a while, then tried again."""
    routes = routed._routes
    assert routes is not None
    entity = uuid.uuid4()
    shard = routes._shards.get(entity) or routes.node_of(entity) and routes._shards[entity]
    wrong = ("127.0.0.1", unused_port())
    routes._placements[shard] = (wrong, time.monotonic() + 60)
    routed.ingest(entity, [energy(T0 + i * MINUTE, i) for i in range(50)])
    assert routes._down.get(wrong, 0) > time.monotonic()
    assert wrong not in routes._pools
    assert len(routed.readings(entity, T0, T0 + DAY, 1_000)) == 50
    routes._placements[shard] = (wrong, 0.0)  # the placement read again: the right worker
    routed.ingest(entity, [energy(T0 + (50 + i) * MINUTE, 50 + i) for i in range(50)])
    assert routes.node_of(entity) == placement(routed, entity) and placement(routed, entity) in routes._pools
    assert len(routed.readings(entity, T0, T0 + DAY, 1_000)) == 100


def test_citus_worker_lost_mid_call_then_the_coordinator(routed: PostgresStore) -> None:
    """The store's connections on the worker killed: the call that finds out fails as a busy store (nothing
    committed), the worker is left alone, and the retried batch goes through the coordinator."""
    routes = routed._routes
    assert routes is not None
    entity = uuid.uuid4()
    routed.ingest(entity, [energy(T0 + i * MINUTE, i) for i in range(10)])
    node = placement(routed, entity)
    assert node in routes._pools
    on_node(routed, node, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND application_name = 'connect-readings'")
    batch = [energy(T0 + (10 + i) * MINUTE, 10 + i) for i in range(10)]
    try:
        routed.ingest(entity, batch)
    except StoreBusy:
        assert routes._down.get(node, 0) > time.monotonic() and node not in routes._pools
        routed.ingest(entity, batch)  # the client's retry: through the coordinator
    assert len(routed.readings(entity, T0, T0 + DAY, 1_000)) == 20


def test_citus_session_settings_hold_on_the_worker_connections(routed: PostgresStore) -> None:
    """`_configure` runs on the worker pools' connections too: the planner settings, plan_cache_mode and the
    SET propagation the ingest relies on."""
    entity = uuid.uuid4()
    routed.ingest(entity, [energy(T0, 1.0)])
    routes = routed._routes
    assert routes is not None
    pool = routes._pools[placement(routed, entity)]
    with pool.connection() as conn:
        assert conn.execute(
            "SELECT current_setting('enable_seqscan'), current_setting('enable_bitmapscan'), current_setting('jit'), "
            "current_setting('plan_cache_mode'), current_setting('citus.propagate_set_commands')"
        ).fetchone() == ("off", "off", "off", "auto", "local")
    assert postgres._ROUTE_TTL_S > 0


@pytest.mark.parametrize("value, routes", [("false", False), ("true", True), (None, True)])
def test_citus_ingest_on_workers_setting_reaches_the_servers_store(routed: PostgresStore, value: str | None,
                                                                   routes: bool) -> None:
    """`CONNECT_READINGS_CITUS_INGEST_ON_WORKERS` (default true) is what the server's store is built with."""
    environ = {"CONNECT_READINGS_DATABASE": routed.url, "CONNECT_READINGS_JWT_SECRET": "s" * 32}
    if value is not None:
        environ["CONNECT_READINGS_CITUS_INGEST_ON_WORKERS"] = value
    settings = Settings.from_env(environ)
    assert settings.citus_ingest_on_workers is routes
    app = create_app(settings)
    try:
        assert (app.state.api.store._routes is not None) is routes
    finally:
        app.state.api.store.close()


def test_citus_a_statement_cancelled_on_the_worker_leaves_it_in_use(routed: PostgresStore) -> None:
    """A statement cancelled on the worker (its timeout: what a request's deadline does) fails that call only: the
    worker's connection is sound, so the worker stays in use and the next ingest runs there again."""
    routes = routed._routes
    assert routes is not None
    entity = uuid.uuid4()
    routed.ingest(entity, [energy(T0 + i * MINUTE, i) for i in range(10)])
    node = placement(routed, entity)
    with pytest.raises(psycopg.errors.QueryCanceled):
        with routed._ingest_connection(entity, None) as conn:
            conn.execute("BEGIN")
            conn.execute("SET LOCAL statement_timeout = 10")
            conn.execute("SELECT pg_sleep(1)")
    assert routes._down.get(node, 0) <= time.monotonic() and node in routes._pools
    routed.ingest(entity, [energy(T0 + (10 + i) * MINUTE, 10 + i) for i in range(10)])
    assert on_node(routed, node, WORKER_BACKENDS) >= 1
    assert len(routed.readings(entity, T0, T0 + DAY, 1_000)) == 20
