-- Gauges (docs/semantics.md §1): one column per gauge series of `readings` (GAUGE_COLUMNS order, in the
-- normalised unit: W, V, A, %, km) and the per-block summaries `gauge_blocks` (filled by the store after this
-- file runs). Stored gauge metrics move out of `extra` into the columns, converted as the parser converts them
-- at ingest: the unit trimmed of whitespace and lower-cased (so 'mw' is a megawatt, 'ma' a milliampere), then
-- W/kW/MW, V/kV, A/mA, %/percent, km/m/mi, with only the fields l1, l2, l3, total (or value), at least one number,
-- every number within ±1e15 after conversion (state of charge 0..100, range 0..1e15). A metric that does not
-- normalise so stays in `extra` as sent (served as sent, without statistics). A stored odometer is
-- normalised to km in place, by the same rules. `extra` becomes NULL when nothing is left in it. A row whose
-- `extra` holds the escape \u0000 is left as it is (PostgreSQL's json functions cannot read it).
-- Only built-in json functions on the json column, and no helper function, so the statements also run
-- unchanged on a Citus-distributed `readings`. The rewritten `extra` keeps the order and the number spelling
-- of the metrics left in it (json_each keeps each value's text).
ALTER TABLE readings
    ADD COLUMN positive_power_l1 double precision,
    ADD COLUMN positive_power_l2 double precision,
    ADD COLUMN positive_power_l3 double precision,
    ADD COLUMN positive_power_total double precision,
    ADD COLUMN negative_power_l1 double precision,
    ADD COLUMN negative_power_l2 double precision,
    ADD COLUMN negative_power_l3 double precision,
    ADD COLUMN negative_power_total double precision,
    ADD COLUMN voltage_l1 double precision,
    ADD COLUMN voltage_l2 double precision,
    ADD COLUMN voltage_l3 double precision,
    ADD COLUMN voltage_total double precision,
    ADD COLUMN current_l1 double precision,
    ADD COLUMN current_l2 double precision,
    ADD COLUMN current_l3 double precision,
    ADD COLUMN current_total double precision,
    ADD COLUMN state_of_charge double precision,
    ADD COLUMN driving_range double precision;

-- Per (entity, block): the summaries of the block's own samples of each gauge (domain/gauges.py, GaugeSummary),
-- packed in one value (storage/base.py, pack_summaries): one row per block, whatever the number of gauges;
-- a block of a coarser tier holds the merge of the blocks of the tier below it.
-- A gauge's series bounds go into `series` beside the registers' (named after its column).
CREATE TABLE gauge_blocks (
    entity_id uuid    NOT NULL,
    width     bigint  NOT NULL,  -- the block's tier: 15 minutes, 1 hour or 1 day, in µs (domain/gauges.py, TIERS)
    block     bigint  NOT NULL,  -- block start, µs UTC
    summaries bytea   NOT NULL,
    PRIMARY KEY (entity_id, width, block)
);

-- (the odometer's km value is written by float8out: shortest exact with extra_float_digits > 0, the default)
SET LOCAL extra_float_digits = 1;

-- positiveActiveInstantaneousPower: kw, mw, w → W
UPDATE readings SET
    positive_power_l1 = (extra -> 'positiveActiveInstantaneousPower' ->> 'l1')::float8 * (CASE WHEN json_typeof(extra -> 'positiveActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'positiveActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END),
    positive_power_l2 = (extra -> 'positiveActiveInstantaneousPower' ->> 'l2')::float8 * (CASE WHEN json_typeof(extra -> 'positiveActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'positiveActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END),
    positive_power_l3 = (extra -> 'positiveActiveInstantaneousPower' ->> 'l3')::float8 * (CASE WHEN json_typeof(extra -> 'positiveActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'positiveActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END),
    positive_power_total = (extra -> 'positiveActiveInstantaneousPower' ->> 'total')::float8 * (CASE WHEN json_typeof(extra -> 'positiveActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'positiveActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END),
    extra = (SELECT ('{' || string_agg(to_json(e.key)::text || ':' || e.value::text, ',' ORDER BY e.n) || '}')::json
             FROM json_each(extra) WITH ORDINALITY AS e(key, value, n) WHERE e.key <> 'positiveActiveInstantaneousPower')
WHERE extra IS NOT NULL AND CASE
    WHEN strpos(extra::text, '\u0000') > 0 THEN false
    WHEN json_typeof(extra -> 'positiveActiveInstantaneousPower') IS DISTINCT FROM 'object' THEN false
    WHEN (CASE WHEN json_typeof(extra -> 'positiveActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'positiveActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END) IS NULL THEN false
    ELSE NOT EXISTS (SELECT 1 FROM json_each(extra -> 'positiveActiveInstantaneousPower') e WHERE CASE
        WHEN e.key = 'unit' THEN false WHEN e.key NOT IN ('l1', 'l2', 'l3', 'total') THEN true
        WHEN json_typeof(e.value) = 'null' THEN false WHEN json_typeof(e.value) <> 'number' THEN true
        WHEN abs((e.value::text)::numeric) > 1e300 THEN true ELSE NOT (abs((e.value::text)::float8 * (CASE WHEN json_typeof(extra -> 'positiveActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'positiveActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END)) <= 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(extra -> 'positiveActiveInstantaneousPower') e WHERE e.key IN ('l1', 'l2', 'l3', 'total') AND json_typeof(e.value) = 'number')
    END;

-- negativeActiveInstantaneousPower: kw, mw, w → W
UPDATE readings SET
    negative_power_l1 = (extra -> 'negativeActiveInstantaneousPower' ->> 'l1')::float8 * (CASE WHEN json_typeof(extra -> 'negativeActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'negativeActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END),
    negative_power_l2 = (extra -> 'negativeActiveInstantaneousPower' ->> 'l2')::float8 * (CASE WHEN json_typeof(extra -> 'negativeActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'negativeActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END),
    negative_power_l3 = (extra -> 'negativeActiveInstantaneousPower' ->> 'l3')::float8 * (CASE WHEN json_typeof(extra -> 'negativeActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'negativeActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END),
    negative_power_total = (extra -> 'negativeActiveInstantaneousPower' ->> 'total')::float8 * (CASE WHEN json_typeof(extra -> 'negativeActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'negativeActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END),
    extra = (SELECT ('{' || string_agg(to_json(e.key)::text || ':' || e.value::text, ',' ORDER BY e.n) || '}')::json
             FROM json_each(extra) WITH ORDINALITY AS e(key, value, n) WHERE e.key <> 'negativeActiveInstantaneousPower')
WHERE extra IS NOT NULL AND CASE
    WHEN strpos(extra::text, '\u0000') > 0 THEN false
    WHEN json_typeof(extra -> 'negativeActiveInstantaneousPower') IS DISTINCT FROM 'object' THEN false
    WHEN (CASE WHEN json_typeof(extra -> 'negativeActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'negativeActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END) IS NULL THEN false
    ELSE NOT EXISTS (SELECT 1 FROM json_each(extra -> 'negativeActiveInstantaneousPower') e WHERE CASE
        WHEN e.key = 'unit' THEN false WHEN e.key NOT IN ('l1', 'l2', 'l3', 'total') THEN true
        WHEN json_typeof(e.value) = 'null' THEN false WHEN json_typeof(e.value) <> 'number' THEN true
        WHEN abs((e.value::text)::numeric) > 1e300 THEN true ELSE NOT (abs((e.value::text)::float8 * (CASE WHEN json_typeof(extra -> 'negativeActiveInstantaneousPower' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'negativeActiveInstantaneousPower' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'w' THEN 1.0::float8 WHEN 'kw' THEN 1000.0::float8 WHEN 'mw' THEN 1000000.0::float8 END END)) <= 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(extra -> 'negativeActiveInstantaneousPower') e WHERE e.key IN ('l1', 'l2', 'l3', 'total') AND json_typeof(e.value) = 'number')
    END;

-- instantaneousVoltage: kv, v → V
UPDATE readings SET
    voltage_l1 = (extra -> 'instantaneousVoltage' ->> 'l1')::float8 * (CASE WHEN json_typeof(extra -> 'instantaneousVoltage' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousVoltage' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'v' THEN 1.0::float8 WHEN 'kv' THEN 1000.0::float8 END END),
    voltage_l2 = (extra -> 'instantaneousVoltage' ->> 'l2')::float8 * (CASE WHEN json_typeof(extra -> 'instantaneousVoltage' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousVoltage' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'v' THEN 1.0::float8 WHEN 'kv' THEN 1000.0::float8 END END),
    voltage_l3 = (extra -> 'instantaneousVoltage' ->> 'l3')::float8 * (CASE WHEN json_typeof(extra -> 'instantaneousVoltage' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousVoltage' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'v' THEN 1.0::float8 WHEN 'kv' THEN 1000.0::float8 END END),
    voltage_total = (extra -> 'instantaneousVoltage' ->> 'total')::float8 * (CASE WHEN json_typeof(extra -> 'instantaneousVoltage' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousVoltage' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'v' THEN 1.0::float8 WHEN 'kv' THEN 1000.0::float8 END END),
    extra = (SELECT ('{' || string_agg(to_json(e.key)::text || ':' || e.value::text, ',' ORDER BY e.n) || '}')::json
             FROM json_each(extra) WITH ORDINALITY AS e(key, value, n) WHERE e.key <> 'instantaneousVoltage')
WHERE extra IS NOT NULL AND CASE
    WHEN strpos(extra::text, '\u0000') > 0 THEN false
    WHEN json_typeof(extra -> 'instantaneousVoltage') IS DISTINCT FROM 'object' THEN false
    WHEN (CASE WHEN json_typeof(extra -> 'instantaneousVoltage' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousVoltage' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'v' THEN 1.0::float8 WHEN 'kv' THEN 1000.0::float8 END END) IS NULL THEN false
    ELSE NOT EXISTS (SELECT 1 FROM json_each(extra -> 'instantaneousVoltage') e WHERE CASE
        WHEN e.key = 'unit' THEN false WHEN e.key NOT IN ('l1', 'l2', 'l3', 'total') THEN true
        WHEN json_typeof(e.value) = 'null' THEN false WHEN json_typeof(e.value) <> 'number' THEN true
        WHEN abs((e.value::text)::numeric) > 1e300 THEN true ELSE NOT (abs((e.value::text)::float8 * (CASE WHEN json_typeof(extra -> 'instantaneousVoltage' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousVoltage' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'v' THEN 1.0::float8 WHEN 'kv' THEN 1000.0::float8 END END)) <= 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(extra -> 'instantaneousVoltage') e WHERE e.key IN ('l1', 'l2', 'l3', 'total') AND json_typeof(e.value) = 'number')
    END;

-- instantaneousCurrent: a, ma → A
UPDATE readings SET
    current_l1 = (extra -> 'instantaneousCurrent' ->> 'l1')::float8 * (CASE WHEN json_typeof(extra -> 'instantaneousCurrent' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousCurrent' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'a' THEN 1.0::float8 WHEN 'ma' THEN 0.001::float8 END END),
    current_l2 = (extra -> 'instantaneousCurrent' ->> 'l2')::float8 * (CASE WHEN json_typeof(extra -> 'instantaneousCurrent' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousCurrent' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'a' THEN 1.0::float8 WHEN 'ma' THEN 0.001::float8 END END),
    current_l3 = (extra -> 'instantaneousCurrent' ->> 'l3')::float8 * (CASE WHEN json_typeof(extra -> 'instantaneousCurrent' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousCurrent' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'a' THEN 1.0::float8 WHEN 'ma' THEN 0.001::float8 END END),
    current_total = (extra -> 'instantaneousCurrent' ->> 'total')::float8 * (CASE WHEN json_typeof(extra -> 'instantaneousCurrent' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousCurrent' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'a' THEN 1.0::float8 WHEN 'ma' THEN 0.001::float8 END END),
    extra = (SELECT ('{' || string_agg(to_json(e.key)::text || ':' || e.value::text, ',' ORDER BY e.n) || '}')::json
             FROM json_each(extra) WITH ORDINALITY AS e(key, value, n) WHERE e.key <> 'instantaneousCurrent')
WHERE extra IS NOT NULL AND CASE
    WHEN strpos(extra::text, '\u0000') > 0 THEN false
    WHEN json_typeof(extra -> 'instantaneousCurrent') IS DISTINCT FROM 'object' THEN false
    WHEN (CASE WHEN json_typeof(extra -> 'instantaneousCurrent' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousCurrent' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'a' THEN 1.0::float8 WHEN 'ma' THEN 0.001::float8 END END) IS NULL THEN false
    ELSE NOT EXISTS (SELECT 1 FROM json_each(extra -> 'instantaneousCurrent') e WHERE CASE
        WHEN e.key = 'unit' THEN false WHEN e.key NOT IN ('l1', 'l2', 'l3', 'total') THEN true
        WHEN json_typeof(e.value) = 'null' THEN false WHEN json_typeof(e.value) <> 'number' THEN true
        WHEN abs((e.value::text)::numeric) > 1e300 THEN true ELSE NOT (abs((e.value::text)::float8 * (CASE WHEN json_typeof(extra -> 'instantaneousCurrent' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'instantaneousCurrent' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'a' THEN 1.0::float8 WHEN 'ma' THEN 0.001::float8 END END)) <= 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(extra -> 'instantaneousCurrent') e WHERE e.key IN ('l1', 'l2', 'l3', 'total') AND json_typeof(e.value) = 'number')
    END;

-- stateOfCharge: %, percent → %
UPDATE readings SET
    state_of_charge = (extra -> 'stateOfCharge' ->> 'value')::float8 * (CASE WHEN json_typeof(extra -> 'stateOfCharge' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'stateOfCharge' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN '%' THEN 1.0::float8 WHEN 'percent' THEN 1.0::float8 END END),
    extra = (SELECT ('{' || string_agg(to_json(e.key)::text || ':' || e.value::text, ',' ORDER BY e.n) || '}')::json
             FROM json_each(extra) WITH ORDINALITY AS e(key, value, n) WHERE e.key <> 'stateOfCharge')
WHERE extra IS NOT NULL AND CASE
    WHEN strpos(extra::text, '\u0000') > 0 THEN false
    WHEN json_typeof(extra -> 'stateOfCharge') IS DISTINCT FROM 'object' THEN false
    WHEN (CASE WHEN json_typeof(extra -> 'stateOfCharge' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'stateOfCharge' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN '%' THEN 1.0::float8 WHEN 'percent' THEN 1.0::float8 END END) IS NULL THEN false
    ELSE NOT EXISTS (SELECT 1 FROM json_each(extra -> 'stateOfCharge') e WHERE CASE
        WHEN e.key = 'unit' THEN false WHEN e.key NOT IN ('value') THEN true
        WHEN json_typeof(e.value) = 'null' THEN false WHEN json_typeof(e.value) <> 'number' THEN true
        WHEN abs((e.value::text)::numeric) > 1e300 THEN true ELSE NOT ((e.value::text)::float8 * (CASE WHEN json_typeof(extra -> 'stateOfCharge' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'stateOfCharge' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN '%' THEN 1.0::float8 WHEN 'percent' THEN 1.0::float8 END END) BETWEEN 0 AND 100) END)
    AND EXISTS (SELECT 1 FROM json_each(extra -> 'stateOfCharge') e WHERE e.key IN ('value') AND json_typeof(e.value) = 'number')
    END;

-- range: km, m, mi → km
UPDATE readings SET
    driving_range = (extra -> 'range' ->> 'value')::float8 * (CASE WHEN json_typeof(extra -> 'range' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'range' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'km' THEN 1.0::float8 WHEN 'm' THEN 0.001::float8 WHEN 'mi' THEN 1.609344::float8 END END),
    extra = (SELECT ('{' || string_agg(to_json(e.key)::text || ':' || e.value::text, ',' ORDER BY e.n) || '}')::json
             FROM json_each(extra) WITH ORDINALITY AS e(key, value, n) WHERE e.key <> 'range')
WHERE extra IS NOT NULL AND CASE
    WHEN strpos(extra::text, '\u0000') > 0 THEN false
    WHEN json_typeof(extra -> 'range') IS DISTINCT FROM 'object' THEN false
    WHEN (CASE WHEN json_typeof(extra -> 'range' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'range' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'km' THEN 1.0::float8 WHEN 'm' THEN 0.001::float8 WHEN 'mi' THEN 1.609344::float8 END END) IS NULL THEN false
    ELSE NOT EXISTS (SELECT 1 FROM json_each(extra -> 'range') e WHERE CASE
        WHEN e.key = 'unit' THEN false WHEN e.key NOT IN ('value') THEN true
        WHEN json_typeof(e.value) = 'null' THEN false WHEN json_typeof(e.value) <> 'number' THEN true
        WHEN abs((e.value::text)::numeric) > 1e300 THEN true ELSE NOT ((e.value::text)::float8 * (CASE WHEN json_typeof(extra -> 'range' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'range' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'km' THEN 1.0::float8 WHEN 'm' THEN 0.001::float8 WHEN 'mi' THEN 1.609344::float8 END END) BETWEEN 0 AND 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(extra -> 'range') e WHERE e.key IN ('value') AND json_typeof(e.value) = 'number')
    END;

-- odometer: km, m, mi → km, kept in extra (a counter, not a gauge)
UPDATE readings SET extra = (SELECT ('{' || string_agg(to_json(e.key)::text || ':' || CASE WHEN e.key = 'odometer'
        THEN '{"value":' || ((extra -> 'odometer' ->> 'value')::float8 * (CASE WHEN json_typeof(extra -> 'odometer' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'odometer' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'km' THEN 1.0::float8 WHEN 'm' THEN 0.001::float8 WHEN 'mi' THEN 1.609344::float8 END END))::text || ',"unit":"km"}' ELSE e.value::text END,
        ',' ORDER BY e.n) || '}')::json FROM json_each(extra) WITH ORDINALITY AS e(key, value, n))
WHERE extra IS NOT NULL AND CASE
    WHEN strpos(extra::text, '\u0000') > 0 THEN false
    WHEN json_typeof(extra -> 'odometer') IS DISTINCT FROM 'object' THEN false
    WHEN (CASE WHEN json_typeof(extra -> 'odometer' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'odometer' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'km' THEN 1.0::float8 WHEN 'm' THEN 0.001::float8 WHEN 'mi' THEN 1.609344::float8 END END) IS NULL THEN false
    ELSE NOT EXISTS (SELECT 1 FROM json_each(extra -> 'odometer') e WHERE CASE
        WHEN e.key = 'unit' THEN false WHEN e.key NOT IN ('value') THEN true
        WHEN json_typeof(e.value) = 'null' THEN false WHEN json_typeof(e.value) <> 'number' THEN true
        WHEN abs((e.value::text)::numeric) > 1e300 THEN true ELSE NOT ((e.value::text)::float8 * (CASE WHEN json_typeof(extra -> 'odometer' -> 'unit') = 'string' THEN
        CASE lower(btrim(extra -> 'odometer' ->> 'unit', U&'\0009\000A\000B\000C\000D\001C\001D\001E\001F\0020\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000')) WHEN 'km' THEN 1.0::float8 WHEN 'm' THEN 0.001::float8 WHEN 'mi' THEN 1.609344::float8 END END) BETWEEN 0 AND 1e15) END)
    AND EXISTS (SELECT 1 FROM json_each(extra -> 'odometer') e WHERE e.key IN ('value') AND json_typeof(e.value) = 'number')
    END;
