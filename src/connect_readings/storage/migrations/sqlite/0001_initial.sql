-- Readings keyed (entity_id, ts) in a clustered b-tree: every query is an index seek on one entity.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE entities (
    entity_id     BLOB PRIMARY KEY,
    register_mask INTEGER NOT NULL DEFAULT 0  -- bit k: register series k was ever ingested
) WITHOUT ROWID;

CREATE TABLE readings (
    entity_id BLOB    NOT NULL,
    ts        INTEGER NOT NULL,  -- microseconds since 1970-01-01 UTC
    r0 REAL, r1 REAL, r2 REAL, r3 REAL, r4 REAL, r5 REAL,
    r6 REAL, r7 REAL, r8 REAL, r9 REAL, r10 REAL, r11 REAL,  -- registers, REGISTER_SERIES order, kWh / m3
    extra     BLOB,              -- other metrics as JSON, NULL when none
    PRIMARY KEY (entity_id, ts)
) WITHOUT ROWID;

-- A meter reset at ts adds `offset` to every later value of that register.
CREATE TABLE resets (
    entity_id BLOB    NOT NULL,
    reg       INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    "offset"  REAL    NOT NULL,
    PRIMARY KEY (entity_id, reg, ts)
) WITHOUT ROWID;
