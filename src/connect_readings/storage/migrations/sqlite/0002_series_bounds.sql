-- Per (entity, register) bounds: first_ts/last_ts enclose every reading of the entity that has register `reg`
-- (conservative: maintained at ingest, they only ever widen). "The nearest reading that has register k" seeks
-- only inside [first_ts, last_ts], so a rare register (one gas reading among 200k energy readings) costs one
-- seek instead of a scan of the entity's history. Backfilled here from the existing readings.
CREATE TABLE series (
    entity_id BLOB    NOT NULL,
    reg       INTEGER NOT NULL,  -- register column index, r0..r11
    first_ts  INTEGER NOT NULL,  -- <= the first reading having the register
    last_ts   INTEGER NOT NULL,  -- >= the last reading having the register
    PRIMARY KEY (entity_id, reg)
) WITHOUT ROWID;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 0, min(ts), max(ts) FROM readings WHERE r0 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 1, min(ts), max(ts) FROM readings WHERE r1 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 2, min(ts), max(ts) FROM readings WHERE r2 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 3, min(ts), max(ts) FROM readings WHERE r3 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 4, min(ts), max(ts) FROM readings WHERE r4 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 5, min(ts), max(ts) FROM readings WHERE r5 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 6, min(ts), max(ts) FROM readings WHERE r6 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 7, min(ts), max(ts) FROM readings WHERE r7 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 8, min(ts), max(ts) FROM readings WHERE r8 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 9, min(ts), max(ts) FROM readings WHERE r9 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 10, min(ts), max(ts) FROM readings WHERE r10 IS NOT NULL GROUP BY entity_id;

INSERT INTO series (entity_id, reg, first_ts, last_ts)
    SELECT entity_id, 11, min(ts), max(ts) FROM readings WHERE r11 IS NOT NULL GROUP BY entity_id;
