-- Gauges (docs/semantics.md §1): one column per gauge series of `readings` (GAUGE_COLUMNS order, in the
-- normalised unit: W, V, A, %, km) and the per-block summaries `gauge_blocks` (filled by the store after this
-- file runs). Stored gauge metrics move out of `extra` into the columns, converted as the parser converts them
-- at ingest: the unit trimmed of whitespace and lower-cased (so 'mw' is a megawatt, 'ma' a milliampere), then
-- W/kW/MW, V/kV, A/mA, %/percent, km/m/mi, with only the fields l1, l2, l3, total (or value), at least one number,
-- every number within ±1e15 after conversion (state of charge 0..100, range 0..1e15). A metric that does not
-- normalise so stays in `extra` as sent (served as sent, without statistics). A stored odometer is
-- normalised to km in place, by the same rules. `extra` becomes NULL when nothing is left in it. A row whose
-- `extra` holds the escape \u0000 is left as it is (PostgreSQL's json functions cannot read it).
-- (extra is read as TEXT: newer SQLite versions take a BLOB argument of a JSON function for JSONB.)
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

-- Per (entity, block): the summaries of the block's own samples of each gauge (domain/gauges.py, GaugeSummary),
-- packed in one value (storage/base.py, pack_summaries): one row per block, whatever the number of gauges;
-- a block of a coarser tier holds the merge of the blocks of the tier below it.
-- A gauge's series bounds go into `series` beside the registers' (named after its column).
CREATE TABLE gauge_blocks (
    entity_id BLOB    NOT NULL,
    width     INTEGER NOT NULL,  -- the block's tier: 15 minutes, 1 hour or 1 day, in µs (domain/gauges.py, TIERS)
    block     INTEGER NOT NULL,  -- block start, µs UTC
    summaries BLOB   NOT NULL,
    PRIMARY KEY (entity_id, width, block)
) WITHOUT ROWID;

-- positiveActiveInstantaneousPower: kw, mw, w → W
UPDATE readings SET
    positive_power_l1 = json_extract(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.l1') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END),
    positive_power_l2 = json_extract(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.l2') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END),
    positive_power_l3 = json_extract(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.l3') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END),
    positive_power_total = json_extract(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.total') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END),
    extra = CASE WHEN json_remove(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower') = '{}' THEN NULL ELSE CAST(json_remove(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower') AS BLOB) END
WHERE extra IS NOT NULL AND instr(CAST(extra AS TEXT), '\u0000') = 0 AND json_type(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower') = 'object'
    AND json_type(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.unit') = 'text' AND (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END) IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower') WHERE CASE
        WHEN key = 'unit' THEN 0 WHEN key NOT IN ('l1', 'l2', 'l3', 'total') THEN 1 WHEN type = 'null' THEN 0
        WHEN type NOT IN ('integer', 'real') THEN 1 ELSE NOT (abs(value * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END)) <= 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.positiveActiveInstantaneousPower') WHERE key IN ('l1', 'l2', 'l3', 'total') AND type IN ('integer', 'real'));

-- negativeActiveInstantaneousPower: kw, mw, w → W
UPDATE readings SET
    negative_power_l1 = json_extract(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.l1') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END),
    negative_power_l2 = json_extract(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.l2') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END),
    negative_power_l3 = json_extract(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.l3') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END),
    negative_power_total = json_extract(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.total') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END),
    extra = CASE WHEN json_remove(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower') = '{}' THEN NULL ELSE CAST(json_remove(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower') AS BLOB) END
WHERE extra IS NOT NULL AND instr(CAST(extra AS TEXT), '\u0000') = 0 AND json_type(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower') = 'object'
    AND json_type(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.unit') = 'text' AND (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END) IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower') WHERE CASE
        WHEN key = 'unit' THEN 0 WHEN key NOT IN ('l1', 'l2', 'l3', 'total') THEN 1 WHEN type = 'null' THEN 0
        WHEN type NOT IN ('integer', 'real') THEN 1 ELSE NOT (abs(value * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'w' THEN 1.0 WHEN 'kw' THEN 1000.0 WHEN 'mw' THEN 1000000.0 END)) <= 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.negativeActiveInstantaneousPower') WHERE key IN ('l1', 'l2', 'l3', 'total') AND type IN ('integer', 'real'));

-- instantaneousVoltage: kv, v → V
UPDATE readings SET
    voltage_l1 = json_extract(CAST(extra AS TEXT), '$.instantaneousVoltage.l1') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousVoltage.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'v' THEN 1.0 WHEN 'kv' THEN 1000.0 END),
    voltage_l2 = json_extract(CAST(extra AS TEXT), '$.instantaneousVoltage.l2') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousVoltage.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'v' THEN 1.0 WHEN 'kv' THEN 1000.0 END),
    voltage_l3 = json_extract(CAST(extra AS TEXT), '$.instantaneousVoltage.l3') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousVoltage.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'v' THEN 1.0 WHEN 'kv' THEN 1000.0 END),
    voltage_total = json_extract(CAST(extra AS TEXT), '$.instantaneousVoltage.total') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousVoltage.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'v' THEN 1.0 WHEN 'kv' THEN 1000.0 END),
    extra = CASE WHEN json_remove(CAST(extra AS TEXT), '$.instantaneousVoltage') = '{}' THEN NULL ELSE CAST(json_remove(CAST(extra AS TEXT), '$.instantaneousVoltage') AS BLOB) END
WHERE extra IS NOT NULL AND instr(CAST(extra AS TEXT), '\u0000') = 0 AND json_type(CAST(extra AS TEXT), '$.instantaneousVoltage') = 'object'
    AND json_type(CAST(extra AS TEXT), '$.instantaneousVoltage.unit') = 'text' AND (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousVoltage.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'v' THEN 1.0 WHEN 'kv' THEN 1000.0 END) IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.instantaneousVoltage') WHERE CASE
        WHEN key = 'unit' THEN 0 WHEN key NOT IN ('l1', 'l2', 'l3', 'total') THEN 1 WHEN type = 'null' THEN 0
        WHEN type NOT IN ('integer', 'real') THEN 1 ELSE NOT (abs(value * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousVoltage.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'v' THEN 1.0 WHEN 'kv' THEN 1000.0 END)) <= 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.instantaneousVoltage') WHERE key IN ('l1', 'l2', 'l3', 'total') AND type IN ('integer', 'real'));

-- instantaneousCurrent: a, ma → A
UPDATE readings SET
    current_l1 = json_extract(CAST(extra AS TEXT), '$.instantaneousCurrent.l1') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousCurrent.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'a' THEN 1.0 WHEN 'ma' THEN 0.001 END),
    current_l2 = json_extract(CAST(extra AS TEXT), '$.instantaneousCurrent.l2') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousCurrent.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'a' THEN 1.0 WHEN 'ma' THEN 0.001 END),
    current_l3 = json_extract(CAST(extra AS TEXT), '$.instantaneousCurrent.l3') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousCurrent.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'a' THEN 1.0 WHEN 'ma' THEN 0.001 END),
    current_total = json_extract(CAST(extra AS TEXT), '$.instantaneousCurrent.total') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousCurrent.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'a' THEN 1.0 WHEN 'ma' THEN 0.001 END),
    extra = CASE WHEN json_remove(CAST(extra AS TEXT), '$.instantaneousCurrent') = '{}' THEN NULL ELSE CAST(json_remove(CAST(extra AS TEXT), '$.instantaneousCurrent') AS BLOB) END
WHERE extra IS NOT NULL AND instr(CAST(extra AS TEXT), '\u0000') = 0 AND json_type(CAST(extra AS TEXT), '$.instantaneousCurrent') = 'object'
    AND json_type(CAST(extra AS TEXT), '$.instantaneousCurrent.unit') = 'text' AND (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousCurrent.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'a' THEN 1.0 WHEN 'ma' THEN 0.001 END) IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.instantaneousCurrent') WHERE CASE
        WHEN key = 'unit' THEN 0 WHEN key NOT IN ('l1', 'l2', 'l3', 'total') THEN 1 WHEN type = 'null' THEN 0
        WHEN type NOT IN ('integer', 'real') THEN 1 ELSE NOT (abs(value * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.instantaneousCurrent.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'a' THEN 1.0 WHEN 'ma' THEN 0.001 END)) <= 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.instantaneousCurrent') WHERE key IN ('l1', 'l2', 'l3', 'total') AND type IN ('integer', 'real'));

-- stateOfCharge: %, percent → %
UPDATE readings SET
    state_of_charge = json_extract(CAST(extra AS TEXT), '$.stateOfCharge.value') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.stateOfCharge.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN '%' THEN 1.0 WHEN 'percent' THEN 1.0 END),
    extra = CASE WHEN json_remove(CAST(extra AS TEXT), '$.stateOfCharge') = '{}' THEN NULL ELSE CAST(json_remove(CAST(extra AS TEXT), '$.stateOfCharge') AS BLOB) END
