-- Gauges (docs/semantics.md §1): one column per gauge series of `readings` (GAUGE_COLUMNS order, in the
-- normalised unit: W, V, A, %, km) and the per-block summaries `gauge_blocks`. Right after this file the data
-- migration (storage/migrate.py, fill_gauges) moves the stored gauge metrics out of `extra` into the columns
-- and normalises stored odometers to km, both as ingest normalises them, then fills `gauge_blocks`.
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
