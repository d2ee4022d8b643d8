-- PostgreSQL schema, version 1. Mirrors the SQLite schema column for column.
--
-- Every key and index leads with entity_id: every statement the store issues filters on one entity_id, so it
-- is an index seek (and, on Citus, a query routed to exactly one shard). Timestamps are bigint microseconds
-- since 1970-01-01 UTC, exactly as in SQLite and in the domain code (see postgres.py for why).
--
-- Citus / TimescaleDB are applied after the migrations, by PostgresStore.migrate(), when available.

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE entities (
    entity_id     uuid    PRIMARY KEY,
    register_mask integer NOT NULL DEFAULT 0  -- bit k: register series k was ever ingested
);

CREATE TABLE readings (
    entity_id uuid   NOT NULL,
    ts        bigint NOT NULL,  -- microseconds since 1970-01-01 UTC
    r0 double precision, r1 double precision, r2 double precision, r3 double precision,
    r4 double precision, r5 double precision, r6 double precision, r7 double precision,
    r8 double precision, r9 double precision, r10 double precision, r11 double precision,
                                -- registers, REGISTER_SERIES order, kWh / m3
    extra     json,             -- other metrics, verbatim JSON text (json, not jsonb: key order and number
                                -- spelling come back exactly as written), NULL when none
    PRIMARY KEY (entity_id, ts)
);

-- A meter reset at ts adds `offset` to every later value of that register.
-- Keyed (entity_id, ts, reg): reads ask for all registers' resets in a time span of one entity.
CREATE TABLE resets (
    entity_id uuid             NOT NULL,
    reg       smallint         NOT NULL,
    ts        bigint           NOT NULL,
    "offset"  double precision NOT NULL,
    PRIMARY KEY (entity_id, ts, reg)
);