WHERE extra IS NOT NULL AND instr(CAST(extra AS TEXT), '\u0000') = 0 AND json_type(CAST(extra AS TEXT), '$.stateOfCharge') = 'object'
    AND json_type(CAST(extra AS TEXT), '$.stateOfCharge.unit') = 'text' AND (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.stateOfCharge.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN '%' THEN 1.0 WHEN 'percent' THEN 1.0 END) IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.stateOfCharge') WHERE CASE
        WHEN key = 'unit' THEN 0 WHEN key NOT IN ('value') THEN 1 WHEN type = 'null' THEN 0
        WHEN type NOT IN ('integer', 'real') THEN 1 ELSE NOT (value * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.stateOfCharge.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN '%' THEN 1.0 WHEN 'percent' THEN 1.0 END) BETWEEN 0 AND 100) END)
    AND EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.stateOfCharge') WHERE key IN ('value') AND type IN ('integer', 'real'));

-- range: km, m, mi → km
UPDATE readings SET
    driving_range = json_extract(CAST(extra AS TEXT), '$.range.value') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.range.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'km' THEN 1.0 WHEN 'm' THEN 0.001 WHEN 'mi' THEN 1.609344 END),
    extra = CASE WHEN json_remove(CAST(extra AS TEXT), '$.range') = '{}' THEN NULL ELSE CAST(json_remove(CAST(extra AS TEXT), '$.range') AS BLOB) END
