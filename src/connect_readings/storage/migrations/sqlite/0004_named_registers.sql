-- Register columns named after the series they hold (REGISTER_SERIES order), register names instead of
-- numbers in the side tables, and no bitmask: an entity's registers are its rows in `series`.
ALTER TABLE readings RENAME COLUMN r0 TO positive_t1;
ALTER TABLE readings RENAME COLUMN r1 TO positive_t2;
ALTER TABLE readings RENAME COLUMN r2 TO positive_t3;
ALTER TABLE readings RENAME COLUMN r3 TO positive_t4;
ALTER TABLE readings RENAME COLUMN r4 TO positive_total;
ALTER TABLE readings RENAME COLUMN r5 TO negative_t1;
ALTER TABLE readings RENAME COLUMN r6 TO negative_t2;
ALTER TABLE readings RENAME COLUMN r7 TO negative_t3;
ALTER TABLE readings RENAME COLUMN r8 TO negative_t4;
ALTER TABLE readings RENAME COLUMN r9 TO negative_total;
ALTER TABLE readings RENAME COLUMN r10 TO positive_gas;
ALTER TABLE readings RENAME COLUMN r11 TO negative_gas;

CREATE TABLE register_names (reg INTEGER PRIMARY KEY, register TEXT NOT NULL);
INSERT INTO register_names (reg, register) VALUES
    (0, 'positive_t1'), (1, 'positive_t2'), (2, 'positive_t3'), (3, 'positive_t4'), (4, 'positive_total'),
    (5, 'negative_t1'), (6, 'negative_t2'), (7, 'negative_t3'), (8, 'negative_t4'), (9, 'negative_total'),
    (10, 'positive_gas'), (11, 'negative_gas');

-- A meter reset at ts adds `offset` to every later value of that register.
CREATE TABLE resets_named (
    entity_id BLOB    NOT NULL,
    register  TEXT    NOT NULL,  -- a register column of `readings`
    ts        INTEGER NOT NULL,
    "offset"  REAL    NOT NULL,
    PRIMARY KEY (entity_id, register, ts)
) WITHOUT ROWID;
INSERT INTO resets_named SELECT r.entity_id, n.register, r.ts, r."offset" FROM resets r JOIN register_names n USING (reg);
DROP TABLE resets;
ALTER TABLE resets_named RENAME TO resets;

-- first_ts/last_ts enclose every reading of the entity that has the register (they only ever widen).
CREATE TABLE series_named (
    entity_id BLOB    NOT NULL,
    register  TEXT    NOT NULL,
    first_ts  INTEGER NOT NULL,
    last_ts   INTEGER NOT NULL,
    PRIMARY KEY (entity_id, register)
) WITHOUT ROWID;
INSERT INTO series_named SELECT s.entity_id, n.register, s.first_ts, s.last_ts FROM series s JOIN register_names n USING (reg);
DROP TABLE series;
ALTER TABLE series_named RENAME TO series;

DROP TABLE register_names;
ALTER TABLE entities DROP COLUMN register_mask;
