-- PLACEHOLDER (replaced by the units branch)
ALTER TABLE readings ADD COLUMN positive_power_l1 REAL;
ALTER TABLE readings ADD COLUMN positive_power_l2 REAL;
ALTER TABLE readings ADD COLUMN positive_power_l3 REAL;
ALTER TABLE readings ADD COLUMN positive_power_total REAL;
ALTER TABLE readings ADD COLUMN negative_power_l1 REAL;
ALTER TABLE readings ADD COLUMN negative_power_l2 REAL;
ALTER TABLE readings ADD COLUMN negative_power_l3 REAL;
ALTER TABLE readings ADD COLUMN negative_power_total REAL;
ALTER TABLE readings ADD COLUMN voltage_l1 REAL;
ALTER TABLE readings ADD COLUMN voltage_l2 REAL;
ALTER TABLE readings ADD COLUMN voltage_l3 REAL;
ALTER TABLE readings ADD COLUMN voltage_total REAL;
ALTER TABLE readings ADD COLUMN current_l1 REAL;
ALTER TABLE readings ADD COLUMN current_l2 REAL;
ALTER TABLE readings ADD COLUMN current_l3 REAL;
ALTER TABLE readings ADD COLUMN current_total REAL;
ALTER TABLE readings ADD COLUMN state_of_charge REAL;
ALTER TABLE readings ADD COLUMN driving_range REAL;
CREATE TABLE gauge_blocks (
    entity_id   BLOB    NOT NULL,
    gauge       TEXT    NOT NULL,
    block       INTEGER    NOT NULL,
    count       INTEGER NOT NULL,
    min         REAL    NOT NULL,
    min_at      INTEGER NOT NULL,
    max         REAL    NOT NULL,
    max_at      INTEGER NOT NULL,
    integral    REAL    NOT NULL,
    first_ts    INTEGER NOT NULL,
    first_value REAL    NOT NULL,
    last_ts     INTEGER NOT NULL,
    last_value  REAL    NOT NULL,
    PRIMARY KEY (entity_id, gauge, block)
) WITHOUT ROWID;