WHERE extra IS NOT NULL AND instr(CAST(extra AS TEXT), '\u0000') = 0 AND json_type(CAST(extra AS TEXT), '$.range') = 'object'
    AND json_type(CAST(extra AS TEXT), '$.range.unit') = 'text' AND (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.range.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'km' THEN 1.0 WHEN 'm' THEN 0.001 WHEN 'mi' THEN 1.609344 END) IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.range') WHERE CASE
        WHEN key = 'unit' THEN 0 WHEN key NOT IN ('value') THEN 1 WHEN type = 'null' THEN 0
        WHEN type NOT IN ('integer', 'real') THEN 1 ELSE NOT (value * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.range.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'km' THEN 1.0 WHEN 'm' THEN 0.001 WHEN 'mi' THEN 1.609344 END) BETWEEN 0 AND 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.range') WHERE key IN ('value') AND type IN ('integer', 'real'));

-- odometer: km, m, mi → km, kept in extra (a counter, not a gauge)
UPDATE readings SET extra = CAST(json_set(CAST(extra AS TEXT), '$.odometer', json_object('value', json(printf('%!.17g', json_extract(CAST(extra AS TEXT), '$.odometer.value') * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.odometer.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'km' THEN 1.0 WHEN 'm' THEN 0.001 WHEN 'mi' THEN 1.609344 END))), 'unit', 'km')) AS BLOB)
WHERE extra IS NOT NULL AND instr(CAST(extra AS TEXT), '\u0000') = 0 AND json_type(CAST(extra AS TEXT), '$.odometer') = 'object'
    AND json_type(CAST(extra AS TEXT), '$.odometer.unit') = 'text' AND (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.odometer.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'km' THEN 1.0 WHEN 'm' THEN 0.001 WHEN 'mi' THEN 1.609344 END) IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.odometer') WHERE CASE
        WHEN key = 'unit' THEN 0 WHEN key NOT IN ('value') THEN 1 WHEN type = 'null' THEN 0
        WHEN type NOT IN ('integer', 'real') THEN 1 ELSE NOT (value * (CASE lower(trim(json_extract(CAST(extra AS TEXT), '$.odometer.unit'), char(9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288))) WHEN 'km' THEN 1.0 WHEN 'm' THEN 0.001 WHEN 'mi' THEN 1.609344 END) BETWEEN 0 AND 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(CAST(extra AS TEXT), '$.odometer') WHERE key IN ('value') AND type IN ('integer', 'real'));
